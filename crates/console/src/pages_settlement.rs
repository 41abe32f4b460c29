//! Clearing and settlement per date with the members' net positions and the date's
//! reconciliation — operators only (the open exceptions: `pages_exceptions.rs`).

use axum::response::IntoResponse;

use crate::Console;
use crate::format::{money, signed_money};
use crate::html::{Cell, Markup, url_encode};
use crate::pages_txn::{ZoneQuery, zone_of};
use crate::store::Session;
use crate::web::{PageError, PageResult, frame, operator_only};

pub fn dates(console: &Console, session: &Session) -> PageResult {
    operator_only(session)?;
    let rows: Vec<Vec<Cell>> = console
        .data
        .settled_dates()?
        .into_iter()
        .map(|date| vec![Cell::Link(format!("/settlement/{}", url_encode(&date)), date)])
        .collect();
    let mut m = Markup::new();
    m.element("p", &[], "Business dates the switch has settled, newest first.");
    if rows.is_empty() {
        m.element("p", &[], "No date settled yet (cardnet eod run).");
    } else {
        m.table(&["Business date"], &rows);
    }
    Ok(frame("Settlement", Some(session), &m).into_response())
}

pub fn date(console: &Console, session: &Session, date: &str) -> PageResult {
    operator_only(session)?;
    let Some(view) = console.data.settlement(date)? else { return Err(PageError::NotFound) };
    let mut m = Markup::new();
    m.element("h2", &[], "Net positions");
    let rows: Vec<Vec<Cell>> = view
        .positions
        .iter()
        .map(|p| {
            let c = &p.currency;
            let href = format!("/settlement/{}/{}", url_encode(&view.date), url_encode(&p.member));
            vec![
                Cell::Link(href, p.member.clone()),
                signed_money(i128::from(p.net_minor), c).into(),
                signed_money(i128::from(p.receivable_minor), c).into(),
                signed_money(i128::from(p.payable_minor), c).into(),
                signed_money(i128::from(p.interchange_minor), c).into(),
                signed_money(i128::from(p.network_fee_minor), c).into(),
                p.records.to_string().into(),
            ]
        })
        .collect();
    m.table(&["Member", "Net", "Receivable", "Payable", "Interchange", "Network fee", "Records"], &rows);
    m.element("h2", &[], "Reconciliation");
    if view.recon.is_empty() {
        m.element("p", &[], "Not reconciled yet (cardnet eod run, or cardnet recon).");
    } else {
        let rows: Vec<Vec<Cell>> =
            view.recon.iter().map(|(k, v)| vec![Cell::from(k.as_str()), Cell::from(v.as_str())]).collect();
        m.table(&["Figure", "Value"], &rows);
    }
    if !view.recon_items.is_empty() {
        m.element("h3", &[], "Differences");
        let rows: Vec<Vec<Cell>> = view
            .recon_items
            .iter()
            .map(|i| {
                let expected = i.expected_minor.map(|v| money(v, &i.currency)).unwrap_or_default();
                vec![
                    i.class.as_str().into(),
                    i.resolution.as_str().into(),
                    i.party.as_str().into(),
                    i.reason.as_str().into(),
                    i.kind.as_str().into(),
                    i.present.as_str().into(),
                    i.rrn.as_str().into(),
                    format!("{} {}", i.terminal_id, i.trace).into(),
                    expected.into(),
                ]
            })
            .collect();
        let headers =
            ["Class", "Resolution", "Party", "Reason", "Kind", "Found at", "RRN", "Terminal, trace", "Expected"];
        m.table(&headers, &rows);
    }
    Ok(frame(&format!("Settlement of {}", view.date), Some(session), &m).into_response())
}

/// A member's approved exchanges of a settled date: what its net position is made of.
pub fn member(console: &Console, session: &Session, date: &str, member: &str, q: &ZoneQuery) -> PageResult {
    operator_only(session)?;
    let zone = zone_of(q)?;
    let rows: Vec<Vec<Cell>> = console
        .data
        .cleared(date, member)?
        .into_iter()
        .map(|r| {
            let amount = match (r.amount_minor, &r.currency) {
                (Some(a), Some(c)) => money(a, c),
                _ => String::new(),
            };
            vec![
                r.exchange_id.to_string().into(),
                zone.time(r.received_ms).into(),
                r.kind.into(),
                r.rrn.unwrap_or_default().into(),
                r.pan_masked.unwrap_or_default().into(),
                amount.into(),
                r.terminal_id.unwrap_or_default().into(),
                r.merchant_id.unwrap_or_default().into(),
                format!("{} → {}", r.acquirer, r.issuer.unwrap_or_default()).into(),
            ]
        })
        .collect();
    let mut m = Markup::new();
    m.element(
        "p",
        &[],
        &format!("Approved exchanges of {date} at the switch with member {member} a party; times in {}.", zone.label()),
    );
    if rows.is_empty() {
        m.element("p", &[], "None.");
    } else {
        let headers =
            ["Exchange", "Received", "Kind", "RRN", "Card", "Amount", "Terminal", "Merchant", "Acquirer → issuer"];
        m.table(&headers, &rows);
    }
    Ok(frame(&format!("{member} on {date}"), Some(session), &m).into_response())
}
