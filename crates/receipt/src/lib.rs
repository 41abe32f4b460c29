//! POS receipts (签购单): the slip a terminal prints after a transaction, merchant copy
//! (商户存根) and cardholder copy (持卡人存根), in Chinese or English, laid out for a
//! [`PRINTER_COLUMNS`]-column thermal printer and shown in the same form in the TUI.
//!
//! A [`Receipt`] is plain data the terminal fills from its journal and the host's response;
//! [`render`] and [`render_lines`] lay it out. Layout rules:
//!
//! - Every line is at most [`PRINTER_COLUMNS`] display columns, counting a Chinese character
//!   as two ([`display_width`]; the covered ranges are [`width::WIDE_RANGES`]). Long values
//!   (merchant names) wrap; nothing is ever cut off.
//! - Values are right-aligned against their labels; the amount is right-aligned.
//! - The card number is masked when the [`CardNumber`] is made (first 6 and last 4 digits,
//!   [`iso8583::mask::mask_pan`]), so a `Receipt` kept for a reprint holds no full PAN; any
//!   other field that happens to carry the card's digits is masked on the way out too.
//! - Amounts are integer minor units with an ISO 4217 numeric currency, printed as the
//!   alphabetic code, a space and the amount with the currency's decimals: `RMB 125.00`. The
//!   code and not a symbol because `¥` is both yuan and yen and the full-width `￥` a printer
//!   font may or may not have; `RMB` because that is what UnionPay slips print for CNY (156).
//!   Void, refund and pre-auth void give money back, so their amount prints with a minus sign.
//! - Text from outside (merchant name, ids) is cleaned of control and invisible format
//!   characters first, so it cannot start a line the layout did not measure or reorder one.

use std::fmt;
use std::str::FromStr;

use domain::Currency;

mod layout;
mod render;
pub mod width;

pub use render::{render, render_lines};
pub use width::{char_width, display_width};

/// Columns on the POS printer's paper (58 mm paper, 12×24 dot font): the bound for every line.
pub const PRINTER_COLUMNS: usize = 32;

/// The longest card number ISO/IEC 7812 allows. A longer "card number" is not one, and is
/// printed fully masked.
pub const PAN_DIGITS_MAX: usize = 19;

/// The language the slip is printed in (`--lang zh|en`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Chinese labels: 银联POS签购单.
    Zh,
    /// English labels: POS SALES SLIP.
    En,
}

/// A language name that is neither `zh` nor `en`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLang;

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown receipt language (expected zh or en)")
    }
}

impl std::error::Error for UnknownLang {}

impl FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(text: &str) -> Result<Lang, UnknownLang> {
        match text.trim().to_ascii_lowercase().as_str() {
            "zh" | "cn" | "zh-cn" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            _ => Err(UnknownLang),
        }
    }
}

/// Which of the two copies this print is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiptCopy {
    /// 商户存根: the merchant keeps it (signed, when no PIN was entered).
    Merchant,
    /// 持卡人存根: handed to the cardholder.
    Cardholder,
}

/// The transaction the slip records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionType {
    /// 消费.
    Sale,
    /// 消费撤销: a sale cancelled in the same batch.
    Void,
    /// 退货: money returned for an earlier sale.
    Refund,
    /// 预授权: a hold on the card.
    PreAuth,
    /// 预授权撤销: the hold released.
    PreAuthVoid,
    /// 预授权完成(请求): the hold turned into a charge, online.
    Completion,
    /// 预授权完成(通知): the same, sent later as an advice.
    CompletionAdvice,
    /// 预授权完成撤销: a completion cancelled in the same batch, the charge back to the card.
    CompletionVoid,
    /// 余额查询: the amount is the balance, and there is nothing to agree to.
    Balance,
}

