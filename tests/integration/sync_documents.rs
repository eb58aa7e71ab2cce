//! Document sources: Elasticsearch/OpenSearch and JSON Lines with the
//! shipped WukongCRM log mapping, and a CSV HR roster.
//!
//! No Elasticsearch or OpenSearch server can run here, so the reader talks
//! to a small HTTP server started by the test that answers with bodies in
//! the documented Elasticsearch 7.10+/8 shapes (`_pit` → `id`; `_search` →
//! `hits.hits[]` with `_id`, `_source` and `sort`, `hits.total` as an
//! object) and OpenSearch's point-in-time endpoints. It records each request,
//! so the range query, paging and point-in-time handling are checked.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use accessaudit::collect::sync::sync_source;
use accessaudit::config::Config;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type Log = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Login documents as WukongCRM 11 writes them (GMT+8 wall-clock times).
fn login_docs(now: DateTime<Utc>) -> Vec<Value> {
    let t = |m: i64| {
        (now - Duration::minutes(m))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    vec![
        json!({"_id": "a1", "_source": {"userId": 20004, "loginTime": t(50), "ipAddress": "10.1.0.1", "deviceType": "网页", "authResult": 1}}),
        json!({"_id": "a2", "_source": {"userId": 20004, "loginTime": t(40), "ipAddress": "10.2.0.1", "deviceType": "网页", "authResult": 1}}),
        json!({"_id": "a3", "_source": {"userId": 20004, "loginTime": t(30), "ipAddress": "10.3.0.1", "deviceType": "移动端", "authResult": 2}}),
    ]
}

fn sys_docs(now: DateTime<Utc>) -> Vec<Value> {
    let t = |m: i64| {
        (now - Duration::minutes(m))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    vec![
        json!({"_id": "s1", "_source": {"userId": 20003, "createTime": t(20), "behavior": "导出", "subModel": "客户", "object": "全部导出", "ipAddress": "10.0.0.3"}}),
        json!({"_id": "s2", "_source": {"userId": 20003, "createTime": t(15), "behavior": "删除", "subModel": "客户", "detail": "删除了客户：A", "ipAddress": "10.0.0.3"}}),
        json!({"_id": "s3", "_source": {"userId": 20003, "createTime": t(10), "behavior": "编辑", "subModel": "客户", "ipAddress": "10.0.0.3"}}),
    ]
}

/// A search response page: hits after `search_after`, `size` of them.
fn search(docs: &[Value], time_field: &str, body: &Value) -> Value {
    let size = body["size"].as_u64().unwrap_or(10) as usize;
    let after = body.get("search_after").and_then(|a| a[1].as_u64());
    let hits: Vec<Value> = docs
        .iter()
        .enumerate()
        .filter(|(i, _)| after.is_none_or(|a| *i as u64 > a))
        .take(size)
        .map(|(i, d)| {
            let mut hit = d.clone();
            hit["_index"] = json!("wk-log-2026-11");
            // Sort values: the time field, then the implicit _shard_doc.
            hit["sort"] = json!([d["_source"][time_field], i]);
            hit
        })
        .collect();
    json!({
        "took": 1, "timed_out": false, "pit_id": body["pit"]["id"],
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": docs.len(), "relation": "eq"}, "max_score": null, "hits": hits}
    })
}

async fn es_server(now: DateTime<Utc>, opensearch: bool) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, body) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < end + 4 + length {
                            let n = socket.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[end + 4..].to_vec());
                    }
                };
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.lock()
                    .unwrap()
                    .push((method.clone(), path.clone(), body.clone()));
                let pit_path = if opensearch {
                    "/_search/point_in_time"
                } else {
                    "/_pit"
                };
                let (status, answer) = match (method.as_str(), path.as_str()) {
                    ("POST", p) if p.contains(pit_path) && p.contains("wk-login-log-*") => (
                        200,
                        if opensearch {
                            json!({"pit_id": "pit-login"})
                        } else {
                            json!({"id": "pit-login"})
                        },
                    ),
                    ("POST", p) if p.contains(pit_path) && p.contains("wk-sys-log-*") => (
                        200,
                        if opensearch {
                            json!({"pit_id": "pit-sys"})
                        } else {
                            json!({"id": "pit-sys"})
                        },
                    ),
                    ("POST", "/_search") if body["pit"]["id"] == "pit-login" => {
                        (200, search(&login_docs(now), "loginTime", &body))
                    }
                    ("POST", "/_search") if body["pit"]["id"] == "pit-sys" => {
                        (200, search(&sys_docs(now), "createTime", &body))
                    }
                    ("DELETE", p) if p == pit_path => {
                        (200, json!({"succeeded": true, "num_freed": 1}))
                    }
                    _ => (404, json!({"error": "not found"})),
                };
                let text = answer.to_string();
                let response = format!(
                    "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), log)
}

