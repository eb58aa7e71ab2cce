//! Reports end to end on SQLite and PostgreSQL: two runs of a job over data
//! with hostile strings in every field, the lifecycle (new / open / resolved /
//! accepted, expired exceptions), every template rendered, the MIME message
//! parsed back, CSV neutralisation, HTML escaping, the archive and
//! `runs verify` catching a one-byte change; the binary's `report`, `runs`
//! and `exceptions` commands.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use accessaudit::collect::{csv_import, tables};
use accessaudit::config::Config;
use accessaudit::engine;
use accessaudit::engine::RuleSet;
use accessaudit::model::parse_instant;
use accessaudit::report::error::ReportError;
use accessaudit::report::lifecycle::{self, Status};
use accessaudit::report::render::{RenderedReport, ReportInputs};
use accessaudit::report::templates::Templates;
use accessaudit::report::{archive, exceptions, findings_csv, mime, render, sample};

use accessaudit::store::SqlValue;
use common::TestDb;
use mail_parser::{MessageParser, MimeHeaders};

/// Renders a run's report as a deployment named `test` would.
/// What a mail client shows of a rendered report: its message's HTML and
/// text parts, decoded, with plain line ends.
trait Shown {
    fn html(&self) -> String;
    fn text(&self) -> String;
}

impl Shown for RenderedReport {
    fn html(&self) -> String {
        let msg = MessageParser::default().parse(&self.eml).expect("parses");
        msg.body_html(0)
            .expect("an HTML part")
            .replace("\r\n", "\n")
    }
    fn text(&self) -> String {
        let msg = MessageParser::default().parse(&self.eml).expect("parses");
        msg.body_text(0).expect("a text part").replace("\r\n", "\n")
    }
}

async fn render_run(
    store: &accessaudit::store::Store,
    config: &Config,
    rules: &RuleSet,
    templates: &Templates,
    run_id: i64,
    recipients: &[String],
) -> Result<RenderedReport, ReportError> {
    let inputs = ReportInputs {
        config,
        rules,
        templates,
        deployment: "test",
        recipients,
        undelivered: Vec::new(),
        audience: None,
        signer: None,
    };
    render::render(store, inputs, run_id).await
}

const T1: &str = "2026-10-01T00:00:00Z";
const T2: &str = "2026-11-01T00:00:00Z";

/// Strings that must stay inert: markup for the HTML, formulas for the CSV.
const HOSTILE: [&str; 6] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(2)>",
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
];

