//! The web console over a running network (issue 17): real parties (`cardnet serve`), a sale
//! from the scripted terminal, then `cardnet console serve` on port 0 over the network folder,
//! spoken to by a tiny HTTP/1.1 client on a plain TcpStream: log in, find the sale by its RRN,
//! follow it across the acquirer and the switch, export it as CSV; a merchant user sees its
//! own sale and another merchant's user does not.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use common::ProcessNetwork;
use common::till::{Till, WAIT};

/// The console process, killed however the test ends.
struct ConsoleProcess(Child);

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    /// The value of cookie `name` set by this reply.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).find_map(|(_, v)| {
            let pair = v.split(';').next()?;
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    }
}

/// One request on its own connection (`Connection: close`, so the reply ends at EOF).
fn http(address: &str, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    Reply { status, headers, body: body.to_owned() }
}

/// Log in through the form; the session cookie header value.
fn login(address: &str, name: &str, password: &str) -> String {
    let page = http(address, "GET", "/login", "", None);
    let token = page.cookie("cardnet_login").unwrap();
    assert!(page.body.contains(&token), "the form carries the cookie's token");
    let form = format!("login_token={token}&name={name}&password={password}");
    let reply = http(address, "POST", "/login", &format!("cardnet_login={token}"), Some(&form));
    assert_eq!(reply.status, 303, "{}", reply.body);
    format!("cardnet_console={}", reply.cookie("cardnet_console").unwrap())
}

fn add_user(dir: &str, name: &str, role: &[&str]) -> String {
    let args = [&["console", "user", "add", "--dir", dir, "--name", name, "--generate", "--json"][..], role].concat();
    let added = common::json(&common::cardnet(&args));
    added["password"].as_str().unwrap().to_owned()
}

