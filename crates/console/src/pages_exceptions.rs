//! The switch's exceptions (差错) not yet resolved, each with a form to resolve it (or take a
//! step of the chargeback cycle) through `switch::disputes::resolve`: a POST with the CSRF
//! token, operators only, audited whatever its outcome.

use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::data::ExceptionChange;
use crate::format::{Zone, money};
use crate::html::{Cell, Markup};
use crate::pages_txn::{ZoneQuery, zone_of};
use crate::store::Session;
use crate::web::{PageError, PageResult, csrf_field, form_value, frame, operator_only, redirect};
use crate::{Console, ConsoleError};

pub fn exceptions(console: &Console, session: &Session, q: &ZoneQuery) -> PageResult {
    operator_only(session)?;
    exceptions_page(console, session, zone_of(q)?, None)
}

/// The page; with `refusal`, why a resolution was refused, answered 400.
fn exceptions_page(console: &Console, session: &Session, zone: Zone, refusal: Option<&str>) -> PageResult {
    let open = console.data.exceptions()?;
    let rows: Vec<Vec<Cell>> = open
        .iter()
        .map(|e| {
            vec![
                e.id.to_string().into(),
                e.date.as_str().into(),
                e.class.as_str().into(),
                e.stage.as_str().into(),
                money(e.amount_minor, &e.currency).into(),
                e.pan_masked.as_str().into(),
                e.rrn.as_deref().unwrap_or_default().into(),
                format!("{} → {}", e.acquirer, e.issuer).into(),
                zone.time(e.opened_ms).into(),
            ]
        })
        .collect();
    let mut m = Markup::new();
    if let Some(refusal) = refusal {
        m.element("p", &[("class", "error")], &format!("Refused, nothing changed: {refusal}"));
    }
    m.element("p", &[], &format!("Differences reconciliation found, not yet resolved; times in {}.", zone.label()));
    m.table(&["Id", "Date", "Class", "Stage", "Amount", "Card", "RRN", "Acquirer → issuer", "Opened"], &rows);
    for e in &open {
        resolve_form(&mut m, session, e.id);
    }
    let status = if refusal.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok((status, frame("Exceptions", Some(session), &m)).into_response())
}

/// The actions `switch::disputes::resolve` takes; which one the exception's stage allows is the
/// switch's transition table's to say.
fn resolve_form(m: &mut Markup, session: &Session, id: u64) {
    m.element("h2", &[], &format!("Resolve exception {id}"));
    m.open("form", &[("method", "post"), ("action", &format!("/exceptions/{id}/resolve"))]);
    csrf_field(m, session);
    m.open("select", &[("name", "action")]);
    for action in switch::disputes::Action::ALL {
        m.element("option", &[("value", action.name())], action.name());
    }
    m.close("select").text(" ");
    for (label, name) in [("Amount (minor units; empty: the record's)", "amount"), ("Reason", "reason")] {
        let field = format!("exception-{id}-{name}");
        m.element("label", &[("for", &field)], label).text(" ");
        m.void("input", &[("id", &field), ("name", name), ("type", "text")]).text(" ");
    }
    m.element("button", &[("type", "submit")], "Resolve").close("form");
}

/// `POST /exceptions/{id}/resolve`: done, back to the list; refused, 400 with the reason;
/// no such exception, 404. Audited whatever the outcome (the reason stays in the exception's
/// own trail: free text).
pub fn resolve(console: &Console, session: &Session, id: &str, form: &[(String, String)]) -> PageResult {
    operator_only(session)?;
    let id: u64 = id.parse().map_err(|_| PageError::NotFound)?;
    let by = &session.user.name;
    let target = format!("exception {id}");
    let value = |name| form_value(form, name).unwrap_or_default().trim().to_owned();
    let action = value("action");
    let reason = value("reason");
    let amount_minor = match checked(&value("amount"), &reason) {
        Ok(amount_minor) => amount_minor,
        Err(refusal) => {
            console.audit(by, "exception.resolve", &target, &format!("refused: {refusal}"))?;
            return exceptions_page(console, session, Zone::Utc, Some(&refusal));
        }
    };
    let change =
        ExceptionChange { id, action: &action, by, reason: &reason, amount_minor, now_ms: console.clock.now_ms() };
    match console.data.resolve_exception(&change) {
        Ok(Some(done)) => {
            console.audit(by, "exception.resolve", &target, &format!("done: {done}"))?;
            Ok(redirect("/exceptions"))
        }
        Ok(None) => {
            console.audit(by, "exception.resolve", &target, "refused: no such exception")?;
            Err(PageError::NotFound)
        }
        Err(ConsoleError::BadInput(reason)) => {
            console.audit(by, "exception.resolve", &target, &format!("refused: {reason}"))?;
            exceptions_page(console, session, Zone::Utc, Some(&reason))
        }
        Err(error) => {
            console.audit(by, "exception.resolve", &target, "failed: the switch's database (see the server's log)")?;
            Err(error.into())
        }
    }
}

/// The form's amount (empty: the record's) and reason, as the console takes them: the reason is
/// kept in the switch's trail and shown to operators, so a card number never goes in it.
fn checked(amount: &str, reason: &str) -> Result<Option<u64>, String> {
    if domain::mask_card_numbers(reason) != reason {
        return Err("reason: it holds a run of digits like a card number; not stored".into());
    }
    match amount {
        "" => Ok(None),
        text => {
            text.parse::<u64>().map(Some).map_err(|_| format!("amount: {text:?} is not a whole number of minor units"))
        }
    }
}
