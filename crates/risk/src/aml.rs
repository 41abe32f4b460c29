//! AML reports for one business day, as files an analyst reviews.
//!
//! * Large-value transactions (大额交易报告): every transaction at or above
//!   [`AmlConfig::large_value_minor`] on its own, and every card whose day adds up to it
//!   without any single transaction reaching it (the PBOC's rule counts a single transaction
//!   or the day's total, 单笔或者当日累计). The default is CNY 50,000.00, the PBOC's figure for
//!   cash and card-cash transactions (Order No. 3 of 2016); other figures are configuration.
//! * Suspicious transactions (可疑交易报告), one pattern: structuring — a card with
//!   [`AmlConfig::structuring_count_min`] or more transactions in the day just under the
//!   large-value threshold (at or above [`AmlConfig::structuring_floor_percent`] of it), as
//!   when one large payment is split to stay below the report.
//!
//! Only transactions in the report's currency are measured (others are counted as skipped);
//! money is integer minor units throughout. Cards appear as a masked PAN (first 6, last 4), with
//! the issuer's card reference when an issuer reports, or a keyed hash, never in clear:
//! [`report`] refuses anything else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cases::{check_id, check_text, is_card_key, is_masked_pan};

const DAY_MS: u64 = 86_400_000;
/// Transactions in one day's report, at most (the caller splits a larger day).
pub const DAY_TRANSACTIONS_MAX: usize = 10_000_000;

/// What a transaction was.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmlKind {
    Purchase,
    Refund,
    CashWithdrawal,
    Transfer,
}

impl AmlKind {
    pub fn name(self) -> &'static str {
        match self {
            AmlKind::Purchase => "purchase",
            AmlKind::Refund => "refund",
            AmlKind::CashWithdrawal => "cash_withdrawal",
            AmlKind::Transfer => "transfer",
        }
    }
}

/// One transaction of the day, as the party's journal has it (and, one JSON object a line,
/// as `cardnet risk aml` reads it).
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmlTransaction {
    /// A masked PAN (`622424******0113`) or the card's keyed hash (`key-` and 16 hex digits,
    /// [`crate::cases::NewAlert::card_entity`]).
    pub card: String,
    pub merchant: String,
    pub amount_minor: u64,
    /// ISO 4217 alphabetic code, e.g. `CNY`.
    pub currency: String,
    pub at_ms: u64,
    pub kind: AmlKind,
    /// The transaction's reference (RRN, terminal and trace), for the analyst to find it.
    pub reference: String,
}

/// The thresholds; every one is configuration.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AmlConfig {
    pub currency: String,
    /// A transaction at or above this, or a card's day adding up to it, is reported.
    pub large_value_minor: u64,
    /// "Just under": at or above this percent of `large_value_minor`, below it.
    pub structuring_floor_percent: u8,
    /// Transactions just under the threshold, on one card in the day, that make it suspicious.
    pub structuring_count_min: usize,
}

impl Default for AmlConfig {
    fn default() -> AmlConfig {
        AmlConfig {
            currency: "CNY".into(),
            large_value_minor: 5_000_000,
            structuring_floor_percent: 90,
            structuring_count_min: 3,
        }
    }
}

/// One line of the large-value report.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct LargeValueRow {
    /// `single` (one transaction) or `daily_cumulative` (a card's day).
    pub basis: &'static str,
    pub card: String,
    /// The merchant, for a single transaction; empty for a day's total.
    pub merchant: String,
    pub kind: String,
    pub amount_minor: u64,
    pub currency: String,
    pub transactions: usize,
    pub first_at_ms: u64,
    pub last_at_ms: u64,
    /// The transaction's reference; for a day's total, the first transaction's.
    pub reference: String,
}

/// One line of the suspicious-transaction report.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct SuspiciousRow {
    pub pattern: &'static str,
    pub card: String,
    pub transactions: usize,
    pub amount_minor: u64,
    pub currency: String,
    pub merchants: usize,
    pub first_at_ms: u64,
    pub last_at_ms: u64,
    /// Why, in words, with the thresholds that applied.
    pub detail: String,
}

/// A day's two reports.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct AmlReport {
    pub large_value: Vec<LargeValueRow>,
    pub suspicious: Vec<SuspiciousRow>,
    /// Transactions in another currency than the report's.
    pub skipped_other_currency: usize,
    /// Transactions outside the day.
    pub skipped_outside_day: usize,
}

/// Input that cannot be reported on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AmlError(pub String);

