//! Login and logout. A failed login says the same whatever failed (unknown name, wrong
//! password, locked name) and takes about as long, so the form does not tell which names exist.

use axum::Form;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{TOKEN_BYTES, random_hex, same_token, token_digest, verify_password};
use crate::html::Markup;
use crate::limits::{LOGIN_FAILURES_MAX, LOGIN_LOCK_MS, PASSWORD_BYTES_MAX, USER_NAME_CHARS_MAX};
use crate::web::{
    LOGIN_COOKIE, LOGIN_FORM_SECONDS_MAX, PageError, PageResult, SESSION_COOKIE, State, blocking, cookie,
    expired_cookie, form_value, frame, post_page, redirect, session_cookie, set_cookie,
};
use crate::{Console, ConsoleError};

const FAILED: &str = "Wrong name or password, or the name is locked for a while after repeated failures.";

fn login_page(console: &Console, status: StatusCode, message: Option<&str>) -> PageResult {
    let token = random_hex(TOKEN_BYTES)?;
    let mut m = Markup::new();
    if let Some(message) = message {
        m.element("p", &[("class", "error")], message);
    }
    m.open("form", &[("method", "post"), ("action", "/login")]);
    m.void("input", &[("type", "hidden"), ("name", "login_token"), ("value", &token)]);
    m.open("p", &[]).element("label", &[("for", "name")], "Name ");
    m.void("input", &[("id", "name"), ("name", "name"), ("autocomplete", "username"), ("required", "required")]);
    m.close("p").open("p", &[]).element("label", &[("for", "password")], "Password ");
    m.void(
        "input",
        &[("id", "password"), ("name", "password"), ("type", "password"), ("autocomplete", "current-password")],
    );
    m.close("p").element("button", &[("type", "submit")], "Log in").close("form");
    let cookie = set_cookie(console, LOGIN_COOKIE, &token, "/login", LOGIN_FORM_SECONDS_MAX);
    Ok((status, [(header::SET_COOKIE, cookie)], frame("Log in", None, &m)).into_response())
}

pub async fn form(AxumState(console): AxumState<State>) -> Response {
    blocking(move || login_page(&console, StatusCode::OK, None)).await
}

pub async fn submit(
    AxumState(console): AxumState<State>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    blocking(move || {
        // Double submit: the token in the form must be the one in the login cookie, which a
        // page on another site can neither read nor send (SameSite=Strict).
        let sent = form_value(&form, "login_token").unwrap_or_default();
        let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
        if sent.is_empty() || !same_token(sent, &expected) {
            return Err(PageError::Forbidden);
        }
        let name = form_value(&form, "name").unwrap_or_default();
        let password = form_value(&form, "password").unwrap_or_default();
        match check_login(&console, name, password)? {
            Some(token) => {
                let mut response = redirect("/");
                let headers = response.headers_mut();
                for value in [session_cookie(&console, &token), expired_cookie(&console, LOGIN_COOKIE, "/login")] {
                    if let Ok(value) = value.parse() {
                        headers.append(header::SET_COOKIE, value);
                    }
                }
                Ok(response)
            }
            None => login_page(&console, StatusCode::UNAUTHORIZED, Some(FAILED)),
        }
    })
    .await
}

/// A new session's token when `name` and `password` are right and the name is not locked;
/// every outcome audited.
fn check_login(console: &Console, name: &str, password: &str) -> Result<Option<String>, ConsoleError> {
    let now = console.clock.now_ms();
    // What the audit names: the name as typed, cut to a name's length.
    let shown: String = name.chars().take(USER_NAME_CHARS_MAX).collect();
    let user = if name.chars().count() <= USER_NAME_CHARS_MAX { console.store.user(name)? } else { None };
    let Some((user, hash)) = user else {
        // The same work as a real check, so the answer's timing does not say the name is unknown.
        verify_password(password, console.dummy_hash()?);
        console.audit(&shown, "login", &format!("user {shown}"), "refused: unknown user")?;
        return Ok(None);
    };
    if console.store.locked_until_ms(name)? > now {
        verify_password(password, console.dummy_hash()?);
        console.audit(name, "login", &format!("user {name}"), "refused: locked")?;
        return Ok(None);
    }
    if password.len() > PASSWORD_BYTES_MAX || !verify_password(password, &hash) {
        let locked = console.store.record_failure(name, now, LOGIN_FAILURES_MAX, LOGIN_LOCK_MS)?;
        let outcome = if locked { "refused: wrong password; name locked" } else { "refused: wrong password" };
        console.audit(name, "login", &format!("user {name}"), outcome)?;
        return Ok(None);
    }
    console.store.clear_failures(name)?;
    let token = random_hex(TOKEN_BYTES)?;
    let csrf = random_hex(TOKEN_BYTES)?;
    console.store.create_session(&token_digest(&token), &user.name, &csrf, now)?;
    console.audit(&user.name, "login", &format!("user {}", user.name), "done")?;
    Ok(Some(token))
}

pub async fn logout(
    AxumState(console): AxumState<State>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    post_page(console, headers, form, |console, session, _, digest| {
        console.store.end_session(digest)?;
        console.audit(&session.user.name, "logout", &format!("user {}", session.user.name), "done")?;
        let mut response = redirect("/login");
        if let Ok(value) = expired_cookie(console, SESSION_COOKIE, "/").parse() {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Ok(response)
    })
    .await
}
