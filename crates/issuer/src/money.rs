//! The issuer's money, in its double-entry ledger (one ledger per currency).
//!
//! Accounts:
//! * one per card (`DEBITS_MUST_NOT_EXCEED_CREDITS`: the ledger itself refuses a hold or
//!   posting beyond what the card has — answer 51);
//! * the issuer's network settlement account: purchases credit it (what the issuer owes the
//!   network at settlement), refunds debit it;
//! * funding (money put on debit cards), credit line (limits of credit cards) and stand-in
//!   overdraft (a stand-in approval the card could not cover is still honoured: the shortfall
//!   is lent from here, so the approval becomes a hold as the switch promised).
//!
//! Transfers: purchase and pre-authorization are pending transfers card → settlement with a
//! timeout; completion posts (all or part, the rest released); void and reversal void; refund
//! is a posted transfer settlement → card. Every transfer id is derived from the key of the
//! request it serves ([`transfer_id`]), so creating it again is the ledger's idempotent
//! resubmission, never a second movement.
//!
//! Where: the ledger's tables live in the issuer's own database (`ledger::sql_ledger`), and a
//! request's movement (`*_in`, given the request's transaction) commits with its journal row —
//! one commit per request. A configuration that still names a separate `ledger` store is read
//! as before: each movement commits there on its own, first.

use std::sync::{Arc, Mutex, MutexGuard};

use clock::Clock;
use ledger::{
    Account, AccountFlags, CreateAccountResult, CreateTransferResult, Id, Ledger, Transfer, TransferFlags,
    TransferRecord,
};
use sha1::{Digest, Sha1};
use sqlstore::{Database, Tx};

use crate::error::{IssuerError, Result};

/// Account codes (the issuer's chart of accounts).
pub const CODE_CARD_DEBIT: u16 = 100;
pub const CODE_CARD_CREDIT: u16 = 101;
pub const CODE_SETTLEMENT: u16 = 200;
pub const CODE_FUNDING: u16 = 300;
pub const CODE_CREDIT_LINE: u16 = 301;
pub const CODE_OVERDRAFT: u16 = 302;

/// Transfer codes: what a movement was for.
pub const TRANSFER_PURCHASE: u16 = 1;
pub const TRANSFER_PREAUTH: u16 = 2;
pub const TRANSFER_REFUND: u16 = 5;
/// A completion voided (完成撤销): its amount back to the card.
pub const TRANSFER_COMPLETION_VOID: u16 = 7;
pub const TRANSFER_REVERSAL: u16 = 6;
pub const TRANSFER_FUNDING: u16 = 8;
pub const TRANSFER_CREDIT_LIMIT: u16 = 9;
pub const TRANSFER_OVERDRAFT: u16 = 10;

/// The high 64 bits of account ids: which kind of account (the low 64 bits tell them apart).
const ACCOUNT_CARD: u128 = 1 << 64;
const ACCOUNT_SETTLEMENT: u128 = 2 << 64;
const ACCOUNT_FUNDING: u128 = 3 << 64;
const ACCOUNT_CREDIT_LINE: u128 = 4 << 64;
const ACCOUNT_OVERDRAFT: u128 = 5 << 64;

/// The issuer's network settlement account in the ledger of `ledger_id` (its currency).
pub fn settlement_account_id(ledger_id: u32) -> Id {
    ACCOUNT_SETTLEMENT | u128::from(ledger_id)
}

/// What a derived transfer does for its request: one request (or one original) gets at most
/// one transfer per role, so (role, key) names exactly one ledger transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferRole {
    /// The hold of a purchase, pre-authorization or stand-in approval (request key).
    Hold = 1,
    /// The posting of a completion (completion's key).
    Complete = 2,
    /// The void of a void request (void's key).
    Void = 3,
    /// A refund's credit (refund's key).
    Refund = 4,
    /// A reversal's void or partial posting of a hold (the *original's* key: every repeat of
    /// a reversal, whatever its own 11 and 7, names the same transfer).
    ReverseHold = 5,
    /// A reversal's counter-transfer of a completion or refund (original's key).
    ReverseTransfer = 6,
    /// Releasing a hold whose journal write failed (request key).
    Compensate = 7,
    /// The stand-in overdraft lent before a stand-in hold (advice key).
    StandInOverdraft = 8,
    /// A funding (its funding id as the key).
    Funding = 9,
    /// A completion void's credit (the void's key).
    CompletionVoid = 10,
    /// The new hold a reversed void puts back on its original (the void's key: a voided
    /// pending transfer cannot be un-voided).
    Rehold = 11,
    /// The overdraft lent before that hold when the card no longer covers it (the void's key).
    ReholdOverdraft = 12,
}

