//! A real browser for the page tests: Debian's Chromium, headless, driven through a
//! ChromeDriver of the test's own (WebDriver, with the fantoccini client). Every wait is
//! bounded; a wait or check that fails saves a screenshot under
//! `target/browser-screenshots/` and names it in the panic message.

use crate::env::{free_port, wait_for_port};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a wait for the page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A desktop window, and a phone's width (the page must work on both).
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

pub struct Browser {
    client: Client,
    driver: Child,
    name: String,
    shots: u32,
    _profile: tempfile::TempDir,
}

fn executable(var: &str, default: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: scripts/test-services installs Debian's chromium and chromium-driver \
         (source it, or set {var})"
    );
    path
}

/// Where failing tests leave their screenshots (and where `docs/` pictures are taken
/// from when asked).
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots")
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a window of `size`; `name` labels
    /// the screenshots.
    pub async fn start(name: &str, size: (u32, u32)) -> Self {
        let chromium = executable("COUPONRUSH_TEST_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = executable("COUPONRUSH_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        assert!(
            wait_for_port(port, Duration::from_secs(20)).await,
            "chromedriver did not listen on {port}"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Root in CI: Chromium's sandbox needs user namespaces it may not get.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--lang=en-US",
                    format!("--window-size={},{}", size.0, size.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        // --window-size sets the outer window; the page's viewport is what matters.
        client
            .set_window_size(size.0, size.1)
            .await
            .expect("window size");
        Self {
            client,
            driver,
            name: name.to_owned(),
            shots: 0,
            _profile: profile,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    /// Saves a screenshot as `<dir>/<file>` and returns its path.
    pub async fn screenshot_to(&self, dir: &std::path::Path, file: &str) -> PathBuf {
        std::fs::create_dir_all(dir).expect("screenshot dir");
        let path = dir.join(file);
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// Fails the test with `why`, leaving a screenshot of the page as it was.
    pub async fn fail(&mut self, why: &str) -> ! {
        self.shots += 1;
        let file = format!("{}-{}.png", self.name, self.shots);
        let shot = match self.client.screenshot().await {
            Ok(png) => {
                let dir = screenshot_dir();
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(file);
                match std::fs::write(&path, png) {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("(screenshot not written: {e})"),
                }
            }
            Err(e) => format!("(no screenshot: {e})"),
        };
        panic!("{why}; screenshot: {shot}");
    }

    /// `check` or fail with a screenshot.
    pub async fn ensure(&mut self, check: bool, why: &str) {
        if !check {
            self.fail(why).await;
        }
    }

    /// The element `css` once it is on the page and shown.
    pub async fn find(&mut self, css: &str) -> Element {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && e.is_displayed().await.unwrap_or(false)
            {
                return e;
            }
            if tokio::time::Instant::now() > deadline {
                self.fail(&format!("{css} did not appear within {WAIT:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of `css` once it satisfies `ok` (polled; bounded by `within`).
    pub async fn wait_text(
        &mut self,
        css: &str,
        within: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = String::new();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = e.text().await
            {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
            if tokio::time::Instant::now() > deadline {
                self.fail(&format!(
                    "{css} never showed {what} within {within:?} (last: {last:?})"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of attribute `name` of `css` once it satisfies `ok`.
    pub async fn wait_attr(
        &mut self,
        css: &str,
        name: &str,
        within: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = None;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(Some(v)) = e.attr(name).await
            {
                if ok(&v) {
                    return v;
                }
                last = Some(v);
            }
            if tokio::time::Instant::now() > deadline {
                self.fail(&format!(
                    "{css}[{name}] never became what was expected within {within:?} (last: {last:?})"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&mut self, css: &str) {
        let e = self.find(css).await;
        if let Err(err) = e.click().await {
            self.fail(&format!("clicking {css}: {err}")).await;
        }
    }

    /// Types `text` into the field `css` (cleared first), as a person would.
    pub async fn fill(&mut self, css: &str, text: &str) {
        let e = self.find(css).await;
        let _ = e.clear().await;
        if let Err(err) = e.send_keys(text).await {
            self.fail(&format!("typing into {css}: {err}")).await;
        }
    }

    pub async fn select(&mut self, css: &str, value: &str) {
        let e = self.find(css).await;
        if let Err(err) = e.select_by_value(value).await {
            self.fail(&format!("choosing {value} in {css}: {err}"))
                .await;
        }
    }

    /// Signs up `username` and lands logged in on the events list.
    pub async fn sign_up(&mut self, base: &str, username: &str, password: &str) {
        self.enter(base, username, password, "#signup").await;
    }

    /// Logs in `username` and lands on the events list.
    pub async fn log_in(&mut self, base: &str, username: &str, password: &str) {
        self.enter(base, username, password, "#login").await;
    }

    async fn enter(&mut self, base: &str, username: &str, password: &str, button: &str) {
        self.open(&format!("{base}/")).await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click(button).await;
        self.find("#events").await;
    }

    /// Ends the WebDriver session and stops the browser and its driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
