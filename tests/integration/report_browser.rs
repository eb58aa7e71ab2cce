//! The demo's report opened in a real browser (headless Chromium) at a
//! desktop's width (1280 px) and a phone's (390 px), as a compliance officer
//! opens the `.html` file: the pictures decode, nothing runs off the right
//! edge, the executive summary is on the first screen, and names written to
//! attack the page are shown as text. Full-page screenshots of both widths
//! are kept in `target/test-artefacts/` for a person to look at.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common;
use crate::common::browser::{Browser, artefacts_dir};
use crate::report_demo::demo_json;

/// A desktop browser's viewport, and a phone's (an iPhone 12 to 15).
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// Names written to run code in the page if it were not escaped; each one,
/// if it ran, sets `window.__pwned` and opens an alert.
const HOSTILE_ID: &str = "<svg onload=\"window.__pwned='id';alert('id')\">";
const HOSTILE_LOGIN: &str = "<script>window.__pwned='login';alert('login')</script>";
const HOSTILE_NAME: &str = "\"><img src=x onerror=\"window.__pwned='name';alert('name')\">";
const HOSTILE_DEPARTMENT: &str = "<b id=\"injected\">Sales</b>";

/// The page's measurements a reader depends on, at the current width.
async fn check_layout(b: &Browser, width: u32) {
    let m = b
        .js(
            r#"const d = document.documentElement;
               const img = s => { const i = document.querySelector(s);
                 return i ? [i.complete, i.naturalWidth, i.naturalHeight,
                             Math.round(i.getBoundingClientRect().width)] : null; };
               const sum = document.querySelector('[data-aa=executive-summary]');
               const r = sum.getBoundingClientRect();
               return {scroll: d.scrollWidth, client: d.clientWidth, inner: window.innerHeight,
                       chart: img('img[data-aa=chart]'),
                       departments: img('img[data-aa=departments-chart]'),
                       summary: [Math.round(r.top), Math.round(r.height),
                                 getComputedStyle(sum).visibility, sum.textContent.length]};"#,
            vec![],
        )
        .await;
    // No horizontal scrolling: the page fits the width it is read at.
    let (scroll, client) = (
        m["scroll"].as_u64().unwrap_or(u64::MAX),
        m["client"].as_u64().unwrap_or(0),
    );
    assert_eq!(client, u64::from(width), "{m}");
    assert!(
        scroll <= client + 1,
        "at {width} px the page is {scroll} px wide: it scrolls sideways ({m})"
    );
    // Both charts decoded (a broken data URI leaves naturalWidth 0), at the
    // width they were drawn, and shown no wider than the page.
    for chart in ["chart", "departments"] {
        let c = &m[chart];
        assert_eq!(
            c[0],
            json!(true),
            "{chart} chart not loaded at {width} px: {m}"
        );
        assert_eq!(
            c[1],
            json!(accessaudit::report::chart::WIDTH),
            "{chart} chart did not decode at {width} px: {m}"
        );
        assert!(
            c[2].as_u64().unwrap_or(0) > 100,
            "{chart} chart height: {m}"
        );
        let shown = c[3].as_u64().unwrap_or(0);
        assert!(
            shown > 0 && shown < u64::from(width),
            "{chart} chart shown {shown} px wide at {width} px"
        );
    }
    // The executive summary is on the first screen, visible and not empty.
    let s = &m["summary"];
    let (top, height) = (s[0].as_i64().unwrap_or(-1), s[1].as_i64().unwrap_or(0));
    let inner = m["inner"].as_i64().unwrap_or(0);
    assert!(
        top >= 0 && top < inner / 2 && height > 0,
        "at {width} px the executive summary starts at {top} px of a {inner} px screen"
    );
    assert_eq!(s[2], json!("visible"), "{m}");
    assert!(s[3].as_u64().unwrap_or(0) > 100, "{m}");
}

