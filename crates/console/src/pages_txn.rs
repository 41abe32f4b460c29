//! Transactions: the search (RRN, STAN, auth code, terminal, merchant, last four, a date range
//! in an explicit zone), its CSV export, and one transaction's path across the parties. A
//! merchant's search is always narrowed to its own merchant id, and another merchant's
//! transaction is "not found".

use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::Console;
use crate::data::{MerchantRef, TxnFilter, TxnRow, parse_row_ref};
use crate::format::{Zone, csv_line, money};
use crate::html::{Cell, Markup, url_encode};
use crate::limits::{EXPORT_ROWS_MAX, PAGE_ROWS_MAX, SEARCH_DEPTH_ROWS_MAX, SEARCH_FIELD_CHARS_MAX};
use crate::pages_merchant::own_merchant;
use crate::store::{Role, Session};
use crate::web::{PageError, PageResult, frame};

/// The search form's fields, as the query string carries them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchQuery {
    pub rrn: Option<String>,
    pub stan: Option<String>,
    pub auth: Option<String>,
    pub terminal: Option<String>,
    pub merchant: Option<String>,
    /// The card's last four digits, or its masked number (`622202******1234`).
    pub card: Option<String>,
    /// `YYYY-MM-DD`, inclusive, in `tz`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive, in `tz`.
    pub to: Option<String>,
    pub tz: Option<String>,
    pub page: Option<String>,
}

/// (label, query key, value) of the text fields, in form order.
fn fields(q: &SearchQuery) -> [(&'static str, &'static str, &Option<String>); 8] {
    [
        ("RRN", "rrn", &q.rrn),
        ("STAN / trace", "stan", &q.stan),
        ("Auth code", "auth", &q.auth),
        ("Terminal", "terminal", &q.terminal),
        ("Merchant", "merchant", &q.merchant),
        ("Card (last four or masked)", "card", &q.card),
        ("From (date)", "from", &q.from),
        ("To (date)", "to", &q.to),
    ]
}

/// An empty field is no condition; a field longer than any id is refused.
fn field(value: &Option<String>, name: &str) -> Result<Option<String>, PageError> {
    let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.chars().count() > SEARCH_FIELD_CHARS_MAX {
        return Err(PageError::BadInput(format!("{name}: at most {SEARCH_FIELD_CHARS_MAX} characters")));
    }
    Ok(Some(value.to_owned()))
}

/// The filter the query asks for, the zone its dates are in, and the page number; a merchant's
/// filter is narrowed to its own id whatever the query says.
pub fn filter_of(console: &Console, q: &SearchQuery, session: &Session) -> Result<(TxnFilter, Zone, usize), PageError> {
    let zone = match q.tz.as_deref().filter(|t| !t.is_empty()) {
        None => Zone::default(),
        Some(code) => {
            Zone::parse(code).ok_or_else(|| PageError::BadInput(format!("tz: {code:?} is not UTC or +08:00")))?
        }
    };
    let date = |value: &Option<String>, name: &str| -> Result<Option<u64>, PageError> {
        let Some(text) = field(value, name)? else { return Ok(None) };
        zone.midnight_ms(&text)
            .map(Some)
            .ok_or_else(|| PageError::BadInput(format!("{name}: {text:?} is not a date YYYY-MM-DD")))
    };
    let (last4, pan_masked) = card_of(field(&q.card, "card")?)?;
    let mut filter = TxnFilter {
        acquirer: None,
        rrn: field(&q.rrn, "rrn")?,
        // Journals keep STANs and traces in their six-digit field form.
        stan: field(&q.stan, "stan")?
            .map(|s| if s.len() < 6 && s.bytes().all(|b| b.is_ascii_digit()) { format!("{s:0>6}") } else { s }),
        auth_code: field(&q.auth, "auth")?,
        terminal: field(&q.terminal, "terminal")?,
        merchant: None,
        last4,
        pan_masked,
        from_ms: date(&q.from, "from")?,
        // The end date is inclusive: up to the next local midnight.
        to_ms: date(&q.to, "to")?.map(|ms| ms.saturating_add(86_400_000)),
    };
    // An operator's merchant may name its acquirer (`ACQUIRER:MERCHANT`); a bare id searches
    // every acquirer's merchant of that id.
    if let Some(asked) = field(&q.merchant, "merchant")? {
        let asked = MerchantRef::parse(&asked);
        filter.acquirer = asked.acquirer;
        filter.merchant = Some(asked.merchant_id);
    }
    if let Some(own) = own_merchant(console, session)? {
        filter.acquirer = own.acquirer;
        filter.merchant = Some(own.merchant_id);
    }
    let page = match field(&q.page, "page")? {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| PageError::BadInput("page: a number".into()))?,
    };
    // Each acquirer reads every row before the page to merge it: the depth is bounded.
    if page.saturating_mul(PAGE_ROWS_MAX) > SEARCH_DEPTH_ROWS_MAX {
        return Err(PageError::BadInput(format!(
            "page: at most {} pages deep; narrow the search or export it",
            SEARCH_DEPTH_ROWS_MAX / PAGE_ROWS_MAX
        )));
    }
    Ok((filter, zone, page))
}

