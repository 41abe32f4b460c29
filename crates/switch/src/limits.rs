//! Every bound and default of the switch, named in one place.

/// Default time the switch waits for an issuer's answer before it stands in or answers 98.
pub const ISSUER_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Longest issuer timeout a configuration may ask for: an acquirer's own timeout (typically
/// 30–60 s) must stay above the switch's, or it reverses transactions the switch still waits on.
pub const ISSUER_TIMEOUT_MS_MAX: u64 = 120_000;
/// Member and institution identification codes (fields 32, 33, 100) are 11 digits in cardnet.
pub const INSTITUTION_ID_LEN: usize = 11;
/// Members one configuration may name.
pub const MEMBERS_MAX: usize = 10_000;
/// BIN table entries one configuration may hold.
pub const BINS_MAX: usize = 100_000;
/// Shortest and longest BIN prefix (digits). Six- and eight-digit BINs are the norm; longer
/// prefixes route card ranges.
pub const BIN_PREFIX_LEN_MIN: usize = 1;
pub const BIN_PREFIX_LEN_MAX: usize = 12;
/// Longest member name.
pub const MEMBER_NAME_LEN_MAX: usize = 64;
/// Largest configuration file read.
pub const CONFIG_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Advices handed to a delivery loop per [`crate::Switch::due_advices`] call.
pub const ADVICE_BATCH_MAX: usize = 32;
/// Default attempts of one advice before it is Dead (kept for investigation).
pub const ADVICE_ATTEMPTS_MAX_DEFAULT: u32 = 50;
/// Default wait after the first failed advice attempt (doubling up to
/// [`saf::RETRY_DELAY_MS_MAX`]).
pub const ADVICE_RETRY_DELAY_MS_MIN_DEFAULT: u64 = 1_000;
/// Default bound on pending advices, all issuers together.
pub const ADVICE_PENDING_MAX_DEFAULT: u64 = 1_000_000;
/// Default life of an advice: after a week undelivered it goes Dead and needs an operator.
pub const ADVICE_EXPIRY_MS_DEFAULT: u64 = 7 * 24 * 3_600_000;

/// How often an issuer's delivery loop looks for due advices when nothing woke it (an enqueue
/// or the session becoming ready wakes it at once).
pub const ADVICE_POLL_INTERVAL_MS: u64 = 1_000;

/// Rows one journal query returns at most (clearing extracts page through a day with it).
pub const JOURNAL_QUERY_ROWS_MAX: usize = 100_000;

/// The STAN range on the issuer leg: 000001..=999999 (000000 is not used).
pub const STAN_MAX: u64 = 999_999;

/// How long the ZPK or ZAK a key change replaced is still accepted on an issuer link, by default:
/// answers to requests sent just before the switch-over arrive under the old ZAK.
pub const KEY_GRACE_MS_DEFAULT: u64 = 60_000;
/// The longest grace a configuration may set (a day: beyond it a replaced key is not replaced).
pub const KEY_GRACE_MS_MAX: u64 = 86_400_000;
/// The shortest `key_change_interval_ms` a member may have (0 = never): a link is not re-keyed
/// faster than its messages can use the keys.
pub const KEY_CHANGE_INTERVAL_MS_MIN: u64 = 1_000;
/// Wait after a key change that was refused or went unanswered before the next attempt (an
/// unanswered one is retried with the same key, so the issuer can answer it as a repeat).
pub const KEY_CHANGE_RETRY_MS: u64 = 5_000;
/// Longest a key-change schedule sleeps before it looks at its keys again.
pub const KEY_SCHEDULE_POLL_MS_MAX: u64 = 60_000;
/// Fresh keys drawn at most to find one whose check value differs from the key in use (the
/// issuer recognises a repeat by its check value; a 24-bit collision is rare, two in a row
/// rarer than a broken HSM).
pub const KEY_DRAWS_MAX: usize = 4;
/// Key changes one query of the key change journal returns at most.
pub const KEY_CHANGES_LIST_MAX: usize = 1_000;

/// Rows one page of the clearing extract reads (clearing streams a date page by page, by id,
/// in constant memory whatever the date's size).
pub const CLEARING_PAGE_ROWS_MAX: usize = 2_000;
/// Rows given their business date per transaction when an older database is migrated.
pub const BACKFILL_PAGE_ROWS_MAX: usize = 5_000;
/// Beyond the issuer timeout, how long a forwarded request of a date still counts as in flight
/// when the date is closed (a request older than that was lost with a restart of the switch).
pub const CLOSE_IN_FLIGHT_MARGIN_MS: u64 = 5_000;
/// How often the running switch looks for closed dates whose cut-over (0800/201) is not yet
/// sent (a date closed by `cardnet switch close-date` in another process).
pub const CUTOVER_POLL_INTERVAL_MS: u64 = 1_000;
