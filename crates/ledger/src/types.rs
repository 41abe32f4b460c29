//! Accounts and transfers, TigerBeetle's data model (ledger-clearing-anchors.md §1), with one
//! deliberate difference: amounts and balances are `u64` minor units bounded by
//! [`AMOUNT_MAX`] (`i64::MAX`) so that every value fits an SQL integer column on SQLite and
//! PostgreSQL alike. A transfer that would push a balance past it fails with an `overflows_*`
//! result, as TigerBeetle's u128 balances would.

/// Account and transfer identifiers: 128 bits, chosen by the client (the idempotency key).
pub type Id = u128;

/// The largest amount or balance the ledger holds (fits `BIGINT`).
pub const AMOUNT_MAX: u64 = i64::MAX as u64;

/// Most events in one `create_accounts` / `create_transfers` batch (TigerBeetle's limit).
pub const BATCH_EVENTS_MAX: usize = 8_190;

/// Account flags (TigerBeetle's bit positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AccountFlags(pub u16);

impl AccountFlags {
    pub const LINKED: AccountFlags = AccountFlags(1 << 0);
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: AccountFlags = AccountFlags(1 << 1);
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: AccountFlags = AccountFlags(1 << 2);
    pub const HISTORY: AccountFlags = AccountFlags(1 << 3);
    pub const CLOSED: AccountFlags = AccountFlags(1 << 5);
    /// Bits this ledger gives meaning to.
    pub const KNOWN: u16 = 0b10_1111;

    pub fn contains(self, other: AccountFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: AccountFlags) -> AccountFlags {
        AccountFlags(self.0 | other.0)
    }
}

/// Transfer flags (TigerBeetle's bit positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransferFlags(pub u16);

impl TransferFlags {
    pub const LINKED: TransferFlags = TransferFlags(1 << 0);
    pub const PENDING: TransferFlags = TransferFlags(1 << 1);
    pub const POST_PENDING_TRANSFER: TransferFlags = TransferFlags(1 << 2);
    pub const VOID_PENDING_TRANSFER: TransferFlags = TransferFlags(1 << 3);
    pub const BALANCING_DEBIT: TransferFlags = TransferFlags(1 << 4);
    pub const BALANCING_CREDIT: TransferFlags = TransferFlags(1 << 5);
    /// Bits this ledger gives meaning to (closing and imported transfers are not offered).
    pub const KNOWN: u16 = 0b11_1111;

    pub fn contains(self, other: TransferFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: TransferFlags) -> TransferFlags {
        TransferFlags(self.0 | other.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Account {
    pub id: Id,
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// The partition accounts transact within: one per currency.
    pub ledger: u32,
    /// The account's category (chart of accounts).
    pub code: u16,
    pub flags: AccountFlags,
    /// Set by the ledger when the account is created (nanoseconds); zero on input.
    pub timestamp: u64,
}

impl Account {
    /// A new account: zero balances, the given identity.
    pub fn new(id: Id, ledger: u32, code: u16) -> Account {
        Account { id, ledger, code, ..Account::default() }
    }

    pub fn with_flags(mut self, flags: AccountFlags) -> Account {
        self.flags = flags;
        self
    }

    /// Posted credits minus posted debits (a liability's balance), as a signed value.
    pub fn credit_balance(&self) -> i128 {
        self.credits_posted as i128 - self.debits_posted as i128
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Transfer {
    pub id: Id,
    pub debit_account_id: Id,
    pub credit_account_id: Id,
    pub amount: u64,
    /// For post/void: the pending transfer being resolved.
    pub pending_id: Id,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// Seconds after which a pending transfer expires (0: never).
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: TransferFlags,
    /// Set by the ledger when the transfer is created (nanoseconds); zero on input.
    pub timestamp: u64,
}

impl Transfer {
    pub fn new(id: Id, debit_account_id: Id, credit_account_id: Id, amount: u64, ledger: u32, code: u16) -> Transfer {
        Transfer { id, debit_account_id, credit_account_id, amount, ledger, code, ..Transfer::default() }
    }

    pub fn with_flags(mut self, flags: TransferFlags) -> Transfer {
        self.flags = flags;
        self
    }

    pub fn is_pending(&self) -> bool {
        self.flags.contains(TransferFlags::PENDING)
    }

    /// Posting or voiding a pending transfer.
    pub fn resolves_pending(&self) -> bool {
        self.flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || self.flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
    }
}

/// Where a pending transfer stands. A pending transfer is resolved at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    /// Not a pending transfer.
    None,
    Pending,
    Posted,
    Voided,
    Expired,
}

impl PendingStatus {
    pub fn code(self) -> i64 {
        match self {
            PendingStatus::None => 0,
            PendingStatus::Pending => 1,
            PendingStatus::Posted => 2,
            PendingStatus::Voided => 3,
            PendingStatus::Expired => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<PendingStatus> {
        Some(match code {
            0 => PendingStatus::None,
            1 => PendingStatus::Pending,
            2 => PendingStatus::Posted,
            3 => PendingStatus::Voided,
            4 => PendingStatus::Expired,
            _ => return None,
        })
    }
}

/// A stored transfer with its pending state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferRecord {
    pub transfer: Transfer,
    pub status: PendingStatus,
    /// When a pending transfer expires (ledger nanoseconds); 0 for none.
    pub expires_at: u64,
}

/// An account's balances after a transfer, kept for accounts with the `history` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountBalance {
    pub account_id: Id,
    pub timestamp: u64,
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
}