fn csv_cell(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Six idle accounts whose id, login, display name, email and department
/// are hostile strings (one each), `fresh` who keeps the event feed fresh,
/// `late` (idle only by T2: new then), `back` (idle at T1, signs in before
/// T2: resolved).
fn write_fixture(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let mut principals = String::from(
        "id,login,display_name,email,department,account_type,status,created_at,last_login_at\n",
    );
    for (i, h) in HOSTILE.iter().enumerate() {
        principals.push_str(&format!(
            "{},{},{},{},{},human,active,2025-01-01,2026-01-0{}\n",
            csv_cell(h),
            csv_cell(&format!("{h}{i}")),
            csv_cell(h),
            csv_cell(&format!("x{i}@example.com")),
            csv_cell(h),
            i + 1
        ));
    }
    principals.push_str("fresh,fresh,Fresh,fresh@example.com,IT,human,active,2025-01-01,\n");
    principals
        .push_str("late,late,Late,late@example.com,Sales,human,active,2025-01-01,2026-07-15\n");
    principals
        .push_str("back,back,Back,back@example.com,Sales,human,active,2025-01-01,2026-02-01\n");
    let events = "id,occurred_at,principal_id,action,outcome,ip\n\
                  e1,2026-09-30T23:00:00Z,fresh,login,success,10.0.0.1\n\
                  e2,2026-10-31T23:00:00Z,fresh,login,success,10.0.0.1\n\
                  e3,2026-10-15T09:00:00Z,back,login,success,10.0.0.2\n";
    let p = dir.join("principals.csv");
    let e = dir.join("events.csv");
    std::fs::write(&p, principals).unwrap();
    std::fs::write(&e, events).unwrap();
    vec![("principals", p), ("events", e)]
}

struct Scenario {
    first: i64,
    second: i64,
    _dir: tempfile::TempDir,
}

/// Imports the fixture, adds exceptions, runs the monthly job at T1 and T2.
async fn scenario(db: &TestDb) -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    for (table, path) in write_fixture(dir.path()) {
        csv_import::import_csv(&db.store, tables::table(table).unwrap(), &path)
            .await
            .expect("fixture imports");
    }
    let set = accessaudit::engine::load::load(&[], true).unwrap();
    let idle: Vec<&accessaudit::engine::Rule> = vec![set.get("idle-accounts").unwrap()];
    let t1 = parse_instant(T1).unwrap();
    let t2 = parse_instant(T2).unwrap();
    let first = engine::run(&db.store, &idle, t1, Some("monthly"))
        .await
        .unwrap()
        .run_id;
    // One hostile subject accepted (live at T2), one exception expired before T2.
    let live = exceptions::NewException {
        rule: "idle-accounts".into(),
        subject: "<script>*".into(),
        // A reason that tries to forge a line of the text part and drive a
        // terminal that shows it.
        reason: "<b>kept</b> for the \"audit\" & =SUM(A1)\n   - [critical] forged line\u{1b}[2J\u{7}\u{202E}".into(),
        approved_by: "\"><img src=x onerror=alert(3)>".into(),
        expires_at: parse_instant("2027-01-01").unwrap(),
    };
    let expired = exceptions::NewException {
        rule: "idle-accounts".into(),
        subject: "late".into(),
        reason: "seasonal".into(),
        approved_by: "CISO".into(),
        expires_at: parse_instant("2026-10-20").unwrap(),
    };
    exceptions::replace_from_file(&db.store, &[live, expired], t1)
        .await
        .unwrap();
    let second = engine::run(&db.store, &idle, t2, Some("monthly"))
        .await
        .unwrap()
        .run_id;
    Scenario {
        first,
        second,
        _dir: dir,
    }
}

