//! Every bound of the console, in one place (units last in the names).

/// A session ends after this long without a request.
pub const SESSION_IDLE_MS_MAX: u64 = 30 * 60 * 1_000;
/// A session ends this long after its login, however busy.
pub const SESSION_AGE_MS_MAX: u64 = 12 * 60 * 60 * 1_000;
/// Sessions one user may hold at once; a new login ends the oldest beyond it.
pub const SESSIONS_PER_USER_MAX: usize = 8;
/// Failed logins of one user name before it is locked.
pub const LOGIN_FAILURES_MAX: u64 = 5;
/// How long a locked user name stays locked.
pub const LOGIN_LOCK_MS: u64 = 15 * 60 * 1_000;
/// User names: printable, at most this many characters.
pub const USER_NAME_CHARS_MAX: usize = 64;
/// Passwords: at least this many characters ...
pub const PASSWORD_CHARS_MIN: usize = 12;
/// ... and at most this many bytes (argon2 hashes all of it; a bound on the work per login).
pub const PASSWORD_BYTES_MAX: usize = 1_024;
/// A form or any request body the console reads.
pub const FORM_BYTES_MAX: usize = 16 * 1_024;
/// Transactions on one page of a search.
pub const PAGE_ROWS_MAX: usize = 50;
/// Transactions in one CSV export (the export says so when it stops there).
pub const EXPORT_ROWS_MAX: usize = 100_000;
/// Transactions one merchant dashboard period is computed from (it says so when cut).
pub const DASHBOARD_ROWS_MAX: usize = 100_000;
/// Days one dashboard period may span.
pub const DASHBOARD_DAYS_MAX: u64 = 92;
/// Messages of one transaction's path shown, per party.
pub const PATH_MESSAGES_MAX: usize = 100;
/// Merchants, terminals, trail lines, alerts on one page.
pub const LIST_ROWS_MAX: usize = 500;
/// Users `console user list` prints.
pub const USERS_LIST_ROWS_MAX: usize = 10_000;
/// Audit lines on the audit page.
pub const AUDIT_PAGE_ROWS_MAX: usize = 500;
/// Minutes of the network page's rate chart.
pub const RATE_CHART_MINUTES_MAX: u64 = 60;
/// Decline reasons the dashboard lists.
pub const TOP_DECLINES_MAX: usize = 5;
/// Characters of one search field (an RRN is 12, a terminal 8, a merchant 15).
pub const SEARCH_FIELD_CHARS_MAX: usize = 32;
/// A reconciliation summary file read for the settlement page.
pub const RECON_SUMMARY_BYTES_MAX: u64 = 1024 * 1024;
/// A statement file served for download.
pub const STATEMENT_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Date folders of merchant settlement looked through for statements.
pub const STATEMENT_DATES_MAX: usize = 400;
/// Log files the network page tails.
pub const LOG_FILES_MAX: usize = 16;
/// Lines shown of each.
pub const LOG_TAIL_LINES_MAX: usize = 15;
/// Bytes read from the end of each for them.
pub const LOG_TAIL_BYTES_MAX: u64 = 16 * 1024;
/// Reconciliation differences listed on a date's page.
pub const RECON_ITEMS_MAX: usize = 500;
/// A reconciliation detail file read for them.
pub const RECON_DETAIL_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// How deep a search may page (rows skipped): each acquirer reads this many rows and more to
/// merge a page, so a deeper page is refused (narrow the search, or export it).
pub const SEARCH_DEPTH_ROWS_MAX: usize = 10_000;
