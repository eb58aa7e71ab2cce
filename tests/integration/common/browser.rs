//! A real browser for the tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver) by fantoccini. One `Browser` is one chromedriver
//! on a free loopback port and one Chromium session with a fresh profile;
//! dropping it kills both, also when a test panics.
//!
//! What a test does with it: open a URL or a file, set the viewport to a
//! desktop's or a phone's width, run JavaScript, find and click elements,
//! and save screenshots as artefacts (`artefacts_dir`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The arguments Chromium runs with. This machine's network is closed:
/// without the `--disable-*` switches Chromium waits on background
/// connections (component updates, sync, QUIC probes). Scrollbars are
/// hidden because a phone's overlay its content: with Linux's classic
/// 15 px bars a 390 px window would lay out in 375 px.
const ARGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
];

/// How long chromedriver may take to answer /status, and a page to load.
const STARTUP: Duration = Duration::from_secs(30);

/// How often a wait for the page looks again.
const POLL: Duration = Duration::from_millis(20);

/// The directory test artefacts (screenshots) are saved in:
/// `target/test-artefacts/` of this checkout. CI keeps the tree.
pub fn artefacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// `file://` URL of a local file (absolute; characters a URL cannot carry
/// are percent-encoded).
pub fn file_url(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut url = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(b as char)
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    url
}

