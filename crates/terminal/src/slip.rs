//! Sales slips (签购单) of approved transactions: the terminal fills a [`receipt::Receipt`] from
//! the request it sent, the host's answer and its own configuration, and keeps the last one's
//! reprint. The card number goes in through [`CardNumber::new`], which masks it at once.

use domain::Pan;
use iso8583::Message;
use receipt::{Amount, CardNumber, DateTime, EntryMode, Lang, PRINTER_COLUMNS, Receipt, ReceiptCopy, TransactionType};
use serde::{Deserialize, Serialize};

use crate::core::{Kind, Original};
use crate::{Result, TerminalError};

/// Months a host's MMDD may lie before or after the terminal's own date before it is taken to
/// belong to the neighbouring year (a slip printed just after midnight on 1 January).
const YEAR_WRAP_MONTHS: i64 = 6;

/// The tear line between the merchant and the cardholder copy (the slips' own rules are `-`).
const TEAR: &str = "=";

/// What the request knew that the slip needs: how the card was read, PIN or signature, and the
/// original transaction of a void, refund or completion.
#[derive(Debug, Clone)]
pub(crate) struct SlipContext {
    pub entry: EntryMode,
    pub pin: bool,
    pub original: Option<Original>,
}

/// Everything a slip is made from.
pub(crate) struct SlipInput<'a> {
    pub merchant_name: &'a str,
    pub merchant_id: &'a str,
    pub terminal_id: &'a str,
    pub operator: &'a str,
    pub pan: Pan,
    pub kind: Kind,
    pub context: &'a SlipContext,
    pub batch_no: u32,
    pub trace: &'a str,
    pub amount_minor: u64,
    pub organisation: Option<&'a str>,
    pub response: &'a Message,
    /// The terminal's clock (its year; the whole time when the host sent none).
    pub now_ms: u64,
}

fn transaction_type(kind: Kind) -> TransactionType {
    match kind {
        Kind::Balance => TransactionType::Balance,
        Kind::Purchase => TransactionType::Sale,
        Kind::Void => TransactionType::Void,
        Kind::Refund => TransactionType::Refund,
        Kind::PreAuth => TransactionType::PreAuth,
        Kind::PreAuthVoid => TransactionType::PreAuthVoid,
        Kind::Completion => TransactionType::Completion,
        Kind::CompletionAdvice => TransactionType::CompletionAdvice,
        Kind::CompletionVoid => TransactionType::CompletionVoid,
    }
}

fn digits(text: &str, len: usize) -> Option<&str> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

fn number(text: Option<&str>) -> u32 {
    text.and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// The host's time of day (12) and date (13) with the terminal's year; the terminal's own
/// time when the host sent none or nonsense.
pub(crate) fn date_time(response: &Message, now_ms: u64) -> DateTime {
    let now = clock::UtcDateTime::from_ms(now_ms);
    let year = |y: i64| u32::try_from(y).unwrap_or(0);
    let own = DateTime {
        year: year(now.year),
        month: now.month,
        day: now.day,
        hour: now.hour,
        minute: now.minute,
        second: now.second,
    };
    let (Some(time), Some(date)) =
        (response.get_str(12).and_then(|t| digits(t, 6)), response.get_str(13).and_then(|d| digits(d, 4)))
    else {
        return own;
    };
    let part = |text: &str, at: usize| text.get(at..at + 2).and_then(|p| p.parse::<u32>().ok()).unwrap_or(u32::MAX);
    let (month, day) = (part(date, 0), part(date, 2));
    let (hour, minute, second) = (part(time, 0), part(time, 2), part(time, 4));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return own;
    }
    let shift = i64::from(month) - i64::from(now.month);
    let host_year = if shift > YEAR_WRAP_MONTHS {
        now.year - 1
    } else if shift < -YEAR_WRAP_MONTHS {
        now.year + 1
    } else {
        now.year
    };
    DateTime { year: year(host_year), month, day, hour, minute, second }
}

/// The available balance of a balance answer: its magnitude, and whether it is a debit.
fn balance(response: &Message) -> Option<(Amount, bool)> {
    let text = response.get(54).and_then(|v| std::str::from_utf8(v).ok())?;
    crate::Balance::from_field54(text).map(|b| (b.slip_amount(), b.available_minor < 0))
}

