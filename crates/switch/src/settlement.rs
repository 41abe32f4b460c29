//! Net settlement at the switch (多边净额结算): one business date's clearing records become each
//! member's multilateral net position per currency, and the positions are posted to the switch's
//! settlement ledger — the members' settlement accounts at a simulated settlement bank.
//!
//! The ledger follows Mojaloop's hub ledgers (ledger-clearing-anchors.md §3), one ledger per
//! currency (its ISO 4217 numeric code):
//!
//! * a **member settlement account** per member and currency: the member's money at the
//!   settlement bank (credit balance = what the bank holds for it; it may go below zero — the
//!   simulated bank lends intraday);
//! * the network's **fee-income account** per currency: the network's own position (2n);
//! * the **multilateral net settlement account** per currency: payers pay into it, receivers
//!   are paid out of it; because positions sum to zero it is back to zero after every date
//!   (asserted).
//!
//! A date's transfers have ids derived from (date, member, currency) ([`transfer_id`]) and go in
//! one linked chain: the ledger applies all or none, and re-running the date is the ledger's
//! idempotent resubmission. A date is settled once: `switch_settled_dates` holds it with its
//! positions and totals, and a second `settle` of the date moves nothing and answers from it
//! with `already_settled`. The order is ledger first, table second: a crash between the two
//! leaves transfers that the next run finds and accounts for (the opening balance is then the
//! balance before them), never a date recorded as settled that the ledger does not hold.
//!
//! Statements ([`Statement`]) show each account's balance before the date's movement, the
//! movement and the balance after; balances are in posting order of dates (a date settled after
//! a later one opens at the later one's closing).

mod files;
mod ledger_store;
mod store;

use std::collections::BTreeMap;

use clearing::{BusinessDate, ClearingRecord, NetPositions, Position};
use domain::InstitutionId;
use ledger::{Account, CreateAccountResult, CreateTransferResult, Id, Transfer, TransferFlags};
use sha1::{Digest, Sha1};
use sqlstore::Database;

pub use files::{statement_csv, statement_text, write_settlement_files};
pub use ledger_store::{LedgerClock, LedgerStore, SettlementLedger, open_ledger, open_ledger_with_clock};
pub(crate) use store::is_settled_in as store_is_settled;
pub use store::{is_settled, load_report, settled_dates};

/// The migrations of the switch's end-of-day tables (settled dates here, exceptions in
/// [`crate::disputes`]), run with the switch's own.
pub(crate) fn migrate(db: &Database) -> sqlstore::Result<()> {
    store::migrate(db)?;
    crate::disputes::migrate(db)
}

/// Open (and migrate) the switch's database at `url` without starting the switch: what the
/// end-of-day commands need (no keys, no HSM).
pub fn open_database(url: &str) -> Result<Database> {
    let db = Database::open(url)?;
    crate::store::migrate(&db, None)?;
    Ok(db)
}

/// Account codes of the settlement ledger's chart of accounts.
pub const CODE_MEMBER_SETTLEMENT: u16 = 1;
pub const CODE_FEE_INCOME: u16 = 2;
pub const CODE_MULTILATERAL_NET: u16 = 3;
/// Transfer code of a net settlement movement.
pub const TRANSFER_NET_SETTLEMENT: u16 = 1;

/// The kind of account in bits 96..128 of its id; bits 64..96 hold the currency, 0..64 the
/// member's institution id (11 digits fit).
const ACCOUNT_KIND_SHIFT: u32 = 96;
const ACCOUNT_CURRENCY_SHIFT: u32 = 64;
const KIND_MEMBER: u128 = 1;
const KIND_FEE_INCOME: u128 = 2;
const KIND_MULTILATERAL_NET: u128 = 3;

/// Institution ids (fields 32, 100, the switch's own) are 11 digits.
const INSTITUTION_ID_LEN: usize = 11;
/// Field 4 holds 12 digits: no record amount is larger.
pub const RECORD_AMOUNT_MAX_MINOR: u64 = 999_999_999_999;
/// A date's positions go to the ledger in one linked batch (all or none): at most this many.
pub const POSITIONS_PER_DATE_MAX: usize = ledger::BATCH_EVENTS_MAX;
/// Σ |settlement| + |fees| of a date per currency stays below this, so no i64 sum overflows.
const DATE_VOLUME_MAX_MINOR: i128 = (i64::MAX / 4) as i128;