/// The ledger transfer id of `role` for `key`: the first 16 bytes of SHA-1 over a domain tag,
/// the role and the key. Not a secret and not an authenticator: a collision-free name (the
/// keys are short digit strings chosen by members the MAC authenticates).
pub fn transfer_id(role: TransferRole, key: &str) -> Id {
    let mut hasher = Sha1::new();
    hasher.update(b"cardnet issuer transfer v1\0");
    hasher.update([role as u8]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // 0 and u128::MAX are not ids; a digest that is one of them is moved aside.
    match u128::from_be_bytes(bytes) {
        0 => 1,
        u128::MAX => u128::MAX - 1,
        id => id,
    }
}

/// A separate ledger's store, chosen by the `ledger` URL (configurations from before the ledger
/// moved into the issuer's database).
pub(crate) type LedgerStore = ledger::UrlStore;

/// Open the store `url` names: a bad URL is the configuration's fault.
fn open_store(url: &str) -> Result<LedgerStore> {
    ledger::UrlStore::open(url).map_err(|e| match e {
        ledger::OpenError::Url(message) => IssuerError::config(message),
        ledger::OpenError::Store(error) => error.into(),
    })
}

/// The issuer's clock handed to the ledger (holds expire on the same time the host reads).
#[derive(Clone)]
pub(crate) struct SharedClock(pub Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
}

/// A card account's balances, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// Posted credits minus posted debits.
    pub ledger_minor: i64,
    /// What can be spent: posted credits minus posted and pending debits.
    pub available_minor: i64,
}

impl Balance {
    fn of(account: &Account) -> Balance {
        let clamp = |value: i128| i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX });
        let credits = i128::from(account.credits_posted);
        Balance {
            ledger_minor: clamp(credits - i128::from(account.debits_posted)),
            available_minor: clamp(credits - i128::from(account.debits_posted) - i128::from(account.debits_pending)),
        }
    }
}

/// What the ledger said to a movement, in the terms the host decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moved {
    /// Done now.
    Done,
    /// Done before under the same id (a retry of the same request): nothing moved again.
    AlreadyDone,
    /// The card account cannot cover it.
    Insufficient,
    /// The pending transfer to resolve does not exist.
    NotFound,
    /// The pending transfer was already posted, voided or has expired.
    AlreadyResolved(ledger::PendingStatus),
    /// The amount exceeds the pending transfer's.
    ExceedsHold,
    /// Anything else: a bug or a damaged ledger (the host answers 96).
    Refused(CreateTransferResult),
}

fn moved(result: CreateTransferResult) -> Moved {
    use CreateTransferResult as R;
    match result {
        R::Ok => Moved::Done,
        R::Exists => Moved::AlreadyDone,
        R::ExceedsCredits => Moved::Insufficient,
        R::PendingTransferNotFound => Moved::NotFound,
        R::PendingTransferAlreadyPosted => Moved::AlreadyResolved(ledger::PendingStatus::Posted),
        R::PendingTransferAlreadyVoided => Moved::AlreadyResolved(ledger::PendingStatus::Voided),
        R::PendingTransferExpired => Moved::AlreadyResolved(ledger::PendingStatus::Expired),
        R::ExceedsPendingTransferAmount => Moved::ExceedsHold,
        other => Moved::Refused(other),
    }
}

/// Where the ledger's rows are.
enum Place {
    /// In the issuer's own database (the default): a movement is written in the caller's
    /// transaction and commits with its journal row.
    InDatabase,
    /// A separate store (`ledger = URL` in an older configuration): every movement commits on
    /// its own, before the journal (crate::issuer explains the order).
    Separate(Mutex<Ledger<LedgerStore, SharedClock>>),
}

pub(crate) struct Money {
    place: Place,
    /// The issuer's database: the ledger's tables (in place) and standalone calls' transactions.
    db: Database,
    clock: Arc<dyn Clock>,
    ledger_id: u32,
}

