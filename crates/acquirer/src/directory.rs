//! Who the terminals and merchants are: the seam to the merchants registry (`crates/merchants`,
//! `merchants::Registry`), which owns onboarding, review, TMK injection and the terminal's
//! terminal's lifecycle. The acquirer reads a terminal with its merchant per request and
//! reports sign-ons back; a terminal's batch and settlement state are the acquirer's own
//! (`acquirer_terminals`, crate::journal), never the registry's.
//!
//! [`TerminalDirectory`] is the acquirer's own small trait so the core does not depend on the
//! registry's crate; the registry implements it (or an adapter does, see docs/acquirer.md).
//! [`MemoryDirectory`] is an in-memory one for tests and the simulation.

use std::collections::HashMap;
use std::sync::Mutex;

use hsm::WrappedKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalStatus {
    /// Added and given a TMK, never signed on.
    Installed,
    Active,
    /// Switched off by the acquirer: every request is answered 58.
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantStatus {
    Active,
    /// Suspended, closed, or not yet activated: answered 03.
    Inactive,
}

/// A terminal as the registry keeps it.
#[derive(Clone)]
pub struct TerminalRecord {
    /// Field 41, 8 characters.
    pub terminal_id: String,
    /// Field 42, 15 digits.
    pub merchant_id: String,
    pub status: TerminalStatus,
    /// The terminal master key under the LMK.
    pub tmk: WrappedKey,
    /// The batch (60.2) the terminal starts in the first time this host sees it (a terminal
    /// moved from another host keeps its numbering). From then on the host's own table
    /// (`acquirer_terminals`) holds the batch and whether it waits for settlement.
    pub batch_no: u32,
}

impl std::fmt::Debug for TerminalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalRecord")
            .field("terminal_id", &self.terminal_id)
            .field("merchant_id", &self.merchant_id)
            .field("status", &self.status)
            .field("tmk_kcv", &self.tmk.kcv())
            .field("batch_no", &self.batch_no)
            .finish()
    }
}

/// A merchant as the registry keeps it. Amounts in minor units of the acquirer's currency.
#[derive(Debug, Clone)]
pub struct MerchantRecord {
    pub merchant_id: String,
    pub name: String,
    /// Merchant category code, 4 digits (field 18).
    pub mcc: String,
    pub city: String,
    pub status: MerchantStatus,
    /// Largest single transaction (61 beyond); `None` = no limit.
    pub single_max_minor: Option<u64>,
    /// Largest approved total per UTC day (the default risk rule, 61 beyond); `None` = none.
    pub daily_max_minor: Option<u64>,
    /// Whether any of the merchant's terminals may void a transaction (a multi-lane store);
    /// by default only the terminal that took it may (others are answered 25).
    pub void_any_terminal: bool,
    /// When the merchant was activated (the risk engine's new-merchant rules); `None` when the
    /// directory does not know.
    pub onboarded_ms: Option<u64>,
}

/// What the acquirer needs from the merchants registry. Errors are one line, no card data.
pub trait TerminalDirectory: Send + Sync {
    fn terminal_with_merchant(&self, terminal_id: &str) -> Result<Option<(TerminalRecord, MerchantRecord)>, String>;
    /// A successful sign-on at `now_ms`: the registry's lifecycle (an installed terminal becomes
    /// active). Told after the host's commit; the batch is not the registry's to keep.
    fn record_sign_on(&self, terminal_id: &str, now_ms: u64) -> Result<(), String>;
    /// A version of all the directory holds, read before the rows it vouches for: two equal
    /// versions mean no terminal or merchant changed between them (a change of nothing may
    /// move it too). `None` when the directory cannot tell: the host then reads it on every
    /// request instead of keeping what it read.
    fn version(&self) -> Option<u128> {
        None
    }
}

/// An in-memory directory for tests, the demo and the simulation.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    merchants: HashMap<String, MerchantRecord>,
    terminals: HashMap<String, TerminalRecord>,
    /// terminal → its last sign-on (at).
    sign_ons: HashMap<String, u64>,
    /// Moved by every change ([`TerminalDirectory::version`]).
    version: u64,
}

impl MemoryDirectory {
    pub fn new() -> MemoryDirectory {
        MemoryDirectory::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The lock of a change: the version moves.
    fn change(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        let mut inner = self.lock();
        inner.version += 1;
        inner
    }

    pub fn put_merchant(&self, merchant: MerchantRecord) {
        self.change().merchants.insert(merchant.merchant_id.clone(), merchant);
    }

    pub fn put_terminal(&self, terminal: TerminalRecord) {
        self.change().terminals.insert(terminal.terminal_id.clone(), terminal);
    }

    pub fn set_terminal_status(&self, terminal_id: &str, status: TerminalStatus) {
        if let Some(t) = self.change().terminals.get_mut(terminal_id) {
            t.status = status;
        }
    }

    pub fn set_merchant_status(&self, merchant_id: &str, status: MerchantStatus) {
        if let Some(m) = self.change().merchants.get_mut(merchant_id) {
            m.status = status;
        }
    }

    /// When the acquirer last reported a sign-on.
    pub fn last_sign_on(&self, terminal_id: &str) -> Option<u64> {
        self.lock().sign_ons.get(terminal_id).copied()
    }
}

impl TerminalDirectory for MemoryDirectory {
    fn terminal_with_merchant(&self, terminal_id: &str) -> Result<Option<(TerminalRecord, MerchantRecord)>, String> {
        let inner = self.lock();
        let Some(terminal) = inner.terminals.get(terminal_id) else { return Ok(None) };
        Ok(inner.merchants.get(&terminal.merchant_id).map(|m| (terminal.clone(), m.clone())))
    }

    fn record_sign_on(&self, terminal_id: &str, now_ms: u64) -> Result<(), String> {
        let mut inner = self.change();
        inner.sign_ons.insert(terminal_id.to_owned(), now_ms);
        if let Some(t) = inner.terminals.get_mut(terminal_id)
            && t.status == TerminalStatus::Installed
        {
            t.status = TerminalStatus::Active;
        }
        Ok(())
    }

    fn version(&self) -> Option<u128> {
        Some(u128::from(self.lock().version))
    }
}