/// Why settlement failed. `Input` names the record or the date at fault; nothing was posted.
#[derive(Debug)]
pub enum SettlementError {
    /// The records or arguments cannot be settled (a record of another date, a bad currency…).
    Input(String),
    /// The date was settled before with other positions than these records give.
    Conflict(String),
    Store(sqlstore::Error),
    /// The settlement ledger failed or refused a movement (named with its result).
    Ledger(String),
    Io(std::io::Error),
}

impl std::fmt::Display for SettlementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettlementError::Input(message) => write!(f, "settlement: {message}"),
            SettlementError::Conflict(message) => write!(f, "settlement: {message}"),
            SettlementError::Store(error) => write!(f, "settlement: switch {error}"),
            SettlementError::Ledger(message) => write!(f, "settlement ledger: {message}"),
            SettlementError::Io(error) => write!(f, "settlement files: {error}"),
        }
    }
}

impl std::error::Error for SettlementError {}

impl From<sqlstore::Error> for SettlementError {
    fn from(error: sqlstore::Error) -> SettlementError {
        SettlementError::Store(error)
    }
}

impl From<std::io::Error> for SettlementError {
    fn from(error: std::io::Error) -> SettlementError {
        SettlementError::Io(error)
    }
}

impl From<ledger::LedgerError> for SettlementError {
    fn from(error: ledger::LedgerError) -> SettlementError {
        SettlementError::Ledger(error.to_string())
    }
}

pub type Result<T> = std::result::Result<T, SettlementError>;

/// One member's settlement for a date in one currency (the network's own line is its fee
/// income). Signed: positive receives, negative pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSettlement {
    pub member: String,
    pub currency: String,
    pub net_minor: i64,
    /// Gross amounts owed to it as acquirer and by it as issuer, before fees (signed by
    /// direction: voids and refunds reduce them).
    pub receivable_minor: i64,
    pub payable_minor: i64,
    /// Interchange it received (issuer) or paid (acquirer, negative).
    pub interchange_minor: i64,
    /// Network fee it paid (negative) or, for the network, received.
    pub network_fee_minor: i64,
    /// Records it was a party to, as acquirer or issuer (0 on the network's own line).
    pub records: u64,
    /// Its settlement account at the bank before and after the date's movement.
    pub opening_minor: i64,
    pub closing_minor: i64,
}

/// A date's totals in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub records: u64,
    /// Σ amount of records the issuer pays (+1) and of those paid back (−1).
    pub debit_total_minor: u64,
    pub credit_total_minor: u64,
    /// Σ interchange (acquirers to issuers) and the network's fee income.
    pub interchange_minor: i64,
    pub network_fee_income_minor: i64,
    /// Σ of the positive positions and of the negative ones (as a positive number): equal.
    pub receives_minor: i64,
    pub pays_minor: i64,
    /// Σ net positions: zero.
    pub sum_minor: i64,
}

/// What `settle` did for a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementReport {
    pub date: BusinessDate,
    /// The switch's institution id (its fee-income line).
    pub network: String,
    /// True when the date had been settled before: nothing moved this time.
    pub already_settled: bool,
    /// Ordered by member, then currency.
    pub members: Vec<MemberSettlement>,
    /// Ordered by currency.
    pub totals: Vec<CurrencyTotals>,
}

/// The settlement bank's statement of one account for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub date: BusinessDate,
    pub member: String,
    pub currency: String,
    pub opening_minor: i64,
    pub movement_minor: i64,
    pub closing_minor: i64,
}

impl SettlementReport {
    /// One statement per member line.
    pub fn statements(&self) -> Vec<Statement> {
        self.members
            .iter()
            .map(|m| Statement {
                date: self.date,
                member: m.member.clone(),
                currency: m.currency.clone(),
                opening_minor: m.opening_minor,
                movement_minor: m.net_minor,
                closing_minor: m.closing_minor,
            })
            .collect()
    }

