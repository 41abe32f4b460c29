//! The router, the session and CSRF checks every page goes through, and the page frame.
//!
//! Handlers are thin: they read the request, then run the page's work (database reads,
//! argon2) on tokio's blocking pool, where it cannot stall the server's other connections.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Console;
use crate::error::ConsoleError;
use crate::html::Markup;
use crate::limits::{FORM_BYTES_MAX, SESSION_AGE_MS_MAX};
use crate::store::{Role, Session};

pub const SESSION_COOKIE: &str = "cardnet_console";
/// The login form's double-submit token (no session exists yet to hold one).
pub const LOGIN_COOKIE: &str = "cardnet_login";

pub type State = Arc<Console>;

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Not found — also what a merchant gets for another merchant's data or an operator's
    /// page, so that a URL does not confirm what exists.
    NotFound,
    /// A POST without the session's CSRF token.
    Forbidden,
    BadInput(String),
    Failure(String),
}

impl From<ConsoleError> for PageError {
    fn from(error: ConsoleError) -> PageError {
        match error {
            ConsoleError::BadInput(message) => PageError::BadInput(message),
            ConsoleError::Failure(message) => PageError::Failure(message),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found.".to_owned()),
            PageError::Forbidden => {
                (StatusCode::FORBIDDEN, "Refused: the form's token is missing or stale; reload the page.".to_owned())
            }
            PageError::BadInput(message) => (StatusCode::BAD_REQUEST, message),
            PageError::Failure(message) => {
                // The detail names a database or file: for the server's log, not the browser.
                eprintln!("console: {message}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The console could not read its data; see the server's log.".to_owned(),
                )
            }
        };
        let mut body = Markup::new();
        body.element("p", &[("class", "error")], &text);
        (status, frame("Error", None, &body)).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

pub fn router(console: State) -> Router {
    Router::new()
        .route("/", get(crate::pages::home))
        .route("/login", get(crate::login::form).post(crate::login::submit))
        .route("/logout", post(crate::login::logout))
        .route("/network", get(crate::pages::network))
        .route("/transactions", get(crate::pages::transactions))
        .route("/transactions.csv", get(crate::pages::transactions_csv))
        .route("/transactions/{id}", get(crate::pages::transaction))
        .route("/merchants", get(crate::pages::merchants))
        .route("/merchants/{id}", get(crate::pages::merchant))
        .route("/risk", get(crate::pages::alerts))
        .route("/risk/{id}", get(crate::pages::alert))
        .route("/risk/{id}/{action}", post(crate::pages::act_on_alert))
        .route("/settlement", get(crate::pages::settlement_dates))
        .route("/settlement/{date}", get(crate::pages::settlement_date))
        .route("/settlement/{date}/{member}", get(crate::pages::settlement_member))
        .route("/exceptions", get(crate::pages::exceptions))
        .route("/exceptions/{id}/resolve", post(crate::pages::resolve_exception))
        .route("/merchant", get(crate::pages::dashboard))
        .route("/statements", get(crate::pages::statements))
        .route("/statements/{date}/{name}", get(crate::pages::statement))
        .route("/payouts.csv", get(crate::pages::payouts_csv))
        .route("/users", get(crate::pages::users).post(crate::pages::add_user))
        .route("/users/remove", post(crate::pages::remove_user))
        .route("/audit", get(crate::pages::audit))
        .route("/metrics", get(crate::network_metrics::metrics))
        .fallback(|| async { PageError::NotFound })
        .layer(axum::middleware::map_response(security_headers))
        .layer(DefaultBodyLimit::max(FORM_BYTES_MAX))
        .with_state(console)
}

/// Every reply: no script, no framing (clickjacking), no sniffing, no referrer (search URLs
/// carry RRNs and card last fours), nothing kept in a shared cache.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// How long the login form's token lives (seconds): time enough to type a password.
pub const LOGIN_FORM_SECONDS_MAX: u64 = 600;

/// A `Set-Cookie` value: never readable by script, never sent from another site, and `Secure`
/// (HTTPS only) when the console is served behind TLS (`Console::secure_cookies`).
pub fn set_cookie(console: &Console, name: &str, value: &str, path: &str, max_age_seconds: u64) -> String {
    let secure = if console.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={max_age_seconds}{secure}")
}

/// A session's cookie: the whole console, for as long as a session may live.
pub fn session_cookie(console: &Console, token: &str) -> String {
    set_cookie(console, SESSION_COOKIE, token, "/", SESSION_AGE_MS_MAX / 1_000)
}

pub fn expired_cookie(console: &Console, name: &str, path: &str) -> String {
    set_cookie(console, name, "", path, 0)
}

pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Run `work` on the blocking pool; a panic there is a failure page, not a dropped connection.
pub async fn blocking(work: impl FnOnce() -> PageResult + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error.into_response(),
        Err(_) => PageError::Failure("a page's work stopped unexpectedly".into()).into_response(),
    }
}

/// The live session of the request, if any.
pub fn session_of(console: &Console, headers: &HeaderMap) -> Result<Option<(Session, String)>, PageError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let digest = crate::auth::token_digest(&token);
    Ok(console.session(&digest)?.map(|session| (session, digest)))
}