impl Money {
    /// Open the ledger — in `db` when `separate` is `None`, else the store that URL names —
    /// and make sure the issuer's own accounts exist.
    pub fn open(db: &Database, separate: Option<&str>, clock: Arc<dyn Clock>, ledger_id: u32) -> Result<Money> {
        let place = match separate {
            None => {
                ledger::sql_txn::migrate(db)?;
                Place::InDatabase
            }
            Some(url) => Place::Separate(Mutex::new(Ledger::open(open_store(url)?, SharedClock(Arc::clone(&clock)))?)),
        };
        let money = Money { place, db: db.clone(), clock, ledger_id };
        let system = [
            (money.settlement_account(), CODE_SETTLEMENT),
            (money.funding_account(), CODE_FUNDING),
            (money.credit_line_account(), CODE_CREDIT_LINE),
            (money.overdraft_account(), CODE_OVERDRAFT),
        ];
        let accounts: Vec<Account> = system.iter().map(|&(id, code)| Account::new(id, ledger_id, code)).collect();
        for (result, (id, _)) in money.create_accounts(&accounts)?.into_iter().zip(system) {
            if !matches!(result, CreateAccountResult::Ok | CreateAccountResult::Exists) {
                return Err(IssuerError::Ledger(format!("system account {id:#x}: {result}")));
            }
        }
        Ok(money)
    }

    /// Whether the ledger is a separate store (each movement its own commit).
    pub fn is_separate(&self) -> bool {
        matches!(self.place, Place::Separate(_))
    }

    fn lock(ledger: &Mutex<Ledger<LedgerStore, SharedClock>>) -> MutexGuard<'_, Ledger<LedgerStore, SharedClock>> {
        // Every ledger call is one transaction that either committed or left nothing; a panic
        // elsewhere while holding the lock leaves no half-state behind it.
        ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `work` in a transaction of its own on the issuer's database (calls made outside a
    /// request's transaction: card management, end of day, expiry).
    fn standalone<T>(&self, work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.transact(work)
    }

    fn create_accounts(&self, accounts: &[Account]) -> Result<Vec<CreateAccountResult>> {
        match &self.place {
            Place::InDatabase => Ok(self
                .db
                .transaction(|tx| ledger::sql_ledger::create_accounts_in(tx, self.clock.now_ns(), accounts))?),
            Place::Separate(ledger) => Ok(Money::lock(ledger).create_accounts(accounts)?),
        }
    }

    pub fn settlement_account(&self) -> Id {
        settlement_account_id(self.ledger_id)
    }

    pub fn funding_account(&self) -> Id {
        ACCOUNT_FUNDING | u128::from(self.ledger_id)
    }

    pub fn credit_line_account(&self) -> Id {
        ACCOUNT_CREDIT_LINE | u128::from(self.ledger_id)
    }

    pub fn overdraft_account(&self) -> Id {
        ACCOUNT_OVERDRAFT | u128::from(self.ledger_id)
    }

    /// A fresh card account id (random low half: card accounts are not enumerable and a
    /// crash after creating one leaves only an empty, unused account).
    pub fn new_card_account_id() -> Result<Id> {
        let mut bytes = [0u8; 8];
        hsm::entropy::fill(&mut bytes)
            .map_err(|_| IssuerError::Internal("the system random generator failed".into()))?;
        Ok(ACCOUNT_CARD | u128::from(u64::from_be_bytes(bytes).max(1)))
    }

    pub fn create_card_account(&self, id: Id, credit: bool) -> Result<()> {
        let code = if credit { CODE_CARD_CREDIT } else { CODE_CARD_DEBIT };
        let account = Account::new(id, self.ledger_id, code).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
        match self.create_accounts(&[account])?.first() {
            Some(CreateAccountResult::Ok | CreateAccountResult::Exists) => Ok(()),
            other => Err(IssuerError::Ledger(format!("card account: {other:?}"))),
        }
    }

    /// A card account's balances, read in the request's transaction `tx`.
    pub fn balance_in(&self, tx: &mut Tx<'_>, account: Id) -> Result<Option<Balance>> {
        let accounts = match &self.place {
            Place::InDatabase => ledger::sql_ledger::lookup_accounts_in(tx, &[account])?,
            Place::Separate(ledger) => Money::lock(ledger).lookup_accounts(&[account])?,
        };
        Ok(accounts.first().map(Balance::of))
    }

    pub fn balance(&self, account: Id) -> Result<Option<Balance>> {
        self.standalone(|tx| self.balance_in(tx, account))
    }

