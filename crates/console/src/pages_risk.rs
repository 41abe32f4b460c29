//! The acquirers' risk alerts (operators only): the list, one alert with its trail, and the
//! actions on it — assign, close as fraud or not fraud — each a POST with the CSRF token,
//! decided by the transition table of `risk::cases`, and written to the console's audit trail
//! whatever its outcome. A merchant user is told none of it exists (404).

use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::data::{AcquirerAlert, AlertAction, AlertChange, parse_row_ref};
use crate::format::Zone;
use crate::html::{Cell, Markup, url_encode};
use crate::limits::LIST_ROWS_MAX;
use crate::pages_txn::{ZoneQuery, zone_of};
use crate::store::Session;
use crate::web::{PageError, PageResult, csrf_field, form_value, frame, operator_only, redirect};
use crate::{Console, ConsoleError};

/// Which form was posted (`/risk/{acquirer}-{id}/assign` or `/close`).
#[derive(Clone, Copy, Debug)]
pub enum AlertForm {
    Assign,
    Close,
}

pub fn alerts(console: &Console, session: &Session, q: &ZoneQuery) -> PageResult {
    operator_only(session)?;
    let zone = zone_of(q)?;
    let rows: Vec<Vec<Cell>> = console
        .data
        .alerts()?
        .into_iter()
        .take(LIST_ROWS_MAX)
        .map(|AcquirerAlert { acquirer, alert: a }| {
            let link = format!("/risk/{acquirer}-{}?tz={}", a.id, url_encode(zone.code()));
            vec![
                Cell::Link(link, a.id.to_string()),
                acquirer.into(),
                zone.time(a.created_ms).into(),
                format!("{} {}", a.entity_kind.name(), a.entity).into(),
                a.pan_masked.unwrap_or_default().into(),
                a.verdict.into(),
                a.response_code.unwrap_or_default().into(),
                a.score.to_string().into(),
                a.status.name().into(),
                a.assignee.unwrap_or_default().into(),
            ]
        })
        .collect();
    let mut m = Markup::new();
    m.element("p", &[], &format!("The acquirers' risk alerts, newest first; times in {}.", zone.label()));
    m.table(&["Id", "Acquirer", "Created", "Entity", "Card", "Verdict", "Code", "Score", "Status", "Assignee"], &rows);
    Ok(frame("Risk alerts", Some(session), &m).into_response())
}

/// One alert: what fired, and its trail (who did what, when).
pub fn alert(console: &Console, session: &Session, id: &str, q: &ZoneQuery) -> PageResult {
    operator_only(session)?;
    let zone = zone_of(q)?;
    // `ACQUIRER-ID`: alert ids are unique only within one acquirer's database.
    let (acquirer, id) = parse_row_ref(id).ok_or(PageError::NotFound)?;
    alert_page(console, session, &acquirer, id, zone, None)
}

/// The alert page; with `refusal`, the reason an action was refused, answered 400.
fn alert_page(
    console: &Console,
    session: &Session,
    acquirer: &str,
    id: u64,
    zone: Zone,
    refusal: Option<&str>,
) -> PageResult {
    let Some(detail) = console.data.alert(acquirer, id)? else { return Err(PageError::NotFound) };
    let a = &detail.alert;
    let mut m = Markup::new();
    if let Some(refusal) = refusal {
        m.element("p", &[("class", "error")], &format!("Refused, nothing changed: {refusal}"));
    }
    m.element("p", &[], &format!("Times in {}.", zone.label()));
    let facts: Vec<Vec<Cell>> = [
        ("Created", zone.time(a.created_ms)),
        ("Acquirer", acquirer.to_owned()),
        ("Raised by", a.party.name().to_owned()),
        ("Entity", format!("{} {}", a.entity_kind.name(), a.entity)),
        ("Card", a.pan_masked.clone().unwrap_or_default()),
        ("Reference", a.reference.clone()),
        ("Verdict", a.verdict.clone()),
        ("Response code", a.response_code.clone().unwrap_or_default()),
        ("Rules fired", a.fired_json.clone()),
        ("Score", a.score.to_string()),
        ("Status", a.status.name().to_owned()),
        ("Assignee", a.assignee.clone().unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::from(k), Cell::Text(v)])
    .collect();
    m.table(&["Field", "Value"], &facts);
    action_forms(&mut m, session, &format!("/risk/{acquirer}-{id}"), a.status);
    m.element("h2", &[], "Trail");
    let trail: Vec<Vec<Cell>> = detail
        .audit
        .iter()
        .map(|e| {
            vec![
                zone.time(e.at_ms).into(),
                e.who.as_str().into(),
                e.action.as_str().into(),
                e.from_status.map(|s| s.name()).unwrap_or("").into(),
                e.to_status.name().into(),
                e.note.as_deref().unwrap_or("").into(),
            ]
        })
        .collect();
    m.table(&["At", "Who", "Action", "From", "To", "Note"], &trail);
    let status = if refusal.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok((status, frame(&format!("Risk alert {acquirer}-{id}"), Some(session), &m)).into_response())
}