    /// Σ net over every member and currency (zero: each currency sums to zero).
    pub fn sum_minor(&self) -> i64 {
        self.totals.iter().map(|t| t.sum_minor).sum()
    }
}

/// The ledger partition of an ISO 4217 numeric currency.
fn ledger_of(currency: &str) -> Option<u32> {
    let ok = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| currency.parse::<u32>().ok()).flatten().filter(|&id| id != 0)
}

fn institution_number(id: &str) -> Option<u64> {
    let ok = id.len() == INSTITUTION_ID_LEN && id.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| id.parse::<u64>().ok()).flatten()
}

fn account_id(kind: u128, ledger: u32, member: u64) -> Id {
    (kind << ACCOUNT_KIND_SHIFT) | (u128::from(ledger) << ACCOUNT_CURRENCY_SHIFT) | u128::from(member)
}

/// The settlement account of `member` (11 digits) in `currency` at the settlement bank.
pub fn member_account_id(member: &str, currency: &str) -> Option<Id> {
    Some(account_id(KIND_MEMBER, ledger_of(currency)?, institution_number(member)?))
}

/// The network's fee-income account in `currency`.
pub fn fee_income_account_id(network: &str, currency: &str) -> Option<Id> {
    Some(account_id(KIND_FEE_INCOME, ledger_of(currency)?, institution_number(network)?))
}

/// The multilateral net settlement account of `currency`.
pub fn multilateral_net_account_id(currency: &str) -> Option<Id> {
    Some(account_id(KIND_MULTILATERAL_NET, ledger_of(currency)?, 0))
}