    /// A transfer by id, read in `tx`.
    pub fn transfer_in(&self, tx: &mut Tx<'_>, id: Id) -> Result<Option<TransferRecord>> {
        Ok(self.transfers_in(tx, &[id])?.into_values().next())
    }

    pub fn transfer(&self, id: Id) -> Result<Option<TransferRecord>> {
        self.standalone(|tx| self.transfer_in(tx, id))
    }

    fn transfers_in(&self, tx: &mut Tx<'_>, ids: &[Id]) -> Result<std::collections::HashMap<Id, TransferRecord>> {
        let records = match &self.place {
            Place::InDatabase => ledger::sql_ledger::lookup_transfers_in(tx, ids)?,
            Place::Separate(ledger) => Money::lock(ledger).lookup_transfers(ids)?,
        };
        Ok(records.into_iter().map(|record| (record.transfer.id, record)).collect())
    }

    pub fn ledger_id(&self) -> u32 {
        self.ledger_id
    }

    /// Transfers by id, those that exist (a batch's look-up: one ledger read).
    pub fn transfers(&self, ids: &[Id]) -> Result<std::collections::HashMap<Id, TransferRecord>> {
        self.standalone(|tx| self.transfers_in(tx, ids))
    }

    /// Many transfers, one ledger transaction per [`ledger::BATCH_EVENTS_MAX`] (a linked
    /// chain must not straddle two: the caller keeps chains short and `chain_len_max` says
    /// how long they are). One result per transfer, in order.
    pub fn create_many(&self, transfers: &[Transfer], chain_len_max: usize) -> Result<Vec<Moved>> {
        assert!((1..ledger::BATCH_EVENTS_MAX).contains(&chain_len_max));
        let mut results = Vec::with_capacity(transfers.len());
        let mut start = 0;
        while start < transfers.len() {
            let full = (start + ledger::BATCH_EVENTS_MAX).min(transfers.len());
            let mut end = full;
            // Never cut a chain: end after an event without the linked flag.
            while end > start && end < transfers.len() && transfers[end - 1].flags.contains(TransferFlags::LINKED) {
                end -= 1;
            }
            assert!(end > start && full - end < chain_len_max, "a linked chain longer than chain_len_max");
            let batch = &transfers[start..end];
            results.extend(self.standalone(|tx| self.create(tx, batch))?);
            start = end;
        }
        assert_eq!(results.len(), transfers.len());
        Ok(results)
    }

    /// Create `transfers` in `tx` (in the database), or in the separate ledger (committed there
    /// before this returns).
    fn create(&self, tx: &mut Tx<'_>, transfers: &[Transfer]) -> Result<Vec<Moved>> {
        let results = match &self.place {
            Place::InDatabase => ledger::sql_ledger::create_transfers_in(tx, self.clock.now_ns(), transfers)?,
            Place::Separate(ledger) => Money::lock(ledger).create_transfers(transfers)?,
        };
        Ok(results.into_iter().map(moved).collect())
    }

    fn one(&self, tx: &mut Tx<'_>, transfer: Transfer) -> Result<Moved> {
        Ok(self.create(tx, &[transfer])?.first().copied().unwrap_or(Moved::Refused(CreateTransferResult::Ok)))
    }

    /// A pending hold card → settlement, released by the ledger after `timeout_seconds`.
    #[allow(clippy::too_many_arguments)]
    pub fn hold_in(
        &self,
        tx: &mut Tx<'_>,
        id: Id,
        card: Id,
        amount: u64,
        timeout_seconds: u32,
        code: u16,
        card_id: i64,
    ) -> Result<Moved> {
        let mut transfer = Transfer::new(id, card, self.settlement_account(), amount, self.ledger_id, code)
            .with_flags(TransferFlags::PENDING);
        transfer.timeout = timeout_seconds;
        transfer.user_data_64 = card_id as u64;
        self.one(tx, transfer)
    }

