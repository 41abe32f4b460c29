//! The registry's records and their statuses, as callers see them.

use std::fmt;

use hsm::{Secret, WrappedKey};

use crate::fees::FeePlan;

/// Names a status is stored and shown under, and back.
macro_rules! named {
    ($type:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub const ALL: &'static [$type] = &[$($type::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }

            pub fn from_name(name: &str) -> Option<$type> {
                $type::ALL.iter().copied().find(|value| value.name() == name)
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// Where an application stands. Once activated, the merchant's own [`MerchantStatus`] goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationStatus {
    /// Submitted, every automatic check passed: waiting for a reviewer.
    Applied,
    /// Refused: by the automatic checks at submission, or by a reviewer. Final.
    Rejected,
    /// A reviewer approved it: waiting for activation (merchant id, fees, limits).
    Approved,
    /// A merchant was opened from it.
    Activated,
}
named!(ApplicationStatus { Applied => "applied", Rejected => "rejected", Approved => "approved", Activated => "activated" });

/// A merchant's status once activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MerchantStatus {
    /// Trading: its terminals may transact, new terminals may be added.
    Active,
    /// Stopped for a reason (risk, compliance) until reinstated: no transactions, no new
    /// terminals.
    Suspended,
    /// The relationship ended. Final; its licence and account may apply again.
    Closed,
}
named!(MerchantStatus { Active => "active", Suspended => "suspended", Closed => "closed" });

/// The one life-cycle status `merchant list --status` filters on: the application's status
/// until it is activated, the merchant's afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Applied,
    Rejected,
    Approved,
    Active,
    Suspended,
    Closed,
}
named!(Status {
    Applied => "applied",
    Rejected => "rejected",
    Approved => "approved",
    Active => "active",
    Suspended => "suspended",
    Closed => "closed",
});

/// A settlement account change's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeStatus {
    /// Checks passed, waiting for a reviewer; payouts still go to the old account.
    Pending,
    /// The new account is the payout account.
    Approved,
    /// Refused (automatic checks or reviewer); the old account stays.
    Rejected,
}
named!(ChangeStatus { Pending => "pending", Approved => "approved", Rejected => "rejected" });

/// When a merchant is paid for a day's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettlementCycle {
    /// The next business day (T+1).
    T1,
    /// The same day (D0).
    D0,
}
named!(SettlementCycle { T1 => "t1", D0 => "d0" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminalStatus {
    /// Registered with a TMK, never signed on.
    Installed,
    /// Signed on at least once.
    Active,
    /// Taken out of service. Final.
    Disabled,
}
named!(TerminalStatus { Installed => "installed", Active => "active", Disabled => "disabled" });

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Approve,
    Reject,
}

/// The automatic checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// Every required field present and of its shape (MCC digits, country code, bank code and
    /// account digits).
    RequiredFields,
    /// The licence is a unified social credit code with the right check character.
    LicenceFormat,
    /// The MCC is in the configured list.
    MccAllowed,
    /// No live merchant (active, suspended) or open application has this licence.
    DuplicateLicence,
    /// No other live merchant, open application or pending account change has this account.
    DuplicateAccount,
    /// Neither business name nor legal representative is on the sanctions list.
    SanctionedName,
    /// An account change names an account other than the current one.
    AccountDiffers,
}
named!(Check {
    RequiredFields => "required-fields",
    LicenceFormat => "licence-format",
    MccAllowed => "mcc-allowed",
    DuplicateLicence => "duplicate-licence",
    DuplicateAccount => "duplicate-account",
    SanctionedName => "sanctioned-name",
    AccountDiffers => "account-differs",
});

/// One automatic check as recorded: passed or not, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub check: Check,
    pub passed: bool,
    pub reason: String,
    pub at_ms: u64,
}

/// What the review trail records about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Application,
    Merchant,
    AccountChange,
    Terminal,
}
named!(Subject {
    Application => "application",
    Merchant => "merchant",
    AccountChange => "account-change",
    Terminal => "terminal",
});

/// One entry of the review trail, kept forever: submission, the automatic outcome, decisions,
/// activation, status changes, terminal events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEntry {
    pub subject: Subject,
    pub subject_id: String,
    pub at_ms: u64,
    /// `submitted`, `checks-passed`, `checks-failed`, `approved`, `rejected`, `activated`,
    /// `suspended`, `reinstated`, `closed`, `account-change-requested`, `account-changed`,
    /// `terminal-added`, `tmk-generated`, `tmk-imported`, `terminal-disabled`.
    pub event: String,
    /// Who: a reviewer's name, `system` for automatic steps, `operator` for CLI operations.
    pub actor: String,
    pub reason: String,
}

/// A merchant application as submitted (fields are trimmed; licence and country upper-cased).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Application {
    pub business_name: String,
    /// Unified social credit code (统一社会信用代码), 18 characters.
    pub licence_no: String,
    pub legal_representative: String,
    /// Merchant category code, 4 digits.
    pub mcc: String,
    pub city: String,
    /// ISO 3166-1 alpha-2 (`CN`).
    pub country: String,
    pub settlement: SettlementAccount,
    pub expected_monthly_volume_minor: u64,
}

/// Where a merchant is paid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SettlementAccount {
    /// The bank: 3 to 12 digits (bank number or CNAPS participant code).
    pub bank_code: String,
    /// 8 to 32 digits.
    pub account_no: String,
}

