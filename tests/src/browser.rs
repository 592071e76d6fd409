//! A real browser for the console's tests: Debian's headless Chromium, driven over
//! WebDriver by Debian's chromedriver (`apt-get install chromium chromium-driver`; `.ci/run`
//! installs both). Each [`Browser`] is a chromedriver of its own, on a free port, with a new
//! empty profile, stopped when it is dropped.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for the page to show something.
const PATIENCE: Duration = Duration::from_secs(15);

pub struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port()
}

fn installed(path: &str) -> &str {
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: the console's browser tests need Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver)"
    );
    path
}

impl Browser {
    /// Starts chromedriver and a headless Chromium the size of a laptop's window.
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(installed("/usr/bin/chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = serde_json::Map::new();
        // The flags keep Chromium off the network it would otherwise call at start (updates,
        // sync): the machine running the tests may have none. --no-sandbox: CI runs as root.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1280,900",
            "--lang=en-US",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())]);
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": installed("/usr/bin/chromium"), "args": args.collect::<Vec<_>>() }),
        );
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session from chromedriver: {e}"),
            }
        };
        Browser { client, driver, _profile: profile }
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The element `css` selects, once the page shows it.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("the page never showed {css}: {e}\n{}", self.page_text().await),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self.client.find_all(Locator::Css(css)).await.expect("a search of the page").is_empty()
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks a button that asks to be pressed again, and presses it again (not so soon
    /// that it takes the second press for a double click).
    pub async fn click_twice(&self, css: &str) {
        self.click(css).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        self.click(css).await;
    }

    /// Types `text` into the field `css`, in place of what it held.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Picks a file for the file input `css`.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        let input = self.find(css).await;
        input.send_keys(&path.display().to_string()).await.unwrap_or_else(|e| panic!("cannot choose a file: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let select = self.find(css).await;
        select.select_by_value(value).await.unwrap_or_else(|e| panic!("cannot pick {value} in {css}: {e}"));
    }

    /// The value of the field `css` (a read-only field holding a token, say).
    pub async fn value(&self, css: &str) -> String {
        self.read(css, |element| async move { element.prop("value").await.map(Option::unwrap_or_default) }).await
    }

    pub async fn text(&self, css: &str) -> String {
        self.read(css, |element| async move { element.text().await }).await
    }

    /// Reads the element `css`, again when the page redrew it between finding and reading.
    async fn read<F, Fut>(&self, css: &str, read: F) -> String
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<String, fantoccini::error::CmdError>>,
    {
        let started = Instant::now();
        loop {
            match read(self.find(css).await).await {
                Ok(text) => return text,
                Err(e) if started.elapsed() > PATIENCE => panic!("cannot read {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Everything the page shows, as text.
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("(no page: {e})"),
        }
    }

    /// Waits until the element `css` shows `wanted`.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let started = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{css} never showed \"{wanted}\"; it shows \"{text}\"\npage:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a script in the page and gives back what it returns.
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|e| panic!("the script failed: {e}"))
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.expect("the window resizes");
    }

    /// Keeps a screenshot as `docs/console-{name}.png` when `SCIM_CONSOLE_SCREENSHOTS` names
    /// the docs directory (how the committed screenshots are made); else only checks that the
    /// page can be drawn.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Ok(dir) = std::env::var("SCIM_CONSOLE_SCREENSHOTS") {
            std::fs::write(std::path::Path::new(&dir).join(format!("console-{name}.png")), png)
                .expect("the screenshot");
        }
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
