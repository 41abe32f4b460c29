//! A headless Chromium driven over the W3C WebDriver protocol (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them), with a small JSON-over-HTTP client on a std
//! `TcpStream` instead of a WebDriver crate: sessions, navigation, elements, typing, clicks,
//! cookies, page source and screenshots are all a test needs. Without the two programs the
//! browser tests say loudly that they skipped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to say its port, and one command to answer.
const START_WAIT: Duration = Duration::from_secs(20);
const COMMAND_WAIT: Duration = Duration::from_secs(30);
/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// A headless browser, or `None` (said on stderr) when Chromium or its driver is missing.
    pub fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).is_file() || !Path::new(CHROMEDRIVER).is_file() {
            eprintln!(
                "SKIPPED: browser test: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let port = read_port(&mut driver);
        let mut browser = Browser { driver, port, session: String::new() };
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
        }}});
        let created = browser.command("POST", "/session", Some(&capabilities)).expect("a WebDriver session");
        browser.session = created["sessionId"].as_str().expect("a session id").to_owned();
        Some(browser)
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| format!("chromedriver: {e}"))?;
        stream.set_read_timeout(Some(COMMAND_WAIT)).map_err(|e| e.to_string())?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        // chromedriver keeps the connection open: read the head, then Content-Length bytes.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 8192];
        let body = loop {
            let n = stream.read(&mut chunk).map_err(|e| format!("chromedriver {method} {path}: {e}"))?;
            if n == 0 {
                return Err(format!("chromedriver {method} {path}: closed early"));
            }
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break body.to_owned();
            }
        };
        let value: Value =
            serde_json::from_str(&body).map_err(|e| format!("chromedriver {method} {path}: {e}: {body}"))?;
        if let Some(error) = value["value"]["error"].as_str() {
            return Err(format!("{method} {path}: {error}: {}", value["value"]["message"]));
        }
        Ok(value["value"].clone())
    }

    fn session_command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", Some(&json!({"url": url}))).unwrap();
    }

    pub fn url(&self) -> String {
        self.session_command("GET", "/url", None).unwrap().as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML as the browser holds it.
    pub fn source(&self) -> String {
        self.session_command("GET", "/source", None).unwrap().as_str().unwrap_or_default().to_owned()
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        let body = self.find("body").unwrap();
        self.session_command("GET", &format!("/element/{body}/text"), None)
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn find(&self, css: &str) -> Result<String, String> {
        let found = self.session_command("POST", "/element", Some(&json!({"using": "css selector", "value": css})))?;
        found[ELEMENT_KEY].as_str().map(str::to_owned).ok_or(format!("no element {css}: {found}"))
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).unwrap();
        self.session_command("POST", &format!("/element/{element}/clear"), Some(&json!({}))).unwrap();
        self.session_command("POST", &format!("/element/{element}/value"), Some(&json!({"text": text}))).unwrap();
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css).unwrap();
        self.session_command("POST", &format!("/element/{element}/click"), Some(&json!({}))).unwrap();
    }

    /// An attribute of the first element matching `css` (`href` of a link, say).
    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.find(css).ok()?;
        let value = self.session_command("GET", &format!("/element/{element}/attribute/{name}"), None).ok()?;
        value.as_str().map(str::to_owned)
    }

    /// The value of the cookie `name` the browser holds for the page's site.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let cookie = self.session_command("GET", &format!("/cookie/{name}"), None).ok()?;
        cookie["value"].as_str().map(str::to_owned)
    }

    /// A PNG of the window, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.session_command("GET", "/screenshot", None).unwrap();
        let bytes = decode_base64(encoded.as_str().unwrap_or_default());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.command("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The port in "ChromeDriver was started successfully on port N".
fn read_port(driver: &mut Child) -> u16 {
    let mut stdout = driver.stdout.take().unwrap();
    let deadline = Instant::now() + START_WAIT;
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while Instant::now() < deadline {
        if stdout.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        seen.push(byte[0]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(rest) = text.split("successfully on port ").nth(1)
            && let Some(port) = rest.strip_suffix(".\n")
        {
            return port.trim().parse().expect("chromedriver's port");
        }
    }
    panic!("chromedriver said no port: {}", String::from_utf8_lossy(&seen));
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    sextets
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk.iter().fold(0u32, |acc, &s| (acc << 6) | u32::from(s)) << (6 * (4 - chunk.len()));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(chunk.len().saturating_sub(1))
        })
        .collect()
}