/// The card field: four digits (the last four) or a masked number as the journals keep it (first
/// six, `*`s, last four). A full card number is refused, not searched: no journal holds one,
/// and it should not travel in a URL.
fn card_of(card: Option<String>) -> Result<(Option<String>, Option<String>), PageError> {
    let Some(card) = card else { return Ok((None, None)) };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if card.len() == 4 && digits(&card) {
        return Ok((Some(card), None));
    }
    let masked = (domain::PAN_DIGITS_MIN..=domain::PAN_DIGITS_MAX).contains(&card.len())
        && card.get(..6).is_some_and(digits)
        && card.get(card.len() - 4..).is_some_and(digits)
        && card.get(6..card.len() - 4).is_some_and(|middle| middle.bytes().all(|b| b == b'*'));
    if masked {
        return Ok((None, Some(card)));
    }
    if digits(&card) {
        return Err(PageError::BadInput(
            "card: a full card number is not searched; give its last four or its masked form".into(),
        ));
    }
    Err(PageError::BadInput("card: four digits, or a masked card number such as 622202******1234".into()))
}

/// The query string of `q` with `page` replaced.
fn query_string(q: &SearchQuery, page: Option<usize>) -> String {
    let mut parts: Vec<String> = fields(q)
        .iter()
        .filter_map(|(_, key, value)| {
            value.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{key}={}", url_encode(v)))
        })
        .collect();
    if let Some(tz) = q.tz.as_deref().filter(|t| !t.is_empty()) {
        parts.push(format!("tz={}", url_encode(tz)));
    }
    if let Some(page) = page {
        parts.push(format!("page={page}"));
    }
    parts.join("&")
}

fn search_form(m: &mut Markup, q: &SearchQuery, zone: Zone, session: &Session) {
    m.open("form", &[("method", "get"), ("action", "/transactions"), ("class", "search")]);
    for (label, key, value) in fields(q) {
        if key == "merchant" && matches!(session.user.role, Role::Merchant(_)) {
            continue;
        }
        let kind = if key == "from" || key == "to" { "date" } else { "text" };
        m.element("label", &[("for", key)], label).text(" ");
        m.void("input", &[("id", key), ("name", key), ("type", kind), ("value", value.as_deref().unwrap_or(""))]);
        m.text(" ");
    }
    m.element("label", &[("for", "tz")], "Time zone").text(" ");
    m.open("select", &[("id", "tz"), ("name", "tz")]);
    for z in Zone::ALL {
        if z == zone {
            m.element("option", &[("value", z.code()), ("selected", "selected")], z.label());
        } else {
            m.element("option", &[("value", z.code())], z.label());
        }
    }
    m.close("select").text(" ");
    m.element("button", &[("type", "submit")], "Search").close("form");
}