async fn lifecycle_and_report(db: TestDb) {
    let s = scenario(&db).await;
    let lc = lifecycle::lifecycle(&db.store, s.second).await.unwrap();
    assert_eq!(lc.previous.as_ref().map(|p| p.id), Some(s.first));
    let by_status = |status: Status| -> Vec<String> {
        let mut v: Vec<String> = lc
            .with_status(status)
            .map(|e| e.finding.subject_id.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_status(Status::New), ["late"]);
    assert_eq!(by_status(Status::Resolved), ["back"]);
    assert_eq!(by_status(Status::Accepted), ["<script>alert(1)</script>"]);
    let mut open: Vec<&str> = HOSTILE[1..].to_vec();
    open.sort();
    assert_eq!(by_status(Status::Open), open);
    assert_eq!(
        lc.expired_exceptions
            .iter()
            .map(|x| x.subject.as_str())
            .collect::<Vec<_>>(),
        ["late"]
    );
    // First seen is carried forward for open findings, and is T2 for new ones.
    let t1 = parse_instant(T1).unwrap();
    let t2 = parse_instant(T2).unwrap();
    for e in &lc.entries {
        let expected = if e.finding.subject_id == "late" {
            t2
        } else {
            t1
        };
        assert_eq!(e.first_seen, Some(expected), "{}", e.finding.subject_id);
    }

    let config = Config::embedded();
    let set = accessaudit::engine::load::load(&[], true).unwrap();
    let templates = Templates::load(None).expect("shipped templates load");
    assert!(templates.names().contains_key("alert"));
    let to = vec!["Compliance <compliance@example.com>".to_string()];
    let report = render_run(&db.store, &config, &set, &templates, s.second, &to)
        .await
        .expect("renders");
    assert_eq!(
        (
            report.counts.new,
            report.counts.open,
            report.counts.resolved,
            report.counts.accepted
        ),
        (1, 5, 1, 1)
    );
    assert_eq!(report.sha256, mime::sha256_hex(&report.eml));

    // The HTML: every hostile string escaped, no markup from data, no
    // script, no external resource.
    let html = &report.html();
    let html_file = String::from_utf8(report.html_file.read().unwrap()).unwrap();
    for bad in ["<script", "<img src=x", "onerror=alert(2)>", "<b>kept"] {
        assert!(!html.contains(bad), "raw `{bad}` in the HTML");
        // The standalone file too, with its new parts (subject line, ids,
        // executive summary, departments).
        assert!(!html_file.contains(bad), "raw `{bad}` in the .html file");
    }
    // The hostile department reaches the subject line, escaped.
    assert!(html.contains("data-aa=\"subject-department\">&quot;&gt;&lt;img src&#x3D;x"));
    // The CSV's humanised columns are neutralised too (a display name `=HYPERLINK…`).
    let csv_bytes = report.csv.read().unwrap();
    assert_eq!(csv_bytes.len() as u64, report.csv.size);
    assert_eq!(mime::sha256_hex(&csv_bytes), report.csv.sha256);
    let csv_text = String::from_utf8_lossy(&csv_bytes);
    assert!(!csv_text.contains(",=HYPERLINK"), "a formula in the CSV");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped login missing"
    );
    assert!(
        html.contains("&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(2)&gt;"),
        "escaped department missing"
    );
    for external in ["src=\"http", "href=\"http", "<link", "url("] {
        assert!(!html.contains(external), "external resource `{external}`");
    }
    assert!(html.contains("src=\"cid:findings-chart\""));
    for section in [
        "New (1)",
        "Still open (5)",
        "Resolved (1)",
        "Accepted (exception) (1)",
        "Expired exceptions",
        "PCI DSS 4.0",
        "ISO 27001:2022",
        "SOC 2",
        "SOX ITGC",
        "Proof that the audit ran",
        "2026-10-31T23:00:00Z",
    ] {
        assert!(html.contains(section), "HTML lacks `{section}`");
    }
    // The text part carries the data as written (it is never HTML), but a
    // value cannot start a line or carry control and bidi characters.
    assert!(report.text().contains("<script>alert(1)</script>"));
    assert!(
        report
            .text()
            .contains("=SUM(A1)    - [critical] forged line")
    );
    assert!(!report.text().contains("\n   - [critical] forged"));
    for c in ['\u{1b}', '\u{7}', '\u{202E}', '\0'] {
        assert!(!report.text().contains(c), "{c:?} in the text part");
    }
    assert!(
        report
            .text()
            .contains("1 new, 5 still open, 1 resolved, 1 accepted")
    );

    // The MIME message, parsed back.
    let msg = MessageParser::default()
        .parse(&report.eml[..])
        .expect("parses");
    assert_eq!(
        msg.subject(),
        Some("Monthly access review, 2026-11-01 00:00 UTC")
    );
    assert_eq!(
        msg.message_id().map(|m| format!("<{m}>")),
        Some(report.message_id.clone())
    );
    assert_eq!(
        msg.to().and_then(|t| t.first()).and_then(|a| a.address()),
        Some("compliance@example.com")
    );
    // The standalone file is the mail's HTML with its pictures inline.
    let file_html = String::from_utf8(report.html_file.read().unwrap()).unwrap();
    let chart_uri = file_html
        .split("src=\"data:image/png;base64,")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the file's chart is a data URI");
    let chart_png = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(chart_uri)
            .expect("base64")
    };
    let lf = |s: &str| s.replace("\r\n", "\n");
    let mail_html = lf(&msg.body_html(0).expect("an HTML part"));
    assert!(
        mail_html.contains("src=\"cid:findings-chart\""),
        "{mail_html}"
    );
    assert_eq!(
        mail_html
            .replace("\"cid:findings-chart\"", "")
            .replace("\"cid:findings-by-department\"", ""),
        lf(&file_html)
            .split("\"data:image/png;base64,")
            .enumerate()
            .map(|(i, part)| match i {
                0 => part,
                _ => part.split_once('"').map_or(part, |(_, rest)| rest),
            })
            .collect::<String>(),
        "the file is the mail's HTML with its pictures inline"
    );
    assert!(
        msg.body_text(0)
            .is_some_and(|t| t.contains("PROOF THAT THE AUDIT RAN"))
    );
    let mut kinds = Vec::new();
    for part in msg.parts.iter() {
        if let Some(ct) = part.content_type() {
            kinds.push(format!(
                "{}/{}",
                ct.c_type,
                ct.c_subtype.as_deref().unwrap_or("")
            ));
        }
    }
    for expected in [
        "multipart/mixed",
        "multipart/related",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
        "text/csv",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "no {expected} part in {kinds:?}"
        );
    }
    let png = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.c_subtype.as_deref() == Some("png"))
        })
        .unwrap();
    assert_eq!(png.content_id(), Some("findings-chart"));
    assert_eq!(png.contents(), chart_png.as_slice());
    assert_eq!(&png.contents()[..8], b"\x89PNG\r\n\x1a\n");
    let csv_part = msg
        .attachments()
        .find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".csv")))
        .expect("CSV attached");
    assert!(report.csv_attached);
    assert_eq!(csv_part.contents(), csv_bytes.as_slice());

    // The CSV: stable columns; no cell a spreadsheet would run.
    let mut reader = csv::Reader::from_reader(&csv_bytes[..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        findings_csv::REPORT_CSV_COLUMNS
    );
    let mut statuses = BTreeMap::new();
    let mut neutralised = 0;
    for row in reader.records() {
        let row = row.unwrap();
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?}"
            );
            if cell.starts_with("'=")
                || cell.starts_with("'+")
                || cell.starts_with("'@")
                || cell.starts_with("'-")
            {
                neutralised += 1;
            }
        }
        *statuses.entry(row[1].to_string()).or_insert(0) += 1;
    }
    assert!(neutralised >= 4, "only {neutralised} neutralised cells");
    assert_eq!(
        statuses,
        BTreeMap::from([
            ("accepted".into(), 1),
            ("new".into(), 1),
            ("open".into(), 5),
            ("resolved".into(), 1)
        ])
    );

    // Deterministic: the same run renders to the same bytes.
    let again = render_run(&db.store, &config, &set, &templates, s.second, &to)
        .await
        .unwrap();
    assert_eq!(again.sha256, report.sha256);

    // Archived; verify passes; one changed byte is caught.
    let (mut report, mut again) = (report, again);
    let id = archive::archive(&db.store, &mut report).await.unwrap();
    assert_eq!(
        accessaudit::report::mime::sha256_hex(&report.eml),
        report.sha256,
        "the message is back in the report after archiving"
    );
    assert_eq!(
        archive::archive(&db.store, &mut again).await.unwrap(),
        id,
        "same bytes archived twice"
    );
    let checks = archive::verify(&db.store, s.second).await.unwrap();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].intact());
    let mut bytes = archive::eml(&db.store, id).await.unwrap().unwrap();
    assert_eq!(bytes, report.eml);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    db.store
        .execute(
            "UPDATE reports SET eml = $1 WHERE id = $2",
            &[SqlValue::Bytes(Some(bytes)), SqlValue::int(id)],
        )
        .await
        .unwrap();
    let checks = archive::verify(&db.store, s.second).await.unwrap();
    assert!(!checks[0].intact(), "a changed byte went unnoticed");

    // The alert template renders the same run too.
    let mut alert_config = config.clone();
    alert_config.jobs.get_mut("monthly").unwrap().template = "alert".into();
    let alert = render_run(&db.store, &alert_config, &set, &templates, s.second, &to)
        .await
        .unwrap();
    assert!(
        alert.html().contains("&lt;img src&#x3D;x") && !alert.html().contains("<img src=x"),
        "alert HTML not escaped"
    );
    assert!(alert.text().contains("New (1)"));

    // A later run whose rule is skipped (the event feed is stale by then)
    // resolves nothing: its findings are not re-checked, and the report says
    // why the rule did not run.
    let idle: Vec<&accessaudit::engine::Rule> = vec![set.get("idle-accounts").unwrap()];
    let third = engine::run(
        &db.store,
        &idle,
        parse_instant("2026-12-15").unwrap(),
        Some("monthly"),
    )
    .await
    .unwrap()
    .run_id;
    let lc = lifecycle::lifecycle(&db.store, third).await.unwrap();
    assert_eq!(lc.counts().resolved, 0);
    assert_eq!(lc.not_rechecked, 7);
    let skipped = render_run(&db.store, &config, &set, &templates, third, &to)
        .await
        .unwrap();
    assert!(
        skipped.html().contains("Not evaluated (skipped)"),
        "{}",
        skipped.html()
    );
    assert!(skipped.html().contains("event feed is stale"));
    assert!(
        skipped
            .text()
            .contains("7 finding(s) of the previous run were not re-checked")
    );
    // The summary says at once that the audit is not complete, and why.
    assert!(
        skipped
            .text()
            .contains("NOT COMPLETE: 0 of 1 rules were evaluated; not evaluated:"),
        "{}",
        skipped.text()
    );
    assert!(
        skipped.html().contains("with 0 of 1 rules. It found")
            && skipped.html().contains(
                "Not every rule was evaluated:</b> Idle accounts (skipped: event feed is stale"
            )
    );
}

