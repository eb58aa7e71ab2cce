//! The daemon, black-box: the real binary with a real SQLite file or the
//! PostgreSQL of `.ci/services`, delivering to a directory or to a real SMTP
//! server on loopback (Debian's python3-aiosmtpd, tests/support/smtp_sink.py).
//! Jobs are scheduled a few seconds ahead with 6-field (seconds) cron
//! schedules.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use mail_parser::MimeHeaders;

const BIN: &str = env!("CARGO_BIN_EXE_accessaudit");

/// A running daemon; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, log: &Path) -> Daemon {
        Daemon::start_with_env(config, log, &[])
    }

    /// Started with these environment variables (the database URL, say).
    fn start_with_env(config: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(BIN)
            .args(["--config", config.to_str().expect("utf-8 path"), "serve"])
            .env_remove("ACCESSAUDIT_DATABASE_URL")
            .envs(env.iter().copied())
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn the daemon");
        Daemon {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SMTP server of the tests; stopped when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
    delay: f64,
}

impl SmtpSink {
    fn start(port: u16, dir: &Path, rcpt_delay: f64) -> SmtpSink {
        SmtpSink::start_with(port, dir, rcpt_delay, &[])
    }

    fn start_with(port: u16, dir: &Path, rcpt_delay: f64, extra: &[&str]) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .args([
                script,
                "--port",
                &port.to_string(),
                "--dir",
                dir.to_str().expect("utf-8 path"),
                "--rcpt-delay",
                &rcpt_delay.to_string(),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the test SMTP server ({e}): it needs Debian's python3-aiosmtpd, \
                     which .ci/services installs"
                )
            });
        // Wait for its "ready" line.
        use std::io::BufRead;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read");
        assert_eq!(
            line.trim(),
            "ready",
            "the test SMTP server did not start (python3-aiosmtpd missing? run .ci/services)"
        );
        SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
            delay: rcpt_delay,
        }
    }

    fn stop(mut self) -> (u16, PathBuf, f64) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.port, self.dir.clone(), self.delay)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A cron schedule firing once, at `at` (UTC, seconds precision).
fn once_at(at: DateTime<Utc>) -> String {
    use chrono::Datelike;
    format!(
        "{} {} {} {} {} *",
        at.second(),
        at.minute(),
        at.hour(),
        at.day(),
        at.month()
    )
}

/// A slot `secs` seconds from now, on a whole second.
fn soon(secs: i64) -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::seconds(secs);
    t.with_nanosecond(0).expect("valid")
}

/// Canonical data with a fresh event feed and one bulk export an hour ago,
/// imported through the CLI into `database`.
fn load_data(dir: &Path, database: &str) {
    let now = Utc::now();
    let ago = |m: i64| (now - chrono::Duration::minutes(m)).to_rfc3339();
    std::fs::write(
        dir.join("principals.csv"),
        "id,login,status,created_at,last_login_at\n\
         x1,exporter@example.com,active,2024-01-01,\n\
         v1,viewer@example.com,active,2024-01-01,\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("events.csv"),
        format!(
            "id,occurred_at,principal_id,action,record_count,outcome\n\
             e1,{},x1,export,5000,success\n\
             e2,{},v1,view,,success\n\
             e3,{},v1,login,,success\n",
            ago(50),
            ago(5),
            ago(5)
        ),
    )
    .expect("write");
    for table in ["principals", "events"] {
        let out = Command::new(BIN)
            .args(["--database", database, "import", table])
            .arg(dir.join(format!("{table}.csv")))
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "import {table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Setup {
    dir: tempfile::TempDir,
    database: String,
}

impl Setup {
    fn sqlite() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}", dir.path().join("audit.db").display());
        load_data(dir.path(), &database);
        Setup { dir, database }
    }

    /// A schema of its own in the tests' PostgreSQL.
    fn postgres(rt: &tokio::runtime::Runtime) -> (Setup, common::TestDb) {
        let db = rt.block_on(common::postgres());
        let dir = tempfile::tempdir().expect("temp dir");
        load_data(dir.path(), &db.url);
        let s = Setup {
            dir,
            database: db.url.clone(),
        };
        (s, db)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the config; `transport` and `jobs` are YAML blocks.
    fn config(&self, transport: &str, jobs: &str) -> PathBuf {
        let text = format!(
            "database: \"{}\"\ntimezone: UTC\nmail:\n  from: \"accessaudit <audit@example.com>\"\n  retry_initial: 1s\n  retry_max: 2s\n  transport:\n{transport}\nrecipients:\n  compliance: [\"dpo@example.com\"]\n  it: [\"it@example.com\"]\njobs:\n{jobs}\ndaemon:\n  catch_up: 1h\n",
            self.database
        );
        let path = self.path("accessaudit.yaml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn file_transport(&self) -> String {
        format!(
            "    kind: file\n    dir: \"{}\"\n",
            self.path("outbox").display()
        )
    }
}

/// Replaces `from` by `to` in the config file.
fn edit(config: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).expect("read config");
    assert!(text.contains(from), "`{from}` is not in the config");
    std::fs::write(config, text.replacen(from, to, 1)).expect("write config");
}

