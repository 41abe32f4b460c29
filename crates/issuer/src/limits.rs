//! Every bound the issuer host keeps, in one place.

/// Largest configuration file read (a config is a few kilobytes; this refuses a wrong file).
pub const CONFIG_BYTES_MAX: u64 = 1 << 20;
/// Digits of an institution id (fields 32, 33, 100).
pub const INSTITUTION_ID_LEN: usize = 11;
/// Card products one issuer configures at most.
pub const PRODUCTS_MAX: usize = 64;
/// Characters of a product name.
pub const PRODUCT_NAME_LEN_MAX: usize = 32;
/// Digits of a BIN (issuer identification number) a product issues under.
pub const BIN_LEN_MIN: usize = 6;
pub const BIN_LEN_MAX: usize = 11;
/// Digits of a PAN the issuer issues (ISO/IEC 7812; EMV option A keys 16 digits and fewer).
pub const PAN_LEN_MIN: usize = 13;
pub const PAN_LEN_MAX: usize = 19;
/// PAN length when a product does not say.
pub const PAN_LEN_DEFAULT: usize = 16;
/// PIN length when a product does not say (UnionPay cards use 6 digits).
pub const PIN_LENGTH_DEFAULT: usize = 6;
/// Wrong PINs in a row that block the PIN (answer 75), by default.
pub const PIN_TRIES_MAX_DEFAULT: u32 = 3;
/// The highest `pin_tries_max` a configuration may set.
pub const PIN_TRIES_MAX_LIMIT: u32 = 9;
/// Digits of an IBM 3624 decimalization table (one per hex nibble).
pub const DECIMALIZATION_TABLE_DIGITS: usize = 16;
/// The identity decimalization table: hex nibbles A–F count as 0–5.
pub const DECIMALIZATION_TABLE_DEFAULT: &str = "0123456789012345";
/// Days a pre-authorization hold lasts before the ledger releases it, by default.
pub const PREAUTH_HOLD_DAYS_DEFAULT: u32 = 7;
/// Days a purchase hold lasts if clearing never posts it (an authorization not presented),
/// by default.
pub const PURCHASE_HOLD_DAYS_DEFAULT: u32 = 30;
/// The longest hold a configuration may set: the ledger's timeout is `u32` seconds, and a
/// hold past this is a mistake in the file.
pub const HOLD_DAYS_MAX: u32 = 366;
/// Seconds in a day (hold timeouts).
pub const SECONDS_PER_DAY: u32 = 86_400;
/// Milliseconds in a day (business days).
pub const MS_PER_DAY: i64 = 86_400_000;
/// The business day's offset from UTC, at most ±14 hours (the widest time zones).
pub const BUSINESS_DAY_OFFSET_MINUTES_MAX: i32 = 14 * 60;
/// Months a card is valid when a product does not say, and the most a product may say.
pub const CARD_VALIDITY_MONTHS_DEFAULT: u32 = 36;
pub const CARD_VALIDITY_MONTHS_MAX: u32 = 120;
/// Sub-ranges of a BIN a product may exclude from issuing.
pub const EXCLUDED_PREFIXES_MAX: usize = 16;
/// Card number draws before issuing gives up finding an unused PAN (the PAN space of one BIN
/// is at least 10^5; a full BIN fails fast instead of looping).
pub const PAN_DRAWS_MAX: usize = 32;
/// Locks that serialize requests per card (a request takes the one its card's hash selects):
/// two requests for one card never interleave their check-decide-write, requests for
/// different cards mostly run in parallel.
pub const CARD_LOCK_STRIPES: usize = 64;
/// Cards `list_cards` returns at most.
pub const CARD_LIST_MAX: usize = 10_000;
/// How often the server lets the ledger release expired holds.
pub const EXPIRY_SWEEP_INTERVAL_MS: u64 = 60_000;
/// Fundings left half-done by a crash that `Issuer::open` completes at most (each is one
/// ledger call; more than this means something else is wrong).
pub const PENDING_FUNDINGS_MAX: usize = 1_000;
/// Largest amount one request or funding moves: 12 digits of field 4.
pub const AMOUNT_MAX_MINOR: u64 = 999_999_999_999;
/// How long the ZPK or ZAK a key change replaced is still accepted, by default: long enough
/// for every message already on its way (the switch's issuer timeout is at most 2 minutes, its
/// default 10 s), short enough that a replaced key soon opens nothing.
pub const KEY_GRACE_MS_DEFAULT: u64 = 60_000;
/// The longest grace a configuration may set (a day: beyond it a replaced key is not replaced).
pub const KEY_GRACE_MS_MAX: u64 = 86_400_000;
/// Key changes the issuer keeps in its journal per call of `Issuer::key_changes` at most.
pub const KEY_CHANGES_LIST_MAX: usize = 1_000;
/// Clearing records posted per batch: one read per table, up to three ledger calls and one
/// journal transaction per batch. Big enough that a 10 M-record file is 20 000 batches, small
/// enough that a batch's `IN (…)` lists stay far below SQLite's parameter limit and a crash
/// repeats little.
pub const POSTING_BATCH_RECORDS: usize = 500;
/// Held journal rows one expiry sweep examines at most (the ledger releases at most a ledger
/// batch per sweep; the rest are found by the next sweep).
pub const EXPIRED_SCAN_MAX: usize = 8_190;
/// Holds `Issuer::holds` and `Issuer::expired_holds` return at most.
pub const HOLDS_LIST_MAX: usize = 10_000;
