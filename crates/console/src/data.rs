//! What the pages read, behind one trait: [`crate::netdata::NetData`] reads a network folder's
//! party databases; tests plug a fixture. Every list is bounded by the caller's limit or a
//! named bound; card numbers arrive masked (the parties store no other form).

use crate::error::ConsoleError;

/// A search over the acquirers' journals; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnFilter {
    /// Only this acquirer's journal (its institution id); `None`: every acquirer's.
    pub acquirer: Option<String>,
    pub rrn: Option<String>,
    /// The terminal's trace (11) or the network leg's STAN.
    pub stan: Option<String>,
    pub auth_code: Option<String>,
    pub terminal: Option<String>,
    pub merchant: Option<String>,
    /// The card number's last four digits.
    pub last4: Option<String>,
    /// The card number as the journals keep it, masked (`622202******1234`).
    pub pan_masked: Option<String>,
    /// Received at or after (ms since the epoch).
    pub from_ms: Option<u64>,
    /// Received before.
    pub to_ms: Option<u64>,
}

impl TxnFilter {
    /// Whether `row` passes (the fixture's search; the SQL one says the same in SQL).
    pub fn matches(&self, row: &TxnRow) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
        eq(&self.acquirer, Some(&row.acquirer))
            && eq(&self.rrn, row.rrn.as_deref())
            && self.stan.as_deref().is_none_or(|s| row.trace == s || row.net_stan.as_deref() == Some(s))
            && eq(&self.auth_code, row.auth_code.as_deref())
            && eq(&self.terminal, Some(&row.terminal_id))
            && eq(&self.merchant, Some(&row.merchant_id))
            && self.last4.as_deref().is_none_or(|l| row.pan_masked.as_deref().is_some_and(|p| p.ends_with(l)))
            && eq(&self.pan_masked, row.pan_masked.as_deref())
            && self.from_ms.is_none_or(|from| row.received_ms >= from)
            && self.to_ms.is_none_or(|to| row.received_ms < to)
    }
}

/// One row of an acquirer's journal (`acquirer_transactions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRow {
    /// The acquirer whose journal it is (institution id): `id` is unique only within it.
    pub acquirer: String,
    pub id: u64,
    pub received_ms: u64,
    pub terminal_id: String,
    pub merchant_id: String,
    pub kind: String,
    pub amount_minor: u64,
    /// ISO 4217 numeric, as field 49 carries it.
    pub currency: String,
    pub pan_masked: Option<String>,
    pub rrn: Option<String>,
    /// The terminal's trace number.
    pub trace: String,
    pub net_stan: Option<String>,
    pub net_time: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    /// `pending`, `approved`, `declined`, `timeout`, `failed`.
    pub status: String,
    pub reversed: bool,
    pub voided: bool,
}

impl TxnRow {
    pub fn approved(&self) -> bool {
        self.status == "approved"
    }
}

/// One message of a transaction's path, as one party journaled it (masked fields only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMessage {
    pub party: &'static str,
    pub at_ms: u64,
    /// `in` or `out`.
    pub direction: String,
    /// `terminal`, `network`, `acquirer`, `issuer`.
    pub leg: String,
    pub mti: String,
    pub stan: Option<String>,
    pub processing_code: Option<String>,
    pub amount_minor: Option<u64>,
    pub pan_masked: Option<String>,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TxnDetail {
    pub row: TxnRow,
    pub messages: Vec<PathMessage>,
    /// Where a party's part of the path could not be read (named), shown on the page.
    pub gaps: Vec<String>,
}

/// A party of the network folder and whether its address answers.
#[derive(Debug, Clone)]
pub struct PartyStatus {
    pub name: String,
    pub address: Option<String>,
    /// `None`: no fixed address to probe (port 0).
    pub answers: Option<bool>,
}

