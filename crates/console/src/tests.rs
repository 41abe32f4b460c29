//! Handler tests: the router called in process (no socket) over the fixture data source, an
//! in-memory console database and a clock moved by hand.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use clock::ManualClock;
use tower::ServiceExt;

use crate::fixture::{ACQUIRER_A, ACQUIRER_B, Fixture, MERCHANT_A, MERCHANT_B, MERCHANT_C, NOW_MS};
use crate::limits::{LOGIN_FAILURES_MAX, LOGIN_LOCK_MS, SESSION_AGE_MS_MAX, SESSION_IDLE_MS_MAX};
use crate::{Console, HashCost, Role, Store};

const PASSWORD: &str = "a long enough password";

struct Rig {
    console: Arc<Console>,
    clock: ManualClock,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).map_or("", |v| v.to_str().unwrap())
    }
}

fn rig() -> Rig {
    let clock = ManualClock::from_ms(NOW_MS);
    let store = Store::open("sqlite::memory:").unwrap();
    let console =
        Arc::new(Console::with_cost(store, Arc::new(Fixture::new()), Arc::new(clock.clone()), HashCost::TEST));
    console.add_user("test", "ops", &Role::Operator, PASSWORD).unwrap();
    // A bare merchant id: the first acquirer's merchant (the second has one with the same id).
    console.add_user("test", "tea", &Role::Merchant(MERCHANT_A.into()), PASSWORD).unwrap();
    console.add_user("test", "huamei", &Role::Merchant(format!("{ACQUIRER_B}:{MERCHANT_C}")), PASSWORD).unwrap();
    Rig { console, clock }
}