/// The forms the transition table allows from `status` (a closed alert takes none; a POST
/// made anyway is refused by the same table).
fn action_forms(m: &mut Markup, session: &Session, base: &str, status: risk::cases::Status) {
    use risk::cases::{Action, next_status};
    let note = |m: &mut Markup, id: &str| {
        m.element("label", &[("for", id)], "Note").text(" ");
        m.void("input", &[("id", id), ("name", "note"), ("type", "text")]).text(" ");
    };
    if next_status(status, Action::Assign).is_some() {
        m.element("h2", &[], "Assign");
        m.open("form", &[("method", "post"), ("action", &format!("{base}/assign"))]);
        csrf_field(m, session);
        m.element("label", &[("for", "assign-to")], "To (user name)").text(" ");
        m.void("input", &[("id", "assign-to"), ("name", "to"), ("type", "text"), ("value", &session.user.name)]);
        m.text(" ");
        note(m, "assign-note");
        m.element("button", &[("type", "submit")], "Assign").close("form");
    }
    if next_status(status, Action::CloseFraud).is_some() || next_status(status, Action::CloseNotFraud).is_some() {
        m.element("h2", &[], "Close");
        m.open("form", &[("method", "post"), ("action", &format!("{base}/close"))]);
        csrf_field(m, session);
        m.open("select", &[("name", "verdict")]);
        m.element("option", &[("value", "not_fraud")], "not fraud").element("option", &[("value", "fraud")], "fraud");
        m.close("select").text(" ");
        note(m, "close-note");
        m.element("button", &[("type", "submit")], "Close").close("form");
    }
}

/// An operator's action on an alert, audited whatever its outcome: done, the alert page again
/// (its new status and trail entry); refused by the transition table or its input, 400 with
/// the reason and nothing changed; no such alert, 404.
pub fn act(console: &Console, session: &Session, id: &str, which: AlertForm, form: &[(String, String)]) -> PageResult {
    operator_only(session)?;
    let (acquirer, id) = parse_row_ref(id).ok_or(PageError::NotFound)?;
    let by = &session.user.name;
    let target = format!("alert {acquirer}-{id}");
    let value = |name| form_value(form, name).unwrap_or_default().trim().to_owned();
    let action = match (which, value("verdict").as_str()) {
        (AlertForm::Assign, _) => AlertAction::Assign { to: value("to") },
        (AlertForm::Close, "fraud") => AlertAction::Close { fraud: true },
        (AlertForm::Close, "not_fraud") => AlertAction::Close { fraud: false },
        (AlertForm::Close, other) => {
            let reason = format!("verdict: {other:?} is not fraud or not_fraud");
            console.audit(by, "risk.close", &target, &format!("refused: {reason}"))?;
            return alert_page(console, session, &acquirer, id, Zone::Utc, Some(&reason));
        }
    };
    let note = value("note");
    let note = (!note.is_empty()).then_some(note.as_str());
    let audit_name = action.audit_name();
    let change = AlertChange { id, by, action: &action, note, now_ms: console.clock.now_ms() };
    match console.data.act_on_alert(&acquirer, &change) {
        Ok(Some(alert)) => {
            // The outcome names the new status and assignee, never the note (free text).
            let assignee = alert.assignee.map(|a| format!(", assigned to {a}")).unwrap_or_default();
            console.audit(by, audit_name, &target, &format!("done: now {}{assignee}", alert.status.name()))?;
            Ok(redirect(&format!("/risk/{acquirer}-{id}")))
        }
        Ok(None) => {
            console.audit(by, audit_name, &target, "refused: no such alert")?;
            Err(PageError::NotFound)
        }
        Err(ConsoleError::BadInput(reason)) => {
            console.audit(by, audit_name, &target, &format!("refused: {reason}"))?;
            alert_page(console, session, &acquirer, id, Zone::Utc, Some(&reason))
        }
        Err(error) => {
            console.audit(by, audit_name, &target, "failed: the acquirer's database (see the server's log)")?;
            Err(error.into())
        }
    }
}