/// A risk alert and the acquirer that raised it (alert ids are unique only within one
/// acquirer's database).
#[derive(Debug, Clone)]
pub struct AcquirerAlert {
    pub acquirer: String,
    pub alert: risk::cases::Alert,
}

/// What an operator does to a risk alert from the console (`risk::cases_store::Cases::assign`
/// and `close`); whether it is allowed is the transition table's (`risk::cases::TRANSITIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertAction {
    /// Hand it to `to` (it is then under investigation).
    Assign { to: String },
    /// Close it, as fraud or not.
    Close { fraud: bool },
}

impl AlertAction {
    /// Its name in the console's audit trail.
    pub fn audit_name(&self) -> &'static str {
        match self {
            AlertAction::Assign { .. } => "risk.assign",
            AlertAction::Close { fraud: true } => "risk.close_fraud",
            AlertAction::Close { fraud: false } => "risk.close_not_fraud",
        }
    }
}

/// One action on one alert, by one console user at one time.
#[derive(Debug, Clone)]
pub struct AlertChange<'a> {
    /// The alert's id within its acquirer's database.
    pub id: u64,
    /// The console user, named in the alert's own trail.
    pub by: &'a str,
    pub action: &'a AlertAction,
    pub note: Option<&'a str>,
    pub now_ms: u64,
}

/// An operator's resolution of a switch exception (`switch::disputes::resolve`).
#[derive(Debug, Clone)]
pub struct ExceptionChange<'a> {
    pub id: u64,
    /// A `switch::disputes::Action` name: credit_adjustment, debit_adjustment, chargeback,
    /// representment, second_chargeback, write_off.
    pub action: &'a str,
    /// The console user, named in the exception's own trail.
    pub by: &'a str,
    pub reason: &'a str,
    /// `None`: the record's amount, or the cycle's last step's.
    pub amount_minor: Option<u64>,
    pub now_ms: u64,
}

/// One acquirer's transactions over a period, for the network page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquirerFigures {
    pub acquirer: String,
    pub transactions: u64,
    pub approved: u64,
    /// Why its journal could not be read (the others are still counted).
    pub error: Option<String>,
}

/// The acquirers' journals over one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteFigures {
    pub minute_ms: u64,
    pub count: u64,
    /// The mean time from request to answer, of the answered ones.
    pub latency_ms_mean: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct MerchantRow {
    /// The acquirer whose registry holds it (institution id).
    pub acquirer: String,
    pub merchant_id: String,
    pub name: String,
    pub status: String,
    pub mcc: String,
    pub city: String,
    pub activated_ms: u64,
}

#[derive(Debug, Clone)]
pub struct TerminalRow {
    pub terminal_id: String,
    pub status: String,
    pub model: Option<String>,
    pub last_sign_on_ms: Option<u64>,
    /// The acquirer host's side: its current batch and whether it is signed on.
    pub batch_no: Option<u64>,
    pub signed_on: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct TrailRow {
    pub at_ms: u64,
    pub subject: String,
    pub event: String,
    pub actor: String,
    pub reason: String,
}

/// A settled terminal batch (0500) of the merchant's terminals, as the acquirer recorded it.
#[derive(Debug, Clone)]
pub struct BatchRow {
    pub settled_ms: u64,
    pub record: acquirer::SettlementRecord,
}

#[derive(Debug, Clone)]
pub struct MerchantDetail {
    pub merchant: MerchantRow,
    pub terminals: Vec<TerminalRow>,
    pub trail: Vec<TrailRow>,
    /// Newest first.
    pub batches: Vec<BatchRow>,
}

/// A merchant application (onboarding) and where its review stands.
#[derive(Debug, Clone)]
pub struct ApplicationRow {
    /// The acquirer it applied to (institution id).
    pub acquirer: String,
    pub application_id: i64,
    pub business_name: String,
    pub mcc: String,
    pub city: String,
    pub status: String,
    /// Set once activated.
    pub merchant_id: Option<String>,
    pub reviewer: Option<String>,
    pub review_reason: Option<String>,
    pub created_ms: u64,
}

/// A settled date: the members' net positions and, when reconciliation ran, its summary.
#[derive(Debug, Clone)]
pub struct SettlementView {
    pub date: String,
    /// The switch's own report lines (signed: positive receives, negative pays).
    pub positions: Vec<switch::settlement::MemberSettlement>,
    /// (figure, value) of the reconciliation's summary, in its order; empty when not run.
    pub recon: Vec<(String, String)>,
    /// The reconciliation's differences, item by item (at most `RECON_ITEMS_MAX`).
    pub recon_items: Vec<ReconItem>,
}

/// One difference reconciliation found (a line of NET/recon/DATE/recon.jsonl).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconItem {
    pub class: String,
    pub resolution: String,
    pub party: String,
    pub reason: String,
    pub kind: String,
    /// Which sources had it (`terminal+acquirer+…`).
    pub present: String,
    pub rrn: String,
    pub terminal_id: String,
    pub trace: String,
    pub expected_minor: Option<u64>,
    /// ISO 4217 numeric.
    pub currency: String,
}