pub struct Browser {
    client: Option<Client>,
    driver: Child,
    /// Chromium's own process (from the session's capabilities), killed
    /// with chromedriver's process group when the session was not closed.
    chromium_pid: Option<u32>,
    /// `profile/` (Chromium's user data dir) and `chromedriver.log`.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Fails loudly
    /// (never skips) when either is not installed.
    pub async fn new() -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: run `eval \"$(bash .ci/services)\"`, which installs \
                 Debian's {package} (the browser tests need a real Chromium)"
            );
        }
        let dir = tempfile::tempdir().expect("a temporary directory for Chromium");
        let log_path = dir.path().join("chromedriver.log");
        // A port found free may be taken before chromedriver binds it: then
        // chromedriver exits, and another port is tried.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = super::daemon::free_port();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                // Its own process group, so that Drop can end chromedriver
                // and the Chromium it started together.
                .process_group(0)
                // A file, never a pipe nobody reads: Chromium inherits it
                // and would block on a full pipe.
                .stdin(Stdio::null())
                .stdout(log_file(&log_path))
                .stderr(log_file(&log_path))
                .spawn()
                .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
            let url = format!("http://127.0.0.1:{port}");
            match wait_ready(&url, &mut driver, &log_path).await {
                Ok(()) => {
                    let mut b = Browser {
                        client: None,
                        driver,
                        chromium_pid: None,
                        dir,
                    };
                    b.connect(&url).await;
                    return b;
                }
                Err(e) => {
                    last_error = e;
                    kill_group(&mut driver);
                }
            }
        }
        panic!("chromedriver did not start: {last_error}");
    }

    async fn connect(&mut self, url: &str) {
        let mut args: Vec<String> = ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            self.dir.path().join("profile").display()
        ));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            // An alert left open is reported to the next command, not
            // dismissed silently: a test sees a page that raised one.
            "unhandledPromptBehavior": "ignore",
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(url)
            .await
            .unwrap_or_else(|e| panic!("opening a Chromium session through chromedriver: {e}"));
        self.chromium_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok());
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(STARTUP),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set timeouts");
        self.client = Some(client);
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Opens a URL (`http://…`, `file://…`) and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Opens a local file.
    pub async fn open_file(&self, path: &Path) {
        self.goto(&file_url(path)).await;
    }

    /// Runs `script` (a function body: `return …`) in the page with
    /// `arguments`, and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Sets the viewport (the page's layout size) to `width` × `height` CSS
    /// pixels, and checks it: `window.innerWidth` and the document's
    /// `clientWidth` are `width` exactly. The window is resized by the
    /// difference between window and viewport that Chromium reports.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let c = self.client();
        c.set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resizing the window to {width}×{height}: {e}"));
        // Chromium reports the new viewport a little after a resize (later
        // on a loaded machine): each round measures the window as it is and
        // corrects it by what the viewport still lacks, until they agree.
        for _ in 0..40 {
            let (inner_w, inner_h) = self.viewport().await;
            if (inner_w, inner_h) == (width, height) {
                break;
            }
            let (win_w, win_h) = c
                .get_window_size()
                .await
                .unwrap_or_else(|e| panic!("reading the window size: {e}"));
            let to = |win: u64, want: u32, inner: u32| {
                u32::try_from(win)
                    .unwrap_or(want)
                    .saturating_add(want)
                    .saturating_sub(inner)
            };
            c.set_window_size(to(win_w, width, inner_w), to(win_h, height, inner_h))
                .await
                .unwrap_or_else(|e| panic!("resizing the window: {e}"));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let v = self
            .js(
                "return [window.innerWidth, document.documentElement.clientWidth, window.innerHeight]",
                vec![],
            )
            .await;
        assert_eq!(
            v,
            json!([width, width, height]),
            "viewport [innerWidth, clientWidth, innerHeight] is not {width}×{height}"
        );
    }

    /// The viewport's width and height.
    pub async fn viewport(&self) -> (u32, u32) {
        let v = self
            .js("return [window.innerWidth, window.innerHeight]", vec![])
            .await;
        let n = |i: usize| {
            v[i].as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        (n(0), n(1))
    }

    /// Sets the viewport's width, keeping its height.
    pub async fn set_width(&self, width: u32) {
        let (_, height) = self.viewport().await;
        self.set_viewport(width, height.max(100)).await;
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding `{css}`: {e}"))
    }

    /// Clicks the first element matching a CSS selector, brought to the
    /// middle of the screen first as a person scrolls to it: WebDriver
    /// scrolls only an element outside the viewport, and clicks one at the
    /// edge even when a sticky bar lies over it.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let arg = serde_json::to_value(&element).expect("an element reference");
        self.js(
            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
            vec![arg],
        )
        .await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    /// The visible text of the first element matching a CSS selector.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of `{css}`: {e}"))
    }

    /// Waits for an element matching a CSS selector to be in the page.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client()
            .wait()
            .at_most(STARTUP)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}` within {STARTUP:?}: {e}"))
    }

    /// Clears a text field and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing `{css}`: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into `{css}`: {e}"));
    }

    /// Clicks what loads another page (a submit button, a link) and waits
    /// until that page has loaded. The page clicked on is marked first, so
    /// nothing of it can be taken for the new one.
    pub async fn click_to_load(&self, css: &str) {
        self.js(
            "document.documentElement.setAttribute('data-aa-left', '')",
            vec![],
        )
        .await;
        self.click(css).await;
        self.wait_for("html:not([data-aa-left])").await;
        let deadline = Instant::now() + STARTUP;
        while self.js("return document.readyState", vec![]).await != json!("complete") {
            assert!(
                Instant::now() < deadline,
                "the page after `{css}` did not load"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The HTTP status of the page shown (Navigation Timing), 0 for a file.
    pub async fn status(&self) -> u64 {
        self.js(
            "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0",
            vec![],
        )
        .await
        .as_u64()
        .unwrap_or(0)
    }

    /// The text of an open alert, confirm or prompt; `None` when none is open.
    pub async fn alert_text(&self) -> Option<String> {
        self.client().get_alert_text().await.ok()
    }

    /// Saves a PNG of the viewport at `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client()
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Saves a PNG of the whole page at `path`: the viewport is made as tall
    /// as the document for the picture (the width, which decides the layout,
    /// stays), then set back.
    pub async fn screenshot_full_page(&self, path: &Path) {
        let (width, height) = self.viewport().await;
        let full = self
            .js("return document.documentElement.scrollHeight", vec![])
            .await
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .expect("the document's height");
        self.set_viewport(width, full.max(height)).await;
        self.screenshot(path).await;
        self.set_viewport(width, height).await;
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client
                .close()
                .await
                .unwrap_or_else(|e| panic!("closing the Chromium session: {e}"));
            self.chromium_pid = None;
        }
        kill_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A session still open (a test panicked): Chromium runs in
        // chromedriver's process group, so one signal ends both.
        kill_group(&mut self.driver);
        if let Some(pid) = self.chromium_pid.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// chromedriver's output (appended: a retry on another port keeps the first
/// attempt's reason).
fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

/// SIGKILL to chromedriver's process group (itself and the Chromium it
/// started), then reaps it.
fn kill_group(driver: &mut Child) {
    if driver.try_wait().ok().flatten().is_none() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", driver.id())])
            .stderr(Stdio::null())
            .status();
    }
    let _ = driver.wait();
}

/// Polls chromedriver's `/status` until it says ready; an error when it
/// exits first (its stderr says why) or does not answer in time.
async fn wait_ready(url: &str, driver: &mut Child, log: &Path) -> Result<(), String> {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let uri: hyper::Uri = format!("{url}/status")
        .parse()
        .map_err(|e| format!("{url}/status: {e}"))?;
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            let said = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("chromedriver exited ({status}): {said}"));
        }
        if let Ok(resp) = http.get(uri.clone()).await
            && let Ok(body) = resp.into_body().collect().await
            && serde_json::from_slice::<Value>(&body.to_bytes())
                .is_ok_and(|v| v["value"]["ready"] == json!(true))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no ready answer from {url}/status in {STARTUP:?}"));
        }
        // Not listening yet: ask again shortly (a poll, not a fixed wait).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