#[test]
fn broken_templates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown variable: strict mode refuses it at load.
    std::fs::write(dir.path().join("monthly.txt.hbs"), "{{subjct}}\n").unwrap();
    let e = Templates::load(Some(dir.path())).unwrap_err();
    assert!(e.to_string().contains("monthly"), "{e}");
    // Syntax error.
    std::fs::write(dir.path().join("monthly.txt.hbs"), "{{#each rules}}\n").unwrap();
    let e = Templates::load(Some(dir.path())).unwrap_err();
    assert!(e.to_string().contains("monthly.txt.hbs"), "{e}");
    // A template with only one form.
    std::fs::remove_file(dir.path().join("monthly.txt.hbs")).unwrap();
    std::fs::write(dir.path().join("weekly.html.hbs"), "{{subject}}").unwrap();
    let e = Templates::load(Some(dir.path())).unwrap_err();
    assert!(e.to_string().contains("weekly"), "{e}");
    // An override by name is used.
    std::fs::remove_file(dir.path().join("weekly.html.hbs")).unwrap();
    std::fs::write(
        dir.path().join("alert.txt.hbs"),
        "ALERT {{subject}} {{counts.new}}",
    )
    .unwrap();
    let t = Templates::load(Some(dir.path())).unwrap();
    let (_, text) = t
        .render(
            "alert",
            &handlebars::Context::from(sample::sample_context()),
        )
        .unwrap();
    assert_eq!(text, "ALERT Monthly access review 1");
    // Long lists are cut in the message, pointing at the CSV.
    let (html, text) = t
        .render(
            "monthly",
            &handlebars::Context::from(sample::sample_context()),
        )
        .unwrap();
    assert!(html.contains("and 2 more in the attached CSV"), "{html}");
    assert!(text.contains("and 2 more in the attached CSV"), "{text}");
    assert!(text.contains("Accepted (exception) (3):"), "{text}");
}

