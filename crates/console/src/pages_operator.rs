//! The operator's pages: the network, merchants, users and the audit trail. A
//! merchant user is told they do not exist (404); a merchant may open its own merchant page.

use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::charts::bars;
use crate::data::MerchantRef;
use crate::format::Zone;
use crate::html::{Cell, Markup, url_encode};
use crate::limits::{LIST_ROWS_MAX, RATE_CHART_MINUTES_MAX};
use crate::pages_merchant::own_merchant;
use crate::pages_txn::{ZoneQuery, zone_of};
use crate::store::{Role, Session};
use crate::web::{PageError, PageResult, csrf_field, form_value, frame, frame_with, operator_only, redirect};
use crate::{Console, ConsoleError};

const MS_PER_MINUTE: u64 = 60_000;
/// How often the network page reloads itself.
const NETWORK_REFRESH_SECONDS: &str = "10";

pub fn network(console: &Console, session: &Session, q: &ZoneQuery) -> PageResult {
    operator_only(session)?;
    let zone = zone_of(q)?;
    let now = console.clock.now_ms();
    let mut m = Markup::new();
    m.element(
        "p",
        &[],
        &format!("Times in {}; this page reloads every {NETWORK_REFRESH_SECONDS} seconds.", zone.label()),
    );
    m.element("h2", &[], "Parties");
    let parties: Vec<Vec<Cell>> = console
        .data
        .parties()?
        .into_iter()
        .map(|p| {
            let state = match p.answers {
                Some(true) => "answers",
                Some(false) => "does not answer",
                None => "no fixed address to probe",
            };
            vec![p.name.into(), p.address.unwrap_or_default().into(), state.into()]
        })
        .collect();
    m.table(&["Party", "Address", "Status"], &parties);
    party_health(console, &mut m);
    acquirer_figures(console, zone, now, &mut m);
    // The parties' status shows even when the acquirer's journal cannot be read.
    if let Err(error) = journal_figures(console, zone, now, &mut m) {
        m.element("p", &[("class", "error")], &format!("The acquirers' journals could not be read: {error}"));
    }
    log_tail(console, &mut m);
    let mut head = Markup::new();
    head.void("meta", &[("http-equiv", "refresh"), ("content", NETWORK_REFRESH_SECONDS)]);
    Ok(frame_with("Network", Some(session), &m, &head).into_response())
}