/// Full-page screenshot at the current width into the artefacts; checks
/// that it is a PNG of that width and of the page's height.
async fn keep_screenshot(b: &Browser, name: &str, width: u32) -> PathBuf {
    let path = artefacts_dir().join(name);
    b.screenshot_full_page(&path).await;
    let file = std::fs::File::open(&path).expect("the screenshot");
    let info = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG")
        .info()
        .clone();
    let page = b
        .js("return document.documentElement.scrollHeight", vec![])
        .await
        .as_u64()
        .unwrap_or(0);
    assert_eq!(info.width, width, "{}", path.display());
    assert!(
        u64::from(info.height) >= page && page > 1000,
        "{}: {} px tall, the page {page} px",
        path.display(),
        info.height
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_report_reads_in_a_browser_at_desktop_and_phone_width() {
    let (dir, demo) = demo_json();
    let run_id = demo["run_id"].as_i64().expect("run id");
    let html = dir.path().join(format!("out/monthly-run{run_id}.html"));
    let b = Browser::new().await;

    for (width, height) in [DESKTOP, PHONE] {
        b.set_viewport(width, height).await;
        b.open_file(&html).await;
        check_layout(&b, width).await;
        if width == PHONE.0 {
            // What a phone shows first, before any scrolling.
            b.screenshot(&artefacts_dir().join("report-demo-390-first-screen.png"))
                .await;
        }
        let shot = keep_screenshot(&b, &format!("report-demo-{width}.png"), width).await;
        // The layout checks hold after the picture (the viewport is back).
        check_layout(&b, width).await;
        eprintln!("screenshot: {}", shot.display());
    }

    // A name planted to attack the page, in a report rendered the way a
    // user renders one: imported, run as of the demo's instant, `report`.
    let planted = plant_hostile_account(dir.path(), demo["as_of"].as_str().expect("as_of"));
    b.set_viewport(PHONE.0, PHONE.1).await;
    b.open_file(&planted).await;
    assert_eq!(b.alert_text().await, None, "the report opened an alert");
    let page = b
        .js(
            r#"const texts = s => Array.from(document.querySelectorAll(s), e => e.textContent);
               return {pwned: window.__pwned === undefined ? null : String(window.__pwned),
                       injected: document.querySelectorAll('#injected, script, svg, iframe').length,
                       images: document.images.length,
                       labels: texts('[data-aa=subject-label]'),
                       names: texts('[data-aa=subject-name]'),
                       departments: texts('[data-aa=subject-department]'),
                       ids: texts('[data-aa=ids]'),
                       scroll: document.documentElement.scrollWidth,
                       client: document.documentElement.clientWidth};"#,
            vec![],
        )
        .await;
    assert_eq!(
        page["pwned"],
        Value::Null,
        "a planted name ran: {}",
        page["pwned"]
    );
    assert_eq!(
        page["injected"],
        json!(0),
        "markup from data became elements"
    );
    assert_eq!(page["images"], json!(2), "an image from data: {page}");
    // Shown as text, as written (the subject's findings: idle, orphan).
    let has = |key: &str, value: &str| {
        page[key].as_array().is_some_and(|v| {
            v.iter()
                .any(|t| t.as_str().is_some_and(|t| t.contains(value)))
        })
    };
    assert!(has("labels", HOSTILE_LOGIN), "login not shown as text");
    assert!(has("names", HOSTILE_NAME), "display name not shown as text");
    assert!(
        has("departments", HOSTILE_DEPARTMENT),
        "department not shown as text"
    );
    assert!(has("ids", HOSTILE_ID), "id not shown as text");
    // Long hostile words do not push the phone layout sideways either.
    assert!(
        page["scroll"].as_u64() <= page["client"].as_u64().map(|c| c + 1),
        "the planted report scrolls sideways at 390 px: {page}"
    );
    b.close().await;
}

/// Imports one idle account without an HR record whose id, login, display
/// name and department are hostile, runs the demo's job as of the demo's
/// instant, and renders the report with `accessaudit report`: its `.html`.
fn plant_hostile_account(dir: &Path, as_of: &str) -> PathBuf {
    let db = format!("sqlite://{}", dir.join("d.db").display());
    let cell = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let csv = dir.join("hostile.csv");
    std::fs::write(
        &csv,
        format!(
            "id,login,display_name,email,department,account_type,status,created_at,last_login_at\n\
             {},{},{},hostile@example.com,{},human,active,2025-01-01,2026-01-01\n",
            cell(HOSTILE_ID),
            cell(HOSTILE_LOGIN),
            cell(HOSTILE_NAME),
            cell(HOSTILE_DEPARTMENT)
        ),
    )
    .expect("write the CSV");
    let ok = |args: &[&str]| {
        let out = common::accessaudit()
            .args(["--database", &db])
            .args(args)
            .output()
            .expect("run accessaudit");
        assert!(
            out.status.success(),
            "accessaudit {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    ok(&["import", "principals", csv.to_str().expect("UTF-8 path")]);
    ok(&[
        "run", "--job", "monthly", "--as-of", as_of, "--format", "json",
    ]);
    let out = dir.join("planted");
    let files = ok(&[
        "report",
        "--job",
        "monthly",
        "--out",
        out.to_str().expect("UTF-8 path"),
    ]);
    files
        .lines()
        .map(PathBuf::from)
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .unwrap_or_else(|| panic!("no .html among {files}"))
}