fn bin(db: &TestDb, args: &[&str]) -> Output {
    common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .env_remove("ACCESSAUDIT_RULES")
        .env_remove("ACCESSAUDIT_CONFIG")
        .args(args)
        .output()
        .expect("run accessaudit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn commands_report_verify_and_exceptions(db: TestDb) {
    let s = scenario(&db).await;
    let out = tempfile::tempdir().unwrap();
    let o = bin(
        &db,
        &[
            "report",
            "--job",
            "monthly",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stem = format!("monthly-run{}", s.second);
    for suffix in [".eml", ".html", "-findings.csv"] {
        let path = out.path().join(format!("{stem}{suffix}"));
        assert!(path.is_file(), "{} missing", path.display());
    }
    let eml = out.path().join(format!("{stem}.eml"));
    let o = bin(
        &db,
        &[
            "runs",
            "verify",
            &s.second.to_string(),
            "--file",
            eml.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    // A received copy changed by one byte is no archived report.
    let mut bytes = std::fs::read(&eml).unwrap();
    let i = bytes.len() - 10;
    bytes[i] ^= 0x20;
    std::fs::write(&eml, bytes).unwrap();
    let o = bin(
        &db,
        &[
            "runs",
            "verify",
            &s.second.to_string(),
            "--file",
            eml.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("MISMATCH"));
    // The archive itself changed by one byte.
    db.store
        .execute(
            "UPDATE reports SET sha256 = $1 WHERE run_id = $2",
            &[SqlValue::text("0".repeat(64)), SqlValue::int(s.second)],
        )
        .await
        .unwrap();
    let o = bin(&db, &["runs", "verify", &s.second.to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let o = bin(&db, &["runs", "verify", &s.first.to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no archived report"),
        "{}",
        text(&o.stderr)
    );
    let o = bin(&db, &["runs", "list", "--job", "monthly"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout).lines().count(), 3, "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains(&"0".repeat(64)),
        "the report's SHA-256 is listed"
    );

    // A configured job runs its own rules: --rule is refused with it; an
    // ad-hoc job name takes --rule.
    let o = bin(
        &db,
        &[
            "run",
            "--job",
            "monthly",
            "--rule",
            "idle-accounts",
            "--as-of",
            T2,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot be combined"),
        "{}",
        text(&o.stderr)
    );
    let o = bin(
        &db,
        &[
            "run",
            "--job",
            "spot-check",
            "--rule",
            "idle-accounts",
            "--as-of",
            T2,
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = bin(
        &db,
        // Accounts and events only: the rules about grants and people are
        // not applicable.
        &[
            "run",
            "--job",
            "monthly",
            "--as-of",
            T2,
            "--format",
            "json",
            "--allow-skipped",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run_id = json["run_id"].as_i64().unwrap();
    let outcomes = db.store.rule_outcomes(run_id).await.unwrap();
    assert_eq!(
        outcomes.len(),
        accessaudit::engine::load::load(&[], true)
            .unwrap()
            .enabled()
            .count(),
        "the monthly job runs every enabled rule"
    );

    // Exceptions: refused without a reason, an expiry, or with a past expiry.
    let base = [
        "exceptions",
        "add",
        "--rule",
        "idle-accounts",
        "--subject",
        "p*",
        "--approved-by",
        "CISO",
    ];
    let o = bin(&db, &[&base[..], &["--expires", "2099-01-01"]].concat());
    assert_eq!(
        o.status.code(),
        Some(2),
        "no --reason must be a usage error"
    );
    let o = bin(&db, &[&base[..], &["--reason", "x"]].concat());
    assert_eq!(
        o.status.code(),
        Some(2),
        "no --expires must be a usage error"
    );
    let o = bin(
        &db,
        &[&base[..], &["--reason", "  ", "--expires", "2099-01-01"]].concat(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("reason"), "{}", text(&o.stderr));
    let o = bin(
        &db,
        &[&base[..], &["--reason", "x", "--expires", "2020-01-01"]].concat(),
    );
    assert_eq!(o.status.code(), Some(1));
    let o = bin(
        &db,
        &[
            &base[..],
            &["--reason", "migration", "--expires", "2099-01-01"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let id = text(&o.stdout).trim().to_string();
    let o = bin(&db, &["exceptions", "list"]);
    assert!(text(&o.stdout).contains("migration"), "{}", text(&o.stdout));
    let o = bin(&db, &["exceptions", "remove", &id]);
    assert!(o.status.success());
    let o = bin(&db, &["exceptions", "list"]);
    assert!(!text(&o.stdout).contains("migration"));
    // A bad exceptions file loads nothing and names the place.
    let file = out.path().join("exceptions.yaml");
    std::fs::write(&file, "exceptions:\n  - rule: idle-accounts\n    subject: p1\n    reason: ok\n    approved_by: CISO\n    expires: someday\n").unwrap();
    let o = bin(&db, &["exceptions", "load", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("exceptions.yaml:6:"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        exceptions::list(&db.store).await.unwrap().len(),
        2,
        "the bad file changed the exceptions"
    );
}

/// A CSV larger than `report.max_attachment_bytes` is not attached: the
/// message names it by its SHA-256, the archive keeps it in chunks, `runs
/// file` writes it back, and `runs verify` finds it changed.
async fn a_large_csv_is_archived_and_named(db: TestDb) {
    let s = scenario(&db).await;
    let mut config = Config::embedded();
    let rules = accessaudit::engine::load::load(&[], true).unwrap();
    let templates = Templates::load(None).unwrap();
    let attached = render_run(&db.store, &config, &rules, &templates, s.second, &[])
        .await
        .unwrap();
    assert!(attached.csv_attached);
    config.report.max_attachment_bytes = attached.csv.size - 1;
    let report = render_run(&db.store, &config, &rules, &templates, s.second, &[])
        .await
        .unwrap();
    assert!(!report.csv_attached);
    // The same findings: the same CSV, now named instead of attached.
    assert_eq!(report.csv.sha256, attached.csv.sha256);
    let msg = MessageParser::default().parse(&report.eml).unwrap();
    assert!(
        msg.attachments()
            .all(|a| !a.attachment_name().is_some_and(|n| n.ends_with(".csv"))),
        "the CSV is still attached"
    );
    let sha = &report.csv.sha256.clone();
    assert!(
        report
            .text()
            .contains(&format!("accessaudit runs file {sha}")),
        "{}",
        report.text()
    );
    assert!(
        report
            .html()
            .contains(&format!("accessaudit runs file {sha}"))
    );
    assert!(
        report
            .text()
            .contains(&format!("({} rows,", report.csv.rows))
    );
    let mut report = report;
    archive::archive(&db.store, &mut report).await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let back = out.path().join("back.csv");
    let o = bin(&db, &["runs", "file", sha, "--out", back.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(std::fs::read(&back).unwrap(), report.csv.read().unwrap());
    let o = bin(&db, &["runs", "verify", &s.second.to_string()]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains(&format!("ok        file {}", "monthly-run")),
        "{}",
        text(&o.stdout)
    );

    // One byte of the archived file changed: named, and not written back.
    db.store
        .execute(
            "UPDATE report_file_chunks SET data = $1 WHERE sha256 = $2 AND seq = 0",
            &[
                SqlValue::Bytes(Some(b"run_id,changed".to_vec())),
                SqlValue::text(sha),
            ],
        )
        .await
        .unwrap();
    let o = bin(&db, &["runs", "verify", &s.second.to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("MISMATCH  file"),
        "{}",
        text(&o.stdout)
    );
    let again = out.path().join("again.csv");
    let o = bin(
        &db,
        &["runs", "file", sha, "--out", again.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(!again.exists());
    // An unknown digest is an error, not an empty file.
    let o = bin(&db, &["runs", "file", &"0".repeat(64)]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no archived file"),
        "{}",
        text(&o.stderr)
    );
}

on_both_backends!(
    lifecycle_and_report,
    commands_report_verify_and_exceptions,
    a_large_csv_is_archived_and_named
);