/// The ledger transfer that settles `member`'s position in `currency` on `date`: the first 16
/// bytes of SHA-1 over a domain tag and the three (a name, not a secret).
pub fn transfer_id(date: BusinessDate, member: &str, currency: &str) -> Id {
    let mut hasher = Sha1::new();
    hasher.update(b"cardnet switch net settlement v1\0");
    hasher.update(date.compact().as_bytes());
    hasher.update(b"\0");
    hasher.update(member.as_bytes());
    hasher.update(b"\0");
    hasher.update(currency.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // 0 and u128::MAX are not ids.
    match u128::from_be_bytes(bytes) {
        0 => 1,
        u128::MAX => u128::MAX - 1,
        id => id,
    }
}

/// The positions of a date and what the totals need, from the records.
struct Tally {
    positions: Vec<Position>,
    totals: BTreeMap<String, CurrencyTotals>,
}

/// Check one record against the date and the network; names the record on error.
fn check_record(record: &ClearingRecord, date: BusinessDate, network: &str) -> Result<()> {
    let bad = |what: String| Err(SettlementError::Input(format!("record {} of {date}: {what}", record.reference)));
    if record.date != date {
        return bad(format!("it is of date {}, not {date}", record.date));
    }
    if ledger_of(record.currency.as_str()).is_none() {
        return bad(format!("currency {:?} is not an ISO 4217 numeric code", record.currency));
    }
    for (role, id) in [("acquirer", &record.acquirer), ("issuer", &record.issuer)] {
        if institution_number(id.as_str()).is_none() {
            return bad(format!("{role} {id:?} is not an {INSTITUTION_ID_LEN}-digit institution id"));
        }
        if id.as_str() == network {
            return bad(format!("{role} is the network itself ({network})"));
        }
    }
    let limit = RECORD_AMOUNT_MAX_MINOR;
    // `unsigned_abs`: i64::MIN has no positive i64, and a record may hold anything.
    if record.amount_minor > limit
        || record.settlement_minor.unsigned_abs() > 2 * limit
        || record.interchange_fee_minor.unsigned_abs() > limit
        || record.network_fee_minor.unsigned_abs() > limit
    {
        return bad(format!("an amount or fee is above {RECORD_AMOUNT_MAX_MINOR} minor units"));
    }
    Ok(())
}

/// Validate and accumulate the records: O(1) per record, memory per member and currency plus
/// 8 bytes per record for the duplicate check (sorted references).
fn tally<E: std::fmt::Display>(
    date: BusinessDate,
    network: &str,
    records: impl IntoIterator<Item = std::result::Result<ClearingRecord, E>>,
) -> Result<Tally> {
    let network_id = InstitutionId::new(network)
        .map_err(|e| SettlementError::Input(format!("the network's id {network:?}: {e}")))?;
    let mut net = NetPositions::new(network_id);
    let mut totals: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    let mut volume: BTreeMap<String, i128> = BTreeMap::new();
    let mut references: Vec<u64> = Vec::new();
    for record in records {
        let record = record.map_err(|e| SettlementError::Input(format!("reading the records of {date}: {e}")))?;
        check_record(&record, date, network)?;
        let volume = volume.entry(record.currency.as_str().to_owned()).or_default();
        *volume += i128::from(record.settlement_minor).abs()
            + i128::from(record.interchange_fee_minor).abs()
            + 2 * i128::from(record.network_fee_minor).abs();
        if *volume > DATE_VOLUME_MAX_MINOR {
            return Err(SettlementError::Input(format!(
                "the records of {date} in {} exceed {DATE_VOLUME_MAX_MINOR} minor units",
                record.currency
            )));
        }
        let total = totals.entry(record.currency.as_str().to_owned()).or_insert_with(|| CurrencyTotals {
            currency: record.currency.as_str().to_owned(),
            records: 0,
            debit_total_minor: 0,
            credit_total_minor: 0,
            interchange_minor: 0,
            network_fee_income_minor: 0,
            receives_minor: 0,
            pays_minor: 0,
            sum_minor: 0,
        });
        total.records += 1;
        if record.code.direction() > 0 {
            total.debit_total_minor += record.amount_minor;
        } else {
            total.credit_total_minor += record.amount_minor;
        }
        total.interchange_minor += record.interchange_fee_minor;
        references.push(record.reference);
        net.add(&record);
    }
    references.sort_unstable();
    if let Some(pair) = references.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(SettlementError::Input(format!("record {} appears twice on {date}", pair[0])));
    }
    let positions = net.finish();
    for position in &positions {
        // Every position's currency came from a record, so its totals exist.
        if let Some(total) = totals.get_mut(position.currency.as_str()) {
            if position.member.as_str() == network {
                total.network_fee_income_minor += position.net_minor;
            }
            if position.net_minor > 0 {
                total.receives_minor += position.net_minor;
            } else {
                total.pays_minor -= position.net_minor;
            }
            total.sum_minor += position.net_minor;
        }
    }
    for total in totals.values() {
        assert_eq!(total.sum_minor, 0, "positions in {} sum to {}", total.currency, total.sum_minor);
        assert_eq!(total.receives_minor, total.pays_minor, "receivers and payers of {} differ", total.currency);
    }
    if positions.len() > POSITIONS_PER_DATE_MAX {
        return Err(SettlementError::Input(format!(
            "{date} has {} positions; one date settles at most {POSITIONS_PER_DATE_MAX}",
            positions.len()
        )));
    }
    Ok(Tally { positions, totals })
}

/// The account a position settles through: the network's fee income, or a member's.
fn position_account(position: &Position, network: &str) -> Option<Id> {
    if position.member.as_str() == network {
        fee_income_account_id(network, position.currency.as_str())
    } else {
        member_account_id(position.member.as_str(), position.currency.as_str())
    }
}

/// Settle `date`: net positions from `records`, posted to the settlement ledger, the date
/// recorded as settled in `db`. A date settled before moves nothing and answers from `db` with
/// `already_settled` (and refuses records whose positions differ from the settled ones).
/// `network_id` is the switch's institution id (its fee income).
pub fn settle(
    db: &Database,
    ledger: &mut SettlementLedger,
    date: BusinessDate,
    network_id: &str,
    records: impl IntoIterator<Item = ClearingRecord>,
) -> Result<SettlementReport> {
    settle_read(db, ledger, date, network_id, records.into_iter().map(Ok::<_, std::convert::Infallible>))
}