fn config(dir: &Path, body: &str) -> Config {
    let path = dir.join("config.yaml");
    std::fs::write(&path, body).expect("write config");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn es_mapping() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings/wukongcrm-elasticsearch.yaml")
        .display()
        .to_string()
}

async fn events(store: &accessaudit::store::Store) -> Vec<(String, String, Option<String>)> {
    store
        .fetch_all("SELECT id, action, outcome FROM events ORDER BY id", &[])
        .await
        .expect("events")
        .iter()
        .map(|r| {
            (
                r.req_text("id").unwrap(),
                r.req_text("action").unwrap(),
                r.text("outcome").unwrap(),
            )
        })
        .collect()
}

async fn elasticsearch_logs(db: common::TestDb) {
    for opensearch in [false, true] {
        let now = Utc::now();
        let (url, log) = es_server(now, opensearch).await;
        let dir = tempfile::tempdir().expect("dir");
        let kind = if opensearch {
            "opensearch"
        } else {
            "elasticsearch"
        };
        let config = config(
            dir.path(),
            &format!(
                "sources:\n  logs:\n    kind: {kind}\n    url: {url}\n    mapping: {}\n    page_size: 2\n    timeout: 30s\n",
                es_mapping()
            ),
        );
        let report = sync_source(&db.store, "logs", &config.sources["logs"], now)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let read: Vec<(String, u64)> = report
            .feeds
            .iter()
            .map(|f| (f.feed.clone(), f.read))
            .collect();
        assert_eq!(
            read,
            [("logins".to_string(), 3), ("operations".to_string(), 2)],
            "{kind}: the edit is dropped by the mapping's codes"
        );
        let got = events(&db.store).await;
        assert_eq!(
            got,
            [
                ("a1".into(), "login".into(), Some("success".into())),
                ("a2".into(), "login".into(), Some("success".into())),
                ("a3".into(), "login".into(), Some("failure".into())),
                ("s1".into(), "export".into(), None),
                ("s2".into(), "delete".into(), None),
            ],
            "{kind}"
        );
        let requests = log.lock().unwrap().clone();
        let searches: Vec<&Value> = requests
            .iter()
            .filter(|(m, p, b)| m == "POST" && p == "/_search" && b["pit"]["id"] == "pit-login")
            .map(|(_, _, b)| b)
            .collect();
        // The pages, then one count in the same point in time.
        let (counts, searches): (Vec<&Value>, Vec<&Value>) =
            searches.into_iter().partition(|b| b["size"] == 0);
        assert_eq!(counts.len(), 1, "{kind}: the index's own count, once");
        assert_eq!(counts[0]["track_total_hits"], true);
        assert_eq!(searches.len(), 2, "{kind}: three hits in pages of two");
        assert!(searches[0].get("search_after").is_none());
        assert_eq!(
            searches[1]["search_after"][1], 1,
            "{kind}: paged after the second hit"
        );
        assert_eq!(searches[0]["sort"][0]["loginTime"]["order"], "asc");
        let sys_search = requests
            .iter()
            .find(|(_, p, b)| p == "/_search" && b["pit"]["id"] == "pit-sys")
            .map(|(_, _, b)| b.clone())
            .expect("a search of the operations index");
        assert_eq!(
            sys_search["query"]["bool"]["filter"][0]["terms"]["behavior"],
            json!(["导出", "删除"]),
            "{kind}: the mapping's filter goes to the server"
        );
        let closes = requests.iter().filter(|(m, _, _)| m == "DELETE").count();
        assert_eq!(closes, 2, "{kind}: each point in time is closed");

        // A second sync asks from the watermark on, in the source's wall clock.
        let before = log.lock().unwrap().len();
        sync_source(&db.store, "logs", &config.sources["logs"], now)
            .await
            .expect("second sync");
        let requests = log.lock().unwrap().clone();
        let range = requests[before..]
            .iter()
            .find(|(_, p, b)| p == "/_search" && b["pit"]["id"] == "pit-login")
            .map(|(_, _, b)| b["query"]["bool"]["filter"][0]["range"]["loginTime"]["gte"].clone())
            .expect("a range query");
        let newest = (now - Duration::minutes(30))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        assert!(
            range.as_str().is_some_and(|r| r.starts_with(&newest)),
            "{kind}: {range} should start at {newest}"
        );
        db.store
            .execute("DELETE FROM events", &[])
            .await
            .expect("clean");
        db.store
            .execute("DELETE FROM source_watermarks", &[])
            .await
            .expect("clean");
    }
}

