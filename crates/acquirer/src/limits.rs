//! Every bound and default of the acquirer host, named in one place.

/// Institution identification codes (field 32) are 11 digits in cardnet.
pub const INSTITUTION_ID_LEN: usize = 11;
/// Terminal ids (field 41) are 8 characters, merchant ids (field 42) 15 digits.
pub const TERMINAL_ID_LEN: usize = 8;
pub const MERCHANT_ID_LEN: usize = 15;
/// Largest configuration file read.
pub const CONFIG_BYTES_MAX: u64 = 1024 * 1024;
/// Longest BIN prefix of a card organisation (`[pos.card_organisations]`): 11 digits, as a
/// network's routing table takes.
pub const BIN_PREFIX_DIGITS_MAX: usize = 11;

/// Default wait for the switch's answer. It must stay above the switch's own issuer timeout
/// (10 s by default) so the switch answers 98 first, and below a terminal's (typically 60 s).
pub const SWITCH_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Longest switch timeout a configuration may ask for.
pub const SWITCH_TIMEOUT_MS_MAX: u64 = 120_000;

/// Batch numbers (60.2) run 000001..=999999 and wrap.
pub const BATCH_NO_MAX: u32 = 999_999;
/// Network STANs (field 11 toward the switch) run 000001..=999999.
pub const STAN_MAX: u64 = 999_999;

/// Reversals handed to the delivery loop per [`crate::Acquirer::due_reversals`] call.
pub const REVERSAL_BATCH_MAX: usize = 32;
/// Default attempts of one network reversal before it is Dead (kept for an operator).
pub const REVERSAL_ATTEMPTS_MAX_DEFAULT: u32 = 50;
/// Default wait after the first failed attempt (doubling up to [`saf::RETRY_DELAY_MS_MAX`]).
pub const REVERSAL_RETRY_DELAY_MS_MIN_DEFAULT: u64 = 1_000;
/// Default bound on pending network reversals.
pub const REVERSAL_PENDING_MAX_DEFAULT: u64 = 100_000;
/// How often the delivery loop looks for due reversals when nothing woke it.
pub const REVERSAL_POLL_INTERVAL_MS: u64 = 1_000;

/// Records one 0320/201 batch upload message carries at most (reference §6: up to 8).
pub const UPLOAD_RECORDS_MAX: usize = 8;
/// Digits of one 0320/201 record: flag n2, trace n6, PAN n20, amount n12.
pub const UPLOAD_RECORD_DIGITS: usize = 40;
/// Transactions one terminal batch may hold before settlement reads are refused (a batch is a
/// day of one terminal; this is far above any real one).
pub const BATCH_TRANSACTIONS_MAX: usize = 100_000;

/// Longest merchant name sent in field 43 (25) and in the parameter download.
pub const MERCHANT_NAME_LEN_MAX: usize = 25;
/// City part of field 43.
pub const CITY_LEN_MAX: usize = 13;
/// Rows one journal query returns at most.
pub const JOURNAL_QUERY_ROWS_MAX: usize = 100_000;
/// Milliseconds per day: a merchant's daily limit counts per UTC day.
pub const MS_PER_DAY: u64 = 86_400_000;