/// [`settle`] over records as a reader gives them: the first error ends it before anything is
/// posted (every record is read and checked before the ledger is touched).
pub fn settle_read<E: std::fmt::Display>(
    db: &Database,
    ledger: &mut SettlementLedger,
    date: BusinessDate,
    network_id: &str,
    records: impl IntoIterator<Item = std::result::Result<ClearingRecord, E>>,
) -> Result<SettlementReport> {
    if institution_number(network_id).is_none() {
        return Err(SettlementError::Input(format!(
            "network id {network_id:?} is not an {INSTITUTION_ID_LEN}-digit institution id"
        )));
    }
    let tally = tally(date, network_id, records)?;
    if let Some(settled) = store::load_report(db, date)? {
        check_same_positions(&settled, &tally.positions)?;
        return Ok(settled);
    }
    let members = post(ledger, date, network_id, &tally.positions)?;
    let report = SettlementReport {
        date,
        network: network_id.to_owned(),
        already_settled: false,
        members,
        totals: tally.totals.into_values().collect(),
    };
    let settled_ms = clock::Clock::now_ms(ledger.clock());
    if !store::record_settled(db, &report, settled_ms)? {
        // Another run recorded the date between our check and now: its report stands.
        return store::load_report(db, date)?
            .ok_or_else(|| SettlementError::Conflict(format!("{date} was recorded and then vanished")));
    }
    Ok(report)
}

/// A date settled before must be settled again with the same positions, or it is refused.
fn check_same_positions(settled: &SettlementReport, positions: &[Position]) -> Result<()> {
    let same = settled.members.len() == positions.len()
        && settled.members.iter().zip(positions).all(|(s, p)| {
            s.member == p.member.as_str()
                && s.currency == p.currency.as_str()
                && s.net_minor == p.net_minor
                && s.records == p.records
        });
    if same {
        return Ok(());
    }
    Err(SettlementError::Conflict(format!(
        "{} was settled before with other positions than these records give; a settled date never changes \
         (late items belong to a later date)",
        settled.date
    )))
}

/// Create the accounts, post the date's chain (unless a crashed run already did) and read the
/// balances before and after.
fn post(
    ledger: &mut SettlementLedger,
    date: BusinessDate,
    network: &str,
    positions: &[Position],
) -> Result<Vec<MemberSettlement>> {
    let bad_account = |p: &Position| SettlementError::Input(format!("no account for {} in {}", p.member, p.currency));
    let mut accounts: Vec<Account> = Vec::with_capacity(positions.len() + 4);
    let mut ids: Vec<Id> = Vec::with_capacity(positions.len());
    let mut currencies: BTreeMap<String, Id> = BTreeMap::new();
    for position in positions {
        let id = position_account(position, network).ok_or_else(|| bad_account(position))?;
        let ledger_id = ledger_of(position.currency.as_str()).ok_or_else(|| bad_account(position))?;
        let code = if position.member == network { CODE_FEE_INCOME } else { CODE_MEMBER_SETTLEMENT };
        accounts.push(Account::new(id, ledger_id, code));
        ids.push(id);
        let net_id = multilateral_net_account_id(position.currency.as_str()).ok_or_else(|| bad_account(position))?;
        if currencies.insert(position.currency.as_str().to_owned(), net_id).is_none() {
            accounts.push(Account::new(net_id, ledger_id, CODE_MULTILATERAL_NET));
        }
    }
    for chunk in accounts.chunks(ledger::BATCH_EVENTS_MAX) {
        for (account, result) in chunk.iter().zip(ledger.create_accounts(chunk)?) {
            if !matches!(result, CreateAccountResult::Ok | CreateAccountResult::Exists) {
                return Err(SettlementError::Ledger(format!("account {:#x}: {result}", account.id)));
            }
        }
    }
    let transfers = date_transfers(date, positions, &ids, &currencies)?;
    let transfer_ids: Vec<Id> = transfers.iter().map(|t| t.id).collect();
    let found = ledger.lookup_transfers(&transfer_ids)?.len();
    let posted_before = found == transfers.len() && !transfers.is_empty();
    if found != 0 && !posted_before {
        // The chain is linked: all or none of it can exist.
        return Err(SettlementError::Ledger(format!(
            "{found} of the {} transfers of {date} exist: the ledger is not as settlement left it",
            transfers.len()
        )));
    }
    let before = balances(ledger, &ids)?;
    if !posted_before && !transfers.is_empty() {
        for (transfer, result) in transfers.iter().zip(ledger.create_transfers(&transfers)?) {
            if result != CreateTransferResult::Ok {
                return Err(SettlementError::Ledger(format!("transfer {:#x} of {date}: {result}", transfer.id)));
            }
        }
    }
    let after = balances(ledger, &ids)?;
    for (currency, net_id) in &currencies {
        let account = ledger.lookup_accounts(&[*net_id])?;
        let back_to_zero = account.first().is_some_and(|a| a.debits_posted == a.credits_posted);
        assert!(back_to_zero, "the multilateral net settlement account of {currency} is not back to zero");
    }
    let mut members = Vec::with_capacity(positions.len());
    for ((position, opening), closing) in positions.iter().zip(before).zip(after) {
        let opening = if posted_before { closing - position.net_minor } else { opening };
        assert_eq!(closing, opening + position.net_minor, "statement of {} does not add up", position.member);
        members.push(MemberSettlement {
            member: position.member.as_str().to_owned(),
            currency: position.currency.as_str().to_owned(),
            net_minor: position.net_minor,
            receivable_minor: position.receivable_minor,
            payable_minor: position.payable_minor,
            interchange_minor: position.interchange_minor,
            network_fee_minor: position.network_fee_minor,
            records: position.records,
            opening_minor: opening,
            closing_minor: closing,
        });
    }
    Ok(members)
}

