//! The merchant statement (电子对账单): one CSV row per settled item with the columns acquirers
//! use (`../shared/reference/next-anchors.md` §7: 商户号, 终端号, 交易时间, 交易类型, 批次号, 凭证号,
//! 参考号, 卡号, 卡类别, 发卡行, 交易金额, 手续费, 结算金额, 原交易), and a readable page whose
//! summary is exact: gross − voids − refunds − fee ± adjustments = net. Times are local in the
//! settlement zone, which the page and the CSV's time column name.

use std::fmt::Write as _;

use clearing::BusinessDate;

/// One settled item as the statement shows it. Amounts signed as they move the merchant's money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    pub terminal_id: String,
    pub at_ms: u64,
    /// `purchase`, `completion`, `void`, `completion-void`, `refund`, `reversal`, `adjustment`.
    pub kind: String,
    pub batch_no: String,
    pub trace: String,
    pub rrn: String,
    pub pan_masked: String,
    pub card_kind: String,
    pub issuer: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// The original's trace and RRN (voids, refunds, completions, reversals).
    pub original: String,
}

impl StatementRow {
    pub fn settlement_minor(&self) -> i64 {
        self.amount_minor - self.fee_minor
    }
}

/// The statement's summary: one payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementSummary {
    pub merchant_id: String,
    pub merchant_name: String,
    pub business_date: BusinessDate,
    pub cycle: String,
    pub currency: String,
    pub gross_minor: u64,
    pub voids_minor: u64,
    pub refunds_minor: u64,
    pub fee_minor: i64,
    pub adjustments_minor: i64,
    pub net_minor: i64,
    pub payout_date: BusinessDate,
    pub reference: String,
    /// The account paid into, masked to its last 4 digits.
    pub account_masked: String,
    /// The zone of the times, `+08:00`.
    pub zone: String,
}

pub const CSV_HEADER: &str = "merchant,terminal,time,type,batch,trace,rrn,card,card_kind,issuer,amount_minor,fee_minor,\
settlement_minor,original";

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so a spreadsheet never runs it as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<i64>().is_err() {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// `YYYY-MM-DD HH:MM:SS` in the zone `zone_minutes` east of UTC.
pub fn local_time(at_ms: u64, zone_minutes: i32) -> String {
    let local = at_ms as i64 + i64::from(zone_minutes) * 60_000;
    let date = BusinessDate::from_days(i32::try_from(local.div_euclid(86_400_000)).unwrap_or(0));
    let seconds = local.rem_euclid(86_400_000) / 1_000;
    format!("{date} {:02}:{:02}:{:02}", seconds / 3_600, seconds / 60 % 60, seconds % 60)
}

/// The statement's CSV.
pub fn csv(merchant_id: &str, rows: &[StatementRow], zone_minutes: i32) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 160);
    out.push_str(CSV_HEADER);
    out.push('\n');
    for row in rows {
        let fields = [
            merchant_id.to_owned(),
            row.terminal_id.clone(),
            local_time(row.at_ms, zone_minutes),
            row.kind.clone(),
            row.batch_no.clone(),
            row.trace.clone(),
            row.rrn.clone(),
            row.pan_masked.clone(),
            row.card_kind.clone(),
            row.issuer.clone(),
            row.amount_minor.to_string(),
            row.fee_minor.to_string(),
            row.settlement_minor().to_string(),
            row.original.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Minor-unit digits of a currency (ISO 4217 numeric): 0 for yen and won, else 2.
fn exponent(currency: &str) -> u32 {
    if matches!(currency, "392" | "410") { 0 } else { 2 }
}

/// `-1,234.56` from minor units.
pub fn money(amount_minor: i64, currency: &str) -> String {
    let e = exponent(currency);
    let unit = 10u64.pow(e);
    let abs = amount_minor.unsigned_abs();
    let whole = (abs / unit).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    if e == 0 { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{:02}", abs % unit) }
}

/// The readable page: header, the summary (exact), then one line per item.
pub fn page(summary: &StatementSummary, rows: &[StatementRow], zone_minutes: i32) -> String {
    let s = summary;
    let m = |v: i64| money(v, &s.currency);
    let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut out = String::new();
    let _ = writeln!(out, "MERCHANT STATEMENT 电子对账单");
    let _ = writeln!(out, "merchant     {} {}", s.merchant_id, s.merchant_name);
    let _ = writeln!(out, "date         {} (run {}), times in UTC{}", s.business_date, s.cycle, s.zone);
    let _ = writeln!(out, "payout       {} on {} to account {}", s.reference, s.payout_date, s.account_masked);
    let _ = writeln!(out, "currency     {} (ISO 4217)", s.currency);
    let _ = writeln!(out);
    let _ = writeln!(out, "  gross               {:>18}", m(signed(s.gross_minor)));
    let _ = writeln!(out, "- voids, reversals    {:>18}", m(signed(s.voids_minor)));
    let _ = writeln!(out, "- refunds             {:>18}", m(signed(s.refunds_minor)));
    let _ = writeln!(out, "- fee (MDR)           {:>18}", m(s.fee_minor));
    let _ = writeln!(out, "± adjustments         {:>18}", m(s.adjustments_minor));
    let _ = writeln!(out, "= net                 {:>18}", m(s.net_minor));
    let _ = writeln!(out);
    let _ = writeln!(out, "{} items", rows.len());
    for row in rows {
        let _ = writeln!(
            out,
            "{} {:8} {:16} {:>6}/{:6} {:12} {:19} {:6} {:>14} fee {:>10} {}",
            local_time(row.at_ms, zone_minutes),
            row.terminal_id,
            row.kind,
            row.batch_no,
            row.trace,
            row.rrn,
            row.pan_masked,
            row.card_kind,
            m(row.amount_minor),
            m(row.fee_minor),
            row.original
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_times_and_csv_fields() {
        assert_eq!(money(12_345_678, "156"), "123,456.78");
        assert_eq!(money(-5, "156"), "-0.05");
        assert_eq!(money(1_000, "392"), "1,000");
        // 2026-03-02T02:30:00Z is 10:30 in Beijing.
        assert_eq!(local_time(1_772_418_600_000, 480), "2026-03-02 10:30:00");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd"), "'=cmd");
        assert_eq!(csv_field("-500"), "-500");
    }
}