impl std::fmt::Display for AmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AmlError {}

/// Read a day's transactions, one JSON object a line ([`AmlTransaction`]'s fields; `kind` is
/// `purchase`, `refund`, `cash_withdrawal` or `transfer`); blank lines and `#` lines are
/// skipped. The first bad line is the error, as `(line number, message)`.
pub fn parse_transactions(text: &str) -> Result<Vec<AmlTransaction>, (usize, String)> {
    let mut transactions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if transactions.len() == DAY_TRANSACTIONS_MAX {
            return Err((index + 1, format!("more than {DAY_TRANSACTIONS_MAX} transactions")));
        }
        let tx = serde_json::from_str(trimmed).map_err(|e| (index + 1, crate::event_file::json_error(&e)))?;
        transactions.push(tx);
    }
    Ok(transactions)
}

/// The first millisecond (UTC) of `day`, written `YYYY-MM-DD`.
pub fn day_start_ms(day: &str) -> Option<u64> {
    let mut parts = day.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if y < 1970 || !(1..=12).contains(&m) || d == 0 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|days| days * DAY_MS)
}

/// Length of an issuer's reference to its card after the masked PAN (` #` institution `/`
/// card id), at most.
const ISSUER_CARD_REF_LEN_MAX: usize = 32;

/// A card as it may appear in a report: masked, or a keyed hash; or, from an issuer, masked and
/// followed by ` #INSTITUTION/CARD_ID` — the issuer's own reference, since two cards may share a
/// masked number.
fn card_is_reportable(card: &str) -> bool {
    if is_card_key(card) || is_masked_pan(card) {
        return true;
    }
    let Some((masked, reference)) = card.split_once(" #") else { return false };
    let Some((institution, card_id)) = reference.split_once('/') else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    is_masked_pan(masked) && reference.len() <= ISSUER_CARD_REF_LEN_MAX && digits(institution) && digits(card_id)
}

fn check(config: &AmlConfig, transactions: &[AmlTransaction]) -> Result<(), AmlError> {
    if config.large_value_minor == 0 || config.structuring_count_min == 0 || config.structuring_floor_percent > 100 {
        return Err(AmlError("thresholds: large value and count must be positive, the floor 0 to 100 %".into()));
    }
    if transactions.len() > DAY_TRANSACTIONS_MAX {
        return Err(AmlError(format!("more than {DAY_TRANSACTIONS_MAX} transactions in one day's report")));
    }
    for (index, tx) in transactions.iter().enumerate() {
        if !card_is_reportable(&tx.card) {
            return Err(AmlError(format!(
                "transaction {index}: the card must be a masked PAN (first 6, last 4) or key- and 16 hex digits"
            )));
        }
        let at = |e: crate::cases::CaseError| AmlError(format!("transaction {index}: {e}"));
        check_id("merchant", &tx.merchant, 64).map_err(at)?;
        check_id("currency", &tx.currency, 3).map_err(at)?;
        check_text("reference", &tx.reference, 200).map_err(at)?;
    }
    Ok(())
}

/// Per card: its transactions of the day in the report's currency, in input order.
struct CardDay<'a> {
    all: Vec<&'a AmlTransaction>,
}