fn smtp_transport(port: u16) -> String {
    format!(
        "    kind: smtp\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n    timeout: 10s\n"
    )
}

fn monthly_job(schedule: &str) -> String {
    format!(
        "  monthly:\n    schedule: \"{schedule}\"\n    recipients: [compliance]\n    send: always\n    subject: \"Access review {{as_of}}\"\n"
    )
}

fn header<'a>(eml: &'a str, name: &str) -> Option<&'a str> {
    eml.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[test]
fn a_scheduled_job_writes_its_report_to_the_outbox_folder() {
    let s = Setup::sqlite();
    let slot = soon(4);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until(
        "the report in the outbox folder",
        Duration::from_secs(40),
        || !eml_files(&s.path("outbox")).is_empty(),
    );
    let files = eml_files(&s.path("outbox"));
    assert_eq!(files.len(), 1, "{files:?}");
    let eml = std::fs::read(&files[0]).expect("read");
    let parsed = mail_parser::MessageParser::default()
        .parse(&eml)
        .expect("a MIME message");
    assert_eq!(
        parsed.subject(),
        Some(format!("Access review {}", slot.format("%Y-%m-%d %H:%M UTC")).as_str())
    );
    assert!(
        parsed
            .message_id()
            .is_some_and(|id| id.contains(".monthly.") && id.ends_with("@example.com")),
        "{:?}",
        parsed.message_id()
    );
    let csv = parsed
        .attachments()
        .find(|a| {
            a.attachment_name()
                .is_some_and(|n| n.ends_with("findings.csv"))
        })
        .expect("the CSV of findings attached");
    let csv = String::from_utf8_lossy(csv.contents());
    assert!(csv.contains("bulk-export") && csv.contains("x1"), "{csv}");
    // The monthly template: text and HTML, and the chart inline by Content-ID.
    assert!(
        parsed
            .body_text(0)
            .is_some_and(|t| t.contains("bulk-export"))
    );
    let html = parsed.body_html(0).expect("an HTML part");
    assert!(html.contains("cid:"), "the chart is referenced inline");
    assert!(
        parsed.parts.iter().any(|p| p
            .content_type()
            .is_some_and(|c| c.c_type == "image" && c.subtype() == Some("png"))
            && p.content_id().is_some()),
        "an inline PNG chart"
    );
    let status = daemon.stop();
    assert!(status.success(), "exit status {status}");
}