/// An approved exchange of a business date at the switch, one member a party to it: a settled
/// date's drill-down from a member's net position.
#[derive(Debug, Clone)]
pub struct ClearedRow {
    pub exchange_id: u64,
    pub kind: String,
    pub rrn: Option<String>,
    pub pan_masked: Option<String>,
    pub amount_minor: Option<u64>,
    /// ISO 4217 numeric.
    pub currency: Option<String>,
    pub terminal_id: Option<String>,
    pub merchant_id: Option<String>,
    pub acquirer: String,
    pub issuer: Option<String>,
    pub received_ms: u64,
}

/// An exception (差错) still open at the switch.
#[derive(Debug, Clone)]
pub struct ExceptionRow {
    pub id: u64,
    pub date: String,
    pub class: String,
    pub stage: String,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: String,
    pub pan_masked: String,
    pub rrn: Option<String>,
    pub acquirer: String,
    pub issuer: String,
    pub opened_ms: u64,
}

/// One payout of a merchant settlement run (`acquirer_payouts`) with its run's date and cycle.
/// The payout's account number is in clear: a page shows it through
/// `acquirer::settlement_outputs::mask_account` only.
#[derive(Debug, Clone)]
pub struct PayoutRow {
    /// The acquirer that paid it (institution id).
    pub acquirer: String,
    pub business_date: String,
    pub cycle: String,
    pub payout: acquirer::merchant_run::Payout,
}

/// A statement file (电子对账单) the acquirer's settlement wrote: its date folder and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementFile {
    pub date: String,
    pub name: String,
}