/// The day's reports. `day_start_ms` is the business day's first millisecond; transactions
/// outside `[day_start_ms, day_start_ms + 24 h)` are skipped and counted.
pub fn report(day_start_ms: u64, transactions: &[AmlTransaction], config: &AmlConfig) -> Result<AmlReport, AmlError> {
    check(config, transactions)?;
    let mut out = AmlReport::default();
    let day_end_ms = day_start_ms.saturating_add(DAY_MS);
    let mut cards: BTreeMap<&str, CardDay<'_>> = BTreeMap::new();
    for tx in transactions {
        if !(day_start_ms..day_end_ms).contains(&tx.at_ms) {
            out.skipped_outside_day += 1;
            continue;
        }
        if tx.currency != config.currency {
            out.skipped_other_currency += 1;
            continue;
        }
        if tx.amount_minor >= config.large_value_minor {
            out.large_value.push(LargeValueRow {
                basis: "single",
                card: tx.card.clone(),
                merchant: tx.merchant.clone(),
                kind: tx.kind.name().into(),
                amount_minor: tx.amount_minor,
                currency: tx.currency.clone(),
                transactions: 1,
                first_at_ms: tx.at_ms,
                last_at_ms: tx.at_ms,
                reference: tx.reference.clone(),
            });
        }
        cards.entry(tx.card.as_str()).or_insert_with(|| CardDay { all: Vec::new() }).all.push(tx);
    }
    // Just under: floor ≤ amount < threshold, the floor rounded up so that it is never below
    // the stated percent.
    let floor =
        (u128::from(config.large_value_minor) * u128::from(config.structuring_floor_percent)).div_ceil(100) as u64;
    for (card, day) in &cards {
        let first = day.all.iter().map(|t| t.at_ms).min().unwrap_or(day_start_ms);
        let last = day.all.iter().map(|t| t.at_ms).max().unwrap_or(day_start_ms);
        let total: u64 = day.all.iter().fold(0u64, |sum, t| sum.saturating_add(t.amount_minor));
        let any_single = day.all.iter().any(|t| t.amount_minor >= config.large_value_minor);
        if total >= config.large_value_minor && !any_single {
            out.large_value.push(LargeValueRow {
                basis: "daily_cumulative",
                card: (*card).to_string(),
                merchant: String::new(),
                kind: String::new(),
                amount_minor: total,
                currency: config.currency.clone(),
                transactions: day.all.len(),
                first_at_ms: first,
                last_at_ms: last,
                reference: day.all.first().map(|t| t.reference.clone()).unwrap_or_default(),
            });
        }
        let under: Vec<&&AmlTransaction> =
            day.all.iter().filter(|t| (floor..config.large_value_minor).contains(&t.amount_minor)).collect();
        if under.len() >= config.structuring_count_min {
            let mut merchants: Vec<&str> = under.iter().map(|t| t.merchant.as_str()).collect();
            merchants.sort_unstable();
            merchants.dedup();
            out.suspicious.push(SuspiciousRow {
                pattern: "structuring",
                card: (*card).to_string(),
                transactions: under.len(),
                amount_minor: under.iter().fold(0u64, |sum, t| sum.saturating_add(t.amount_minor)),
                currency: config.currency.clone(),
                merchants: merchants.len(),
                first_at_ms: under.iter().map(|t| t.at_ms).min().unwrap_or(first),
                last_at_ms: under.iter().map(|t| t.at_ms).max().unwrap_or(last),
                detail: format!(
                    "{} transactions from {floor} to below {} minor units (at least {} in a day)",
                    under.len(),
                    config.large_value_minor,
                    config.structuring_count_min
                ),
            });
        }
    }
    Ok(out)
}

/// A CSV field: quoted when it holds a comma, quote or newline, and with a leading `'` when
/// it starts like a spreadsheet formula (the files are opened by analysts in spreadsheets).
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

pub fn large_value_csv(rows: &[LargeValueRow]) -> String {
    let mut csv =
        String::from("basis,card,merchant,kind,amount_minor,currency,transactions,first_at_ms,last_at_ms,reference\n");
    for r in rows {
        let cells = [
            field(r.basis),
            field(&r.card),
            field(&r.merchant),
            field(&r.kind),
            r.amount_minor.to_string(),
            field(&r.currency),
            r.transactions.to_string(),
            r.first_at_ms.to_string(),
            r.last_at_ms.to_string(),
            field(&r.reference),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

pub fn suspicious_csv(rows: &[SuspiciousRow]) -> String {
    let mut csv =
        String::from("pattern,card,transactions,amount_minor,currency,merchants,first_at_ms,last_at_ms,detail\n");
    for r in rows {
        let cells = [
            field(r.pattern),
            field(&r.card),
            r.transactions.to_string(),
            r.amount_minor.to_string(),
            field(&r.currency),
            r.merchants.to_string(),
            r.first_at_ms.to_string(),
            r.last_at_ms.to_string(),
            field(&r.detail),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

/// Write the two reports into `dir` as `large-value-DAY.csv` and `suspicious-DAY.csv`,
/// owner-only (they name cards and merchants). `day` labels the files, e.g. `2026-12-05`.
pub fn write_csv_files(dir: &Path, day: &str, report: &AmlReport) -> std::io::Result<(PathBuf, PathBuf)> {
    if day.is_empty() || !day.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the day label must be letters, digits, `-`",
        ));
    }
    let large = dir.join(format!("large-value-{day}.csv"));
    let suspicious = dir.join(format!("suspicious-{day}.csv"));
    host::write_private(&large, large_value_csv(&report.large_value).as_bytes())?;
    host::write_private(&suspicious, suspicious_csv(&report.suspicious).as_bytes())?;
    Ok((large, suspicious))
}

#[cfg(test)]
#[path = "aml_tests.rs"]
mod tests;
