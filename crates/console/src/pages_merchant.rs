//! A merchant's dashboard: gross and net volume, count, approval rate, average ticket, top
//! decline reasons, and each day against the same day of the prior period. Figures come from
//! the acquirer's journal rows of the merchant (at most [`DASHBOARD_ROWS_MAX`] a period; the
//! page says when a period was cut), in integer minor units of the period's main currency.

use std::collections::BTreeMap;

use axum::response::IntoResponse;
use serde::Deserialize;

use crate::Console;
use crate::data::{MerchantRef, TxnFilter, TxnRow};
use crate::format::{money, percent_bp, signed_money};
use crate::html::{Cell, Markup, url_encode};
use crate::limits::{DASHBOARD_DAYS_MAX, DASHBOARD_ROWS_MAX, TOP_DECLINES_MAX};
use crate::store::{Role, Session};
use crate::web::{PageError, PageResult, frame};

const MS_PER_DAY: u64 = 86_400_000;
const DEFAULT_DAYS: u64 = 7;
/// Kinds that sell (their approved amounts are the gross volume).
const SALE_KINDS: [&str; 3] = ["purchase", "completion", "completion-advice"];

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DashboardQuery {
    pub days: Option<String>,
    pub tz: Option<String>,
    /// Operators may look at any merchant's dashboard.
    pub merchant: Option<String>,
}

/// Whose data a merchant page shows: a merchant user's own, whatever it asks; the merchant an
/// operator names (`ACQUIRER:MERCHANT`, or a bare id: at every acquirer; none named: not found).
pub fn merchant_of(console: &Console, session: &Session, asked: Option<&str>) -> Result<MerchantRef, PageError> {
    match own_merchant(console, session)? {
        Some(own) => Ok(own),
        None => asked.filter(|m| !m.is_empty()).map(MerchantRef::parse).ok_or(PageError::NotFound),
    }
}

/// A merchant user's merchant, always at one acquirer: the one its binding names, or the first
/// acquirer for a bare merchant id (two acquirers may issue the same id; a user never sees the
/// other's). `None` for an operator.
pub fn own_merchant(console: &Console, session: &Session) -> Result<Option<MerchantRef>, PageError> {
    let Role::Merchant(own) = &session.user.role else { return Ok(None) };
    let mut own = MerchantRef::parse(own);
    if own.acquirer.is_none() {
        // A folder always has a first acquirer; without one nothing is the merchant's.
        own.acquirer = Some(console.data.acquirers().into_iter().next().ok_or(PageError::NotFound)?);
    }
    Ok(Some(own))
}

/// One period's figures in one currency.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Figures {
    pub currency: String,
    pub gross_minor: u64,
    pub refunds_minor: u64,
    /// Approved sales that stand (not reversed or voided).
    pub count: u64,
    /// Sale requests answered (approved or declined), for the approval rate.
    pub answered: u64,
    pub approved: u64,
    pub declines: BTreeMap<String, u64>,
    /// (count, gross) per day of the period, by day index.
    pub days: Vec<(u64, u64)>,
    /// Rows in another currency, left out of the figures.
    pub other_currency: u64,
    /// The period had more rows than the bound.
    pub cut: bool,
}

impl Figures {
    pub fn net_minor(&self) -> i128 {
        i128::from(self.gross_minor) - i128::from(self.refunds_minor)
    }

    pub fn approval_bp(&self) -> Option<i128> {
        (self.answered > 0).then(|| i128::from(self.approved) * 10_000 / i128::from(self.answered))
    }

    pub fn average_minor(&self) -> Option<u64> {
        self.gross_minor.checked_div(self.count)
    }
}

/// The figures of `rows`, received from `start_ms` over `days` days.
pub fn figures(rows: &[TxnRow], start_ms: u64, days: u64) -> Figures {
    let mut by_currency: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        *by_currency.entry(&row.currency).or_default() += 1;
    }
    let currency = by_currency.iter().max_by_key(|(_, n)| **n).map(|(c, _)| (*c).to_owned()).unwrap_or_default();
    let mut f = Figures { currency, days: vec![(0, 0); days as usize], ..Figures::default() };
    for row in rows {
        if row.currency != f.currency {
            f.other_currency += 1;
            continue;
        }
        let sale = SALE_KINDS.contains(&row.kind.as_str());
        if sale && (row.status == "approved" || row.status == "declined") {
            f.answered += 1;
        }
        if sale && row.approved() {
            f.approved += 1;
        }
        if sale && row.status == "declined" {
            *f.declines.entry(row.response_code.clone().unwrap_or_default()).or_default() += 1;
        }
        let stands = row.approved() && !row.reversed && !row.voided;
        if sale && stands {
            f.count += 1;
            f.gross_minor = f.gross_minor.saturating_add(row.amount_minor);
            let day = (row.received_ms.saturating_sub(start_ms) / MS_PER_DAY) as usize;
            if let Some(slot) = f.days.get_mut(day) {
                slot.0 += 1;
                slot.1 = slot.1.saturating_add(row.amount_minor);
            }
        }
        if row.kind == "refund" && stands {
            f.refunds_minor = f.refunds_minor.saturating_add(row.amount_minor);
        }
    }
    f
}

/// The change from `prior` to `now` in basis points (none from zero).
fn change_bp(now: i128, prior: i128) -> String {
    if prior == 0 {
        return if now == 0 { "0.0%".into() } else { "new".into() };
    }
    let bp = (now - prior) * 10_000 / prior.abs();
    let sign = if bp > 0 { "+" } else { "" };
    format!("{sign}{}", percent_bp(bp))
}