/// The merchant copy of the slip.
pub(crate) fn build(input: &SlipInput<'_>) -> Receipt {
    let response = input.response;
    let text = |f: u8| response.get_str(f).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (amount, debit_balance) = match input.kind {
        Kind::Balance => balance(response).unwrap_or((Amount::cny(0), false)),
        _ => (Amount::cny(input.amount_minor), false),
    };
    let original = input.context.original.as_ref();
    Receipt {
        merchant_name: input.merchant_name.to_owned(),
        merchant_id: input.merchant_id.to_owned(),
        terminal_id: input.terminal_id.to_owned(),
        operator: input.operator.to_owned(),
        card_number: CardNumber::from_pan(&input.pan),
        card_organization: input.organisation.unwrap_or("").to_owned(),
        transaction: transaction_type(input.kind),
        entry_mode: input.context.entry,
        batch: input.batch_no,
        trace: number(Some(input.trace)),
        rrn: text(37),
        auth_code: text(38),
        date_time: date_time(response, input.now_ms),
        amount,
        debit_balance,
        pin_verified: input.context.pin,
        copy: ReceiptCopy::Merchant,
        reprint: false,
        original_trace: original.map(|o| number(Some(&o.trace))),
        original_rrn: original.and_then(|o| o.rrn.clone()),
        original_auth_code: original.and_then(|o| o.auth_code.clone()),
    }
}

/// Both copies of `receipt` as the printer prints them: merchant copy, a `=` tear line, cardholder
/// copy; with the reprint marker when `reprint`.
pub fn receipt_text(receipt: &Receipt, lang: Lang, reprint: bool) -> String {
    let mut text = String::new();
    for copy in [ReceiptCopy::Merchant, ReceiptCopy::Cardholder] {
        let mut slip = receipt.clone();
        slip.copy = copy;
        slip.reprint = reprint;
        if !text.is_empty() {
            text.push_str(&TEAR.repeat(PRINTER_COLUMNS));
            text.push('\n');
        }
        text.push_str(&receipt::render(&slip, lang));
    }
    text
}

/// The last slip as the journal keeps it for a reprint: what it is made of, not its text, so an
/// approval renders nothing it does not print, and a reprint renders the language asked for.
/// The card number is the masked one (read back through [`CardNumber::from_masked`]); nothing
/// else of the card is kept.
#[derive(Serialize, Deserialize)]
struct KeptSlip {
    /// [`Kind::name`].
    kind: String,
    merchant_name: String,
    merchant_id: String,
    terminal_id: String,
    operator: String,
    card_number: String,
    card_organization: String,
    /// [`EntryMode`]'s text.
    entry_mode: String,
    batch: u32,
    trace: u32,
    rrn: String,
    auth_code: String,
    /// Year, month, day, hour, minute, second.
    date_time: [u32; 6],
    amount_minor: u64,
    currency: u16,
    debit_balance: bool,
    pin_verified: bool,
    original_trace: Option<u32>,
    original_rrn: Option<String>,
    original_auth_code: Option<String>,
}

/// `receipt` (a slip [`build`] made for `kind`) as the journal keeps it.
pub(crate) fn keep(kind: Kind, receipt: &Receipt) -> String {
    let d = receipt.date_time;
    let kept = KeptSlip {
        kind: kind.name().to_owned(),
        merchant_name: receipt.merchant_name.clone(),
        merchant_id: receipt.merchant_id.clone(),
        terminal_id: receipt.terminal_id.clone(),
        operator: receipt.operator.clone(),
        card_number: receipt.card_number.masked().to_owned(),
        card_organization: receipt.card_organization.clone(),
        entry_mode: receipt.entry_mode.to_string(),
        batch: receipt.batch,
        trace: receipt.trace,
        rrn: receipt.rrn.clone(),
        auth_code: receipt.auth_code.clone(),
        date_time: [d.year, d.month, d.day, d.hour, d.minute, d.second],
        amount_minor: receipt.amount.minor,
        currency: receipt.amount.currency,
        debit_balance: receipt.debit_balance,
        pin_verified: receipt.pin_verified,
        original_trace: receipt.original_trace,
        original_rrn: receipt.original_rrn.clone(),
        original_auth_code: receipt.original_auth_code.clone(),
    };
    // Text, numbers and flags always serialize; were it ever to fail, the empty text would read
    // as a damaged slip when a reprint is asked for, and the approval is journaled regardless.
    serde_json::to_string(&kept).unwrap_or_default()
}

