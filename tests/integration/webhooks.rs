//! The webhook transport against a real HTTP server on loopback (a std
//! TcpListener in the test): JSON POSTs signed with HMAC-SHA256 (checked
//! with openssl, not with our code), retried through the outbox after a 503,
//! one delivery id per message, and a masked webhook without logins.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::daemon::*;

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP/1.1 server: answers each request with the next status of
/// `statuses` (200 once they run out) and records what it got.
fn receiver(statuses: Vec<u16>) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((n, v)) = h.split_once(':') {
                    headers.push((n.trim().to_string(), v.trim().to_string()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let status = statuses.next().unwrap_or(200);
            seen.lock().expect("lock").push(Received {
                path,
                headers,
                body: String::from_utf8_lossy(&body).to_string(),
            });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (port, got)
}

/// The HMAC-SHA256 of `body` under `key`, as openssl computes it.
fn openssl_hmac(dir: &std::path::Path, key: &str, body: &str) -> String {
    let file = dir.join("body.json");
    std::fs::write(&file, body).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-r"])
        .arg(&file)
        .output()
        .expect("openssl (the tests use it to check signatures independently)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

#[test]
fn a_job_posts_signed_json_retried_through_the_outbox() {
    let s = Setup::sqlite();
    let (port, got) = receiver(vec![503]);
    let secret = "webhook signing secret";
    std::fs::write(s.path("hook-secret"), format!("{secret}\n")).expect("write");
    let job = format!(
        "{}    webhooks: [chat, masked]\nwebhooks:\n  chat:\n    url: \"http://127.0.0.1:{port}/hooks/chat?x=1\"\n    secret_file: hook-secret\n  masked:\n    url: \"http://127.0.0.1:{port}/hooks/masked\"\n    secret_file: hook-secret\n    pii: mask\n",
        monthly_job(&once_at(soon(4)))
    );
    let config = s.config(&s.file_transport(), &job);
    let daemon = Daemon::start(&config, &s.path("daemon.log"));
    // chat: refused once (503), then accepted; masked: accepted at once.
    wait_until("three posts", Duration::from_secs(60), || {
        got.lock().expect("lock").len() >= 3
    });
    wait_until("the mailed report", Duration::from_secs(30), || {
        !eml_files(&s.path("outbox")).is_empty()
    });
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(s.path("daemon.log")).unwrap_or_default();
    assert!(!log.contains(secret), "the secret is never logged");
    assert!(log.contains("HTTP 503"), "the refusal is logged:\n{log}");

    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 3, "{got:#?}");
    let chat: Vec<&Received> = got.iter().filter(|r| r.path == "/hooks/chat?x=1").collect();
    assert_eq!(chat.len(), 2, "retried once after the 503");
    assert_eq!(chat[0].body, chat[1].body, "the stored body, sent again");
    assert_eq!(
        chat[0].header("x-accessaudit-delivery"),
        chat[1].header("x-accessaudit-delivery"),
        "one delivery id per message"
    );
    for r in &got {
        assert_eq!(r.header("content-type"), Some("application/json"));
        let expected = format!("sha256={}", openssl_hmac(s.dir.path(), secret, &r.body));
        assert_eq!(r.header("x-accessaudit-signature"), Some(expected.as_str()));
    }
    let body: serde_json::Value = serde_json::from_str(&chat[0].body).expect("JSON");
    assert_eq!(body["job"], "monthly");
    assert!(body["text"].as_str().is_some_and(|t| t.contains("monthly")));
    let findings = body["findings"].as_array().expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "bulk-export" && f["subject_id"] == "x1"),
        "{body:#}"
    );
    assert!(
        chat[0].body.contains("exporter@example.com"),
        "clear: the login"
    );

    let masked = got
        .iter()
        .find(|r| r.path == "/hooks/masked")
        .expect("the masked post");
    assert_ne!(
        masked.header("x-accessaudit-delivery"),
        chat[0].header("x-accessaudit-delivery")
    );
    assert!(
        !masked.body.contains("exporter@example.com"),
        "{}",
        masked.body
    );
    assert!(!masked.body.contains("\"x1\""), "{}", masked.body);
    assert!(masked.body.contains("[masked]"), "{}", masked.body);
}

#[test]
fn a_webhook_of_no_webhooks_section_is_refused_with_its_place() {
    let s = Setup::sqlite();
    let job = format!("{}    webhooks: [nope]\n", monthly_job("0 7 1 * *"));
    let config = s.config(&s.file_transport(), &job);
    let out = crate::common::accessaudit()
        .args([
            "--config",
            config.to_str().expect("utf-8"),
            "config",
            "check",
        ])
        .output()
        .expect("config check");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("jobs.monthly.webhooks") && err.contains("`nope`"),
        "{err}"
    );
}