/// A value between `name=` and the next `"` in `html` (a hidden input's value).
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl Rig {
    async fn send(&self, method: &str, uri: &str, cookie: &str, form: Option<String>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form)
            }
            None => Body::empty(),
        };
        let response = crate::router(Arc::clone(&self.console)).oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        Reply { status, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    async fn get(&self, uri: &str, session: &str) -> Reply {
        self.send("GET", uri, &format!("cardnet_console={session}"), None).await
    }

    /// Log in through the form: the reply to the POST.
    async fn try_login(&self, name: &str, password: &str) -> Reply {
        let page = self.send("GET", "/login", "", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let token = hidden(&page.body, "login_token");
        let form = format!("login_token={token}&name={name}&password={}", password.replace(' ', "+"));
        self.send("POST", "/login", &format!("cardnet_login={token}"), Some(form)).await
    }

    /// Log in and return the session token.
    async fn login(&self, name: &str) -> String {
        let reply = self.try_login(name, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let cookie = reply.set_cookies().into_iter().find(|c| c.starts_with("cardnet_console=")).unwrap();
        cookie["cardnet_console=".len()..cookie.find(';').unwrap()].to_owned()
    }

    fn audit_lines(&self) -> Vec<String> {
        let trail = self.console.store.audit_trail().unwrap();
        trail.iter().map(|a| format!("{} {} {} {}", a.who, a.action, a.target, a.outcome)).collect()
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_opens_a_strict_http_only_session() {
    let rig = rig();
    let wrong = rig.try_login("ops", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.set_cookies().iter().all(|c| !c.starts_with("cardnet_console=")));
    let unknown = rig.try_login("nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body.contains("Wrong name or password"), wrong.body.contains("Wrong name or password"));

    let right = rig.try_login("ops", PASSWORD).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    let cookie = right.set_cookies().into_iter().find(|c| c.starts_with("cardnet_console=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.split("; ").any(|a| a == attribute), "{attribute} in {cookie}");
    }
    let token = &cookie["cardnet_console=".len()..cookie.find(';').unwrap()];
    assert_eq!(token.len(), 64);
    let page = rig.get("/network", token).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ops (operator)") && page.body.contains("http-equiv=\"refresh\""));
    assert!(page.body.contains("<svg"), "the rate chart");
    assert!(page.body.contains("<pre>INFO switch: &lt;b&gt;ready&lt;/b&gt;</pre>"), "the log tail, escaped");
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'none'"));
    let audit = rig.audit_lines().join("\n");
    assert!(audit.contains("ops login user ops refused: wrong password"), "{audit}");
    assert!(audit.contains("nobody login user nobody refused: unknown user"), "{audit}");
    assert!(audit.contains("ops login user ops done"), "{audit}");
    assert!(!audit.contains(PASSWORD), "no password in the audit");
}

#[tokio::test]
async fn cookies_are_secure_when_the_console_is_served_over_https() {
    let clock = ManualClock::from_ms(NOW_MS);
    let store = Store::open("sqlite::memory:").unwrap();
    let mut console = Console::with_cost(store, Arc::new(Fixture::new()), Arc::new(clock.clone()), HashCost::TEST);
    console.secure_cookies = true;
    console.add_user("test", "ops", &Role::Operator, PASSWORD).unwrap();
    let rig = Rig { console: Arc::new(console), clock };
    let form = rig.send("GET", "/login", "", None).await;
    assert!(form.set_cookies()[0].ends_with("; Secure"), "{:?}", form.set_cookies());
    let reply = rig.try_login("ops", PASSWORD).await;
    assert!(reply.set_cookies().iter().all(|c| c.ends_with("; Secure")), "{:?}", reply.set_cookies());
    let plain = rig_plain_cookie().await;
    assert!(!plain.contains("Secure"), "{plain}");
}

/// The session cookie of a console on plain HTTP (the default).
async fn rig_plain_cookie() -> String {
    let reply = rig().try_login("ops", PASSWORD).await;
    reply.set_cookies().into_iter().find(|c| c.starts_with("cardnet_console=")).unwrap()
}

#[tokio::test]
async fn repeated_failures_lock_the_name_for_a_while() {
    let rig = rig();
    for _ in 0..LOGIN_FAILURES_MAX {
        assert_eq!(rig.try_login("ops", "wrong wrong wrong").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(rig.try_login("ops", PASSWORD).await.status, StatusCode::UNAUTHORIZED, "locked");
    assert!(rig.audit_lines().iter().any(|l| l.ends_with("refused: locked")));
    rig.clock.advance_ms(LOGIN_LOCK_MS + 1);
    assert_eq!(rig.try_login("ops", PASSWORD).await.status, StatusCode::SEE_OTHER, "the lock ends");
}

#[tokio::test]
async fn an_idle_or_old_session_goes_back_to_the_login_page() {
    let rig = rig();
    let idle = rig.login("ops").await;
    rig.clock.advance_ms(SESSION_IDLE_MS_MAX + 1);
    let reply = rig.get("/network", &idle).await;
    assert_eq!((reply.status, reply.location()), (StatusCode::SEE_OTHER, "/login"));

    let busy = rig.login("ops").await;
    let mut elapsed = 0;
    while elapsed <= SESSION_AGE_MS_MAX {
        assert_eq!(rig.get("/network", &busy).await.status, StatusCode::OK, "alive after {elapsed} ms");
        rig.clock.advance_ms(SESSION_IDLE_MS_MAX / 2);
        elapsed += SESSION_IDLE_MS_MAX / 2;
    }
    let reply = rig.get("/network", &busy).await;
    assert_eq!((reply.status, reply.location()), (StatusCode::SEE_OTHER, "/login"), "past the absolute limit");
    assert_eq!(rig.get("/network", "not-a-session").await.location(), "/login");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_403() {
    let rig = rig();
    let session = rig.login("ops").await;
    let cookie = format!("cardnet_console={session}");
    let form = "name=eve&password=another+long+password&role=operator".to_owned();
    let refused = rig.send("POST", "/users", &cookie, Some(form.clone())).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let forged = rig.send("POST", "/users", &cookie, Some(format!("csrf=00{form}"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(rig.console.store.user("eve").unwrap().is_none());
    assert_eq!(rig.send("POST", "/logout", &cookie, Some(String::new())).await.status, StatusCode::FORBIDDEN);
    // The login form too: without the token of its cookie.
    let login = rig.send("POST", "/login", "", Some(format!("name=ops&password={}", PASSWORD.replace(' ', "+")))).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);

    let users = rig.get("/users", &session).await;
    let csrf = hidden(&users.body, "csrf");
    let done = rig.send("POST", "/users", &cookie, Some(format!("csrf={csrf}&{form}"))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(rig.console.store.user("eve").unwrap().is_some());
    assert!(rig.audit_lines().iter().any(|l| l == "ops user.add user eve (operator) done"));
    let out = rig.send("POST", "/logout", &cookie, Some(format!("csrf={csrf}"))).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(rig.get("/network", &session).await.location(), "/login", "logged out");
}

#[tokio::test]
async fn a_merchant_sees_only_its_own_data_and_nothing_else_exists_for_it() {
    let rig = rig();
    let session = rig.login("tea").await;
    assert_eq!(rig.get("/", &session).await.location(), "/merchant");
    assert_eq!(rig.get("/transactions/10000000344-1", &session).await.status, StatusCode::OK, "its own");
    for uri in [
        "/transactions/10000000344-3",
        "/transactions/10000000344-99",
        // The second acquirer's merchant with the same id is another merchant.
        "/transactions/10000000788-2",
        "/transactions/10000000788-1",
        &format!("/merchants/{MERCHANT_B}"),
        &format!("/merchants/{ACQUIRER_B}:{MERCHANT_A}"),
        &format!("/merchants/{MERCHANT_C}"),
        "/network",
        "/merchants",
        "/risk",
        "/risk/10000000344-1",
        "/users",
        "/audit",
        "/settlement",
        "/settlement/2026-12-04",
        "/settlement/2026-12-04/10000000011",
        "/exceptions",
    ] {
        assert_eq!(rig.get(uri, &session).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    assert_eq!(rig.get(&format!("/merchants/{MERCHANT_A}"), &session).await.status, StatusCode::OK);
    assert_eq!(rig.get(&format!("/merchants/{ACQUIRER_A}:{MERCHANT_A}"), &session).await.status, StatusCode::OK);
    let list = rig.get(&format!("/transactions?merchant={MERCHANT_B}"), &session).await;
    assert!(list.body.contains(MERCHANT_A) && !list.body.contains(MERCHANT_B), "{}", list.body);
    assert!(!list.body.contains("33.00 CNY") && !list.body.contains(ACQUIRER_B), "not B's {MERCHANT_A}: {}", list.body);
    let csv = rig.get(&format!("/transactions.csv?merchant={MERCHANT_B}"), &session).await;
    assert!(csv.body.contains(MERCHANT_A) && !csv.body.contains(MERCHANT_B), "{}", csv.body);
    assert!(!csv.body.contains(ACQUIRER_B), "{}", csv.body);
    let payouts = rig.get("/payouts.csv", &session).await;
    assert!(payouts.body.contains(&format!("P-{MERCHANT_A}")) && !payouts.body.contains("PB-"), "{}", payouts.body);
    let operator = rig.login("ops").await;
    for uri in ["/transactions/10000000344-3", "/transactions/10000000788-2"] {
        assert_eq!(rig.get(uri, &operator).await.status, StatusCode::OK, "the operator sees {uri}");
    }
}

#[tokio::test]
async fn a_merchant_of_the_second_acquirer_sees_its_own_there_and_nothing_at_the_first() {
    let rig = rig();
    let session = rig.login("huamei").await;
    let own = rig.get("/transactions/10000000788-1", &session).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("42.00 CNY") && own.body.contains("622202******2001"), "{}", own.body);
    for uri in [
        "/transactions/10000000344-1".to_owned(),
        "/transactions/10000000788-2".to_owned(),
        format!("/merchants/{MERCHANT_A}"),
        format!("/merchants/{ACQUIRER_A}:{MERCHANT_C}"),
        format!("/statements/2026-12-04/statement-{MERCHANT_A}-final-156.csv"),
    ] {
        assert_eq!(rig.get(&uri, &session).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let page = rig.get(&format!("/merchants/{MERCHANT_C}"), &session).await;
    assert!(page.status == StatusCode::OK && page.body.contains("Huamei Supermarket"), "{}", page.body);
    let list = rig.get(&format!("/transactions?merchant={MERCHANT_A}"), &session).await;
    assert!(list.body.contains("42.00 CNY") && !list.body.contains("33.00 CNY"), "{}", list.body);
    assert!(!list.body.contains("12.50 CNY"), "{}", list.body);
    let statements = rig.get("/statements", &session).await;
    assert!(statements.body.contains(&format!("statement-{MERCHANT_C}-final-156.csv")), "{}", statements.body);
    assert!(statements.body.contains(&format!("<td>{ACQUIRER_B}</td><td>2026-12-04</td>")), "{}", statements.body);
    assert!(statements.body.contains(&format!("PB-{MERCHANT_C}")), "{}", statements.body);
    let file = rig.get(&format!("/statements/2026-12-04/statement-{MERCHANT_C}-final-156.csv"), &session).await;
    assert_eq!(file.status, StatusCode::OK);
}

#[tokio::test]
async fn ids_naming_an_unknown_acquirer_or_malformed_are_not_found() {
    let rig = rig();
    let session = rig.login("ops").await;
    for uri in [
        "/transactions/1",
        "/transactions/99999999999-1",
        "/transactions/10000000344-",
        "/transactions/-1",
        "/transactions/10000000344-1-2",
        "/transactions/10000000344-99999999999999999999999",
        "/transactions/abc-1",
        "/risk/1",
        "/risk/99999999999-1",
        "/risk/10000000788-2",
        "/risk/10000000788-x",
        "/merchants/99999999999:898310048160001",
    ] {
        assert_eq!(rig.get(uri, &session).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let second = rig.get("/risk/10000000788-1", &session).await;
    assert!(second.body.contains("second-acquirer-ref") && second.body.contains("622202******2001"), "{}", second.body);
    let first = rig.get("/risk/10000000344-1", &session).await;
    assert!(first.body.contains("&lt;ref&gt;") && !first.body.contains("second-acquirer-ref"), "{}", first.body);
}

#[tokio::test]
async fn the_network_and_merchants_pages_name_each_acquirer() {
    let rig = rig();
    let session = rig.login("ops").await;
    let network = rig.get("/network", &session).await;
    assert!(network.body.contains("acquirer 10000000788"), "the second acquirer's status: {}", network.body);
    // Today (UTC): the first acquirer's four rows (three approved), the second's two.
    assert!(network.body.contains("<td>10000000344</td><td>4</td><td>3</td>"), "{}", network.body);
    assert!(network.body.contains("<td>10000000788</td><td>2</td><td>2</td>"), "{}", network.body);
    let merchants = rig.get("/merchants", &session).await;
    assert!(
        merchants.body.contains(&format!("href=\"/merchants/{ACQUIRER_B}%3A{MERCHANT_C}\""))
            && merchants.body.contains("Same Id Bakery"),
        "{}",
        merchants.body
    );
    let bakery = rig.get(&format!("/merchants/{ACQUIRER_B}%3A{MERCHANT_A}"), &session).await;
    assert!(bakery.body.contains("Same Id Bakery") && !bakery.body.contains("Tea House"), "{}", bakery.body);
    let risk = rig.get("/risk", &session).await;
    assert!(risk.body.contains("href=\"/risk/10000000788-1?tz=UTC\""), "{}", risk.body);
    let list = rig.get("/transactions", &session).await;
    assert!(list.body.contains("href=\"/transactions/10000000788-1?tz=UTC\""), "{}", list.body);
}

#[tokio::test]
async fn the_csv_export_is_the_filtered_view_quoted_formula_safe_and_audited() {
    let rig = rig();
    let session = rig.login("ops").await;
    let reply = rig.get(&format!("/transactions.csv?merchant={MERCHANT_A}&tz=%2B08:00"), &session).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let lines: Vec<&str> = reply.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    // Merchant id A at either acquirer (an operator's bare id): the first's four rows and the
    // second's one, newest first across them.
    assert_eq!(lines.len(), 1 + 5, "a header and five rows: {}", reply.body);
    assert!(lines[0].starts_with("\"acquirer\",\"id\",\"received\",\"time_zone\""));
    assert!(
        lines[1].starts_with("\"10000000344\",\"4\",\"2026-12-05 17:55:00\",\"UTC+08:00\",\"'=cmd|' /C calc'!A0\""),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("\"20.00 CNY\",\"2000\",\"156\",\"622202******1004\""), "{}", lines[1]);
    assert!(lines[2].starts_with("\"10000000788\",\"2\",\"2026-12-05 17:48:00\""), "{}", lines[2]);
    assert!(
        lines[5].starts_with("\"10000000344\",\"5\",\"2026-12-04 18:00:00\",\"UTC+08:00\",\"POS00001\""),
        "{}",
        lines[5]
    );
    assert!(lines.iter().all(|l| l.starts_with('"') && l.ends_with('"')));
    let audit = rig.audit_lines().join("\n");
    assert!(
        audit.contains(&format!("ops export.csv transactions?merchant={MERCHANT_A}&tz=%2B08%3A00 5 rows")),
        "{audit}"
    );
}

#[tokio::test]
async fn a_search_finds_by_rrn_stan_and_last_four_in_a_zone() {
    let rig = rig();
    let session = rig.login("ops").await;
    let by_rrn = rig.get("/transactions?rrn=000000500003", &session).await;
    assert!(by_rrn.body.contains("7.77 CNY") && !by_rrn.body.contains("12.50 CNY"), "{}", by_rrn.body);
    let by_stan = rig.get("/transactions?stan=2", &session).await;
    assert!(by_stan.body.contains("99.00 CNY") && !by_stan.body.contains("7.77 CNY"));
    let by_last4 = rig.get("/transactions?card=1001", &session).await;
    assert!(by_last4.body.contains("12.50 CNY") && !by_last4.body.contains("99.00 CNY"));
    let by_masked = rig.get("/transactions?card=622202******1002", &session).await;
    assert!(by_masked.body.contains("99.00 CNY") && !by_masked.body.contains("12.50 CNY"), "{}", by_masked.body);
    let clear = rig.get("/transactions?card=6222021234561002", &session).await;
    assert_eq!(clear.status, StatusCode::BAD_REQUEST);
    assert!(clear.body.contains("not searched") && !clear.body.contains("6222021234561002"), "{}", clear.body);
    // 2026-12-05 in Shanghai began at 2026-12-04 16:00 UTC: today's rows, not yesterday's.
    let today = rig.get("/transactions?from=2026-12-05&to=2026-12-05&tz=%2B08:00", &session).await;
    assert!(today.body.contains("12.50 CNY") && !today.body.contains("10.00 CNY"), "{}", today.body);
    assert!(today.body.contains("+08:00 Asia/Shanghai"));
    let deep =
        format!("/transactions?page={}", crate::limits::SEARCH_DEPTH_ROWS_MAX / crate::limits::PAGE_ROWS_MAX + 1);
    for bad in ["/transactions?card=12x4", "/transactions?from=2026-02-30", "/transactions?tz=Mars", &deep] {
        assert_eq!(rig.get(bad, &session).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let detail = rig.get("/transactions/10000000344-1?tz=UTC", &session).await;
    assert!(detail.body.contains("622202******1001") && detail.body.contains("Path across the parties"));
}

#[tokio::test]
async fn markup_in_a_merchant_name_comes_out_escaped() {
    let rig = rig();
    let session = rig.login("ops").await;
    let list = rig.get("/merchants", &session).await;
    assert!(
        list.body.contains("Dumplings &lt;b&gt;&amp; Co&lt;/b&gt;") && list.body.contains("applied"),
        "{}",
        list.body
    );
    let page = rig.get(&format!("/merchants/{MERCHANT_A}"), &session).await;
    assert!(page.body.contains("<td>POS00001</td><td>1</td><td>000000000003250</td>"), "a batch: {}", page.body);
    let query = format!("?merchant={ACQUIRER_A}%3A{MERCHANT_A}");
    assert!(page.body.contains(&format!("href=\"/statements{query}\"")), "{}", page.body);
    let theirs = rig.get(&format!("/transactions{query}"), &session).await;
    assert!(theirs.body.contains("12.50 CNY") && !theirs.body.contains("33.00 CNY"), "{}", theirs.body);
    for uri in ["/merchants".to_owned(), format!("/merchants/{MERCHANT_A}")] {
        let page = rig.get(&uri, &session).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; Tea House"), "{}", page.body);
        assert!(!page.body.contains("<script>"), "{}", page.body);
    }
}

#[tokio::test]
async fn the_dashboard_compares_the_period_with_the_one_before() {
    let rig = rig();
    let session = rig.login("tea").await;
    let page = rig.get("/merchant?days=1", &session).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    // Today: 12.50 and 20.00 approved, 99.00 declined 51; yesterday: 10.00.
    for expected in [
        "<td>Gross volume</td><td>32.50 CNY</td><td>10.00 CNY</td><td>+225.0%</td>",
        "<td>Sales</td><td>2</td><td>1</td><td>+100.0%</td>",
        "<td>Approval rate</td><td>66.7%</td><td>100.0%</td>",
        "<td>Average ticket</td><td>16.25 CNY</td>",
        "<td>51</td><td>",
    ] {
        assert!(body.contains(expected), "{expected} in {body}");
    }
    assert_eq!(rig.get("/merchant?days=0", &session).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_other_page_renders_for_an_operator() {
    let rig = rig();
    let session = rig.login("ops").await;
    let risk = rig.get("/risk", &session).await;
    assert!(risk.body.contains("622202******1001") && risk.body.contains("decline"));
    let alert = rig.get("/risk/10000000344-1", &session).await;
    assert!(alert.body.contains("small_sales_burst") && alert.body.contains("risk-engine"), "{}", alert.body);
    assert!(alert.body.contains("&lt;ref&gt;") && !alert.body.contains("<ref>"), "escaped");
    assert_eq!(rig.get("/risk/10000000344-2", &session).await.status, StatusCode::NOT_FOUND);
    assert!(rig.get("/audit", &session).await.body.contains("login"));
    assert_eq!(rig.get("/merchants/nope", &session).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rig.get("/transactions/abc", &session).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rig.get("/no-such-page", &session).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rig.get("/merchant", &session).await.status, StatusCode::NOT_FOUND, "an operator names the merchant");
    let dashboard = rig.get(&format!("/merchant?merchant={MERCHANT_A}&days=1"), &session).await;
    assert_eq!(dashboard.status, StatusCode::OK);
}

#[tokio::test]
async fn settlement_shows_net_positions_reconciliation_and_open_exceptions() {
    let rig = rig();
    let session = rig.login("ops").await;
    let dates = rig.get("/settlement", &session).await;
    assert!(dates.body.contains(&format!("href=\"/settlement/{}\"", crate::fixture::SETTLED_DATE)), "{}", dates.body);
    let day = rig.get(&format!("/settlement/{}", crate::fixture::SETTLED_DATE), &session).await;
    assert!(day.body.contains("10000000011</a></td><td>12.50 CNY</td>"), "{}", day.body);
    assert!(day.body.contains("20000000455</a></td><td>-12.50 CNY</td>"), "{}", day.body);
    assert!(day.body.contains("<td>unmatched</td><td>1</td>"), "{}", day.body);
    assert!(
        day.body.contains("<td>missing_at_host</td><td>refund</td>") && day.body.contains("12.50 CNY"),
        "{}",
        day.body
    );
    assert_eq!(rig.get("/settlement/2026-12-03", &session).await.status, StatusCode::NOT_FOUND, "not settled");
    let member = rig.get(&format!("/settlement/{}/10000000011", crate::fixture::SETTLED_DATE), &session).await;
    assert!(
        member.body.contains("<td>000000500001</td><td>622202******1001</td><td>12.50 CNY</td>"),
        "{}",
        member.body
    );
    assert!(day.body.contains("href=\"/settlement/2026-12-04/10000000011\""), "the drill-down link");
    let open = rig.get("/exceptions", &session).await;
    assert!(open.body.contains("missing_at_host") && open.body.contains("622202******1001"), "{}", open.body);
}

#[tokio::test]
async fn a_merchant_downloads_its_own_statements_and_payouts_only() {
    let rig = rig();
    let session = rig.login("tea").await;
    let page = rig.get("/statements", &session).await;
    assert_eq!(page.status, StatusCode::OK);
    let own = format!("statement-{MERCHANT_A}-final-156.csv");
    let other = format!("statement-{MERCHANT_B}-final-156.csv");
    assert!(page.body.contains(&own) && !page.body.contains(&other), "{}", page.body);
    assert!(page.body.contains("32.34 CNY") && page.body.contains("****3445"), "{}", page.body);
    let file = rig.get(&format!("/statements/2026-12-04/{own}"), &session).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, format!("merchant,{MERCHANT_A}\r\n"));
    for uri in [
        format!("/statements/2026-12-04/{other}"),
        format!("/statements/2026-12-04/{other}?merchant={MERCHANT_B}"),
        "/statements/2026-12-04/..%2F..%2Fconsole.db".to_owned(),
    ] {
        assert_eq!(rig.get(&uri, &session).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let csv = rig.get(&format!("/payouts.csv?merchant={MERCHANT_B}"), &session).await;
    assert!(csv.body.contains(&format!("P-{MERCHANT_A}")) && !csv.body.contains(MERCHANT_B), "{}", csv.body);
    let audit = rig.audit_lines().join("\n");
    assert!(audit.contains(&format!("tea statement.download 2026-12-04/{own} done")), "{audit}");
    assert!(audit.contains(&format!("tea export.csv payouts of {ACQUIRER_A}:{MERCHANT_A} 1 rows")), "{audit}");
    let operator = rig.login("ops").await;
    let theirs = rig.get(&format!("/statements/2026-12-04/{other}?merchant={MERCHANT_B}"), &operator).await;
    assert_eq!(theirs.status, StatusCode::OK, "an operator names the merchant");
}

#[tokio::test]
async fn removing_a_user_ends_its_sessions_and_is_audited() {
    let rig = rig();
    let merchant = rig.login("tea").await;
    let session = rig.login("ops").await;
    let cookie = format!("cardnet_console={session}");
    let csrf = hidden(&rig.get("/users", &session).await.body, "csrf");
    let without = rig.send("POST", "/users/remove", &cookie, Some("name=tea".into())).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN, "no CSRF token");
    let own = rig.send("POST", "/users/remove", &cookie, Some(format!("csrf={csrf}&name=ops"))).await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "not oneself");
    let done = rig.send("POST", "/users/remove", &cookie, Some(format!("csrf={csrf}&name=tea"))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(rig.get("/merchant", &merchant).await.location(), "/login", "its session ended");
    assert_eq!(rig.try_login("tea", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let audit = rig.audit_lines().join("\n");
    assert!(audit.contains("ops user.remove user ops refused: oneself"), "{audit}");
    assert!(audit.contains("ops user.remove user tea done"), "{audit}");
    let merchant_post = rig.send("POST", "/users/remove", "", Some(format!("csrf={csrf}&name=ops"))).await;
    assert_eq!(merchant_post.status, StatusCode::FORBIDDEN, "no session");
}

#[path = "tests_actions.rs"]
mod actions;
