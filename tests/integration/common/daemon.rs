//! The daemon harness: the real binary as `serve`, the tests' SMTP server
//! (Debian's python3-aiosmtpd, tests/support/smtp_sink.py), and a scratch
//! deployment (data imported through the CLI, a config file written).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, log: &Path) -> Daemon {
        Daemon::start_with_env(config, log, &[])
    }

    /// Started with these environment variables (the database URL, say).
    pub fn start_with_env(config: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = super::accessaudit()
            .args(["--config", config.to_str().expect("utf-8 path"), "serve"])
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
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

    pub fn kill9(mut self) {
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
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
    delay: f64,
}

impl SmtpSink {
    pub fn start(port: u16, dir: &Path, rcpt_delay: f64) -> SmtpSink {
        SmtpSink::start_with(port, dir, rcpt_delay, &[])
    }

    pub fn start_with(port: u16, dir: &Path, rcpt_delay: f64, extra: &[&str]) -> SmtpSink {
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

    pub fn stop(mut self) -> (u16, PathBuf, f64) {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn eml_files(dir: &Path) -> Vec<PathBuf> {
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
pub fn once_at(at: DateTime<Utc>) -> String {
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
pub fn soon(secs: i64) -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::seconds(secs);
    t.with_nanosecond(0).expect("valid")
}

/// Canonical data with a fresh event feed and one bulk export an hour ago,
/// imported through the CLI into `database`.
pub fn load_data(dir: &Path, database: &str) {
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
        let out = super::accessaudit()
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

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub database: String,
}

impl Setup {
    pub fn sqlite() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}", dir.path().join("audit.db").display());
        load_data(dir.path(), &database);
        Setup { dir, database }
    }

    /// A schema of its own in the tests' PostgreSQL.
    pub fn postgres(rt: &tokio::runtime::Runtime) -> (Setup, super::TestDb) {
        let db = rt.block_on(super::postgres());
        let dir = tempfile::tempdir().expect("temp dir");
        load_data(dir.path(), &db.url);
        let s = Setup {
            dir,
            database: db.url.clone(),
        };
        (s, db)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the config; `transport` and `jobs` are YAML blocks.
    pub fn config(&self, transport: &str, jobs: &str) -> PathBuf {
        let text = format!(
            "database: \"{}\"\ntimezone: UTC\nmail:\n  from: \"accessaudit <audit@example.com>\"\n  retry_initial: 1s\n  retry_max: 2s\n  transport:\n{transport}\nrecipients:\n  compliance: [\"dpo@example.com\"]\n  it: [\"it@example.com\"]\njobs:\n{jobs}\ndaemon:\n  catch_up: 1h\n",
            self.database
        );
        let path = self.path("accessaudit.yaml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub fn file_transport(&self) -> String {
        format!(
            "    kind: file\n    dir: \"{}\"\n",
            self.path("outbox").display()
        )
    }
}

/// Replaces `from` by `to` in the config file.
pub fn edit(config: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).expect("read config");
    assert!(text.contains(from), "`{from}` is not in the config");
    std::fs::write(config, text.replacen(from, to, 1)).expect("write config");
}

pub fn smtp_transport(port: u16) -> String {
    format!(
        "    kind: smtp\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n    timeout: 10s\n"
    )
}

pub fn monthly_job(schedule: &str) -> String {
    format!(
        "  monthly:\n    schedule: \"{schedule}\"\n    recipients: [compliance]\n    send: always\n    subject: \"Access review {{as_of}}\"\n"
    )
}

pub fn header<'a>(eml: &'a str, name: &str) -> Option<&'a str> {
    eml.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim())
}
