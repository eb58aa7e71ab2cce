//! The reviewer's page driven in a real browser (headless Chromium), as a
//! manager opens the link of an invitation: the items grouped by person with
//! their context, one decision saved, a justification the campaign requires
//! enforced, a bulk keep, a double submit from two tabs recorded once,
//! delegation, a form without its CSRF token refused, a forged, a revoked
//! and a closed link refused, and names written to attack the page shown
//! as text under a Content-Security-Policy that lets no script run. The page
//! fits a phone (390 px) and a desktop (1280 px); full-page screenshots of
//! both and of a refusal are kept in `target/test-artefacts/`.
//!
//! What the browser shows is checked against the record: `reviews show
//! --format json` and the rows of `review_decisions`. One test on SQLite:
//! the page's SQL is the same on PostgreSQL, which `reviews::the_reviewer_page`
//! covers at the HTTP level.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::{Value, json};

use crate::common::browser::{Browser, artefacts_dir};
use crate::common::{self, TestDb, accessaudit};
use crate::reviews::{T, cli, config, count, item, items, load, ok};

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// A person, an account, a role and a job title written to run code in the
/// page if they were not escaped; each one, if it ran, sets `window.__pwned`
/// and opens an alert.
const HOSTILE_NAME: &str = "<img src=x onerror=\"window.__pwned='name';alert('name')\">";
const HOSTILE_LOGIN: &str = "<script>window.__pwned='login';alert('login')</script>";
const HOSTILE_ROLE: &str = "<img src=x onerror=window.__pwned=1>";
const HOSTILE_TITLE: &str = "<b id=\"injected\">Analyst</b><svg onload=\"window.__pwned='title'\">";

/// `accessaudit reviews page` for as long as the test runs: killed on drop,
/// also when the test fails.
struct PageServer(Child);