/// The queries the pages need.
pub trait ConsoleData: Send + Sync {
    /// The acquirers' institution ids, the folder's first acquirer (`acquirer.toml`) first.
    fn acquirers(&self) -> Vec<String>;
    fn parties(&self) -> Result<Vec<PartyStatus>, ConsoleError>;
    /// Newest first across the acquirers (received time, then the acquirers' order, then row
    /// id, all descending but the acquirers' order), skipping `offset`, at most `limit`.
    fn search(&self, filter: &TxnFilter, offset: usize, limit: usize) -> Result<Vec<TxnRow>, ConsoleError>;
    /// One journaled transaction of `acquirer` and the messages of its path.
    fn transaction(&self, acquirer: &str, id: u64) -> Result<Option<TxnDetail>, ConsoleError>;
    /// Each acquirer's transactions and approvals of `[from_ms, to_ms)`, in the acquirers' order.
    fn acquirer_figures(&self, from_ms: u64, to_ms: u64) -> Vec<AcquirerFigures>;
    /// Per minute of `[from_ms, to_ms)`, the minutes with transactions only.
    fn minutes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<MinuteFigures>, ConsoleError>;
    /// (response code or `none`, count) of `[from_ms, to_ms)`.
    fn response_codes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<(String, u64)>, ConsoleError>;
    /// Every acquirer's merchants, by acquirer (in their order) then merchant id.
    fn merchants(&self) -> Result<Vec<MerchantRow>, ConsoleError>;
    /// The merchant `merchant` names (with no acquirer named: the first acquirer holding it).
    fn merchant(&self, merchant: &MerchantRef) -> Result<Option<MerchantDetail>, ConsoleError>;
    /// Merchant applications, by acquirer then newest first.
    fn applications(&self) -> Result<Vec<ApplicationRow>, ConsoleError>;
    /// The acquirers' risk alerts, newest first across them.
    fn alerts(&self) -> Result<Vec<AcquirerAlert>, ConsoleError>;
    /// One alert of `acquirer` with its trail (`None`: no such alert).
    fn alert(&self, acquirer: &str, id: u64) -> Result<Option<risk::cases::AlertDetail>, ConsoleError>;
    /// Make `change` to one of `acquirer`'s alerts: `Ok(None)` when there is no such alert;
    /// `BadInput` (with the reason) when the transition table refuses the action or its input,
    /// nothing changed.
    fn act_on_alert(
        &self,
        acquirer: &str,
        change: &AlertChange<'_>,
    ) -> Result<Option<risk::cases::Alert>, ConsoleError>;
    /// The switch's settled dates (`YYYY-MM-DD`), newest first.
    fn settled_dates(&self) -> Result<Vec<String>, ConsoleError>;
    /// A settled date's positions and reconciliation (`None`: not settled).
    fn settlement(&self, date: &str) -> Result<Option<SettlementView>, ConsoleError>;
    /// The approved exchanges of business date `date` that `member` was acquirer or issuer of,
    /// in the switch's order (at most `LIST_ROWS_MAX`).
    fn cleared(&self, date: &str, member: &str) -> Result<Vec<ClearedRow>, ConsoleError>;
    /// The exceptions not yet resolved, oldest first.
    fn exceptions(&self) -> Result<Vec<ExceptionRow>, ConsoleError>;
    /// Resolve (or take a step of the chargeback cycle on) an exception: what was done, in
    /// words; `Ok(None)` when there is no such exception; `BadInput` (with the reason) when the
    /// switch's transition table or its checks refuse it, nothing changed.
    fn resolve_exception(&self, change: &ExceptionChange<'_>) -> Result<Option<String>, ConsoleError>;
    /// A merchant's payouts, newest business date first (across acquirers when none is named).
    fn payouts(&self, merchant: &MerchantRef) -> Result<Vec<PayoutRow>, ConsoleError>;
    /// A merchant's statement files, newest date first.
    fn statement_files(&self, merchant: &MerchantRef) -> Result<Vec<StatementFile>, ConsoleError>;
    /// The bytes of one of them (`None` unless it is one of `statement_files(merchant)`).
    fn statement_file(&self, merchant: &MerchantRef, file: &StatementFile) -> Result<Option<Vec<u8>>, ConsoleError>;
    /// The last lines of each party's log file, by file name (none without a log folder).
    fn log_tail(&self) -> Result<Vec<(String, Vec<String>)>, ConsoleError>;
}

/// A merchant as the console names it: its merchant id and the acquirer whose registry issued
/// it. Each acquirer numbers its own merchants (prefix, MCC, sequence; two acquirers with the
/// same prefix issue the same ids), so only the pair names one merchant. Written
/// `ACQUIRER:MERCHANT`; a bare merchant id names no acquirer (an operator's search of every
/// acquirer; a merchant user bound to a bare id is bound to the first acquirer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRef {
    pub acquirer: Option<String>,
    pub merchant_id: String,
}

/// Digits of an institution id (field 32 is n..11).
pub const INSTITUTION_DIGITS_MAX: usize = 11;