/// The documented production set-up names the database in
/// ACCESSAUDIT_DATABASE_URL, not in the file; a person re-rendering a run
/// may spell the same database another way. The delivered report and the
/// re-rendered one are the same bytes, and the archive holds one report.
#[test]
fn serve_and_report_render_one_run_to_the_same_bytes() {
    let s = Setup::sqlite();
    let slot = soon(4);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    edit(&config, &format!("database: \"{}\"\n", s.database), "");
    let daemon = Daemon::start_with_env(
        &config,
        &s.path("daemon.log"),
        &[("ACCESSAUDIT_DATABASE_URL", &s.database)],
    );
    wait_until(
        "the report in the outbox folder",
        Duration::from_secs(40),
        || !eml_files(&s.path("outbox")).is_empty(),
    );
    assert!(daemon.stop().success());
    let delivered = std::fs::read(&eml_files(&s.path("outbox"))[0]).expect("read");

    let other_spelling = format!("sqlite://{}/./audit.db", s.dir.path().display());
    assert_ne!(other_spelling, s.database);
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .args(["--database", &other_spelling, "report", "--job", "monthly"])
        .arg("--out")
        .arg(s.path("files"))
        .env_remove("ACCESSAUDIT_DATABASE_URL")
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eml = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with(".eml"))
        .map(PathBuf::from)
        .expect("the .eml written");
    let rendered = std::fs::read(&eml).expect("read");
    assert!(
        delivered == rendered,
        "the delivered report and `report --job` differ:\n{}\n---\n{}",
        header(&String::from_utf8_lossy(&delivered), "Message-ID").unwrap_or("?"),
        header(&String::from_utf8_lossy(&rendered), "Message-ID").unwrap_or("?")
    );
    // One archived report of the run, whatever rendered it.
    let list = Command::new(BIN)
        .args(["--database", &other_spelling, "runs", "list"])
        .output()
        .expect("runs list");
    let listed = String::from_utf8_lossy(&list.stdout);
    let run_line = listed
        .lines()
        .find(|l| l.contains("monthly"))
        .expect("the run is listed");
    let digests = run_line
        .split_whitespace()
        .filter(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .count();
    assert_eq!(digests, 1, "exactly one SHA-256 for the run: {run_line}");
}

#[test]
fn smtp_down_then_up_delivers_once() {
    let s = Setup::sqlite();
    let port = free_port();
    let slot = soon(3);
    let config = s.config(&smtp_transport(port), &monthly_job(&once_at(slot)));
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    // The job runs and its message waits in the outbox while nothing listens.
    wait_until("a failed send attempt", Duration::from_secs(40), || {
        daemon.log().contains("delivery failed, will retry")
    });
    let mail = s.path("mail");
    let sink = SmtpSink::start(port, &mail, 0.0);
    wait_until(
        "the message at the SMTP server",
        Duration::from_secs(40),
        || !eml_files(&mail).is_empty(),
    );
    // More sender passes must not send it again.
    std::thread::sleep(Duration::from_secs(5));
    let files = eml_files(&mail);
    assert_eq!(files.len(), 1, "{files:?}\n{}", daemon.log());
    let eml = std::fs::read_to_string(&files[0]).expect("read");
    assert_eq!(header(&eml, "X-Envelope-To"), Some("dpo@example.com"));
    assert!(daemon.stop().success());
    drop(sink);
}

#[test]
fn killed_during_a_run_and_during_a_send_nothing_lost_nothing_twice() {
    let s = Setup::sqlite();
    let port = free_port();
    let mail = s.path("mail");
    // Each RCPT takes 4 s: time to kill the daemon in the middle of a send.
    let sink = SmtpSink::start(port, &mail, 4.0);
    let slot = soon(3);
    let config = s.config(&smtp_transport(port), &monthly_job(&once_at(slot)));
    let log = s.path("daemon.log");

    // 1. Killed while the message is being sent.
    let daemon = Daemon::start(&config, &log);
    wait_until("the job to finish", Duration::from_secs(40), || {
        daemon.log().contains("job finished")
    });
    std::thread::sleep(Duration::from_millis(1500));
    daemon.kill9();
    assert!(
        eml_files(&mail).is_empty(),
        "killed before the server accepted"
    );

    // 2. Restarted: the claim of the dead sender expires, the message is sent.
    let daemon = Daemon::start(&config, &log);
    wait_until(
        "the message at the SMTP server",
        Duration::from_secs(120),
        || !eml_files(&mail).is_empty(),
    );
    // 3. Killed right after, restarted again: nothing is sent twice and the
    // slot does not run again (the catch-up sees it done).
    daemon.kill9();
    let (port, mail_dir, _) = sink.stop();
    let sink = SmtpSink::start(port, &mail_dir, 0.0);
    let daemon = Daemon::start(&config, &log);
    std::thread::sleep(Duration::from_secs(8));
    let files = eml_files(&mail);
    assert_eq!(files.len(), 1, "{files:?}\n{}", daemon.log());
    assert_eq!(
        daemon.log().matches("job started").count(),
        1,
        "the slot ran once:\n{}",
        daemon.log()
    );
    assert!(daemon.stop().success());
    drop(sink);
}