/// `cardnet console serve` over `dir` on port 0: the process and the address it printed.
fn start_console(dir: &str) -> (ConsoleProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["console", "serve", "--dir", dir, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let address = first.trim().strip_prefix("console on http://").unwrap_or_else(|| panic!("{first}")).to_owned();
    (ConsoleProcess(child), address)
}

/// The three users of the test: (operator's, own merchant's, another merchant's) passwords.
fn add_users(dir: &str, merchant_id: &str) -> [String; 3] {
    let ops = add_user(dir, "ops", &["--role", "operator"]);
    let own = add_user(dir, "coffee", &["--role", "merchant", "--merchant", merchant_id]);
    let other = add_user(dir, "other", &["--role", "merchant", "--merchant", "898999999999999"]);
    let listed = common::json(&common::cardnet(&["console", "user", "list", "--dir", dir, "--json"]));
    assert_eq!(listed["users"].as_array().unwrap().len(), 3, "{listed}");
    [ops, own, other]
}

#[test]
fn an_operator_finds_a_sale_by_its_rrn_follows_its_path_and_exports_it() {
    let network = ProcessNetwork::set_up("console-web");
    let mut servers = network.start_logged(&network.dir.join("logs"));
    assert!(network.wait_listening(WAIT), "every party listens");
    let (terminal_config, card_file) = network.terminal_files("POS00001");
    let mut till = Till::new(terminal_config);
    till.wait_ready(&card_file);
    let sale = till.run(&["sale", "--amount", "12.34", "--card-file", &card_file, "--entry", "chip"]);
    assert_eq!(sale["response_code"], "00", "{sale}");
    let rrn = sale["rrn"].as_str().unwrap().to_owned();
    let settled = till.supervised(&["settle"]);
    assert_eq!(settled["domestic_balanced"], true, "the batch settles: {settled}");

    let dir = network.dir.to_str().unwrap();
    let passwords = add_users(dir, &network.merchant_id);
    let (console, address) = start_console(dir);
    let link = while_serving(&network, &address, &rrn, &passwords);
    drop(console);
    for exit in servers.stop() {
        assert!(exit.success(), "a graceful stop: {exit:?}");
    }
    after_end_of_day(&network, &passwords, &link, &rrn);
    let _ = std::fs::remove_dir_all(&network.dir);
}

/// The pages over running parties; the sale's detail link.
fn while_serving(network: &ProcessNetwork, address: &str, rrn: &str, [ops, own, other]: &[String; 3]) -> String {
    let session = login(address, "ops", ops);
    let found = http(address, "GET", &format!("/transactions?rrn={rrn}"), &session, None);
    assert_eq!(found.status, 200);
    assert!(found.body.contains(rrn) && found.body.contains("12.34 CNY"), "{}", found.body);
    let pan = network.card["pan"].as_str().unwrap();
    let masked = format!("{}{}{}", &pan[..6], "*".repeat(pan.len() - 10), &pan[pan.len() - 4..]);
    assert!(found.body.contains(&masked), "masked");
    let by_card = http(address, "GET", &format!("/transactions?card={masked}"), &session, None);
    assert!(by_card.body.contains(rrn), "found by its masked card number: {}", by_card.body);

    let at = found.body.find("href=\"/transactions/").unwrap() + "href=\"".len();
    let link = found.body[at..at + found.body[at..].find('"').unwrap()].to_owned();
    let detail = http(address, "GET", &link, &session, None);
    assert_eq!(detail.status, 200, "{link}");
    for party in ["acquirer", "switch", "issuer"] {
        assert!(detail.body.contains(&format!("<td>{party}</td>")), "the {party}'s part: {}", detail.body);
    }

    let csv = http(address, "GET", &format!("/transactions.csv?rrn={rrn}"), &session, None);
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "a header and the sale: {}", csv.body);
    assert!(lines[1].contains(&format!("\"{rrn}\"")) && lines[1].contains("\"1234\""), "{}", lines[1]);

    let network_page = http(address, "GET", "/network", &session, None);
    assert!(network_page.body.contains("answers") && network_page.body.contains("<svg"), "{}", network_page.body);
    assert!(network_page.body.contains("<h3>acquirer.log</h3>"), "the log tail of NET/logs: {}", network_page.body);
    let merchant_page = http(address, "GET", &format!("/merchants/{}", network.merchant_id), &session, None);
    assert!(merchant_page.body.contains("POS00001") && merchant_page.body.contains("Wang Fang"));
    assert!(merchant_page.body.contains("<td>POS00001</td><td>1</td>"), "batch 1 settled: {}", merchant_page.body);
    let merchants = http(address, "GET", "/merchants", &session, None);
    assert!(merchants.body.contains("Cardnet Coffee") && merchants.body.contains("Applications"), "{}", merchants.body);
    let settlement = http(address, "GET", "/settlement", &session, None);
    assert!(settlement.body.contains("No date settled yet"), "{}", settlement.body);
    assert_eq!(http(address, "GET", "/exceptions", &session, None).status, 200);
    let risk = http(address, "GET", "/risk", &session, None);
    assert_eq!(risk.status, 200, "{}", risk.body);
    assign_and_close_an_alert(network, address, &session);
    resolve_an_exception(network, address, &session);
    for page in [&found, &detail, &csv, &network_page, &merchant_page] {
        assert!(!page.body.contains(pan), "no clear card number");
    }

    let mine = login(address, "coffee", own);
    assert!(http(address, "GET", "/merchant", &mine, None).body.contains("12.34 CNY"), "its dashboard");
    assert!(http(address, "GET", &link, &mine, None).status == 200, "its own sale");
    let statements = http(address, "GET", "/statements", &mine, None);
    assert!(statements.body.contains("No statement yet"), "{}", statements.body);
    let theirs = login(address, "other", other);
    assert_eq!(http(address, "GET", &link, &theirs, None).status, 404, "another merchant's sale");
    let search = http(address, "GET", &format!("/transactions?rrn={rrn}"), &theirs, None);
    assert!(search.body.contains("No transactions match.") && !search.body.contains("12.34 CNY"), "{}", search.body);
    link
}

