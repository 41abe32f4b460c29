//! The acquirer's money, in its own double-entry ledger (crates/ledger; one ledger per currency,
//! its ISO 4217 numeric code), as the issuer keeps its own (crates/issuer/src/money.rs).
//!
//! Accounts, per currency: network settlement (an asset: what the switch owes the acquirer);
//! one payable per merchant (a liability: what the acquirer owes it); MDR fee income;
//! interchange expense and network-fee expense; the paying bank (money paid out).
//!
//! Per payout (date, cycle, merchant, currency): sales (gross − voids − refunds) network
//! settlement → payable; adjustments the same way; the MDR payable → fee income; the payout
//! payable → paying bank. Per date and currency from the clearing file: interchange and network
//! fee expense → network settlement. Every id is derived from its name ([`named_id`]), so a
//! rerun resubmits the same transfers and the ledger answers `exists`: nothing moves twice.

use std::sync::{Arc, Mutex, MutexGuard};

use ledger::{Account, CreateAccountResult, CreateTransferResult, Id, Ledger, Transfer};
use sha1::{Digest, Sha1};

use crate::error::{AcquirerError, Result};

/// The chart of accounts.
pub const CODE_NETWORK_SETTLEMENT: u16 = 100;
pub const CODE_MERCHANT_PAYABLE: u16 = 200;
pub const CODE_MDR_INCOME: u16 = 300;
pub const CODE_INTERCHANGE_EXPENSE: u16 = 400;
pub const CODE_NETWORK_FEE_EXPENSE: u16 = 401;
pub const CODE_PAYING_BANK: u16 = 500;

/// Transfer codes.
pub const TRANSFER_SALES: u16 = 1;
pub const TRANSFER_MDR: u16 = 2;
pub const TRANSFER_ADJUSTMENT: u16 = 3;
pub const TRANSFER_PAYOUT: u16 = 4;
pub const TRANSFER_INTERCHANGE: u16 = 5;
pub const TRANSFER_NETWORK_FEE: u16 = 6;

/// A 128-bit id named by `parts`: the first 16 bytes of SHA-1 over a domain tag and the parts
/// (each ended by a NUL). A name, not a secret.
pub fn named_id(domain: &str, parts: &[&str]) -> Id {
    let mut hasher = Sha1::new();
    hasher.update(b"cardnet acquirer ledger v1\0");
    hasher.update(domain.as_bytes());
    for part in parts {
        hasher.update([0u8]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    match u128::from_be_bytes(bytes) {
        0 => 1,
        u128::MAX => u128::MAX - 1,
        id => id,
    }
}

/// The ledger of a currency: its ISO 4217 numeric code.
pub fn ledger_of(currency: &str) -> Result<u32> {
    match currency.parse::<u32>() {
        Ok(code) if currency.len() == 3 && code > 0 => Ok(code),
        _ => Err(AcquirerError::Internal(format!("currency {currency:?} is not an ISO 4217 numeric code"))),
    }
}

/// A system account's id (`merchant` empty) or a merchant's payable.
pub fn account_id(code: u16, currency: &str, merchant: &str) -> Id {
    named_id("account", &[&code.to_string(), currency, merchant])
}

/// The acquirer ledger's store, chosen by the `ledger` URL.
type LedgerStore = ledger::UrlStore;

fn open_store(url: &str) -> Result<LedgerStore> {
    ledger::UrlStore::open(url).map_err(|e| match e {
        ledger::OpenError::Url(message) => AcquirerError::Config(crate::ConfigError(message)),
        ledger::OpenError::Store(error) => AcquirerError::Internal(format!("acquirer ledger {url:?}: {error}")),
    })
}

/// The clock handed to the ledger (it stamps transfers; settlement never expires anything).
#[derive(Clone)]
struct SharedClock(Arc<dyn clock::Clock>);

impl clock::Clock for SharedClock {
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
}

/// One movement to make: from `debit` to `credit`, named by `name` (a rerun names the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub name: Vec<String>,
    pub currency: String,
    pub debit: Id,
    pub credit: Id,
    pub amount_minor: u64,
    pub code: u16,
}

impl Movement {
    /// A signed amount as a movement: positive from `debit` to `credit`, negative the other way,
    /// zero none.
    pub fn signed(
        name: Vec<String>,
        currency: &str,
        debit: Id,
        credit: Id,
        amount: i64,
        code: u16,
    ) -> Option<Movement> {
        let (debit, credit) = if amount < 0 { (credit, debit) } else { (debit, credit) };
        (amount != 0).then(|| Movement {
            name,
            currency: currency.to_owned(),
            debit,
            credit,
            amount_minor: amount.unsigned_abs(),
            code,
        })
    }
}

/// The acquirer's ledger.
pub struct AcquirerLedger {
    ledger: Mutex<Ledger<LedgerStore, SharedClock>>,
}

impl std::fmt::Debug for AcquirerLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquirerLedger").finish_non_exhaustive()
    }
}