#[test]
fn killed_during_a_run_the_slot_runs_again_once() {
    let s = Setup::sqlite();
    // A rule that takes a few seconds: time to kill the daemon mid-run.
    let rules = s.path("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("slow.yaml"),
        "id: slow\ntitle: Slow\nseverity: low\nkind: sql\nparams:\n  query: >\n    \
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000)\n    \
         SELECT 'x1' AS subject_id, MAX(x) AS n FROM c\n",
    )
    .expect("write rule");
    let slot = soon(3);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(&config, format!("rules: [\"{}\"]\n{text}", rules.display())).expect("write");
    let log = s.path("daemon.log");
    let daemon = Daemon::start(&config, &log);
    wait_until("the job to start", Duration::from_secs(30), || {
        daemon.log().contains("job started")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !daemon.log().contains("job finished"),
        "the run was too quick to kill"
    );
    daemon.kill9();
    assert!(eml_files(&s.path("outbox")).is_empty());
    let daemon = Daemon::start(&config, &log);
    wait_until("the report", Duration::from_secs(90), || {
        eml_files(&s.path("outbox")).len() == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(eml_files(&s.path("outbox")).len(), 1);
    assert_eq!(
        daemon.log().matches("job finished").count(),
        1,
        "{}",
        daemon.log()
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_missed_schedule_catches_up_once_at_start() {
    let s = Setup::sqlite();
    // The slot passed 20 s ago, while no daemon ran; the window is 1 h.
    let slot = soon(-20);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    let log = s.path("daemon.log");
    let daemon = Daemon::start(&config, &log);
    wait_until("the caught-up report", Duration::from_secs(40), || {
        eml_files(&s.path("outbox")).len() == 1
    });
    assert!(daemon.log().contains("catching up a missed schedule"));
    assert!(daemon.stop().success());
    // A second start does not run it again.
    let daemon = Daemon::start(&config, &log);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(daemon.log().matches("job started").count(), 1);
    assert_eq!(eml_files(&s.path("outbox")).len(), 1);
    assert!(daemon.stop().success());
}

#[test]
fn an_alert_is_sent_once_not_at_every_scan() {
    let s = Setup::sqlite();
    let jobs = "  export-alert:\n    schedule: \"*/2 * * * * *\"\n    rules: [bulk-export]\n    recipients: [it]\n    send: new-findings\n";
    let config = s.config(&s.file_transport(), jobs);
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until("four scans", Duration::from_secs(60), || {
        daemon.log().matches("job finished").count() >= 4
    });
    let files = eml_files(&s.path("outbox"));
    assert_eq!(files.len(), 1, "{files:?}\n{}", daemon.log());
    let eml = std::fs::read_to_string(&files[0]).expect("read");
    assert!(eml.contains("x1"), "{eml}");
    assert!(daemon.stop().success());
}

#[test]
fn a_bad_reload_keeps_the_old_configuration() {
    let s = Setup::sqlite();
    let slot = soon(8);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until("the daemon to start", Duration::from_secs(20), || {
        daemon.log().contains("daemon started")
    });
    // A job naming a rule that does not exist: the whole new set is refused.
    edit(
        &config,
        "    send: always\n",
        "    send: always\n    rules: [no-such-rule]\n",
    );
    daemon.signal("-HUP");
    wait_until("the reload to be rejected", Duration::from_secs(20), || {
        daemon.log().contains("reload rejected")
    });
    assert!(
        daemon.log().contains("accessaudit.yaml:")
            && daemon
                .log()
                .contains("field `jobs.monthly.rules`: no rule `no-such-rule`"),
        "{}",
        daemon.log()
    );
    // The old job still runs at its time.
    wait_until("the report", Duration::from_secs(40), || {
        eml_files(&s.path("outbox")).len() == 1
    });
    assert!(daemon.stop().success());
}

#[test]
fn a_bad_config_stops_the_daemon_at_start_with_file_line_and_field() {
    let s = Setup::sqlite();
    let config = s.config(
        &s.file_transport(),
        "  monthly:\n    schedule: \"0 61 * * *\"\n    recipients: [compliance]\n",
    );
    let out = Command::new(BIN)
        .args(["--config", config.to_str().expect("utf-8"), "serve"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("accessaudit.yaml:") && err.contains("field `jobs.monthly.schedule`"),
        "{err}"
    );
}

#[test]
fn health_and_metrics_endpoints() {
    let s = Setup::sqlite();
    let port = free_port();
    let slot = soon(3);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    edit(
        &config,
        "daemon:\n",
        &format!("daemon:\n  listen: 127.0.0.1:{port}\n"),
    );
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until("the report", Duration::from_secs(40), || {
        eml_files(&s.path("outbox")).len() == 1
    });
    let get = |path: &str| -> String {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut body = String::new();
        c.read_to_string(&mut body).expect("read");
        body
    };
    assert!(get("/healthz").starts_with("HTTP/1.1 200"));
    let mut metrics = get("/metrics");
    // The outbox gauge is refreshed by the sender loop every 2 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics.contains("accessaudit_messages_sent_total 1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        metrics = get("/metrics");
    }
    assert!(
        metrics.contains("accessaudit_runs_total{job=\"monthly\",status=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("accessaudit_messages_sent_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("accessaudit_outbox_messages{status=\"sent\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("accessaudit_run_duration_seconds_count{job=\"monthly\"} 1"),
        "{metrics}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn two_daemons_on_one_postgres_run_a_job_once() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, db) = Setup::postgres(&rt);
    let slot = soon(6);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    let a = Daemon::start(&config, &s.path("a.log"));
    let b = Daemon::start(&config, &s.path("b.log"));
    wait_until("the report", Duration::from_secs(40), || {
        eml_files(&s.path("outbox")).len() == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    let started = a.log().matches("job started").count() + b.log().matches("job started").count();
    assert_eq!(started, 1, "A:\n{}\nB:\n{}", a.log(), b.log());
    let runs = rt.block_on(
        db.store
            .fetch_all("SELECT COUNT(*) AS n FROM runs WHERE job = 'monthly'", &[]),
    );
    assert_eq!(runs.expect("count")[0].i64("n").expect("n"), Some(1));
    assert_eq!(eml_files(&s.path("outbox")).len(), 1);
    assert!(a.stop().success());
    assert!(b.stop().success());
}

#[test]
fn a_job_that_cannot_run_retries_then_tells_it() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, db) = Setup::postgres(&rt);
    let slot = soon(5);
    let config = s.config(&s.file_transport(), &monthly_job(&once_at(slot)));
    edit(
        &config,
        "daemon:\n",
        "daemon:\n  job_retry_for: 4s\n  failure_recipients: [it]\n",
    );
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until("the daemon to start", Duration::from_secs(20), || {
        daemon.log().contains("daemon started")
    });
    // The database goes away under the daemon (its schema is dropped): the
    // job fails, is retried, and IT is told. The outbox is gone with it, so
    // the notice goes straight to the transport.
    let schema = db
        .url
        .split("search_path]=")
        .nth(1)
        .expect("the test URL names its schema")
        .to_string();
    let admin = rt
        .block_on(accessaudit::store::Store::connect(
            &common::postgres_url(),
            Default::default(),
        ))
        .expect("connect");
    rt.block_on(admin.execute(&format!("DROP SCHEMA {schema} CASCADE"), &[]))
        .expect("drop schema");
    wait_until("the failure notice", Duration::from_secs(60), || {
        eml_files(&s.path("outbox")).len() == 1
    });
    let eml = std::fs::read_to_string(&eml_files(&s.path("outbox"))[0]).expect("read");
    assert!(
        header(&eml, "Subject").is_some_and(|s| s.contains("job monthly did not run")),
        "{eml}"
    );
    assert!(
        header(&eml, "To").is_some_and(|t| t.contains("it@example.com")),
        "{eml}"
    );
    let log = daemon.log();
    assert!(log.contains("job could not run"), "{log}");
    assert!(log.contains("abandoned"), "{log}");
    assert!(daemon.stop().success());
}

#[test]
fn a_message_that_keeps_failing_is_marked_failed() {
    let s = Setup::sqlite();
    let port = free_port(); // nothing listens there
    let slot = soon(3);
    let config = s.config(&smtp_transport(port), &monthly_job(&once_at(slot)));
    edit(
        &config,
        "  retry_max: 2s\n",
        "  retry_max: 2s\n  give_up_after: 4s\n",
    );
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until(
        "the message to be given up",
        Duration::from_secs(60),
        || daemon.log().contains("delivery failed for good"),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = rt
        .block_on(accessaudit::store::Store::connect(
            &s.database,
            Default::default(),
        ))
        .expect("open");
    let depth = rt
        .block_on(accessaudit::deliver::outbox::depth(&store))
        .expect("depth");
    assert_eq!(
        (depth.failed, depth.queued, depth.sent),
        (1, 0, 0),
        "{depth:?}"
    );
    assert!(daemon.stop().success());
    // The next report of the job says that a message did not arrive.
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("ACCESSAUDIT_DATABASE_URL")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli(&["run", "--job", "monthly"]);
    let out = s.path("report");
    cli(&[
        "report",
        "--job",
        "monthly",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let html = std::fs::read_dir(&out)
        .expect("report dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "html"))
        .expect("an HTML report");
    let html = std::fs::read_to_string(html).expect("read");
    assert!(html.contains("could not be delivered"), "{html}");
    assert!(
        html.contains("Access review"),
        "the failed message's subject is listed"
    );
}

/// The check: the daemon and the mail server killed (SIGKILL) at
/// random moments while a job sends a message every 3 s; at the end every
/// message the daemon queued has arrived, and none twice.
#[test]
fn chaos_kills_lose_nothing_and_duplicate_nothing() {
    let s = Setup::sqlite();
    let port = free_port();
    let mail = s.path("mail");
    let job = "  tick:\n    schedule: \"*/3 * * * * *\"\n    rules: [bulk-export]\n    recipients: [compliance]\n    send: always\n";
    let config = s.config(&smtp_transport(port), job);
    let log = s.path("daemon.log");
    let mut daemon = Some(Daemon::start(&config, &log));
    let mut sink = Some(SmtpSink::start(port, &mail, 0.0));
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let until = Instant::now() + Duration::from_secs(36);
    let mut kills = (0, 0);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(rng.u64(300..2500)));
        if rng.bool() {
            if let Some(d) = daemon.take() {
                d.kill9();
                kills.0 += 1;
            }
            std::thread::sleep(Duration::from_millis(rng.u64(0..1500)));
            daemon = Some(Daemon::start(&config, &log));
        } else {
            if let Some(k) = sink.take() {
                k.stop();
                kills.1 += 1;
            }
            std::thread::sleep(Duration::from_millis(rng.u64(0..3000)));
            sink = Some(SmtpSink::start(port, &mail, 0.0));
        }
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = rt
        .block_on(accessaudit::store::Store::connect(
            &s.database,
            Default::default(),
        ))
        .expect("open");
    // Stop scheduling new messages, then let the outbox drain.
    daemon.take().expect("running").kill9();
    let daemon = Daemon::start(
        &s.config(
            &smtp_transport(port),
            "  idle:\n    recipients: [compliance]\n",
        ),
        &log,
    );
    wait_until("the outbox to drain", Duration::from_secs(120), || {
        rt.block_on(accessaudit::deliver::outbox::depth(&store))
            .is_ok_and(|d| d.queued == 0 && d.sending == 0)
    });
    let queued = rt
        .block_on(store.fetch_all("SELECT message_id, status FROM outbox ORDER BY id", &[]))
        .expect("outbox");
    let mut expected: Vec<String> = queued
        .iter()
        .map(|r| format!("<{}>", r.req_text("message_id").expect("id")))
        .collect();
    expected.sort();
    let mut received: Vec<String> = eml_files(&mail)
        .iter()
        .map(|f| {
            let eml = std::fs::read_to_string(f).expect("read");
            header(&eml, "Message-ID").expect("Message-ID").to_string()
        })
        .collect();
    received.sort();
    assert!(
        expected.len() >= 5,
        "too few messages to mean anything: {expected:?}"
    );
    assert_eq!(
        received,
        expected,
        "seed {seed}, {} daemon and {} mail server kills\n{}",
        kills.0,
        kills.1,
        daemon.log()
    );
    eprintln!(
        "chaos: seed {seed}: {} messages, {} daemon kills, {} mail server kills: each arrived once",
        expected.len(),
        kills.0,
        kills.1
    );
    drop(daemon);
    drop(sink);
}

/// A private CA and a certificate for 127.0.0.1 signed by it (openssl CLI).
fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl package) must be installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=accessaudit test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn smtp_with_starttls_and_authentication() {
    let s = Setup::sqlite();
    let (ca, cert, key) = test_certificates(s.dir.path());
    let port = free_port();
    let mail = s.path("mail");
    let cert = cert.to_str().expect("utf-8");
    let key = key.to_str().expect("utf-8");
    let sink = SmtpSink::start_with(
        port,
        &mail,
        0.0,
        &[
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--auth",
            "audit:s3cret pass",
        ],
    );
    std::fs::write(s.path("smtp-password"), "s3cret pass\n").expect("write");
    let transport = format!(
        "    kind: smtp\n    host: 127.0.0.1\n    port: {port}\n    tls: starttls\n    username: audit\n    password_file: smtp-password\n    ca_file: \"{}\"\n    timeout: 10s\n",
        ca.display()
    );
    let config = s.config(&transport, &monthly_job(&once_at(soon(3))));
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until("the message over STARTTLS", Duration::from_secs(40), || {
        !eml_files(&mail).is_empty()
    });
    let eml = std::fs::read_to_string(&eml_files(&mail)[0]).expect("read");
    assert_eq!(header(&eml, "X-Sink-TLS"), Some("yes"));
    assert_eq!(header(&eml, "X-Sink-Auth"), Some("audit"));
    assert!(
        !daemon.log().contains("s3cret"),
        "the password is never logged"
    );
    assert!(daemon.stop().success());
    drop(sink);
}

#[test]
fn a_source_syncs_on_its_schedule() {
    let s = Setup::sqlite();
    std::fs::write(
        s.path("roster.csv"),
        "emp,name,state\nh1,Li Lei,left\nh2,Han Meimei,here\n",
    )
    .expect("write");
    std::fs::write(
        s.path("roster.yaml"),
        "timezone: UTC\nfeeds:\n  roster:\n    table: people\n    file: roster.csv\n    columns:\n      id: emp\n      full_name: name\n      employment_status: state\n    codes:\n      employment_status: {here: active, left: terminated}\n",
    )
    .expect("write");
    let config = s.config(&s.file_transport(), "  idle:\n    recipients: [it]\n");
    let text = std::fs::read_to_string(&config).expect("read");
    let slot = soon(3);
    std::fs::write(
        &config,
        format!(
            "{text}sources:\n  hr:\n    kind: csv\n    path: .\n    mapping: roster.yaml\n    schedule: \"{}\"\n",
            once_at(slot)
        ),
    )
    .expect("write");
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    wait_until("the scheduled sync", Duration::from_secs(40), || {
        daemon.log().contains("source synced")
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = rt
        .block_on(accessaudit::store::Store::connect(
            &s.database,
            Default::default(),
        ))
        .expect("open");
    let people = rt
        .block_on(store.fetch_all("SELECT id, employment_status FROM people ORDER BY id", &[]))
        .expect("people");
    let people: Vec<(String, String)> = people
        .iter()
        .map(|r| {
            (
                r.req_text("id").expect("id"),
                r.req_text("employment_status").expect("status"),
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            ("h1".to_string(), "terminated".to_string()),
            ("h2".to_string(), "active".to_string())
        ]
    );
    assert!(daemon.stop().success());
}
