//! The web console in a real browser (issue 17): headless Chromium driven over WebDriver
//! (`common::webdriver`; Debian's `chromium` and `chromium-driver`, which `.ci/run` installs —
//! without them this test says SKIPPED). A small business day (`cardnet demo --dir`) settles,
//! `cardnet up` runs the network again with the console over it; an operator logs in and opens
//! every page, searches, follows a transaction's path and exports the search as CSV; a
//! merchant logs in, sees its dashboard and statements, and cannot reach another merchant's
//! merchant page or transaction by URL. Every page is saved as a screenshot under the target
//! folder (`console-screenshots/`).

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::webdriver::Browser;
use serde_json::Value;

/// `cardnet up` running; interrupted however the test ends.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Log in through the form; lands on the role's home page.
fn log_in(browser: &Browser, console: &str, name: &str, password: &str) {
    browser.goto(&format!("{console}/login"));
    browser.type_into("#name", name);
    browser.type_into("#password", password);
    browser.click("button[type=submit]");
    wait_for(browser, |b| !b.url().ends_with("/login"), "the login to land");
}

fn wait_for(browser: &Browser, done: impl Fn(&Browser) -> bool, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done(browser) {
        assert!(std::time::Instant::now() < deadline, "waited for {what}: at {}: {}", browser.url(), browser.text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Open `path`, check its text holds every one of `expected`, save a screenshot as `shot`.
fn page(browser: &Browser, console: &str, path: &str, expected: &[&str], shot: &str) -> String {
    browser.goto(&format!("{console}{path}"));
    let text = browser.text();
    for wanted in expected {
        assert!(text.contains(wanted), "{path}: no {wanted:?} in: {text}");
    }
    browser.screenshot(&screenshots().join(format!("{shot}.png")));
    text
}

/// A GET with the browser's session cookie, outside the browser (a download): status and body.
fn download(console: &str, path: &str, cookie: &str) -> (u16, String) {
    let address = console.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nCookie: cardnet_console={cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_owned())
}

#[test]
fn operators_and_merchants_work_the_console_in_a_browser() {
    let Some(browser) = Browser::start() else { return };
    let dir = common::fresh_dir("console-browser", "net");
    let dir_text = dir.to_str().unwrap();
    let demo = ["demo", "--terminals", "4", "--transactions", "8", "--no-faults", "--seed", "3", "--json", "--dir"];
    let day = common::json(&common::cardnet(&[&demo[..], &[dir_text]].concat()));
    assert_eq!(day["reconciliation"]["unmatched"], 0, "{day}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["up", "--dir", dir_text, "--port", "0", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _up = Up(child);
    let up: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let console = up["console"].as_str().unwrap().to_owned();
    let users = up["console_users"].as_array().unwrap();
    let password =
        |name: &str| users.iter().find(|u| u["name"] == name).and_then(|u| u["password"].as_str()).unwrap().to_owned();
    let merchants = up["merchants"].as_array().unwrap();
    // Merchants 0 and 2 (Cardnet Coffee, Xinhua Pharmacy) are the first acquirer's, their
    // terminals POS00001 and POS00003.
    let (own, other) = (merchants[0]["merchant_id"].as_str().unwrap(), merchants[2]["merchant_id"].as_str().unwrap());

    // The operator: every page of the network.
    log_in(&browser, &console, "operator", &password("operator"));
    assert!(browser.url().ends_with("/network"), "{}", browser.url());
    let network =
        page(&browser, &console, "/network", &["Parties", "switch", "Operations", "acquirer-b"], "operator-network");
    assert!(network.matches("ready").count() >= 5, "every party ready: {network}");
    page(
        &browser,
        &console,
        "/merchants",
        &["Cardnet Coffee", "Xinhua Pharmacy", "Huamei Supermarket", "10000000788"],
        "operator-merchants",
    );
    page(
        &browser,
        &console,
        &format!("/merchants/{own}"),
        &["Terminals", "POS00001", "Review trail"],
        "operator-merchant",
    );
    let settlement = page(&browser, &console, "/settlement", &["Settlement"], "operator-settlement");
    let date = &day["end_of_day"]["date"].as_str().unwrap();
    assert!(settlement.contains(date), "{settlement}");
    page(
        &browser,
        &console,
        &format!("/settlement/{date}"),
        &["Net positions", "Reconciliation", "unmatched 0", date],
        "operator-settlement-date",
    );
    page(&browser, &console, "/exceptions", &["Exceptions"], "operator-exceptions");
    page(&browser, &console, "/risk", &["Risk alerts"], "operator-risk");
    page(&browser, &console, "/users", &["operator", "merchant-1", "Add a user"], "operator-users");
    page(&browser, &console, "/audit", &["login"], "operator-audit");

    // Search by terminal, open a transaction's path, export the search.
    browser.goto(&format!("{console}/transactions"));
    browser.type_into("#terminal", "POS00001");
    browser.click("form.search button[type=submit]");
    wait_for(&browser, |b| b.url().contains("terminal=POS00001"), "the search");
    let found = browser.text();
    assert!(found.contains("POS00001") && !found.contains("POS00003"), "{found}");
    browser.screenshot(&screenshots().join("operator-transactions.png"));
    let detail = browser.attribute("table a[href^='/transactions/']", "href").expect("a transaction link");
    browser.goto(&format!("{console}{detail}"));
    let path = browser.text();
    assert!(path.contains("acquirer") && path.contains("switch"), "the path across parties: {path}");
    browser.screenshot(&screenshots().join("operator-transaction.png"));
    let cookie = browser.cookie("cardnet_console").expect("the session cookie");
    let (status, csv) = download(&console, "/transactions.csv?terminal=POS00001", &cookie);
    assert_eq!(status, 200, "{csv}");
    assert!(csv.lines().count() >= 2 && csv.contains("POS00001") && !csv.contains("POS00003"), "{csv}");
    // A transaction of the other merchant, for the merchant's attempt below.
    browser.goto(&format!("{console}/transactions?merchant={other}"));
    let others = browser.attribute("table a[href^='/transactions/']", "href").expect("another merchant's transaction");
    let others = format!("{console}{others}");
    browser.click("nav button[type=submit]");
    wait_for(&browser, |b| b.url().ends_with("/login"), "the logout");

    // The merchant: its own data only.
    log_in(&browser, &console, "merchant-1", &password("merchant-1"));
    assert!(browser.url().ends_with("/merchant"), "{}", browser.url());
    page(&browser, &console, "/merchant", &["Dashboard", own, "Gross volume", "Approval rate"], "merchant-dashboard");
    page(&browser, &console, "/statements", &["Statements"], "merchant-statements");
    let own_txns = page(&browser, &console, "/transactions", &["POS00001"], "merchant-transactions");
    assert!(!own_txns.contains("POS00003"), "another merchant's terminal: {own_txns}");
    for refused in [format!("{console}/merchants/{other}"), others, format!("{console}/network")] {
        browser.goto(&refused);
        assert!(browser.text().contains("Not found"), "{refused}: {}", browser.text());
    }
    browser.screenshot(&screenshots().join("merchant-refused.png"));

    // A merchant of the second acquirer (merchant 1, terminal POS00002): its own data there.
    browser.goto(&format!("{console}/merchant"));
    browser.click("nav button[type=submit]");
    wait_for(&browser, |b| b.url().ends_with("/login"), "the logout");
    log_in(&browser, &console, "merchant-2", &password("merchant-2"));
    let second = merchants[1]["merchant_id"].as_str().unwrap();
    page(&browser, &console, "/merchant", &["Dashboard", second, "Gross volume"], "merchant-b-dashboard");
    let theirs = page(&browser, &console, "/transactions", &["POS00002"], "merchant-b-transactions");
    assert!(!theirs.contains("POS00001"), "the first acquirer's merchant: {theirs}");
    let _ = std::fs::remove_dir_all(&dir);
}
