//! The demo's monthly report read as a compliance officer would, with the
//! HTML parsed (scraper, html5ever): the executive summary, findings a
//! person can act on, controls per framework in numeric order with their
//! status, sign-off and versions, pictures that show both in the mail
//! (Content-ID) and in the standalone file (data URI), mail-client safety,
//! and the CSV attachment.

use crate::common;

use mail_parser::{MessageParser, MimeHeaders};
use scraper::{Html, Selector};

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s}: {e}"))
}

fn text_of(e: scraper::ElementRef) -> String {
    e.text().collect::<Vec<_>>().join("")
}

/// Runs `accessaudit demo` into a temporary directory: (dir, run id).
fn demo() -> (tempfile::TempDir, i64) {
    let (dir, json) = demo_json();
    (dir, json["run_id"].as_i64().expect("run id"))
}

/// Runs `accessaudit demo` into a temporary directory (database `d.db`,
/// files in `out/`): (dir, the findings as `run --format json` prints them).
pub(crate) fn demo_json() -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = common::accessaudit()
        .arg("demo")
        .arg("--path")
        .arg(dir.path().join("d.db"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--format", "json"])
        .output()
        .expect("run accessaudit demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (dir, json)
}

/// Dotted control ids as numbers, for checking the order.
fn numeric(id: &str) -> Vec<u64> {
    id.trim_start_matches(|c: char| !c.is_ascii_digit())
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn the_demo_report_reads_as_a_workpaper() {
    let (dir, run_id) = demo();
    let out = dir.path().join("out");
    let file_html =
        std::fs::read_to_string(out.join(format!("monthly-run{run_id}.html"))).expect("the .html");
    let eml = std::fs::read(out.join(format!("monthly-run{run_id}.eml"))).expect("the .eml");
    let msg = MessageParser::default().parse(&eml[..]).expect("parses");
    let mail_html = msg.body_html(0).expect("an HTML part").to_string();

    // 5. Mail-client safety: headers, no CSS blocks or scripts, inline styles.
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_string());
    assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-generated"));
    assert!(
        header("List-Id").is_some_and(|v| v.contains("<monthly.accessaudit.")),
        "{:?}",
        header("List-Id")
    );
    let doc = Html::parse_document(&mail_html);
    for forbidden in ["style", "script", "link", "iframe", "form"] {
        assert_eq!(
            doc.select(&sel(forbidden)).count(),
            0,
            "<{forbidden}> in the HTML part"
        );
    }
    assert_eq!(
        doc.select(&sel("div, p, span, b"))
            .filter(|e| e.attr("class").is_some())
            .count(),
        0
    );
    // Width that works on a phone: the one column may narrow.
    let column = doc
        .select(&sel("table[width=\"720\"]"))
        .next()
        .expect("the 720 px column");
    assert!(
        column
            .attr("style")
            .is_some_and(|s| s.contains("width:100%"))
    );
    let text = msg.body_text(0).expect("a text part").replace("\r\n", "\n");
    assert!(
        !text.contains("\n\n\n"),
        "a run of blank lines in the text part"
    );

    // 4. Pictures: by Content-ID in the mail, data URIs in the file.
    let imgs = |d: &Html| -> Vec<String> {
        d.select(&sel("img"))
            .filter_map(|i| i.attr("src").map(str::to_string))
            .collect()
    };
    assert_eq!(
        imgs(&doc),
        ["cid:findings-chart", "cid:findings-by-department"]
    );
    let file_doc = Html::parse_document(&file_html);
    let file_imgs = imgs(&file_doc);
    assert_eq!(file_imgs.len(), 2);
    for src in &file_imgs {
        assert!(
            src.starts_with("data:image/png;base64,iVBOR"),
            "{}",
            &src[..40]
        );
    }
    let inline: Vec<String> = msg
        .parts
        .iter()
        .filter_map(|p| p.content_id().map(str::to_string))
        .collect();
    for cid in ["findings-chart", "findings-by-department"] {
        assert!(
            inline.iter().any(|c| c == cid),
            "no inline part {cid}: {inline:?}"
        );
    }

    // What changed in the checks since the previous run of the job: the
    // demo accepts a risk (exception #1) between its second and third run.
    let changes = doc
        .select(&sel("[data-aa=changes]"))
        .next()
        .map(text_of)
        .expect("a section of what changed");
    assert!(
        changes.contains("exception #1 on shared-account")
            && changes.contains("approved by Head of IT Security")
            && changes.contains("added"),
        "{changes}"
    );
    assert!(
        !changes.contains("rule "),
        "the rules did not change: {changes}"
    );

    // 1. The executive summary says what was audited and found.
    let summary = doc
        .select(&sel("[data-aa=executive-summary]"))
        .next()
        .map(text_of)
        .expect("an executive summary");
    for words in [
        "accounts",
        "grants",
        "findings",
        "new",
        "still open",
        "Every rule was evaluated",
    ] {
        assert!(
            summary.contains(words),
            "summary lacks `{words}`: {summary}"
        );
    }
    assert!(
        doc.select(&sel("[data-aa=oldest] tr")).count() >= 1,
        "no oldest high/critical findings"
    );
    let total_row: Vec<String> = doc
        .select(&sel("[data-aa=total-row] td"))
        .map(text_of)
        .collect();
    assert_eq!(total_row.len(), 4);
    assert!(
        !total_row[2].trim().is_empty(),
        "the Total row's previous run is blank"
    );

    // 2. Findings a person can act on.
    let findings: Vec<_> = doc.select(&sel("[data-aa=finding]")).collect();
    assert!(findings.len() > 20, "{} findings listed", findings.len());
    let mut with_manager = 0;
    let mut overdue = 0;
    for f in &findings {
        let label = f
            .select(&sel("[data-aa=subject-label]"))
            .next()
            .map(text_of)
            .unwrap_or_default();
        let ids = f
            .select(&sel("[data-aa=ids]"))
            .next()
            .map(text_of)
            .unwrap_or_default();
        assert!(!label.is_empty(), "a finding without a subject");
        with_manager += f.select(&sel("[data-aa=subject-manager]")).count();
        overdue += f.select(&sel("[data-aa=overdue]")).count();
        assert!(
            ["principal", "grant", "person", "role"]
                .iter()
                .any(|t| ids.starts_with(t)),
            "ids column: {ids}"
        );
        assert!(
            f.select(&sel("[data-aa=age]"))
                .next()
                .map(text_of)
                .unwrap_or_default()
                .contains("day(s)"),
            "no age"
        );
        for value in f.select(&sel("[data-aa=fact-value]")).map(text_of) {
            assert!(
                !value.contains("null") && !value.starts_with('[') && !value.starts_with('{'),
                "raw JSON in the evidence: {value}"
            );
        }
        for label in f.select(&sel("[data-aa=fact-label]")).map(text_of) {
            assert!(!label.contains('_'), "a snake_case label: {label}");
        }
    }
    assert!(
        with_manager > 10,
        "managers shown for {with_manager} findings"
    );
    assert!(overdue > 0, "no overdue finding in the demo");
    // Subjects by login, ids aside: the ids are not the label.
    assert!(findings.iter().any(|f| {
        f.select(&sel("[data-aa=subject-label]"))
            .next()
            .map(text_of)
            .as_deref()
            == Some("li.ping")
    }));
    assert!(
        doc.select(&sel("[data-aa=remediation]")).count() >= 10,
        "remediation text missing"
    );

    // 3. Controls per framework: numeric order, a status, the rules behind it.
    let tables: Vec<_> = doc.select(&sel("table[data-aa=controls]")).collect();
    assert!(tables.len() >= 4, "{} control tables", tables.len());
    let pci: Vec<String> = tables[0]
        .select(&sel("[data-aa=control-id]"))
        .map(text_of)
        .collect();
    let nums: Vec<Vec<u64>> = pci.iter().map(|c| numeric(c)).collect();
    let mut sorted = nums.clone();
    sorted.sort();
    assert_eq!(nums, sorted, "PCI DSS controls out of order: {pci:?}");
    let iso: Vec<String> = tables[1]
        .select(&sel("[data-aa=control-id]"))
        .map(text_of)
        .collect();
    let pos = |id: &str| iso.iter().position(|c| c == id);
    assert!(pos("A.8.2") < pos("A.8.12"), "{iso:?}");
    for status in doc.select(&sel("[data-aa=control-status]")).map(text_of) {
        assert!(
            ["findings", "no findings", "not evaluated"].contains(&status.as_str()),
            "{status}"
        );
    }
    let sign_off = doc
        .select(&sel("[data-aa=sign-off]"))
        .next()
        .map(text_of)
        .expect("a sign-off block");
    assert!(sign_off.contains("Reviewed by") && sign_off.contains("Date"));
    let footer = doc
        .select(&sel("[data-aa=footer]"))
        .next()
        .map(text_of)
        .expect("a footer");
    assert!(footer.contains(&format!("accessaudit {}", env!("CARGO_PKG_VERSION"))));
    assert!(footer.contains("principals"), "no data proof in the footer");
    assert_eq!(
        doc.select(&sel("[data-aa=rule-versions] tr")).count(),
        17,
        "a SHA-256 per rule"
    );

    // 5. The CSV: a byte-order mark, humanised columns and the raw evidence.
    let csv = std::fs::read(out.join(format!("monthly-run{run_id}-findings.csv"))).expect("csv");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "no byte-order mark");
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    let headers = reader.headers().expect("headers").clone();
    for col in [
        "evidence",
        "login",
        "display_name",
        "department",
        "manager",
        "due",
        "overdue",
        "evidence_text",
        "application",
        "native_id",
    ] {
        assert!(headers.iter().any(|h| h == col), "no column {col}");
    }

    // Applications (issue 17): a section per application with its owner,
    // and a leaver's accounts in both applications together.
    let apps: Vec<(String, String)> = doc
        .select(&sel("[data-aa=application]"))
        .map(|a| {
            (
                a.select(&sel("[data-aa=application-name]"))
                    .next()
                    .map(text_of)
                    .unwrap_or_default(),
                a.select(&sel("[data-aa=application-owner]"))
                    .next()
                    .map(text_of)
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(apps.len(), 2, "{apps:?}");
    assert_eq!(apps[0].0, "crm");
    assert_eq!(apps[1].0, "directory");
    for (name, owner) in &apps {
        assert!(
            owner.contains("(E1"),
            "{name}: the owner is named with their id: {owner}"
        );
    }
    let both = doc
        .select(&sel("[data-aa=leaver]"))
        .find(|l| l.select(&sel("[data-aa=leaver-account]")).count() == 2)
        .expect("a leaver with accounts in both applications");
    let accounts: Vec<String> = both
        .select(&sel("[data-aa=leaver-account] b"))
        .map(text_of)
        .collect();
    assert_eq!(accounts[..2], ["crm", "directory"]);
    // The ids column shows the native id beside the application.
    assert!(
        doc.select(&sel("[data-aa=ids] [data-aa=subject-application]"))
            .any(|a| text_of(a) == "directory"),
        "no finding attributed to the directory"
    );
}