fn row_cells(row: &TxnRow, zone: Zone) -> Vec<Cell> {
    vec![
        Cell::Link(
            format!("/transactions/{}-{}?tz={}", row.acquirer, row.id, url_encode(zone.code())),
            zone.time(row.received_ms),
        ),
        row.acquirer.as_str().into(),
        row.terminal_id.as_str().into(),
        row.merchant_id.as_str().into(),
        row.kind.as_str().into(),
        money(row.amount_minor, &row.currency).into(),
        row.pan_masked.as_deref().unwrap_or("").into(),
        row.rrn.as_deref().unwrap_or("").into(),
        row.trace.as_str().into(),
        row.auth_code.as_deref().unwrap_or("").into(),
        row.response_code.as_deref().unwrap_or("").into(),
        row.status.as_str().into(),
    ]
}

const HEADERS: [&str; 12] = [
    "Received", "Acquirer", "Terminal", "Merchant", "Kind", "Amount", "Card", "RRN", "Trace", "Auth", "Code", "Status",
];

/// The query as the links of a page repeat it: a merchant's own id is implied, never echoed.
fn visible(q: &SearchQuery, session: &Session) -> SearchQuery {
    let mut q = q.clone();
    if matches!(session.user.role, Role::Merchant(_)) {
        q.merchant = None;
    }
    q
}

pub fn search(console: &Console, session: &Session, q: &SearchQuery) -> PageResult {
    let (filter, zone, page) = filter_of(console, q, session)?;
    let q = &visible(q, session);
    let offset = page.saturating_mul(PAGE_ROWS_MAX);
    let mut rows = console.data.search(&filter, offset, PAGE_ROWS_MAX + 1)?;
    let more = rows.len() > PAGE_ROWS_MAX;
    rows.truncate(PAGE_ROWS_MAX);
    let mut m = Markup::new();
    search_form(&mut m, q, zone, session);
    m.open("p", &[]).text(&format!("Times in {}. ", zone.label()));
    m.link(&format!("/transactions.csv?{}", query_string(q, None)), "Export this search as CSV");
    m.close("p");
    let cells: Vec<Vec<Cell>> = rows.iter().map(|row| row_cells(row, zone)).collect();
    if cells.is_empty() {
        m.element("p", &[], "No transactions match.");
    } else {
        m.table(&HEADERS, &cells);
    }
    m.open("p", &[]);
    if page > 0 {
        m.link(&format!("/transactions?{}", query_string(q, Some(page - 1))), "Newer").text(" ");
    }
    if more {
        m.link(&format!("/transactions?{}", query_string(q, Some(page + 1))), "Older");
    }
    m.close("p");
    Ok(frame("Transactions", Some(session), &m).into_response())
}

pub fn export_csv(console: &Console, session: &Session, q: &SearchQuery) -> PageResult {
    let (filter, zone, _) = filter_of(console, q, session)?;
    let q = &visible(q, session);
    let mut rows = console.data.search(&filter, 0, EXPORT_ROWS_MAX + 1)?;
    let cut = rows.len() > EXPORT_ROWS_MAX;
    rows.truncate(EXPORT_ROWS_MAX);
    let mut out = csv_line(&[
        "acquirer",
        "id",
        "received",
        "time_zone",
        "terminal",
        "merchant",
        "kind",
        "amount",
        "amount_minor",
        "currency",
        "card",
        "rrn",
        "trace",
        "network_stan",
        "auth_code",
        "response_code",
        "status",
    ]);
    for row in &rows {
        out.push_str(&csv_line(&[
            &row.acquirer,
            &row.id.to_string(),
            &zone.time(row.received_ms),
            zone.offset_name(),
            &row.terminal_id,
            &row.merchant_id,
            &row.kind,
            &money(row.amount_minor, &row.currency),
            &row.amount_minor.to_string(),
            &row.currency,
            row.pan_masked.as_deref().unwrap_or(""),
            row.rrn.as_deref().unwrap_or(""),
            &row.trace,
            row.net_stan.as_deref().unwrap_or(""),
            row.auth_code.as_deref().unwrap_or(""),
            row.response_code.as_deref().unwrap_or(""),
            &row.status,
        ]));
    }
    let outcome = if cut { format!("{} rows (cut at the bound)", rows.len()) } else { format!("{} rows", rows.len()) };
    console.audit(&session.user.name, "export.csv", &format!("transactions?{}", query_string(q, None)), &outcome)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"transactions.csv\""),
        ],
        out,
    )
        .into_response())
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ZoneQuery {
    pub tz: Option<String>,
}

