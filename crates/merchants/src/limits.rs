//! Every bound of the registry, named once.

/// Amounts are stored as SQL `BIGINT`, so every amount in minor units is at most `i64::MAX`.
pub const AMOUNT_MAX_MINOR: u64 = i64::MAX as u64;
/// Basis points in one whole (100 %): a merchant discount rate is at most this.
pub const BASIS_POINTS_PER_UNIT: u64 = 10_000;
/// Characters of a free-text field (business name, legal representative, city, reason, reviewer):
/// enough for any real name, small enough that a row stays small.
pub const TEXT_CHARS_MAX: usize = 200;
/// The unified social credit code (统一社会信用代码, GB 32100-2015) is 18 characters.
pub const LICENCE_LEN: usize = 18;
/// Merchant category code: 4 digits (ISO 18245).
pub const MCC_LEN: usize = 4;
/// Country: ISO 3166-1 alpha-2, as field 43 carries it.
pub const COUNTRY_LEN: usize = 2;
/// A bank code: from a 3-digit bank number to a 12-digit CNAPS participant code (行号).
pub const BANK_CODE_LEN_MIN: usize = 3;
pub const BANK_CODE_LEN_MAX: usize = 12;
/// A settlement account number: digits; Chinese bank accounts run from 8 to about 25 digits.
pub const ACCOUNT_LEN_MIN: usize = 8;
pub const ACCOUNT_LEN_MAX: usize = 32;
/// The merchant id (field 42) is 15 digits: prefix + MCC + sequence.
pub const MERCHANT_ID_LEN: usize = 15;
/// The configured prefix: 3-digit acquirer code + 4-digit area code (the UnionPay layout,
/// e.g. `898` `4401` in `898440154110001`).
pub const MERCHANT_ID_PREFIX_LEN: usize = 7;
/// Digits of the per prefix-and-MCC sequence that ends a merchant id.
pub const MERCHANT_ID_SEQUENCE_LEN: usize = 4;
/// The last sequence number: 9999 merchants per prefix and MCC.
pub const MERCHANT_ID_SEQUENCE_MAX: u64 = 9_999;
/// Terminal id (field 41): 8 characters.
pub const TERMINAL_ID_LEN: usize = 8;
/// Characters of a terminal's model or serial number.
pub const TERMINAL_TEXT_CHARS_MAX: usize = 64;
/// A new terminal starts in batch 000001 at the POS host (which keeps its batch from then on).
pub const BATCH_NO_FIRST: u32 = 1;
/// TMK components for a key ceremony: 2 or 3 custodians.
pub const TMK_COMPONENTS_MIN: usize = 2;
pub const TMK_COMPONENTS_MAX: usize = 3;
/// Rows one list call returns at most.
pub const LIST_MAX: usize = 10_000;
/// Entries in the allowed-MCC and sanctioned-names lists of the configuration.
pub const ALLOWED_MCCS_MAX: usize = 10_000;
pub const SANCTIONED_NAMES_MAX: usize = 100_000;
/// The configuration file is read whole; a sanctions list makes it large, not this large.
pub const CONFIG_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Attempts to insert a row under a freshly allocated id when a concurrent writer (several
/// processes on PostgreSQL) took the same id first.
pub const ID_ATTEMPTS_MAX: usize = 8;