fn is_institution(text: &str) -> bool {
    !text.is_empty() && text.len() <= INSTITUTION_DIGITS_MAX && text.bytes().all(|b| b.is_ascii_digit())
}

impl MerchantRef {
    /// `ACQUIRER:MERCHANT` or a bare merchant id (checked by the caller).
    pub fn parse(text: &str) -> MerchantRef {
        match text.split_once(':') {
            Some((acquirer, merchant)) if is_institution(acquirer) => {
                MerchantRef { acquirer: Some(acquirer.to_owned()), merchant_id: merchant.to_owned() }
            }
            _ => MerchantRef { acquirer: None, merchant_id: text.to_owned() },
        }
    }

    /// Whether `row`'s (acquirer, merchant) is this merchant.
    pub fn owns(&self, acquirer: &str, merchant_id: &str) -> bool {
        self.merchant_id == merchant_id && self.acquirer.as_deref().is_none_or(|a| a == acquirer)
    }
}

impl std::fmt::Display for MerchantRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.acquirer {
            Some(acquirer) => write!(f, "{acquirer}:{}", self.merchant_id),
            None => f.write_str(&self.merchant_id),
        }
    }
}

/// A row of one acquirer's database in a URL: `ACQUIRER-ID` (ids are unique only within one
/// database). Anything else is `None` (the page answers 404).
pub fn parse_row_ref(text: &str) -> Option<(String, u64)> {
    let (acquirer, id) = text.split_once('-')?;
    if !is_institution(acquirer) || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((acquirer.to_owned(), id.parse().ok()?))
}

/// Whether `file` may be a statement of `merchant_id`: a date folder `YYYY-MM-DD` and a name
/// `statement-MERCHANT-….csv|.txt` of plain characters (no path can be smuggled in).
pub fn is_statement_of(merchant_id: &str, file: &StatementFile) -> bool {
    let date_ok = file.date.len() == 10 && file.date.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    let plain = file.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    let prefix = format!("statement-{merchant_id}-");
    date_ok
        && plain
        && !file.name.contains("..")
        && file.name.starts_with(&prefix)
        && (file.name.ends_with(".csv") || file.name.ends_with(".txt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_and_merchant_references_parse_or_are_refused() {
        assert_eq!(parse_row_ref("10000000788-42"), Some(("10000000788".into(), 42)));
        for bad in ["42", "-42", "10000000788-", "x-1", "1-2-3", "123456789012-1", "1-+2", "1-99999999999999999999"] {
            assert_eq!(parse_row_ref(bad), None, "{bad}");
        }
        let qualified = MerchantRef::parse("10000000788:898440158120001");
        assert_eq!(qualified.acquirer.as_deref(), Some("10000000788"));
        assert_eq!(qualified.to_string(), "10000000788:898440158120001");
        assert!(qualified.owns("10000000788", "898440158120001") && !qualified.owns("1", "898440158120001"));
        let bare = MerchantRef::parse("898440158120001");
        assert_eq!((bare.acquirer, bare.merchant_id.as_str()), (None, "898440158120001"));
    }

    #[test]
    fn only_plain_statement_names_of_the_merchant_pass() {
        let file = |date: &str, name: &str| StatementFile { date: date.into(), name: name.into() };
        assert!(is_statement_of("123", &file("2026-12-04", "statement-123-final-156.csv")));
        assert!(is_statement_of("123", &file("2026-12-04", "statement-123-1400-156.txt")));
        for (date, name) in [
            ("2026-12-04", "statement-1234-final-156.csv"),
            ("2026-12-04", "statement-123-final-156.db"),
            ("2026-12-04", "statement-123-../../x.csv"),
            ("2026-12-04", "statement-123-a/b.csv"),
            ("../../etc", "statement-123-final-156.csv"),
            ("2026-12-4", "statement-123-final-156.csv"),
        ] {
            assert!(!is_statement_of("123", &file(date, name)), "{date}/{name}");
        }
    }
}