/// An alert recorded in the running acquirer's database (as its risk engine would), assigned and
/// closed from the console: the alert's status and trail change in the acquirer's database, the
/// console's audit names both actions, and closing it again is refused 400.
fn assign_and_close_an_alert(network: &ProcessNetwork, address: &str, session: &str) {
    let acquirer_dir = std::path::Path::new(&network.acquirer_config).parent().unwrap();
    let database = format!("sqlite:{}", acquirer_dir.join("acquirer.db").display());
    let cases = risk::cases_store::Cases::open(&database).unwrap();
    let id = cases
        .record_alert(&risk::cases::NewAlert {
            created_ms: 1,
            party: risk::cases::Party::Acquirer,
            entity_kind: risk::cases::EntityKind::Terminal,
            entity: "POS00001".into(),
            pan_masked: None,
            reference: "console-web".into(),
            verdict: "alert".into(),
            response_code: None,
            fired_json: "[]".into(),
            score: 50,
        })
        .unwrap();
    let list = http(address, "GET", "/risk", session, None);
    let at = list.body.find(&format!("-{id}?tz=")).unwrap();
    let start = list.body[..at].rfind("/risk/").unwrap();
    let page_path = list.body[start..at + format!("-{id}").len()].to_owned();
    let page = http(address, "GET", &page_path, session, None);
    let at = page.body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = page.body[at..at + page.body[at..].find('"').unwrap()].to_owned();
    let form = format!("csrf={csrf}&to=analyst1&note=checking");
    assert_eq!(http(address, "POST", &format!("{page_path}/assign"), session, Some(&form)).status, 303);
    let form = format!("csrf={csrf}&verdict=not_fraud&note=a+test+alert");
    assert_eq!(http(address, "POST", &format!("{page_path}/close"), session, Some(&form)).status, 303);
    let refused = http(address, "POST", &format!("{page_path}/close"), session, Some(&form));
    assert_eq!(refused.status, 400, "a closed alert takes nothing: {}", refused.body);
    let detail = cases.show(id).unwrap();
    assert_eq!(detail.alert.status, risk::cases::Status::ClosedNotFraud);
    assert_eq!(detail.alert.assignee.as_deref(), Some("analyst1"));
    let trail: Vec<(&str, &str)> = detail.audit.iter().map(|e| (e.who.as_str(), e.action.as_str())).collect();
    assert_eq!(trail[1..], [("ops", "assign"), ("ops", "close_not_fraud")]);
    let audit = http(address, "GET", "/audit", session, None).body;
    assert!(audit.contains("risk.assign") && audit.contains("risk.close_not_fraud"), "{audit}");
}

/// An exception opened in the running switch's database (as reconciliation opens them), written
/// off from the console's `/exceptions` form: resolved in the switch's own trail by the console's
/// user, audited by the console.
fn resolve_an_exception(network: &ProcessNetwork, address: &str, session: &str) {
    use switch::disputes::{self, ExceptionClass, ExceptionRecord, NewException};
    let config = switch::SwitchConfig::load(std::path::Path::new(&network.switch_config)).unwrap();
    let db = switch::settlement::open_database(&config.database).unwrap();
    let record = ExceptionRecord {
        reference: 11,
        acquirer: switch::dev::ACQUIRER_ID.parse().unwrap(),
        issuer: switch::dev::ISSUER_ID.parse().unwrap(),
        amount_minor: 2_500,
        currency: "156".parse().unwrap(),
        stan: Some("000123".parse().unwrap()),
        transmission_time: "1121100000".into(),
        issuer_stan: None,
        issuer_time: String::new(),
        rrn: Some("632510000123".parse().unwrap()),
        auth_code: "123456".into(),
        pan_masked: "622424******0113".into(),
        card_hash: "ab".repeat(16),
        card_kind: clearing::CardKind::Debit,
        mcc: "5411".into(),
        terminal_id: None,
        merchant_id: None,
    };
    let found = clearing::BusinessDate::parse("2026-11-21").unwrap();
    let new = NewException { date: found, class: ExceptionClass::MissingAtTerminal, record, note: String::new() };
    let id = disputes::open_exceptions(&db, &[new], "recon", 1).unwrap()[0].id;
    let page = http(address, "GET", "/exceptions", session, None);
    assert!(page.body.contains(&format!("action=\"/exceptions/{id}/resolve\"")), "{}", page.body);
    let at = page.body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = page.body[at..at + page.body[at..].find('"').unwrap()].to_owned();
    let form = format!("csrf={csrf}&action=write_off&amount=&reason=below+threshold");
    let done = http(address, "POST", &format!("/exceptions/{id}/resolve"), session, Some(&form));
    assert_eq!(done.status, 303, "{}", done.body);
    let (exception, trail) = disputes::show(&db, id).unwrap();
    assert_eq!(exception.stage.status(), "resolved");
    assert_eq!((trail[1].by.as_str(), trail[1].action.as_str()), ("ops", "write_off"));
    let again = http(address, "POST", &format!("/exceptions/{id}/resolve"), session, Some(&form));
    assert_eq!(again.status, 400, "a resolved exception takes nothing: {}", again.body);
    let audit = http(address, "GET", "/audit", session, None).body;
    assert!(audit.contains("exception.resolve") && audit.contains("done: write_off, now resolved"), "{audit}");
}