/// The same mapping over JSON Lines exports of the indices, and a CSV roster.
async fn files(db: common::TestDb) {
    let now = Utc::now();
    let dir = tempfile::tempdir().expect("dir");
    let lines = |docs: Vec<Value>| {
        docs.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(
        dir.path().join("wk-login-log-2026-11.jsonl"),
        lines(login_docs(now)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wk-sys-log-2026-11.jsonl"),
        lines(sys_docs(now)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("roster.csv"),
        "工号,姓名,邮箱,状态,离职日期\n90002,Li Lei,li.lei@example.com,离职,2026-10-01\n90003,Han Meimei,han@example.com,在职,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        "timezone: Asia/Shanghai\nfeeds:\n  roster:\n    table: people\n    file: roster.csv\n    columns:\n      id: 工号\n      full_name: 姓名\n      email: 邮箱\n      employment_status: 状态\n      terminated_at: 离职日期\n    codes:\n      employment_status: {在职: active, 离职: terminated}\n",
    )
    .unwrap();
    let config = config(
        dir.path(),
        &format!(
            "sources:\n  exports:\n    kind: jsonl\n    path: .\n    mapping: {}\n  hr:\n    kind: csv\n    path: .\n    mapping: roster.yaml\n",
            es_mapping()
        ),
    );
    sync_source(&db.store, "exports", &config.sources["exports"], now)
        .await
        .expect("jsonl sync");
    assert_eq!(events(&db.store).await.len(), 5);
    // Again: everything before the watermark is skipped, the rest is known.
    let again = sync_source(&db.store, "exports", &config.sources["exports"], now)
        .await
        .expect("jsonl sync");
    let written: u64 = again.feeds.iter().map(|f| f.written).sum();
    assert_eq!(written, 0, "{again:?}");
    assert!(again.feeds.iter().all(|f| f.read <= 1), "{again:?}");

    sync_source(&db.store, "hr", &config.sources["hr"], now)
        .await
        .expect("csv sync");
    let people = db
        .store
        .fetch_all(
            "SELECT id, employment_status, terminated_at FROM people ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(
        people[0].req_text("employment_status").unwrap(),
        "terminated"
    );
    assert_eq!(
        people[0].time("terminated_at").unwrap(),
        Some(accessaudit::model::parse_instant("2026-09-30T16:00:00Z").unwrap()),
        "a date in the roster is midnight in the mapping's zone"
    );
    // The roster drops a person: the next snapshot removes them.
    std::fs::write(
        dir.path().join("roster.csv"),
        "工号,姓名,邮箱,状态,离职日期\n90003,Han Meimei,han@example.com,在职,\n",
    )
    .unwrap();
    let r = sync_source(&db.store, "hr", &config.sources["hr"], now)
        .await
        .expect("csv sync");
    assert_eq!(r.feeds[0].removed, 1, "{r:?}");
}

on_both_backends!(elasticsearch_logs, files);