/// The date's transfers, one per non-zero position, linked into one chain: a payer's account
/// into the multilateral net settlement account, or out of it to a receiver's.
fn date_transfers(
    date: BusinessDate,
    positions: &[Position],
    accounts: &[Id],
    net_accounts: &BTreeMap<String, Id>,
) -> Result<Vec<Transfer>> {
    let mut transfers = Vec::with_capacity(positions.len());
    for (position, &account) in positions.iter().zip(accounts) {
        if position.net_minor == 0 {
            continue;
        }
        let missing = || SettlementError::Input(format!("no currency {} in the ledger", position.currency));
        let net_account = *net_accounts.get(position.currency.as_str()).ok_or_else(missing)?;
        let ledger_id = ledger_of(position.currency.as_str()).ok_or_else(missing)?;
        let amount = position.net_minor.unsigned_abs();
        let (debit, credit) = if position.net_minor < 0 { (account, net_account) } else { (net_account, account) };
        let mut transfer = Transfer::new(
            transfer_id(date, position.member.as_str(), position.currency.as_str()),
            debit,
            credit,
            amount,
            ledger_id,
            TRANSFER_NET_SETTLEMENT,
        );
        transfer.user_data_32 = u32::try_from(date.days()).unwrap_or(0);
        transfer.user_data_64 = institution_number(position.member.as_str()).unwrap_or(0);
        transfers.push(transfer.with_flags(TransferFlags::LINKED));
    }
    // The chain ends at its last transfer (which must not be linked).
    if let Some(last) = transfers.last_mut() {
        last.flags = TransferFlags::default();
    }
    Ok(transfers)
}

/// Each account's balance at the bank (posted credits − posted debits).
fn balances(ledger: &mut SettlementLedger, ids: &[Id]) -> Result<Vec<i64>> {
    let mut found: BTreeMap<Id, i64> = BTreeMap::new();
    for chunk in ids.chunks(ledger::BATCH_EVENTS_MAX) {
        for account in ledger.lookup_accounts(chunk)? {
            let balance = i64::try_from(account.credit_balance())
                .map_err(|_| SettlementError::Ledger(format!("account {:#x} is beyond 2^63", account.id)))?;
            found.insert(account.id, balance);
        }
    }
    ids.iter()
        .map(|id| found.get(id).copied().ok_or_else(|| SettlementError::Ledger(format!("account {id:#x} is missing"))))
        .collect()
}