/// A page for a logged-in user: without a live session, the login page.
pub async fn page<F>(console: State, headers: HeaderMap, work: F) -> Response
where
    F: FnOnce(&Console, &Session) -> PageResult + Send + 'static,
{
    blocking(move || match session_of(&console, &headers)? {
        Some((session, _)) => work(&console, &session),
        None => Ok(redirect("/login")),
    })
    .await
}

/// A form post for a logged-in user: its `csrf` field must be the session's token (403
/// otherwise, logged in the audit trail).
pub async fn post_page<F>(console: State, headers: HeaderMap, form: Vec<(String, String)>, work: F) -> Response
where
    F: FnOnce(&Console, &Session, &[(String, String)], &str) -> PageResult + Send + 'static,
{
    blocking(move || {
        let Some((session, digest)) = session_of(&console, &headers)? else { return Err(PageError::Forbidden) };
        let sent = form_value(&form, "csrf").unwrap_or_default();
        if !crate::auth::same_token(sent, &session.csrf) {
            console.audit(&session.user.name, "post", "csrf", "refused: no valid form token")?;
            return Err(PageError::Forbidden);
        }
        work(&console, &session, &form, &digest)
    })
    .await
}

pub fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Operators only; anyone else is told the page does not exist.
pub fn operator_only(session: &Session) -> Result<(), PageError> {
    match session.user.role {
        Role::Operator => Ok(()),
        Role::Merchant(_) => Err(PageError::NotFound),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
nav{background:#123;color:#fff;padding:.5em 1em;display:flex;gap:1em;align-items:center}\
nav a{color:#fff}nav form{margin-left:auto}main{padding:1em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}\
th{background:#eee}.error{color:#a00}.ok{color:#070}.down{color:#a00}form.search input{width:9em}";

/// The page frame: navigation for the user's role, who is logged in, the logout form.
pub fn frame(title: &str, session: Option<&Session>, body: &Markup) -> axum::response::Html<String> {
    frame_with(title, session, body, &Markup::new())
}

/// The frame with extra `<head>` elements (the network page's refresh).
pub fn frame_with(
    title: &str,
    session: Option<&Session>,
    body: &Markup,
    head: &Markup,
) -> axum::response::Html<String> {
    let mut m = Markup::new();
    m.open("html", &[("lang", "en")]).open("head", &[]);
    m.void("meta", &[("charset", "utf-8")]);
    m.element("title", &[], &format!("{title} — cardnet console"));
    m.element("style", &[], STYLE);
    m.markup(head).close("head").open("body", &[]);
    if let Some(session) = session {
        m.open("nav", &[]);
        let links: &[(&str, &str)] = match session.user.role {
            Role::Operator => &[
                ("/network", "Network"),
                ("/transactions", "Transactions"),
                ("/merchants", "Merchants"),
                ("/settlement", "Settlement"),
                ("/exceptions", "Exceptions"),
                ("/risk", "Risk alerts"),
                ("/users", "Users"),
                ("/audit", "Audit"),
            ],
            Role::Merchant(_) => &[
                ("/merchant", "Dashboard"),
                ("/transactions", "Transactions"),
                ("/statements", "Statements and payouts"),
            ],
        };
        for (href, text) in links {
            m.link(href, text);
        }
        let who = match &session.user.role {
            Role::Operator => format!("{} (operator)", session.user.name),
            Role::Merchant(id) => format!("{} (merchant {id})", session.user.name),
        };
        m.open("form", &[("method", "post"), ("action", "/logout")]);
        m.element("span", &[], &who).text(" ");
        m.void("input", &[("type", "hidden"), ("name", "csrf"), ("value", &session.csrf)]);
        m.element("button", &[("type", "submit")], "Log out").close("form").close("nav");
    }
    m.open("main", &[]).element("h1", &[], title).markup(body).close("main");
    m.close("body").close("html");
    axum::response::Html(format!("<!DOCTYPE html>{}", m.into_string()))
}

/// A hidden CSRF field for a form of this session.
pub fn csrf_field(m: &mut Markup, session: &Session) {
    m.void("input", &[("type", "hidden"), ("name", "csrf"), ("value", &session.csrf)]);
}