impl TransactionType {
    /// The name printed on the slip.
    pub fn name(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (TransactionType::Sale, Lang::Zh) => "消费",
            (TransactionType::Sale, Lang::En) => "SALE",
            (TransactionType::Void, Lang::Zh) => "消费撤销",
            (TransactionType::Void, Lang::En) => "VOID",
            (TransactionType::Refund, Lang::Zh) => "退货",
            (TransactionType::Refund, Lang::En) => "REFUND",
            (TransactionType::PreAuth, Lang::Zh) => "预授权",
            (TransactionType::PreAuth, Lang::En) => "PRE-AUTH",
            (TransactionType::PreAuthVoid, Lang::Zh) => "预授权撤销",
            (TransactionType::PreAuthVoid, Lang::En) => "PRE-AUTH VOID",
            (TransactionType::Completion, Lang::Zh) => "预授权完成(请求)",
            (TransactionType::Completion, Lang::En) => "AUTH COMPLETE",
            (TransactionType::CompletionAdvice, Lang::Zh) => "预授权完成(通知)",
            (TransactionType::CompletionAdvice, Lang::En) => "AUTH COMPLETE ADVICE",
            (TransactionType::CompletionVoid, Lang::Zh) => "预授权完成撤销",
            (TransactionType::CompletionVoid, Lang::En) => "AUTH COMPLETE VOID",
            (TransactionType::Balance, Lang::Zh) => "余额查询",
            (TransactionType::Balance, Lang::En) => "BALANCE INQUIRY",
        }
    }

    /// Money goes back to the card (the amount prints with a minus sign).
    pub fn is_credit(self) -> bool {
        matches!(
            self,
            TransactionType::Void
                | TransactionType::Refund
                | TransactionType::PreAuthVoid
                | TransactionType::CompletionVoid
        )
    }
}

/// How the card was read: the one `domain::EntryMode`, printed as a letter ([`entry_letter`]).
pub use domain::EntryMode;

/// The letter printed after the card number, as UnionPay slips do: `S` stripe (a fallback
/// swipe too), `I` inserted chip, `C` contactless (挥卡), `M` keyed by hand.
pub fn entry_letter(mode: EntryMode) -> char {
    match mode {
        EntryMode::Swipe | EntryMode::Fallback => 'S',
        EntryMode::Chip => 'I',
        EntryMode::Contactless => 'C',
        EntryMode::Keyed => 'M',
    }
}

/// A card number already masked: the full PAN goes into [`CardNumber::new`] and only the first
/// 6 and last 4 digits come out, so no copy of the full number outlives the call (a receipt is
/// kept for reprinting, and `Debug` shows only the masked form).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CardNumber {
    masked: String,
}

impl CardNumber {
    /// Mask `pan`. Spaces and dashes between digit groups are dropped; anything else that is
    /// not a digit, or a number longer than [`PAN_DIGITS_MAX`], is not a card number, and
    /// prints as asterisks only.
    pub fn new(pan: &str) -> CardNumber {
        let digits: String = pan.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let masked = if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= PAN_DIGITS_MAX {
            iso8583::mask::mask_pan(&digits)
        } else {
            "*".repeat(digits.chars().count().min(PAN_DIGITS_MAX))
        };
        CardNumber { masked }
    }

    /// The masked form of a checked card number.
    pub fn from_pan(pan: &domain::Pan) -> CardNumber {
        CardNumber { masked: pan.masked().to_string() }
    }

    /// A masked number kept earlier ([`CardNumber::masked`]), read back for a reprint. It
    /// shows no more than masking shows: a digit where the mask of a number of that length has
    /// `*` becomes `*` (so a full number given here comes out masked), and text that is not
    /// digits and `*`, or is longer than [`PAN_DIGITS_MAX`], prints as asterisks only.
    pub fn from_masked(masked: &str) -> CardNumber {
        if masked.len() > PAN_DIGITS_MAX || !masked.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
            return CardNumber { masked: "*".repeat(masked.chars().count().min(PAN_DIGITS_MAX)) };
        }
        // Where masking a number of this shape hides a digit: `*` read as a non-zero digit,
        // so the leading zeros masking keeps are the same ones.
        let probe = masked.replace('*', "1");
        let shape = iso8583::mask::mask_pan(&probe);
        let masked =
            masked.bytes().zip(shape.bytes()).map(|(m, s)| if s == b'*' { '*' } else { char::from(m) }).collect();
        CardNumber { masked }
    }

    /// The masked number: `622424******0113`.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// Could `digits` be the full number this was masked from? Same length, and the same digit
    /// wherever the masked form shows one. Only numbers with visible digits are matched: a
    /// fully masked one tells nothing to compare with.
    pub(crate) fn could_be(&self, digits: &str) -> bool {
        let masked = self.masked.as_bytes();
        masked.len() == digits.len()
            && masked.iter().any(u8::is_ascii_digit)
            && masked.iter().zip(digits.bytes()).all(|(&m, d)| m == b'*' || m == d)
    }
}