fn period(console: &Console, merchant: &MerchantRef, from_ms: u64, days: u64) -> Result<Figures, PageError> {
    let filter = TxnFilter {
        acquirer: merchant.acquirer.clone(),
        merchant: Some(merchant.merchant_id.clone()),
        from_ms: Some(from_ms),
        to_ms: Some(from_ms + days * MS_PER_DAY),
        ..TxnFilter::default()
    };
    let mut rows = console.data.search(&filter, 0, DASHBOARD_ROWS_MAX + 1)?;
    let cut = rows.len() > DASHBOARD_ROWS_MAX;
    rows.truncate(DASHBOARD_ROWS_MAX);
    let mut f = figures(&rows, from_ms, days);
    f.cut = cut;
    Ok(f)
}

pub fn dashboard(console: &Console, session: &Session, q: &DashboardQuery) -> PageResult {
    let merchant = merchant_of(console, session, q.merchant.as_deref())?;
    let zone = crate::pages_txn::zone_of(&crate::pages_txn::ZoneQuery { tz: q.tz.clone() })?;
    let days = match q.days.as_deref().filter(|d| !d.is_empty()) {
        None => DEFAULT_DAYS,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|d| (1..=DASHBOARD_DAYS_MAX).contains(d))
            .ok_or_else(|| PageError::BadInput(format!("days: a number of days from 1 to {DASHBOARD_DAYS_MAX}")))?,
    };
    let now = console.clock.now_ms();
    let end = zone.day_start_ms(now) + MS_PER_DAY;
    let start = end.saturating_sub(days * MS_PER_DAY);
    let prior_start = start.saturating_sub(days * MS_PER_DAY);
    let current = period(console, &merchant, start, days)?;
    let prior = period(console, &merchant, prior_start, days)?;
    let mut m = Markup::new();
    m.element(
        "p",
        &[],
        &format!(
            "Merchant {merchant}: the {days} days {} to {} against the {days} days before; times in {}.",
            zone.date(start),
            zone.date(end - 1),
            zone.label()
        ),
    );
    summary(&mut m, &current, &prior);
    m.element("h2", &[], "Top decline reasons");
    let mut declines: Vec<(&String, &u64)> = current.declines.iter().collect();
    declines.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let rows: Vec<Vec<Cell>> = declines
        .into_iter()
        .take(TOP_DECLINES_MAX)
        .map(|(code, count)| {
            let meaning = domain::ResponseCode::new(code).map(|c| c.meaning()).unwrap_or("");
            vec![code.as_str().into(), meaning.into(), count.to_string().into()]
        })
        .collect();
    m.table(&["Code", "Meaning", "Count"], &rows);
    m.element("h2", &[], "By day");
    let c = &current.currency;
    let rows: Vec<Vec<Cell>> = (0..days as usize)
        .map(|i| {
            let (count, gross) = current.days.get(i).copied().unwrap_or_default();
            let (prior_count, prior_gross) = prior.days.get(i).copied().unwrap_or_default();
            vec![
                zone.date(start + i as u64 * MS_PER_DAY).into(),
                count.to_string().into(),
                money(gross, c).into(),
                zone.date(prior_start + i as u64 * MS_PER_DAY).into(),
                prior_count.to_string().into(),
                money(prior_gross, c).into(),
                change_bp(i128::from(gross), i128::from(prior_gross)).into(),
            ]
        })
        .collect();
    m.table(&["Day", "Sales", "Gross", "Prior day", "Sales", "Gross", "Change"], &rows);
    for (name, f) in [("this period", &current), ("the prior period", &prior)] {
        if f.cut {
            m.element(
                "p",
                &[("class", "error")],
                &format!("Only the first {DASHBOARD_ROWS_MAX} transactions of {name} are counted."),
            );
        }
        if f.other_currency > 0 {
            m.element(
                "p",
                &[],
                &format!("{} transactions of {name} in other currencies are not counted.", f.other_currency),
            );
        }
    }
    let from = zone.date(start);
    let to = zone.date(end - 1);
    let query = format!("from={from}&to={to}&tz={}", url_encode(zone.code()));
    m.open("p", &[]).link(&format!("/transactions?{query}"), "These transactions").text(" · ");
    m.link(&format!("/transactions.csv?{query}"), "as CSV").close("p");
    Ok(frame("Dashboard", Some(session), &m).into_response())
}

fn summary(m: &mut Markup, current: &Figures, prior: &Figures) {
    let c = &current.currency;
    let opt_money = |v: Option<u64>| v.map(|v| money(v, c)).unwrap_or_else(|| "-".into());
    let opt_pct = |v: Option<i128>| v.map(percent_bp).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<Cell>> = vec![
        vec![
            "Gross volume".into(),
            money(current.gross_minor, c).into(),
            money(prior.gross_minor, c).into(),
            change_bp(i128::from(current.gross_minor), i128::from(prior.gross_minor)).into(),
        ],
        vec![
            "Net volume (less refunds)".into(),
            signed_money(current.net_minor(), c).into(),
            signed_money(prior.net_minor(), c).into(),
            change_bp(current.net_minor(), prior.net_minor()).into(),
        ],
        vec![
            "Sales".into(),
            current.count.to_string().into(),
            prior.count.to_string().into(),
            change_bp(i128::from(current.count), i128::from(prior.count)).into(),
        ],
        vec![
            "Approval rate".into(),
            opt_pct(current.approval_bp()).into(),
            opt_pct(prior.approval_bp()).into(),
            "".into(),
        ],
        vec![
            "Average ticket".into(),
            opt_money(current.average_minor()).into(),
            opt_money(prior.average_minor()).into(),
            change_bp(i128::from(current.average_minor().unwrap_or(0)), i128::from(prior.average_minor().unwrap_or(0)))
                .into(),
        ],
    ];
    m.table(&["Figure", "This period", "Prior period", "Change"], &rows);
}