/// A reviewer's recorded decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub approved: bool,
    pub reviewer: String,
    pub reason: String,
    pub at_ms: u64,
}

/// An application with every check's outcome and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub application_id: i64,
    pub application: Application,
    pub status: ApplicationStatus,
    pub checks: Vec<CheckOutcome>,
    /// The reviewer's decision; `None` while applied, or when the automatic checks rejected it.
    pub review: Option<Review>,
    /// Set once activated.
    pub merchant_id: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// Per-merchant limits the POS host enforces (answer 13 / 61 above them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MerchantLimits {
    pub single_max_minor: u64,
    pub daily_max_minor: u64,
}

/// What activation sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MerchantTerms {
    pub fee_plan: FeePlan,
    pub cycle: SettlementCycle,
    /// `None`: the configured defaults.
    pub single_max_minor: Option<u64>,
    pub daily_max_minor: Option<u64>,
}

/// An activated merchant: what the POS host needs for field 42/43, checks and fees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRecord {
    /// 15 digits (field 42): prefix (7) + MCC (4) + sequence (4).
    pub merchant_id: String,
    pub application_id: i64,
    pub name: String,
    pub licence_no: String,
    pub legal_representative: String,
    pub mcc: String,
    pub city: String,
    pub country: String,
    /// The payout account now: changes only when a change is approved.
    pub settlement: SettlementAccount,
    pub status: MerchantStatus,
    /// Why it was last suspended, reinstated or closed.
    pub status_reason: Option<String>,
    pub fee_plan: FeePlan,
    pub cycle: SettlementCycle,
    pub limits: MerchantLimits,
    /// Whether any of its terminals may void a transaction another took (multi-lane stores);
    /// `false` by default: only the original terminal may.
    pub void_any_terminal: bool,
    pub activated_ms: u64,
    pub updated_ms: u64,
}

/// A request to pay a merchant into another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChangeRecord {
    pub change_id: i64,
    pub merchant_id: String,
    /// The payout account when the change was requested.
    pub old: SettlementAccount,
    pub new: SettlementAccount,
    pub status: ChangeStatus,
    pub checks: Vec<CheckOutcome>,
    pub review: Option<Review>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// One payout account a merchant has had, from when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHistoryEntry {
    pub account: SettlementAccount,
    pub from_ms: u64,
    /// The change that made it the payout account; `None` for the application's account.
    pub change_id: Option<i64>,
}

/// One line of `merchant list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub application_id: i64,
    pub merchant_id: Option<String>,
    pub name: String,
    pub mcc: String,
    pub city: String,
    pub status: Status,
    pub updated_ms: u64,
}

/// Everything about a merchant: `merchant show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantDetails {
    pub merchant: MerchantRecord,
    pub application: ApplicationRecord,
    pub account_history: Vec<AccountHistoryEntry>,
    pub account_changes: Vec<AccountChangeRecord>,
    pub terminals: Vec<TerminalRecord>,
    /// The application's, the merchant's, its account changes' and its terminals' trails, in
    /// time order.
    pub trail: Vec<TrailEntry>,
}

/// A terminal as the POS host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRecord {
    /// 8 characters (field 41), unique across the acquirer.
    pub terminal_id: String,
    pub merchant_id: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub status: TerminalStatus,
    /// The terminal master key, under the LMK (its `kcv()` is the check value).
    pub tmk: WrappedKey,
    /// The last sign-on the POS host reported.
    pub last_sign_on_ms: Option<u64>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// A new terminal's identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTerminal {
    /// Exactly 8 ASCII letters or digits.
    pub terminal_id: String,
    pub model: Option<String>,
    pub serial: Option<String>,
}

/// How a freshly generated TMK leaves the registry toward the terminal.
#[derive(Debug, Clone)]
pub enum TmkExport {
    /// As 2 or 3 clear components for key custodians (a key-injection ceremony).
    Components(usize),
    /// Encrypted under a KEK (a ZMK or TMK key block under the LMK) shared with the
    /// key-injection facility.
    UnderKek(WrappedKey),
}

/// A known TMK to load (key injection of a key the terminal already holds).
#[derive(Debug)]
pub enum TmkImport {
    /// 2 or 3 clear components, 16 or 24 bytes each, XORed together.
    Components(Vec<Secret>),
    /// The TMK encrypted under `kek` (ECB, 16 or 24 bytes).
    UnderKek { kek: WrappedKey, encrypted: Vec<u8> },
}

/// Where a terminal's TMK comes from.
#[derive(Debug)]
pub enum TmkSource {
    Generate(TmkExport),
    Import(TmkImport),
}

/// One clear component and its own check value (each custodian checks theirs).
#[derive(Debug)]
pub struct TmkComponent {
    pub component: Secret,
    pub kcv: String,
}

/// The TMK under the caller's KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmkUnderKek {
    pub kek_kcv: String,
    /// ECB under the KEK (the legacy form); `None` with an AES KEK.
    pub encrypted: Option<Vec<u8>>,
    /// A TR-31 key block under the KEK (version B for a TDES KEK, D for AES).
    pub key_block: String,
}

/// What leaves with a new TMK: its check value and, for a generated one, the form asked for.
/// Shown once; the registry keeps only the key under the LMK.
#[derive(Debug)]
pub struct TmkDelivery {
    pub kcv: String,
    pub components: Vec<TmkComponent>,
    pub under_kek: Option<TmkUnderKek>,
}