pub fn zone_of(q: &ZoneQuery) -> Result<Zone, PageError> {
    match q.tz.as_deref().filter(|t| !t.is_empty()) {
        None => Ok(Zone::default()),
        Some(code) => {
            Zone::parse(code).ok_or_else(|| PageError::BadInput(format!("tz: {code:?} is not UTC or +08:00")))
        }
    }
}

pub fn detail(console: &Console, session: &Session, id: &str, q: &ZoneQuery) -> PageResult {
    let zone = zone_of(q)?;
    // `ACQUIRER-ID`: journal ids are unique only within one acquirer's database.
    let (acquirer, id) = parse_row_ref(id).ok_or(PageError::NotFound)?;
    let Some(detail) = console.data.transaction(&acquirer, id)? else { return Err(PageError::NotFound) };
    if let Some(own) = own_merchant(console, session)?
        && !own.owns(&detail.row.acquirer, &detail.row.merchant_id)
    {
        return Err(PageError::NotFound);
    }
    let row = &detail.row;
    let mut m = Markup::new();
    m.element("p", &[], &format!("Times in {}.", zone.label()));
    let facts: Vec<Vec<Cell>> = [
        ("Acquirer", row.acquirer.clone()),
        ("Journal id", row.id.to_string()),
        ("Received", zone.time(row.received_ms)),
        ("Terminal", row.terminal_id.clone()),
        ("Merchant", row.merchant_id.clone()),
        ("Kind", row.kind.clone()),
        ("Amount", money(row.amount_minor, &row.currency)),
        ("Card", row.pan_masked.clone().unwrap_or_default()),
        ("RRN", row.rrn.clone().unwrap_or_default()),
        ("Terminal trace", row.trace.clone()),
        ("Network STAN", row.net_stan.clone().unwrap_or_default()),
        ("Auth code", row.auth_code.clone().unwrap_or_default()),
        ("Response code", row.response_code.clone().unwrap_or_default()),
        ("Status", row.status.clone()),
        ("Reversed", row.reversed.to_string()),
        ("Voided", row.voided.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::from(k), Cell::Text(v)])
    .collect();
    m.table(&["Field", "Value"], &facts);
    m.element("h2", &[], "Path across the parties");
    let messages: Vec<Vec<Cell>> = detail
        .messages
        .iter()
        .map(|msg| {
            vec![
                zone.time(msg.at_ms).into(),
                msg.party.into(),
                format!("{} {}", msg.direction, msg.leg).into(),
                msg.mti.as_str().into(),
                msg.stan.as_deref().unwrap_or("").into(),
                msg.processing_code.as_deref().unwrap_or("").into(),
                msg.amount_minor.map(|a| money(a, &row.currency)).unwrap_or_default().into(),
                msg.pan_masked.as_deref().unwrap_or("").into(),
                msg.rrn.as_deref().unwrap_or("").into(),
                msg.auth_code.as_deref().unwrap_or("").into(),
                msg.response_code.as_deref().unwrap_or("").into(),
            ]
        })
        .collect();
    m.table(
        &["At", "Party", "Direction", "MTI", "STAN", "Proc. code", "Amount", "Card", "RRN", "Auth", "Code"],
        &messages,
    );
    for gap in &detail.gaps {
        m.element("p", &[("class", "error")], gap);
    }
    Ok(frame(&format!("Transaction {}-{}", row.acquirer, row.id), Some(session), &m).into_response())
}