/// Each party's readiness (signed on upstream; the switch's reason names an issuer it stands in
/// for), requests in flight and store-and-forward queue, from its admin endpoint — the parties
/// `cardnet up` and `cardnet demo` start log where it is.
fn party_health(console: &Console, m: &mut Markup) {
    let Some(logs) = console.party_logs.as_deref() else { return };
    let rows: Vec<Vec<Cell>> = crate::network_metrics::health(logs)
        .into_iter()
        .map(|h| {
            vec![
                h.name.into(),
                h.ready.into(),
                h.in_flight.to_string().into(),
                h.queued.to_string().into(),
                h.dead.to_string().into(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    m.element("h2", &[], "Operations (each party's admin endpoint)");
    m.table(&["Party", "Ready", "In flight", "Queued (store-and-forward)", "Given up"], &rows);
}

/// Each acquirer's transactions today, so a quiet or unreadable acquirer shows beside the other.
fn acquirer_figures(console: &Console, zone: Zone, now: u64, m: &mut Markup) {
    m.element("h2", &[], &format!("Acquirers today ({})", zone.date(now)));
    let rows: Vec<Vec<Cell>> = console
        .data
        .acquirer_figures(zone.day_start_ms(now), now.saturating_add(1))
        .into_iter()
        .map(|f| match f.error {
            None => {
                vec![f.acquirer.into(), f.transactions.to_string().into(), f.approved.to_string().into(), "".into()]
            }
            Some(error) => vec![f.acquirer.into(), "".into(), "".into(), format!("not read: {error}").into()],
        })
        .collect();
    m.table(&["Acquirer", "Transactions", "Approved", "Journal"], &rows);
}

/// Today's response codes and the last hour's rate and latency charts, from every acquirer's
/// journal added up.
fn journal_figures(console: &Console, zone: Zone, now: u64, m: &mut Markup) -> Result<(), ConsoleError> {
    let day_start = zone.day_start_ms(now);
    m.element("h2", &[], &format!("Today ({}) by response code", zone.date(now)));
    let codes: Vec<Vec<Cell>> = console
        .data
        .response_codes(day_start, now.saturating_add(1))?
        .into_iter()
        .map(|(code, count)| {
            let meaning = domain::ResponseCode::new(&code).map(|c| c.meaning()).unwrap_or("");
            vec![code.into(), meaning.into(), count.to_string().into()]
        })
        .collect();
    m.table(&["Code", "Meaning", "Count"], &codes);
    let to = now - now % MS_PER_MINUTE + MS_PER_MINUTE;
    let from = to.saturating_sub(RATE_CHART_MINUTES_MAX * MS_PER_MINUTE);
    let minutes = console.data.minutes(from, to)?;
    // Every minute of the window, the quiet ones as zero.
    let mut counts = Vec::new();
    let mut latencies = Vec::new();
    for i in 0..RATE_CHART_MINUTES_MAX {
        let minute = from + i * MS_PER_MINUTE;
        let found = minutes.iter().find(|f| f.minute_ms == minute);
        counts.push((zone.minute(minute), found.map_or(0, |f| f.count)));
        latencies.push((zone.minute(minute), found.and_then(|f| f.latency_ms_mean).unwrap_or(0)));
    }
    m.element("h2", &[], "Last hour");
    bars(m, "Transactions per minute (acquirer journals)", "tx", &counts);
    bars(m, "Mean latency per minute, request to answer (acquirers)", "ms", &latencies);
    Ok(())
}

/// The last lines of each party's log, when the console was given their folder.
fn log_tail(console: &Console, m: &mut Markup) {
    match console.data.log_tail() {
        Ok(files) if files.is_empty() => {}
        Ok(files) => {
            m.element("h2", &[], "Log tail");
            for (name, lines) in files {
                m.element("h3", &[], &name).element("pre", &[], &lines.join("\n"));
            }
        }
        Err(error) => {
            m.element("p", &[("class", "error")], &format!("The logs could not be read: {error}"));
        }
    }
}

pub fn merchants(console: &Console, session: &Session) -> PageResult {
    operator_only(session)?;
    let rows: Vec<Vec<Cell>> = console
        .data
        .merchants()?
        .into_iter()
        .take(LIST_ROWS_MAX)
        .map(|r| {
            let key = format!("{}:{}", r.acquirer, r.merchant_id);
            vec![
                Cell::Link(format!("/merchants/{}", url_encode(&key)), r.merchant_id),
                r.acquirer.into(),
                r.name.into(),
                r.status.into(),
                r.mcc.into(),
                r.city.into(),
                Zone::Utc.time(r.activated_ms).into(),
            ]
        })
        .collect();
    let mut m = Markup::new();
    m.table(&["Merchant", "Acquirer", "Name", "Status", "MCC", "City", "Activated (UTC)"], &rows);
    m.element("h2", &[], "Applications (onboarding)");
    let applications: Vec<Vec<Cell>> = console
        .data
        .applications()?
        .into_iter()
        .take(LIST_ROWS_MAX)
        .map(|a| {
            let merchant = match a.merchant_id {
                Some(id) => Cell::Link(format!("/merchants/{}", url_encode(&format!("{}:{id}", a.acquirer))), id),
                None => Cell::from(""),
            };
            vec![
                a.acquirer.into(),
                a.application_id.to_string().into(),
                a.business_name.into(),
                a.mcc.into(),
                a.city.into(),
                a.status.into(),
                a.reviewer.unwrap_or_default().into(),
                a.review_reason.unwrap_or_default().into(),
                merchant,
                Zone::Utc.time(a.created_ms).into(),
            ]
        })
        .collect();
    let headers = [
        "Acquirer",
        "Application",
        "Business",
        "MCC",
        "City",
        "Status",
        "Reviewer",
        "Reason",
        "Merchant",
        "Applied (UTC)",
    ];
    m.table(&headers, &applications);
    Ok(frame("Merchants", Some(session), &m).into_response())
}

/// `id` is `ACQUIRER:MERCHANT` (the merchants page links so), or a bare merchant id: the first
/// acquirer holding it.
pub fn merchant(console: &Console, session: &Session, id: &str, q: &ZoneQuery) -> PageResult {
    let mut wanted = MerchantRef::parse(id);
    // A merchant sees its own page; any other id, at either acquirer, is "not found", whether
    // it exists or not.
    if let Some(own) = own_merchant(console, session)? {
        if wanted.merchant_id != own.merchant_id
            || wanted.acquirer.as_ref().is_some_and(|a| Some(a) != own.acquirer.as_ref())
        {
            return Err(PageError::NotFound);
        }
        wanted = own;
    }
    let zone = zone_of(q)?;
    let Some(detail) = console.data.merchant(&wanted)? else { return Err(PageError::NotFound) };
    let r = &detail.merchant;
    let mut m = Markup::new();
    m.element("p", &[], &format!("Times in {}.", zone.label()));
    let facts: Vec<Vec<Cell>> = [
        ("Merchant id", r.merchant_id.clone()),
        ("Acquirer", r.acquirer.clone()),
        ("Name", r.name.clone()),
        ("Status", r.status.clone()),
        ("MCC", r.mcc.clone()),
        ("City", r.city.clone()),
        ("Activated", zone.time(r.activated_ms)),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::from(k), Cell::Text(v)])
    .collect();
    m.table(&["Field", "Value"], &facts);
    let query = match session.user.role {
        Role::Operator => format!("?merchant={}", url_encode(&format!("{}:{}", r.acquirer, r.merchant_id))),
        Role::Merchant(_) => String::new(),
    };
    m.open("p", &[]).link(&format!("/merchant{query}"), "Dashboard").text(" · ");
    m.link(&format!("/transactions{query}"), "Transactions").text(" · ");
    m.link(&format!("/statements{query}"), "Statements and payouts").close("p");
    m.element("h2", &[], "Terminals");
    let terminals: Vec<Vec<Cell>> = detail
        .terminals
        .iter()
        .take(LIST_ROWS_MAX)
        .map(|t| {
            let signed_on = match t.signed_on {
                Some(true) => "signed on",
                Some(false) => "signed off",
                None => "never seen by the host",
            };
            vec![
                t.terminal_id.as_str().into(),
                t.status.as_str().into(),
                t.model.as_deref().unwrap_or("").into(),
                signed_on.into(),
                t.last_sign_on_ms.map(|ms| zone.time(ms)).unwrap_or_default().into(),
                t.batch_no.map(|b| b.to_string()).unwrap_or_default().into(),
            ]
        })
        .collect();
    m.table(&["Terminal", "Status", "Model", "Sign-on", "Last sign-on", "Batch"], &terminals);
    m.element("h2", &[], "Batches (terminal settlement)");
    let batches: Vec<Vec<Cell>> = detail
        .batches
        .iter()
        .map(|b| {
            let r = &b.record;
            vec![
                zone.time(b.settled_ms).into(),
                r.terminal_id.as_str().into(),
                r.batch_no.to_string().into(),
                r.terminal_totals.as_str().into(),
                r.host_totals.as_str().into(),
                format!("{}/{}", r.domestic_result, r.foreign_result).into(),
                r.upload_state.as_str().into(),
            ]
        })
        .collect();
    m.table(
        &["Settled", "Terminal", "Batch", "Terminal totals", "Host totals", "Result (domestic/foreign)", "Upload"],
        &batches,
    );
    m.element("h2", &[], "Review trail");
    let trail: Vec<Vec<Cell>> = detail
        .trail
        .iter()
        .take(LIST_ROWS_MAX)
        .map(|t| {
            vec![
                zone.time(t.at_ms).into(),
                t.subject.as_str().into(),
                t.event.as_str().into(),
                t.actor.as_str().into(),
                t.reason.as_str().into(),
            ]
        })
        .collect();
    m.table(&["At", "Subject", "Event", "By", "Reason"], &trail);
    Ok(frame(&format!("Merchant {}", r.merchant_id), Some(session), &m).into_response())
}

pub fn users(console: &Console, session: &Session, message: Option<&str>) -> PageResult {
    operator_only(session)?;
    let mut m = Markup::new();
    if let Some(message) = message {
        m.element("p", &[("class", "error")], message);
    }
    let rows: Vec<Vec<Cell>> = console
        .store
        .users()?
        .into_iter()
        .map(|u| {
            vec![
                u.name.as_str().into(),
                u.role.name().into(),
                u.role.merchant_id().unwrap_or("").into(),
                Zone::Utc.time(u.created_ms).into(),
            ]
        })
        .collect();
    m.table(&["Name", "Role", "Merchant", "Created (UTC)"], &rows);
    m.element("h2", &[], "Add a user");
    m.open("form", &[("method", "post"), ("action", "/users")]);
    csrf_field(&mut m, session);
    for (label, name, kind) in [
        ("Name", "name", "text"),
        ("Password", "password", "password"),
        ("Merchant (merchants only: ACQUIRER:MERCHANT, or a bare id at the first acquirer)", "merchant", "text"),
    ] {
        m.element("label", &[("for", name)], label).text(" ");
        m.void("input", &[("id", name), ("name", name), ("type", kind)]).text(" ");
    }
    m.open("select", &[("name", "role")]);
    m.element("option", &[("value", "operator")], "operator").element("option", &[("value", "merchant")], "merchant");
    m.close("select").text(" ").element("button", &[("type", "submit")], "Add").close("form");
    m.element("h2", &[], "Remove a user");
    m.open("form", &[("method", "post"), ("action", "/users/remove")]);
    csrf_field(&mut m, session);
    m.element("label", &[("for", "remove")], "Name").text(" ");
    m.void("input", &[("id", "remove"), ("name", "name"), ("type", "text")]).text(" ");
    m.element("button", &[("type", "submit")], "Remove (ends its sessions)").close("form");
    let status = if message.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok((status, frame("Users", Some(session), &m)).into_response())
}

/// The users form: a change, so audited (by [`Console::add_user`]) whatever its outcome.
pub fn add_user(console: &Console, session: &Session, form: &[(String, String)]) -> PageResult {
    operator_only(session)?;
    let value = |name| form_value(form, name).unwrap_or_default().trim().to_owned();
    let role = match value("role").as_str() {
        "operator" => Role::Operator,
        "merchant" => Role::Merchant(value("merchant")),
        other => return users(console, session, Some(&format!("role: {other:?} is not operator or merchant"))),
    };
    let password = form_value(form, "password").unwrap_or_default();
    match console.add_user(&session.user.name, &value("name"), &role, password) {
        Ok(_) => Ok(redirect("/users")),
        Err(ConsoleError::BadInput(message)) => users(console, session, Some(&message)),
        Err(error) => Err(error.into()),
    }
}

/// Remove a user (not oneself: the last operator could lock everyone out); audited whatever
/// the outcome.
pub fn remove_user(console: &Console, session: &Session, form: &[(String, String)]) -> PageResult {
    operator_only(session)?;
    let name = form_value(form, "name").unwrap_or_default().trim().to_owned();
    let target = format!("user {name}");
    let by = &session.user.name;
    if name == *by {
        console.audit(by, "user.remove", &target, "refused: oneself")?;
        return users(console, session, Some("You cannot remove yourself: another operator can."));
    }
    if !console.store.remove_user(&name)? {
        console.audit(by, "user.remove", &target, "refused: no such user")?;
        return users(console, session, Some(&format!("No user {name:?}.")));
    }
    console.audit(by, "user.remove", &target, "done")?;
    Ok(redirect("/users"))
}

pub fn audit(console: &Console, session: &Session) -> PageResult {
    operator_only(session)?;
    let rows: Vec<Vec<Cell>> = console
        .store
        .audit_trail()?
        .into_iter()
        .map(|a| {
            vec![
                a.id.to_string().into(),
                Zone::Utc.time(a.at_ms).into(),
                a.who.into(),
                a.action.into(),
                a.target.into(),
                a.outcome.into(),
            ]
        })
        .collect();
    let mut m = Markup::new();
    m.element("p", &[], "The console's audit trail, newest first (append-only).");
    m.table(&["#", "At (UTC)", "Who", "Action", "Target", "Outcome"], &rows);
    Ok(frame("Audit", Some(session), &m).into_response())
}