fn ledger_error(error: ledger::LedgerError) -> AcquirerError {
    AcquirerError::Internal(format!("acquirer ledger: {error}"))
}

impl AcquirerLedger {
    pub fn open(url: &str, clock: Arc<dyn clock::Clock>) -> Result<AcquirerLedger> {
        let ledger = Ledger::open(open_store(url)?, SharedClock(clock)).map_err(ledger_error)?;
        Ok(AcquirerLedger { ledger: Mutex::new(ledger) })
    }

    fn lock(&self) -> MutexGuard<'_, Ledger<LedgerStore, SharedClock>> {
        // Each ledger call is one transaction that committed or left nothing.
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Create the system accounts of `currency` and the payables of `merchants` (idempotent).
    pub fn ensure_accounts(&self, currency: &str, merchants: &[&str]) -> Result<()> {
        let ledger_id = ledger_of(currency)?;
        let system = [
            CODE_NETWORK_SETTLEMENT,
            CODE_MDR_INCOME,
            CODE_INTERCHANGE_EXPENSE,
            CODE_NETWORK_FEE_EXPENSE,
            CODE_PAYING_BANK,
        ];
        let mut accounts: Vec<Account> =
            system.iter().map(|&code| Account::new(account_id(code, currency, ""), ledger_id, code)).collect();
        accounts.extend(
            merchants.iter().map(|m| {
                Account::new(account_id(CODE_MERCHANT_PAYABLE, currency, m), ledger_id, CODE_MERCHANT_PAYABLE)
            }),
        );
        for chunk in accounts.chunks(ledger::BATCH_EVENTS_MAX) {
            for result in self.lock().create_accounts(chunk).map_err(ledger_error)? {
                if !matches!(result, CreateAccountResult::Ok | CreateAccountResult::Exists) {
                    return Err(AcquirerError::Internal(format!("acquirer ledger account: {result}")));
                }
            }
        }
        Ok(())
    }

    /// Make `movements`; one already made under the same name is not made again. The number
    /// made now.
    pub fn post(&self, movements: &[Movement]) -> Result<u64> {
        let mut transfers = Vec::with_capacity(movements.len());
        for m in movements {
            let parts: Vec<&str> = m.name.iter().map(String::as_str).collect();
            let id = named_id("transfer", &parts);
            transfers.push(Transfer::new(id, m.debit, m.credit, m.amount_minor, ledger_of(&m.currency)?, m.code));
        }
        let mut made = 0;
        for chunk in transfers.chunks(ledger::BATCH_EVENTS_MAX) {
            for result in self.lock().create_transfers(chunk).map_err(ledger_error)? {
                match result {
                    CreateTransferResult::Ok => made += 1,
                    CreateTransferResult::Exists => {}
                    other => return Err(AcquirerError::Internal(format!("acquirer ledger transfer: {other}"))),
                }
            }
        }
        Ok(made)
    }

    /// An account's balances, if it exists.
    pub fn account(&self, id: Id) -> Result<Option<Account>> {
        Ok(self.lock().lookup_accounts(&[id]).map_err(ledger_error)?.first().copied())
    }
}