impl Drop for PageServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CSV cell, quoted.
fn cell(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Eve, one more of Mia's reports, with a hostile name, login, title and
/// role: imported over `reviews::load`'s organisation (an import updates by
/// id and adds the rest).
fn load_hostile(dir: &Path, url: &str) {
    let files = [
        (
            "people",
            format!(
                "id,email,full_name,department,title,manager_id,employment_status\n\
                 eve,eve@x.org,{},Sales,{},mia,active\n",
                cell(HOSTILE_NAME),
                cell(HOSTILE_TITLE)
            ),
        ),
        (
            "principals",
            format!(
                "id,login,email,person_id,status,account_type,created_at,last_login_at\n\
                 p-eve,{},eve@x.org,eve,active,human,2024-01-01,2026-10-29\n",
                cell(HOSTILE_LOGIN)
            ),
        ),
        (
            "roles",
            format!(
                "id,name,description,data_scope,privileged,owner_id\n\
                 r-hostile,{},{},self,false,mia\n",
                cell(HOSTILE_ROLE),
                cell(HOSTILE_TITLE)
            ),
        ),
        (
            "role_permissions",
            "role_id,permission\nr-hostile,customer.view\n".to_string(),
        ),
        (
            "grants",
            "id,principal_id,role_id,granted_at,granted_by,approved_by\n\
             g-eve-hostile,p-eve,r-hostile,2025-02-01,it,mia\n\
             g-eve-sales,p-eve,r-sales,2025-02-01,it,mia\n"
                .to_string(),
        ),
    ];
    for (table, csv) in files {
        let path = dir.join(format!("hostile-{table}.csv"));
        std::fs::write(&path, csv).expect("write the CSV");
        ok(&accessaudit()
            .args(["--database", url, "import", table])
            .arg(&path)
            .output()
            .expect("import"));
    }
}

/// Starts `reviews page ID --reviewer WHO` and returns it with the link it
/// prints (its first line of output).
fn serve_page(
    config: &Path,
    id: &str,
    reviewer: &str,
    port: u16,
    log: &Path,
) -> (PageServer, String) {
    let mut child = accessaudit()
        .arg("--config")
        .arg(config)
        .args(["reviews", "page", id, "--reviewer", reviewer])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("the page's log"))
        .spawn()
        .expect("start `accessaudit reviews page`");
    let stdout = child.stdout.take().expect("stdout");
    let server = PageServer(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("the link");
    let link = line.trim().to_string();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/review/")),
        "`reviews page` printed {line:?}; its log: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    (server, link)
}

/// The page fits the viewport's width: nothing scrolls sideways, and the
/// sticky bar leaves most of the screen to the items.
async fn check_fits(b: &Browser, width: u32) {
    let m = b
        .js(
            r#"const d = document.documentElement;
               const bar = document.querySelector('.bar');
               return {scroll: d.scrollWidth, client: d.clientWidth, inner: window.innerHeight,
                       bar: bar ? Math.round(bar.getBoundingClientRect().height) : 0,
                       widest: Math.round(Math.max(0, ...Array.from(
                           document.body.querySelectorAll('*'),
                           e => e.getBoundingClientRect().right)))};"#,
            vec![],
        )
        .await;
    let n = |k: &str| m[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("client"), u64::from(width), "{m}");
    assert!(
        n("scroll") <= n("client") + 1 && n("widest") <= n("client") + 1,
        "at {width} px the page scrolls sideways: {m}"
    );
    assert!(
        n("bar") < n("inner") / 8,
        "at {width} px the sticky bar covers {} of {} px: {m}",
        n("bar"),
        n("inner")
    );
}

/// A full-page screenshot into the artefacts, checked to be a PNG of the
/// viewport's width.
async fn keep_screenshot(b: &Browser, name: &str, width: u32) -> PathBuf {
    let path = artefacts_dir().join(name);
    b.screenshot_full_page(&path).await;
    let file = std::fs::File::open(&path).expect("the screenshot");
    let info = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG")
        .info()
        .clone();
    assert_eq!(info.width, width, "{}", path.display());
    assert!(
        info.height > 200,
        "{}: {} px tall",
        path.display(),
        info.height
    );
    eprintln!("screenshot: {}", path.display());
    path
}

/// The refusal page: the expected status and heading, and no form.
async fn check_refused(b: &Browser, status: u64, heading: &str) {
    assert_eq!(b.status().await, status, "{}", b.text("body").await);
    assert_eq!(b.text("h1").await, heading);
    assert_eq!(
        b.js("return document.forms.length", vec![]).await,
        json!(0),
        "a refusal page carries no form"
    );
}

/// The confirmation or refusal shown above the items after a submission.
async fn notice(b: &Browser) -> (u64, String) {
    let status = b.status().await;
    let text = b.text("p.ok, p.err").await;
    (status, text)
}

async fn decisions(db: &TestDb) -> i64 {
    count(db, "SELECT COUNT(*) AS n FROM review_decisions").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_decides_in_a_browser() {
    let db = common::sqlite().await;
    let dir = tempfile::tempdir().expect("temp dir");
    load(dir.path(), &db.url);
    load_hostile(dir.path(), &db.url);
    let port = common::daemon::free_port();
    let config = config(dir.path(), &db.url, port);
    let id = ok(&cli(
        &config,
        &["reviews", "open", "quarterly", "--as-of", T],
    ))
    .trim()
    .to_string();
    let all = items(&config, &id);
    let item_id = |grant: &str| item(&all, grant)["id"].as_i64().expect("item id");
    let (ann_admin, ann_sales, bob_sales, eve_hostile, eve_sales) = (
        item_id("g-ann-admin"),
        item_id("g-ann-sales"),
        item_id("g-bob-sales"),
        item_id("g-eve-hostile"),
        item_id("g-eve-sales"),
    );
    let decision = |grant: &str| item(&items(&config, &id), grant)["decision"].clone();
    let (server, link) = serve_page(
        &config,
        &id,
        "mia@x.org",
        port,
        &dir.path().join("page.log"),
    );

    // Open the link: Mia's items, grouped by person, with their context.
    let b = Browser::new().await;
    b.set_viewport(DESKTOP.0, DESKTOP.1).await;
    b.goto(&link).await;
    assert_eq!(b.status().await, 200);
    assert_eq!(b.alert_text().await, None, "the page opened an alert");
    let groups = b
        .js(
            r#"return Array.from(document.querySelectorAll('section'), s => ({
                 person: s.querySelector('h2').textContent,
                 facts: s.querySelector('h2 + p.facts').innerText,
                 items: Array.from(s.querySelectorAll('.item'), i => Number(i.id.replace('item-', '')))
                             .sort((a, b) => a - b)}));"#,
            vec![],
        )
        .await;
    let group = |person: &str| {
        groups
            .as_array()
            .and_then(|g| g.iter().find(|g| g["person"] == person))
            .unwrap_or_else(|| panic!("no group for {person}: {groups}"))
            .clone()
    };
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        json!(v)
    };
    assert_eq!(groups.as_array().map(Vec::len), Some(3), "{groups}");
    assert_eq!(group("Bob Builder")["items"], json!([bob_sales]));
    assert_eq!(
        group("Ann <script>alert(1)</script>")["items"],
        sorted(vec![ann_admin, ann_sales])
    );
    assert_eq!(
        group(HOSTILE_NAME)["items"],
        sorted(vec![eve_hostile, eve_sales])
    );
    let bob = group("Bob Builder")["facts"]
        .as_str()
        .unwrap_or("")
        .to_string();
    for fact in [
        "Sales",
        "Account Executive",
        "Manager: Mia Manager",
        "Employment: active",
    ] {
        assert!(bob.contains(fact), "{fact:?} not shown for Bob: {bob}");
    }
    let ann = b.text(&format!("#item-{ann_admin}")).await;
    for fact in [
        "ann holds CRM administrator",
        "sensitive",
        "Permits: customer.export, user.grant",
        "Granted 2025-01-01 by it, approved by mia",
        "Last sign-in: 2026-10-30",
        "Last use of this access: 2026-10-20",
        "1 of 2 peers",
        "Not decided yet",
        "Justification (required)",
    ] {
        assert!(
            ann.contains(fact),
            "{fact:?} not shown on Ann's admin item: {ann}"
        );
    }
    let body = b.text("body").await;
    assert!(
        !body.contains("etl-bot"),
        "another reviewer's item is shown"
    );
    assert!(body.contains("5 item(s), 5 still to decide"), "{body}");

    // Hostile strings are text: no element made of them, nothing ran.
    let page = b
        .js(
            r#"return {pwned: window.__pwned === undefined ? null : String(window.__pwned),
                       scripts: document.scripts.length, images: document.images.length,
                       injected: document.querySelectorAll('#injected, svg, iframe, object').length,
                       eve: document.getElementById(arguments[0]).innerText,
                       eveFacts: document.getElementById(arguments[0]).closest('section').innerText,
                       resources: performance.getEntriesByType('resource').length};"#,
            vec![json!(format!("item-{eve_hostile}"))],
        )
        .await;
    assert_eq!(page["pwned"], Value::Null, "a hostile string ran: {page}");
    assert_eq!(page["scripts"], json!(0), "{page}");
    assert_eq!(page["images"], json!(0), "{page}");
    assert_eq!(
        page["injected"],
        json!(0),
        "markup from data became elements: {page}"
    );
    assert_eq!(
        page["resources"],
        json!(0),
        "the page loaded something: {page}"
    );
    let eve = page["eve"].as_str().unwrap_or("");
    assert!(
        eve.contains(&format!("{HOSTILE_LOGIN} holds {HOSTILE_ROLE}")),
        "login and role not shown as text: {eve}"
    );
    assert!(
        page["eveFacts"]
            .as_str()
            .unwrap_or("")
            .contains(HOSTILE_TITLE),
        "title not shown as text: {page}"
    );
    // The Content-Security-Policy is enforced: a script put into the page
    // does not run (the violation is reported instead), while the page's
    // own style element, allowed by its hash, applies.
    let csp = b
        .client()
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               document.addEventListener('securitypolicyviolation', e => done({
                   directive: e.effectiveDirective, policy: e.originalPolicy,
                   disposition: e.disposition, ran: window.__inline === 1}), {once: true});
               const s = document.createElement('script');
               s.textContent = 'window.__inline = 1';
               document.body.appendChild(s);
               // Without the policy the script would have run by now.
               if (window.__inline === 1) done({ran: true});"#,
            vec![],
        )
        .await
        .expect("the injected script's fate");
    assert_eq!(csp["ran"], json!(false), "{csp}");
    assert_eq!(csp["directive"], json!("script-src-elem"), "{csp}");
    assert_eq!(csp["disposition"], json!("enforce"), "{csp}");
    assert!(
        csp["policy"]
            .as_str()
            .is_some_and(|p| p.starts_with("default-src 'none'")),
        "{csp}"
    );
    let styled = b
        .js(
            "return [getComputedStyle(document.body).maxWidth, \
                     getComputedStyle(document.querySelector('.bar')).position]",
            vec![],
        )
        .await;
    assert_eq!(
        styled,
        json!(["960px", "sticky"]),
        "the style sheet was blocked"
    );
    check_fits(&b, DESKTOP.0).await;
    b.set_viewport(PHONE.0, PHONE.1).await;
    check_fits(&b, PHONE.0).await;
    b.set_viewport(DESKTOP.0, DESKTOP.1).await;

    // Decide one item: Keep, "Save decisions", the confirmation, the record.
    b.click(&format!("input[name='d-{bob_sales}'][value=keep]"))
        .await;
    b.click_to_load("button[value=save]").await;
    assert_eq!(
        notice(&b).await,
        (200, "Saved: 1 decision(s) recorded.".to_string())
    );
    let bob = decision("g-bob-sales");
    assert_eq!(bob["decision"], "keep", "{bob}");
    assert_eq!(bob["source"], "page", "{bob}");
    assert_eq!(decisions(&db).await, 1);
    assert!(
        b.text(&format!("#item-{bob_sales}"))
            .await
            .contains("Decided: keep by Mia Manager"),
        "the page does not show the decision"
    );
    for (width, height) in [DESKTOP, PHONE] {
        b.set_viewport(width, height).await;
        check_fits(&b, width).await;
        keep_screenshot(&b, &format!("review-page-{width}.png"), width).await;
    }
    // What a phone shows before any scrolling, the sticky bar included.
    b.js("window.scrollTo(0, 0)", vec![]).await;
    b.screenshot(&artefacts_dir().join("review-page-390-first-screen.png"))
        .await;
    b.set_viewport(DESKTOP.0, DESKTOP.1).await;

    // Justification required (sensitive access) and enforced: refused with
    // the reason, nothing recorded, the choice kept on the page; then saved.
    b.click(&format!("input[name='d-{ann_admin}'][value=revoke]"))
        .await;
    b.click_to_load("button[value=save]").await;
    let (status, text) = notice(&b).await;
    assert_eq!(status, 422, "{text}");
    assert!(
        text.starts_with("Nothing was saved: ")
            && text.contains(&format!(
                "item {ann_admin} (ann holds CRM administrator) needs a justification"
            )),
        "{text}"
    );
    assert_eq!(
        decisions(&db).await,
        1,
        "a refused submission recorded something"
    );
    assert_eq!(decision("g-ann-admin"), Value::Null);
    let kept = b
        .find(&format!("input[name='d-{ann_admin}'][value=revoke]"))
        .await
        .is_selected()
        .await
        .expect("radio state");
    assert!(kept, "the reviewer's choice was lost");
    b.type_into(&format!("#j-{ann_admin}"), "Left the admin team in October")
        .await;
    b.click_to_load("button[value=save]").await;
    assert_eq!(
        notice(&b).await,
        (
            200,
            "Saved: 1 decision(s) recorded, 1 already recorded.".to_string()
        )
    );
    let ann = decision("g-ann-admin");
    assert_eq!(ann["decision"], "revoke", "{ann}");
    assert_eq!(
        ann["justification"], "Left the admin team in October",
        "{ann}"
    );
    assert_eq!(decisions(&db).await, 2);

    // Bulk keep: two items ticked, one justification for both.
    b.click(&format!("input[name=sel][value='{eve_hostile}']"))
        .await;
    b.click(&format!("input[name=sel][value='{eve_sales}']"))
        .await;
    b.type_into("#bulk_justification", "Pilot of the new CRM until March")
        .await;
    b.click_to_load("button[value=keep_selected]").await;
    assert_eq!(
        notice(&b).await,
        (200, "Saved: 2 decision(s) recorded.".to_string())
    );
    for grant in ["g-eve-hostile", "g-eve-sales"] {
        let d = decision(grant);
        assert_eq!(d["decision"], "keep", "{grant}: {d}");
        assert_eq!(
            d["justification"], "Pilot of the new CRM until March",
            "{grant}: {d}"
        );
    }
    assert_eq!(decisions(&db).await, 4);

    // A double submit: the same form sent from two tabs opened on the same
    // state records one decision.
    let first = b.client().window().await.expect("this tab");
    let second = b
        .client()
        .new_window(true)
        .await
        .expect("a second tab")
        .handle;
    for tab in [&first, &second] {
        b.client()
            .switch_to_window(tab.clone())
            .await
            .expect("switch tab");
        if tab == &second {
            b.goto(&link).await;
        }
        b.click(&format!("input[name='d-{ann_sales}'][value=keep]"))
            .await;
        b.type_into(&format!("#j-{ann_sales}"), "Same team").await;
    }
    let mut said = Vec::new();
    for tab in [&first, &second] {
        b.client()
            .switch_to_window(tab.clone())
            .await
            .expect("switch tab");
        b.click_to_load("button[value=save]").await;
        said.push(notice(&b).await);
    }
    assert_eq!(
        said,
        [
            (
                200,
                "Saved: 1 decision(s) recorded, 4 already recorded.".to_string()
            ),
            (
                200,
                "Saved: 0 decision(s) recorded, 5 already recorded.".to_string()
            )
        ]
    );
    assert_eq!(decisions(&db).await, 5, "a double submit recorded twice");
    let rows = count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM review_decisions WHERE item_id = {ann_sales}"),
    )
    .await;
    assert_eq!(rows, 1);
    b.client()
        .close_window()
        .await
        .expect("close the second tab");
    b.client()
        .switch_to_window(first.clone())
        .await
        .expect("back to the first tab");

    // A form whose CSRF token was taken out: refused, nothing recorded, and
    // the refusal leads back to the page.
    b.js(
        "document.querySelector('input[name=csrf]').remove()",
        vec![],
    )
    .await;
    b.click(&format!("input[name='d-{bob_sales}'][value=revoke]"))
        .await;
    b.click_to_load("button[value=save]").await;
    check_refused(&b, 403, "Nothing was saved").await;
    assert!(
        b.text("body")
            .await
            .contains("security token is missing or wrong")
    );
    assert_eq!(decisions(&db).await, 5);
    assert_eq!(decision("g-bob-sales")["decision"], "keep");
    b.click_to_load("a").await;
    assert_eq!(b.status().await, 200);
    assert_eq!(b.find_all("form").await.len(), 1);

    // Delegate: one item ticked, handed over to Cal; it leaves Mia's page.
    b.click(&format!("input[name=sel][value='{ann_sales}']"))
        .await;
    b.type_into("#delegate_to", "cal@x.org").await;
    b.click_to_load("button[value=delegate]").await;
    assert_eq!(
        notice(&b).await,
        (
            200,
            "1 item(s) handed over to Cal Chief <cal@x.org>.".to_string()
        )
    );
    assert_eq!(
        item(&items(&config, &id), "g-ann-sales")["reviewer"],
        "person:cal"
    );
    assert!(
        b.find_all(&format!("#item-{ann_sales}")).await.is_empty(),
        "a delegated item is still on the page"
    );
    assert!(
        b.text("body")
            .await
            .contains("4 item(s), 0 still to decide")
    );

    // A forged link (a token of the right form that was never issued).
    b.set_viewport(PHONE.0, PHONE.1).await;
    let (forged, _) = accessaudit::review::notify::new_token().expect("a random token");
    let base = link.rsplit_once('/').map(|(b, _)| b).expect("a link");
    b.goto(&format!("{base}/{forged}")).await;
    check_refused(&b, 404, "This review link is not valid").await;
    check_fits(&b, PHONE.0).await;
    keep_screenshot(&b, "review-page-refused.png", PHONE.0).await;

    // A revoked link.
    ok(&cli(
        &config,
        &["reviews", "revoke-links", &id, "--reviewer", "mia@x.org"],
    ));
    b.goto(&link).await;
    check_refused(&b, 404, "This review link is not valid").await;

    // A new link works until the campaign closes: a form opened before the
    // close and sent after it is refused, and so is the link.
    let fresh = ok(&cli(
        &config,
        &["reviews", "link", &id, "--reviewer", "mia@x.org"],
    ))
    .trim()
    .to_string();
    b.goto(&fresh).await;
    assert_eq!(b.status().await, 200);
    ok(&cli(&config, &["reviews", "close", &id]));
    b.click(&format!("input[name='d-{bob_sales}'][value=revoke]"))
        .await;
    b.click_to_load("button[value=save]").await;
    check_refused(&b, 410, "This review has closed").await;
    assert_eq!(decision("g-bob-sales")["decision"], "keep");
    b.goto(&fresh).await;
    check_refused(&b, 410, "This review has closed").await;

    b.close().await;
    drop(server);
}