/// End of day with the parties stopped, then a new console over the day's files: the settled
/// date's net positions and reconciliation, the merchant's statement and payout.
fn after_end_of_day(network: &ProcessNetwork, [ops, own, other]: &[String; 3], link: &str, rrn: &str) {
    let dir = network.dir.to_str().unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let day = clearing::BusinessDate::of_utc_ms(now_ms).to_string();
    let eod = common::json(&common::cardnet(&["eod", "run", "--dir", dir, "--date", &day, "--early", "--json"]));
    assert_eq!(eod["reconciliation"]["unmatched"], 0, "{eod}");
    let (_console, address) = start_console(dir);
    let session = login(&address, "ops", ops);
    let dates = http(&address, "GET", "/settlement", &session, None);
    assert!(dates.body.contains(&format!("href=\"/settlement/{day}\"")), "{}", dates.body);
    let settled = http(&address, "GET", &format!("/settlement/{day}"), &session, None);
    assert!(settled.body.contains("12.34 CNY") && settled.body.contains("<td>matched</td>"), "{}", settled.body);
    assert_eq!(http(&address, "GET", link, &session, None).status, 200, "the journal reads with the parties stopped");
    // Drill-down: each member's approved exchanges of the date; the sale is in its acquirer's.
    let prefix = format!("href=\"/settlement/{day}/");
    let members: Vec<&str> = settled.body.match_indices(&prefix).map(|(at, _)| &settled.body[at + 6..]).collect();
    let drilled: Vec<String> = members
        .iter()
        .map(|rest| http(&address, "GET", &rest[..rest.find('"').unwrap()], &session, None).body)
        .collect();
    assert!(drilled.iter().any(|page| page.contains(rrn)), "the sale under a member: {drilled:?}");

    let mine = login(&address, "coffee", own);
    let statements = http(&address, "GET", "/statements", &mine, None);
    let file = format!("statement-{}-", network.merchant_id);
    assert!(statements.body.contains(&file) && statements.body.contains("****3445"), "{}", statements.body);
    let at = statements.body.find("href=\"/statements/").unwrap() + "href=\"".len();
    let href = &statements.body[at..at + statements.body[at..].find('"').unwrap()];
    let download = http(&address, "GET", href, &mine, None);
    assert_eq!(download.status, 200, "{href}");
    assert!(!download.body.is_empty());
    let theirs = login(&address, "other", other);
    assert_eq!(http(&address, "GET", href, &theirs, None).status, 404, "another merchant's statement");
}

