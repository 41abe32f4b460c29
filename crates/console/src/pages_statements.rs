//! A merchant's statements (电子对账单) and payouts: the payouts of its settlement runs, the
//! statement files the acquirer wrote for it, each downloadable, and the payouts as CSV. A
//! merchant user gets its own; another merchant's file is "not found".

use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

use acquirer::settlement_outputs::mask_account;

use crate::Console;
use crate::data::{MerchantRef, StatementFile};
use crate::format::{csv_line, money, signed_money};
use crate::html::{Cell, Markup, url_encode};
use crate::pages_merchant::merchant_of;
use crate::store::{Role, Session};
use crate::web::{PageError, PageResult, frame};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MerchantQuery {
    /// Operators name the merchant; a merchant user's own is implied.
    pub merchant: Option<String>,
}

/// `?merchant=ID` for an operator's links (a merchant's own id is never echoed).
fn suffix(session: &Session, merchant: &MerchantRef) -> String {
    match session.user.role {
        Role::Operator => format!("?merchant={}", url_encode(&merchant.to_string())),
        Role::Merchant(_) => String::new(),
    }
}

pub fn page(console: &Console, session: &Session, q: &MerchantQuery) -> PageResult {
    let merchant = merchant_of(console, session, q.merchant.as_deref())?;
    let payouts = console.data.payouts(&merchant)?;
    let files = console.data.statement_files(&merchant)?;
    let mut m = Markup::new();
    m.element("h2", &[], "Payouts");
    let rows: Vec<Vec<Cell>> = payouts
        .iter()
        .map(|row| {
            let p = &row.payout;
            let c = &p.currency;
            vec![
                row.acquirer.as_str().into(),
                row.business_date.as_str().into(),
                row.cycle.as_str().into(),
                money(p.gross_minor, c).into(),
                money(p.voids_minor.saturating_add(p.refunds_minor), c).into(),
                signed_money(i128::from(p.fee_minor), c).into(),
                signed_money(i128::from(p.adjustments_minor), c).into(),
                signed_money(i128::from(p.net_minor), c).into(),
                p.items.to_string().into(),
                p.payout_date.to_string().into(),
                mask_account(&p.account_no).into(),
                p.reference.as_str().into(),
            ]
        })
        .collect();
    let headers = [
        "Acquirer",
        "Business date",
        "Cycle",
        "Gross",
        "Voids and refunds",
        "Fee",
        "Adjustments",
        "Net",
        "Items",
        "Paid on",
        "Account",
        "Reference",
    ];
    m.table(&headers, &rows);
    m.open("p", &[]).link(&format!("/payouts.csv{}", suffix(session, &merchant)), "Payouts as CSV").close("p");
    m.element("h2", &[], "Statements (电子对账单)");
    if files.is_empty() {
        m.element("p", &[], "No statement yet: statements are written when the acquirer settles its merchants.");
    }
    let rows: Vec<Vec<Cell>> = files
        .iter()
        .map(|f| {
            let href =
                format!("/statements/{}/{}{}", url_encode(&f.date), url_encode(&f.name), suffix(session, &merchant));
            vec![f.date.as_str().into(), Cell::Link(href, f.name.clone())]
        })
        .collect();
    m.table(&["Business date", "File"], &rows);
    Ok(frame(&format!("Statements and payouts of {merchant}"), Some(session), &m).into_response())
}

pub fn download(console: &Console, session: &Session, date: &str, name: &str, q: &MerchantQuery) -> PageResult {
    let merchant = merchant_of(console, session, q.merchant.as_deref())?;
    let file = StatementFile { date: date.to_owned(), name: name.to_owned() };
    let Some(bytes) = console.data.statement_file(&merchant, &file)? else { return Err(PageError::NotFound) };
    console.audit(&session.user.name, "statement.download", &format!("{date}/{name}"), "done")?;
    let kind = if name.ends_with(".csv") { "text/csv; charset=utf-8" } else { "text/plain; charset=utf-8" };
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok(([(header::CONTENT_TYPE, kind.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

pub fn payouts_csv(console: &Console, session: &Session, q: &MerchantQuery) -> PageResult {
    let merchant = merchant_of(console, session, q.merchant.as_deref())?;
    let payouts = console.data.payouts(&merchant)?;
    let mut out = csv_line(&[
        "acquirer",
        "business_date",
        "cycle",
        "currency",
        "gross_minor",
        "voids_minor",
        "refunds_minor",
        "fee_minor",
        "adjustments_minor",
        "net_minor",
        "items",
        "payout_date",
        "account",
        "reference",
    ]);
    for row in &payouts {
        let p = &row.payout;
        out.push_str(&csv_line(&[
            &row.acquirer,
            &row.business_date,
            &row.cycle,
            &p.currency,
            &p.gross_minor.to_string(),
            &p.voids_minor.to_string(),
            &p.refunds_minor.to_string(),
            &p.fee_minor.to_string(),
            &p.adjustments_minor.to_string(),
            &p.net_minor.to_string(),
            &p.items.to_string(),
            &p.payout_date.to_string(),
            &mask_account(&p.account_no),
            &p.reference,
        ]));
    }
    console.audit(
        &session.user.name,
        "export.csv",
        &format!("payouts of {merchant}"),
        &format!("{} rows", payouts.len()),
    )?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"payouts.csv\""),
        ],
        out,
    )
        .into_response())
}