/// The reprint (both copies, [`receipt_text`]) in `lang` of a slip [`keep`] kept.
pub(crate) fn reprint(kept: &str, lang: Lang) -> Result<String> {
    let unreadable = |what: &str| TerminalError::Store(format!("the last slip does not read ({what})"));
    let kept: KeptSlip = serde_json::from_str(kept).map_err(|_| unreadable("not a kept slip"))?;
    let kind = Kind::parse(&kept.kind).ok_or_else(|| unreadable("transaction type"))?;
    let entry_mode = kept.entry_mode.parse().map_err(|_| unreadable("entry mode"))?;
    let [year, month, day, hour, minute, second] = kept.date_time;
    let receipt = Receipt {
        merchant_name: kept.merchant_name,
        merchant_id: kept.merchant_id,
        terminal_id: kept.terminal_id,
        operator: kept.operator,
        card_number: CardNumber::from_masked(&kept.card_number),
        card_organization: kept.card_organization,
        transaction: transaction_type(kind),
        entry_mode,
        batch: kept.batch,
        trace: kept.trace,
        rrn: kept.rrn,
        auth_code: kept.auth_code,
        date_time: DateTime { year, month, day, hour, minute, second },
        amount: Amount { minor: kept.amount_minor, currency: kept.currency },
        debit_balance: kept.debit_balance,
        pin_verified: kept.pin_verified,
        copy: ReceiptCopy::Merchant,
        reprint: true,
        original_trace: kept.original_trace,
        original_rrn: kept.original_rrn,
        original_auth_code: kept.original_auth_code,
    };
    Ok(receipt_text(&receipt, lang, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "6224242900000113";

    fn refund() -> Receipt {
        Receipt {
            merchant_name: "北京朝阳大悦城星巴克咖啡有限公司".to_owned(),
            merchant_id: "898110048160001".to_owned(),
            terminal_id: "10000019".to_owned(),
            operator: "01".to_owned(),
            card_number: CardNumber::from_pan(&Pan::new(PAN).unwrap()),
            card_organization: "CUP".to_owned(),
            transaction: TransactionType::Refund,
            entry_mode: EntryMode::Contactless,
            batch: 7,
            trace: 123,
            rrn: "143012000123".to_owned(),
            auth_code: String::new(),
            date_time: DateTime { year: 2026, month: 12, day: 5, hour: 8, minute: 41, second: 21 },
            amount: Amount::cny(12_500),
            debit_balance: false,
            pin_verified: false,
            copy: ReceiptCopy::Merchant,
            reprint: false,
            original_trace: Some(99),
            original_rrn: Some("143012000099".to_owned()),
            original_auth_code: None,
        }
    }

    #[test]
    fn a_kept_slip_reprints_as_the_slip_itself_and_keeps_only_the_masked_number() {
        let receipt = refund();
        let kept = keep(Kind::Refund, &receipt);
        assert!(!kept.contains(PAN) && !kept.contains("2900000"), "{kept}");
        assert!(kept.contains("622424******0113"), "{kept}");
        for lang in [Lang::Zh, Lang::En] {
            assert_eq!(reprint(&kept, lang).unwrap(), receipt_text(&receipt, lang, true));
        }
    }

    #[test]
    fn a_damaged_kept_slip_is_an_error_not_a_slip() {
        let kept = keep(Kind::Purchase, &refund());
        for damaged in [kept.replace("\"sale\"", "\"sale?\""), kept[..kept.len() / 2].to_owned(), String::new()] {
            let error = reprint(&damaged, Lang::En).unwrap_err().to_string();
            assert!(error.contains("the last slip does not read"), "{error}");
        }
        // A full number written into the kept form by hand still prints masked.
        let widened = kept.replace("622424******0113", PAN);
        let text = reprint(&widened, Lang::En).unwrap();
        assert!(!text.contains(PAN) && text.contains("622424******0113"), "{text}");
    }
}