    /// A stand-in hold that must not fail for funds: when the card cannot cover it, the
    /// shortfall is first lent from the overdraft account, linked with the hold (both or
    /// neither).
    #[allow(clippy::too_many_arguments)]
    pub fn forced_hold_in(
        &self,
        tx: &mut Tx<'_>,
        id: Id,
        overdraft_id: Id,
        card: Id,
        amount: u64,
        timeout_seconds: u32,
        code: u16,
        card_id: i64,
    ) -> Result<Moved> {
        match self.hold_in(tx, id, card, amount, timeout_seconds, code, card_id)? {
            Moved::Insufficient => {}
            other => return Ok(other),
        }
        let available = self.balance_in(tx, card)?.map_or(0, |b| b.available_minor);
        let shortfall = u64::try_from(i128::from(amount) - i128::from(available)).unwrap_or(amount).max(1);
        let mut lend =
            Transfer::new(overdraft_id, self.overdraft_account(), card, shortfall, self.ledger_id, TRANSFER_OVERDRAFT)
                .with_flags(TransferFlags::LINKED);
        lend.user_data_64 = card_id as u64;
        let mut hold = Transfer::new(id, card, self.settlement_account(), amount, self.ledger_id, code)
            .with_flags(TransferFlags::PENDING);
        hold.timeout = timeout_seconds;
        hold.user_data_64 = card_id as u64;
        let results = self.create(tx, &[lend, hold])?;
        Ok(results.get(1).copied().unwrap_or(Moved::Refused(CreateTransferResult::Ok)))
    }

    /// Post `amount` of the pending transfer `pending` (0: all of it); the rest is released.
    pub fn post_in(&self, tx: &mut Tx<'_>, id: Id, pending: Id, amount: u64) -> Result<Moved> {
        let transfer = Transfer { pending_id: pending, ..Transfer::new(id, 0, 0, amount, 0, 0) }
            .with_flags(TransferFlags::POST_PENDING_TRANSFER);
        self.one(tx, transfer)
    }

    /// Void the pending transfer `pending`.
    pub fn void_in(&self, tx: &mut Tx<'_>, id: Id, pending: Id) -> Result<Moved> {
        let transfer = Transfer { pending_id: pending, ..Transfer::new(id, 0, 0, 0, 0, 0) }
            .with_flags(TransferFlags::VOID_PENDING_TRANSFER);
        self.one(tx, transfer)
    }

    /// A posted transfer (refunds, fundings, reversals of postings).
    #[allow(clippy::too_many_arguments)]
    pub fn posted_in(
        &self,
        tx: &mut Tx<'_>,
        id: Id,
        debit: Id,
        credit: Id,
        amount: u64,
        code: u16,
        card_id: i64,
    ) -> Result<Moved> {
        let mut transfer = Transfer::new(id, debit, credit, amount, self.ledger_id, code);
        transfer.user_data_64 = card_id as u64;
        self.one(tx, transfer)
    }

    /// [`Money::posted_in`] in a transaction of its own (fundings).
    pub fn posted(&self, id: Id, debit: Id, credit: Id, amount: u64, code: u16, card_id: i64) -> Result<Moved> {
        self.standalone(|tx| self.posted_in(tx, id, debit, credit, amount, code, card_id))
    }

    /// [`Money::void_in`] in a transaction of its own (releasing a separate ledger's hold
    /// after its request's transaction failed).
    pub fn void(&self, id: Id, pending: Id) -> Result<Moved> {
        self.standalone(|tx| self.void_in(tx, id, pending))
    }

    /// Release expired holds; how many.
    pub fn expire(&self) -> Result<usize> {
        match &self.place {
            Place::InDatabase => {
                Ok(self.db.transaction(|tx| ledger::sql_ledger::expire_pending_in(tx, self.clock.now_ns()))?)
            }
            Place::Separate(ledger) => Ok(Money::lock(ledger).expire_pending()?),
        }
    }

    /// Whether the ledger's invariants hold (debits equal credits per ledger, no pending
    /// transfer resolved twice): for tests and operators.
    pub fn check_invariants(&self) -> Result<()> {
        let report = match &self.place {
            Place::InDatabase => self.db.transaction(ledger::sql_ledger::check_invariants_in)?,
            Place::Separate(ledger) => ledger::invariants::check(Money::lock(ledger).store())?,
        };
        if report.holds() { Ok(()) } else { Err(IssuerError::Ledger(report.violations.join("; "))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_ids_are_stable_and_distinct_per_role_and_key() {
        let a = transfer_id(TransferRole::Hold, "2025:000001:0315063023:10000000344:90000000001");
        assert_eq!(a, transfer_id(TransferRole::Hold, "2025:000001:0315063023:10000000344:90000000001"));
        assert_ne!(a, transfer_id(TransferRole::ReverseHold, "2025:000001:0315063023:10000000344:90000000001"));
        assert_ne!(a, transfer_id(TransferRole::Hold, "2025:000002:0315063023:10000000344:90000000001"));
        assert_ne!(a, 0);
    }
}