/// An amount in minor units (fen for CNY) of an ISO 4217 numeric currency. Never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    /// Minor units: 12500 is 125.00 in a two-decimal currency.
    pub minor: u64,
    /// ISO 4217 numeric code (field 49): 156 for CNY.
    pub currency: u16,
}

/// ISO 4217 numeric code for the Chinese yuan.
pub const CURRENCY_CNY: u16 = 156;

/// What the slip prints for CNY, as UnionPay slips do; other currencies print their ISO 4217
/// alphabetic code from `domain::Currency`'s table.
const CNY_ON_SLIPS: &str = "RMB";

/// Decimals for a currency missing from the table: two, the most common minor unit.
const DEFAULT_DECIMALS: u32 = 2;

impl Amount {
    /// `minor` fen of Chinese yuan.
    pub const fn cny(minor: u64) -> Amount {
        Amount { minor, currency: CURRENCY_CNY }
    }

    /// What the slip prints before the number: the alphabetic code for a known currency, the
    /// three-digit numeric code otherwise.
    pub fn currency_code(&self) -> String {
        match self.known() {
            Some(currency) if currency == Currency::CNY => CNY_ON_SLIPS.to_owned(),
            Some(currency) => currency.alpha().to_owned(),
            None => format!("{:03}", self.currency),
        }
    }

    fn known(&self) -> Option<Currency> {
        Currency::from_numeric(self.currency).ok()
    }

    /// The ISO 4217 alphabetic code (`CNY`; the slip's `RMB` is the same currency), or the
    /// three-digit numeric code for a currency missing from the table.
    pub fn iso_code(&self) -> String {
        match self.known() {
            Some(currency) => currency.alpha().to_owned(),
            None => self.currency_code(),
        }
    }

    /// The amount without the currency: `125.00`.
    pub fn number(&self) -> String {
        let decimals = self.known().map_or(DEFAULT_DECIMALS, |currency| u32::from(currency.exponent()));
        if decimals == 0 {
            return self.minor.to_string();
        }
        // The table's currencies have at most 2 decimals, so the scale is small and cannot overflow.
        let scale = 10u64.pow(decimals);
        format!("{}.{:0width$}", self.minor / scale, self.minor % scale, width = decimals as usize)
    }
}

impl fmt::Display for Amount {
    /// `RMB 125.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency_code(), self.number())
    }
}

/// The transaction's local date and time, as the terminal keeps it (fields 12 and 13 carry the
/// time of day and date; the year is the terminal's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl fmt::Display for DateTime {
    /// `2025/06/01 14:03:22`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Everything printed on one slip. Empty text fields (an authorization code on a refund, a
/// reference number on an offline advice) leave their line out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The merchant's name as registered (may be Chinese; wrapped when long).
    pub merchant_name: String,
    /// Merchant id (field 42, 15 characters).
    pub merchant_id: String,
    /// Terminal id (field 41, 8 characters).
    pub terminal_id: String,
    /// Operator (cashier) number, as sent in field 63: `01`.
    pub operator: String,
    /// The card, masked.
    pub card_number: CardNumber,
    /// Card organisation from the response's 63.1: `CUP`, `VIS`, `MCC`, `JCB`, ...
    pub card_organization: String,
    pub transaction: TransactionType,
    pub entry_mode: EntryMode,
    /// Batch number (60.2), printed as 6 digits.
    pub batch: u32,
    /// Trace (voucher, 凭证号) number (field 11), printed as 6 digits.
    pub trace: u32,
    /// Retrieval reference number (field 37).
    pub rrn: String,
    /// Authorization code (field 38).
    pub auth_code: String,
    pub date_time: DateTime,
    /// The amount (for a balance inquiry, the balance's magnitude).
    pub amount: Amount,
    /// A balance inquiry's balance is a debit (an overdrawn account): it prints with a minus
    /// sign. `false` for every other transaction.
    pub debit_balance: bool,
    /// The cardholder entered a PIN; otherwise the slip carries a signature line.
    pub pin_verified: bool,
    pub copy: ReceiptCopy,
    /// A reprint (重打印) of an earlier slip.
    pub reprint: bool,
    /// For a void, refund, pre-auth void or completion: the original transaction's trace.
    pub original_trace: Option<u32>,
    /// The original transaction's reference number.
    pub original_rrn: Option<String>,
    /// The original authorization code (a completion or pre-auth void names the pre-auth's).
    pub original_auth_code: Option<String>,
}