/// A network of two acquirers (`cardnet up`: merchants alternate between them): a sale at the
/// second acquirer's merchant is found by its RRN, its path followed to the switch and the issuer
/// (the switch knows the leg by that acquirer's institution id), exported with its acquirer;
/// that merchant's user sees it, the first acquirer's merchant's user does not.
#[test]
fn a_sale_at_the_second_acquirer_is_found_by_its_rrn_and_kept_from_other_merchants() {
    let dir = common::fresh_dir("console-web", "two-acquirers");
    let (running, summary) = common::up::up(&dir);
    let first = &summary["merchants"][0];
    let second = &summary["merchants"][1];
    let acquirer = second["acquirer"].as_str().unwrap().to_owned();
    assert_ne!(first["acquirer"], second["acquirer"], "merchant 1 is the second acquirer's: {summary}");
    let merchant_id = second["merchant_id"].as_str().unwrap().to_owned();
    let terminals = summary["terminals"].as_array().unwrap();
    let terminal = terminals.iter().find(|t| t["merchant_id"] == merchant_id && t["acquirer"] == acquirer.as_str());
    let terminal = terminal.unwrap()["terminal_id"].as_str().unwrap().to_owned();
    let dir_text = dir.to_str().unwrap();
    let cards = common::json(&common::cardnet(&["up", "cards", "--dir", dir_text, "--json"]));
    let (card_file, pin) =
        (cards["cards"][0]["card_file"].as_str().unwrap(), cards["cards"][0]["pin"].as_str().unwrap());
    assert_eq!(common::up::pos(&dir, &terminal, &["sign-on"])["response_code"], "00");
    let sale = ["sale", "--amount", "23.45", "--card-file", card_file, "--entry", "chip", "--pin", pin];
    let sale = common::up::pos(&dir, &terminal, &sale);
    assert_eq!(sale["response_code"], "00", "{sale}");
    let rrn = sale["rrn"].as_str().unwrap().to_owned();

    let ops = add_user(dir_text, "ops", &["--role", "operator"]);
    let bound = format!("{acquirer}:{merchant_id}");
    let own = add_user(dir_text, "huamei", &["--role", "merchant", "--merchant", &bound]);
    let other =
        add_user(dir_text, "coffee", &["--role", "merchant", "--merchant", first["merchant_id"].as_str().unwrap()]);
    let (console, address) = start_console(dir_text);
    let session = login(&address, "ops", &ops);
    let found = http(&address, "GET", &format!("/transactions?rrn={rrn}"), &session, None);
    assert!(found.body.contains("23.45 CNY") && found.body.contains(&format!("<td>{acquirer}</td>")), "{}", found.body);
    let at = found.body.find(&format!("href=\"/transactions/{acquirer}-")).unwrap() + "href=\"".len();
    let link = found.body[at..at + found.body[at..].find('"').unwrap()].to_owned();
    let detail = http(&address, "GET", &link, &session, None);
    for party in ["acquirer", "switch", "issuer"] {
        assert!(detail.body.contains(&format!("<td>{party}</td>")), "the {party}'s part: {}", detail.body);
    }
    let csv = http(&address, "GET", &format!("/transactions.csv?rrn={rrn}"), &session, None);
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines.len() == 2 && lines[1].starts_with(&format!("\"{acquirer}\",")), "{}", csv.body);
    let network_page = http(&address, "GET", "/network", &session, None);
    assert!(network_page.body.contains(&format!("<td>acquirer {acquirer}</td>")), "{}", network_page.body);
    let merchants = http(&address, "GET", "/merchants", &session, None);
    assert!(merchants.body.contains(&format!("href=\"/merchants/{acquirer}%3A{merchant_id}\"")), "{}", merchants.body);

    let mine = login(&address, "huamei", &own);
    assert_eq!(http(&address, "GET", &link, &mine, None).status, 200, "its own sale");
    assert!(http(&address, "GET", &format!("/transactions?rrn={rrn}"), &mine, None).body.contains("23.45 CNY"));
    let theirs = login(&address, "coffee", &other);
    assert_eq!(http(&address, "GET", &link, &theirs, None).status, 404, "another acquirer's merchant's sale");
    let search = http(&address, "GET", &format!("/transactions?rrn={rrn}"), &theirs, None);
    assert!(search.body.contains("No transactions match."), "{}", search.body);
    drop(console);
    common::up::stop(running, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `console user add` with `stdin` as the password's input.
fn add_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn bad_console_input_exits_2_naming_what_is_wrong() {
    let dir = common::fresh_dir("console-cli", "bad");
    std::fs::create_dir_all(&dir).unwrap();
    let dir_text = dir.to_str().unwrap();
    let add = ["console", "user", "add", "--dir", dir_text, "--name", "ops", "--role", "operator"];
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (add.to_vec(), "short\n", "at least 12 characters"),
        (add.to_vec(), "", "no password on stdin"),
        ([&add[..7], &["--role", "merchant"]].concat(), "a long enough password\n", "--merchant"),
        (vec!["console", "user", "list"], "", "--dir"),
        (vec!["console", "serve", "--dir", "/nonexistent/cardnet-net"], "", "--dir /nonexistent/cardnet-net"),
    ];
    for (args, stdin, said) in cases {
        let output = add_with_stdin(&args, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    let added = add_with_stdin(&[&add[..], &["--json"]].concat(), "a long enough password\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let again = add_with_stdin(&add, "a long enough password\n");
    assert_eq!(again.status.code(), Some(2), "the name is taken");
    let listed = common::json(&common::cardnet(&["console", "user", "list", "--dir", dir_text, "--json"]));
    assert_eq!(listed["users"][0]["name"], "ops", "{listed}");
    let text = listed.to_string();
    assert!(!text.contains("argon2") && !text.contains("long enough"), "no hash or password listed: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}
