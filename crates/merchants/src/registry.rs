//! Merchants: application (商户申请), automatic checks and review (银行审核), activation
//! (开户), status changes, and settlement account changes under review.
//!
//! Every automatic check runs at submission and is recorded with its outcome and reason. An
//! application that fails any check is rejected at once (by `system`, the failed checks named
//! in the reason) and can never be approved; one that passes waits for a reviewer. Nothing is
//! ever deleted: checks, decisions and status changes stay in the review trail.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clock::Clock;
use hsm::SecurityModule;
use sqlstore::{Database, Tx, Value};

use crate::config::{MerchantSettings, RegistryConfig, digits, normalize_name};
use crate::error::{MerchantError, Result};
use crate::limits::{
    ACCOUNT_LEN_MAX, ACCOUNT_LEN_MIN, AMOUNT_MAX_MINOR, BANK_CODE_LEN_MAX, BANK_CODE_LEN_MIN, BASIS_POINTS_PER_UNIT,
    COUNTRY_LEN, ID_ATTEMPTS_MAX, LIST_MAX, MCC_LEN, MERCHANT_ID_LEN, MERCHANT_ID_SEQUENCE_LEN,
    MERCHANT_ID_SEQUENCE_MAX, TEXT_CHARS_MAX,
};
use crate::store::{self, APPLICATION_COLUMNS, CHANGE_COLUMNS, MERCHANT_COLUMNS, TERMINAL_COLUMNS, int, opt_int};
use crate::types::{
    AccountChangeRecord, Application, ApplicationRecord, ApplicationStatus, ChangeStatus, Check, CheckOutcome,
    Decision, Listing, MerchantDetails, MerchantRecord, MerchantStatus, MerchantTerms, SettlementAccount, Status,
    Subject, TerminalStatus, TrailEntry,
};

/// Registry transactions that may have written, begun in this process by any registry on any
/// database ([`change_count`]).
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// A count that moves whenever a registry of this process may have changed a merchant or a
/// terminal: each transaction that may write counts itself at its start, while it holds its
/// database's connection. A reader that keeps rows in memory (the POS host keeps each terminal
/// with its merchant) reads this count, then the rows; while the count and the database's
/// [`Database::data_version`] (which moves for other connections' commits) stay as they were,
/// the rows are. Over-counts (a read through a writing path, another database) only cost a
/// reread.
pub fn change_count() -> u64 {
    CHANGES.load(Ordering::SeqCst)
}

/// The actor of automatic steps in the trail.
pub const ACTOR_SYSTEM: &str = "system";
/// The actor of submissions.
pub const ACTOR_APPLICANT: &str = "applicant";
/// The actor of operations that name no person (activation, suspension, terminals).
pub const ACTOR_OPERATOR: &str = "operator";

/// The merchant and terminal registry of one acquirer. Cheap to share behind an `Arc`; every
/// call is one durable transaction.
pub struct Registry {
    pub(crate) db: Database,
    pub(crate) hsm: Arc<dyn SecurityModule>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: MerchantSettings,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("db", &self.db).finish_non_exhaustive()
    }
}

/// A text field as stored: trimmed, at most [`TEXT_CHARS_MAX`] characters, no control
/// characters (they would break one-line output). Refusals are input errors, nothing is stored.
fn clean_text(what: &str, text: &str, chars_max: usize) -> Result<String> {
    let text = text.trim();
    if text.chars().count() > chars_max {
        return Err(MerchantError::input(format!("{what}: longer than {chars_max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(MerchantError::input(format!("{what}: control characters are not allowed")));
    }
    Ok(text.to_owned())
}

pub(crate) fn clean_opt_text(what: &str, text: Option<&str>, chars_max: usize) -> Result<Option<String>> {
    Ok(text.map(|text| clean_text(what, text, chars_max)).transpose()?.filter(|text| !text.is_empty()))
}

/// A reviewer's or operator's reason, or a reviewer's name: required.
fn required_text(what: &str, text: &str) -> Result<String> {
    let text = clean_text(what, text, TEXT_CHARS_MAX)?;
    if text.is_empty() {
        return Err(MerchantError::input(format!("{what} is required")));
    }
    Ok(text)
}

fn clean_account(account: &SettlementAccount) -> Result<SettlementAccount> {
    Ok(SettlementAccount {
        bank_code: clean_text("bank code", &account.bank_code, TEXT_CHARS_MAX)?,
        account_no: clean_text("account number", &account.account_no, TEXT_CHARS_MAX)?,
    })
}

fn digits_between(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// The shape problems of a settlement account, for the required-fields check.
fn account_problems(account: &SettlementAccount, problems: &mut Vec<String>) {
    if account.bank_code.is_empty() {
        problems.push("bank code missing".into());
    } else if !digits_between(&account.bank_code, BANK_CODE_LEN_MIN, BANK_CODE_LEN_MAX) {
        problems.push(format!("bank code must be {BANK_CODE_LEN_MIN} to {BANK_CODE_LEN_MAX} digits"));
    }
    if account.account_no.is_empty() {
        problems.push("account number missing".into());
    } else if !digits_between(&account.account_no, ACCOUNT_LEN_MIN, ACCOUNT_LEN_MAX) {
        problems.push(format!("account number must be {ACCOUNT_LEN_MIN} to {ACCOUNT_LEN_MAX} digits"));
    }
}

fn outcome(check: Check, at_ms: u64, result: std::result::Result<String, String>) -> CheckOutcome {
    match result {
        Ok(reason) => CheckOutcome { check, passed: true, reason, at_ms },
        Err(reason) => CheckOutcome { check, passed: false, reason, at_ms },
    }
}

fn failed_names(checks: &[CheckOutcome]) -> Vec<&'static str> {
    checks.iter().filter(|c| !c.passed).map(|c| c.check.name()).collect()
}

/// Who else has this settlement account: a live merchant other than `except_merchant`, an open
/// application, or a pending change of another merchant. `None` when nobody.
fn account_holder(
    tx: &mut Tx<'_>,
    account: &SettlementAccount,
    except_merchant: Option<&str>,
) -> Result<Option<String>> {
    let except = except_merchant.unwrap_or("");
    let params = [account.bank_code.as_str().into(), account.account_no.as_str().into(), except.into()];
    if let Some(row) = tx.query_opt(
        "SELECT merchant_id, status FROM merchants_merchants
         WHERE bank_code = $1 AND account_no = $2 AND status <> 'closed' AND merchant_id <> $3
         ORDER BY merchant_id",
        &params,
    )? {
        return Ok(Some(format!("merchant {} ({}) is paid into this account", row.text(0)?, row.text(1)?)));
    }
    if let Some(row) = tx.query_opt(
        "SELECT application_id, status FROM merchants_applications
         WHERE bank_code = $1 AND account_no = $2 AND status IN ('applied', 'approved')
         ORDER BY application_id",
        &params[..2],
    )? {
        return Ok(Some(format!("application {} ({}) names this account", row.i64(0)?, row.text(1)?)));
    }
    if let Some(row) = tx.query_opt(
        "SELECT change_id, merchant_id FROM merchants_account_changes
         WHERE bank_code = $1 AND account_no = $2 AND status = 'pending' AND merchant_id <> $3
         ORDER BY change_id",
        &params,
    )? {
        return Ok(Some(format!(
            "pending account change {} of merchant {} names this account",
            row.i64(0)?,
            row.text(1)?
        )));
    }
    Ok(None)
}

impl Registry {
    /// Open the registry on `db` (its tables are created on first use) with the default
    /// settings ([`MerchantSettings::default`]): enough for the POS host, which only reads
    /// merchants and keeps its terminals' state.
    pub fn open(db: Database, hsm: Arc<dyn SecurityModule>, clock: Arc<dyn Clock>) -> Result<Registry> {
        Registry::open_with_settings(db, hsm, clock, MerchantSettings::default())
    }

    /// Open with the acquirer's `[merchants]` settings (checked here).
    pub fn open_with_settings(
        db: Database,
        hsm: Arc<dyn SecurityModule>,
        clock: Arc<dyn Clock>,
        settings: MerchantSettings,
    ) -> Result<Registry> {
        settings.validate()?;
        db.migrate(store::MIGRATION, &store::SCHEMA)?;
        db.migrate(store::MIGRATION_2, &store::SCHEMA_2)?;
        db.migrate(store::MIGRATION_3, &store::SCHEMA_3)?;
        Ok(Registry { db, hsm, clock, settings })
    }

    /// Open what a configuration names: its database, the software HSM over its LMK file, the
    /// system clock. What the CLI does.
    pub fn from_config(config: &RegistryConfig) -> Result<Registry> {
        let hsm = config.soft_hsm()?;
        let db = Database::open(&config.database)?;
        Registry::open_with_settings(db, Arc::new(hsm), Arc::new(clock::SystemClock), config.merchants.clone())
    }

    pub fn settings(&self) -> &MerchantSettings {
        &self.settings
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// One transaction: domain refusals roll back and come out as themselves; a unique
    /// violation (a concurrent writer took the id just allocated) runs `work` again. Counted in
    /// [`change_count`] (it may write).
    pub(crate) fn transact<T>(&self, work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.run(true, work)
    }

    /// [`Registry::transact`] for a transaction that only reads: not counted as a change.
    pub(crate) fn read<T>(&self, work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.run(false, work)
    }

    fn run<T>(&self, counted: bool, mut work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut refusal = None;
            let outcome = self.db.transaction(|tx| {
                if counted {
                    // Inside the transaction, so while it holds the connection: a reader that
                    // saw the count before this moved reads the rows after the commit or the
                    // rollback, never between (see `change_count`).
                    CHANGES.fetch_add(1, Ordering::SeqCst);
                }
                match work(tx) {
                    Ok(value) => Ok(value),
                    Err(MerchantError::Database(error)) => Err(error),
                    Err(other) => {
                        refusal = Some(other);
                        Err(sqlstore::Error::new("refuse", "the registry refused the operation"))
                    }
                }
            });
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if let Some(refusal) = refusal {
                        return Err(refusal);
                    }
                    if error.is_unique_violation() && attempt < ID_ATTEMPTS_MAX {
                        continue;
                    }
                    return Err(error.into());
                }
            }
        }
    }

    // ---- Applications ----------------------------------------------------------------------

    /// Submit an application. It is recorded whatever the checks say (a rejected application and
    /// every check's reason stay visible); only malformed input (a field beyond
    /// [`TEXT_CHARS_MAX`], control characters, a volume beyond [`AMOUNT_MAX_MINOR`]) is refused
    /// without a record.
    pub fn apply(&self, application: &Application) -> Result<ApplicationRecord> {
        let application = Application {
            business_name: clean_text("business name", &application.business_name, TEXT_CHARS_MAX)?,
            licence_no: clean_text("licence number", &application.licence_no, TEXT_CHARS_MAX)?.to_ascii_uppercase(),
            legal_representative: clean_text(
                "legal representative",
                &application.legal_representative,
                TEXT_CHARS_MAX,
            )?,
            mcc: clean_text("MCC", &application.mcc, TEXT_CHARS_MAX)?,
            city: clean_text("city", &application.city, TEXT_CHARS_MAX)?,
            country: clean_text("country", &application.country, TEXT_CHARS_MAX)?.to_ascii_uppercase(),
            settlement: clean_account(&application.settlement)?,
            expected_monthly_volume_minor: application.expected_monthly_volume_minor,
        };
        if application.expected_monthly_volume_minor > AMOUNT_MAX_MINOR {
            return Err(MerchantError::input(format!("expected monthly volume: at most {AMOUNT_MAX_MINOR}")));
        }
        let now_ms = self.now_ms();
        let id = self.transact(|tx| {
            let id = store::next_id(tx, "merchants_applications", "application_id")?;
            let checks = self.application_checks(tx, &application, now_ms)?;
            let failed = failed_names(&checks);
            let status = if failed.is_empty() { ApplicationStatus::Applied } else { ApplicationStatus::Rejected };
            let a = &application;
            tx.execute(
                &format!(
                    "INSERT INTO merchants_applications ({APPLICATION_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL, NULL, NULL, $12, $12)"
                ),
                &[
                    id.into(),
                    a.business_name.as_str().into(),
                    a.licence_no.as_str().into(),
                    a.legal_representative.as_str().into(),
                    a.mcc.as_str().into(),
                    a.city.as_str().into(),
                    a.country.as_str().into(),
                    a.settlement.bank_code.as_str().into(),
                    a.settlement.account_no.as_str().into(),
                    int(a.expected_monthly_volume_minor),
                    status.name().into(),
                    int(now_ms),
                ],
            )?;
            let subject_id = id.to_string();
            store::insert_checks(tx, Subject::Application, &subject_id, &checks)?;
            store::trail(tx, Subject::Application, &subject_id, now_ms, "submitted", ACTOR_APPLICANT, "")?;
            if failed.is_empty() {
                let reason = format!("{} automatic checks passed", checks.len());
                store::trail(tx, Subject::Application, &subject_id, now_ms, "checks-passed", ACTOR_SYSTEM, &reason)?;
            } else {
                let reason = format!("automatic checks failed: {}", failed.join(", "));
                store::trail(tx, Subject::Application, &subject_id, now_ms, "checks-failed", ACTOR_SYSTEM, &reason)?;
                store::trail(tx, Subject::Application, &subject_id, now_ms, "rejected", ACTOR_SYSTEM, &reason)?;
            }
            Ok(id)
        })?;
        self.application(id)?.ok_or_else(|| MerchantError::internal("the application just stored is missing"))
    }

    /// Every automatic check of an application, in order, each with its reason.
    fn application_checks(&self, tx: &mut Tx<'_>, a: &Application, at_ms: u64) -> Result<Vec<CheckOutcome>> {
        let mut checks = Vec::with_capacity(6);

        let mut problems = Vec::new();
        for (what, value) in [
            ("business name", &a.business_name),
            ("licence number", &a.licence_no),
            ("legal representative", &a.legal_representative),
            ("MCC", &a.mcc),
            ("city", &a.city),
            ("country", &a.country),
        ] {
            if value.is_empty() {
                problems.push(format!("{what} missing"));
            }
        }
        if !a.mcc.is_empty() && !digits(&a.mcc, MCC_LEN) {
            problems.push(format!("MCC must be {MCC_LEN} digits"));
        }
        let country_ok = a.country.len() == COUNTRY_LEN && a.country.bytes().all(|b| b.is_ascii_uppercase());
        if !a.country.is_empty() && !country_ok {
            problems.push(format!("country must be {COUNTRY_LEN} letters (ISO 3166-1 alpha-2)"));
        }
        account_problems(&a.settlement, &mut problems);
        checks.push(outcome(
            Check::RequiredFields,
            at_ms,
            if problems.is_empty() {
                Ok("every required field is present and well-formed".into())
            } else {
                Err(problems.join("; "))
            },
        ));

        checks.push(outcome(
            Check::LicenceFormat,
            at_ms,
            if a.licence_no.is_empty() {
                Err("licence number missing".into())
            } else {
                crate::licence::validate(&a.licence_no)
                    .map(|()| "a unified social credit code (GB 32100-2015) with a valid check character".into())
                    .map_err(|why| format!("not a unified social credit code: {why}"))
            },
        ));

        checks.push(outcome(
            Check::MccAllowed,
            at_ms,
            if !digits(&a.mcc, MCC_LEN) {
                Err(format!("MCC must be {MCC_LEN} digits"))
            } else if self.settings.allowed_mcc_set().contains(a.mcc.as_str()) {
                Ok(format!("MCC {} is allowed", a.mcc))
            } else {
                Err(format!("MCC {} is not in the allowed list", a.mcc))
            },
        ));

        let duplicate_licence = if a.licence_no.is_empty() {
            Err("licence number missing".into())
        } else if let Some(row) = tx.query_opt(
            "SELECT merchant_id, status FROM merchants_merchants
             WHERE licence_no = $1 AND status IN ('active', 'suspended') ORDER BY merchant_id",
            &[a.licence_no.as_str().into()],
        )? {
            Err(format!("merchant {} ({}) has this licence", row.text(0)?, row.text(1)?))
        } else if let Some(row) = tx.query_opt(
            "SELECT application_id, status FROM merchants_applications
             WHERE licence_no = $1 AND status IN ('applied', 'approved') ORDER BY application_id",
            &[a.licence_no.as_str().into()],
        )? {
            Err(format!("application {} ({}) has this licence", row.i64(0)?, row.text(1)?))
        } else {
            Ok("no live merchant or open application has this licence".into())
        };
        checks.push(outcome(Check::DuplicateLicence, at_ms, duplicate_licence));

        let duplicate_account = if a.settlement.bank_code.is_empty() || a.settlement.account_no.is_empty() {
            Err("settlement account missing".into())
        } else {
            match account_holder(tx, &a.settlement, None)? {
                Some(holder) => Err(holder),
                None => Ok("no live merchant, open application or pending change has this account".into()),
            }
        };
        checks.push(outcome(Check::DuplicateAccount, at_ms, duplicate_account));

        let sanctioned = self.settings.sanctioned_set();
        let mut hits = Vec::new();
        if sanctioned.contains(&normalize_name(&a.business_name)) {
            hits.push("business name");
        }
        if sanctioned.contains(&normalize_name(&a.legal_representative)) {
            hits.push("legal representative");
        }
        checks.push(outcome(
            Check::SanctionedName,
            at_ms,
            if hits.is_empty() {
                Ok(format!("no match in the sanctioned names list ({} names)", sanctioned.len()))
            } else {
                Err(format!("{} on the sanctioned names list", hits.join(" and ")))
            },
        ));
        Ok(checks)
    }

    /// A reviewer approves or rejects an application that passed its automatic checks.
    pub fn review(
        &self,
        application_id: i64,
        decision: Decision,
        reason: &str,
        reviewer: &str,
    ) -> Result<ApplicationRecord> {
        let reason = required_text("reason", reason)?;
        let reviewer = required_text("reviewer", reviewer)?;
        let now_ms = self.now_ms();
        self.transact(|tx| {
            let record = self.application_in(tx, application_id)?;
            if record.status != ApplicationStatus::Applied {
                return Err(MerchantError::state(format!(
                    "application {application_id} is {}: only an applied application can be reviewed",
                    record.status
                )));
            }
            let (status, event) = match decision {
                Decision::Approve => (ApplicationStatus::Approved, "approved"),
                Decision::Reject => (ApplicationStatus::Rejected, "rejected"),
            };
            tx.execute(
                "UPDATE merchants_applications SET status = $1, reviewer = $2, review_approved = $3, review_reason = $4,
                 reviewed_ms = $5, updated_ms = $5 WHERE application_id = $6",
                &[
                    status.name().into(),
                    reviewer.as_str().into(),
                    (decision == Decision::Approve).into(),
                    reason.as_str().into(),
                    int(now_ms),
                    application_id.into(),
                ],
            )?;
            store::trail(tx, Subject::Application, &application_id.to_string(), now_ms, event, &reviewer, &reason)?;
            Ok(())
        })?;
        self.application(application_id)?
            .ok_or_else(|| MerchantError::not_found(format!("no application {application_id}")))
    }

    /// Open the merchant of an approved application: its merchant id, fee plan, settlement
    /// cycle and limits.
    ///
    /// The merchant id is 15 digits: the configured 7-digit prefix (acquirer code + area code),
    /// the MCC (4), and a 4-digit sequence per prefix and MCC from 0001 (UnionPay's layout, e.g.
    /// `898` `4401` `5411` `0001`).
    pub fn activate(&self, application_id: i64, terms: &MerchantTerms) -> Result<MerchantRecord> {
        for (what, rate) in [("debit", terms.fee_plan.debit), ("credit", terms.fee_plan.credit)] {
            if u64::from(rate.rate_bp) > BASIS_POINTS_PER_UNIT {
                return Err(MerchantError::input(format!(
                    "{what} discount rate: at most {BASIS_POINTS_PER_UNIT} basis points"
                )));
            }
            if rate.cap_minor.is_some_and(|cap| cap > AMOUNT_MAX_MINOR) {
                return Err(MerchantError::input(format!("{what} fee cap: at most {AMOUNT_MAX_MINOR}")));
            }
        }
        let single_max = terms.single_max_minor.unwrap_or(self.settings.single_max_minor_default);
        let daily_max = terms.daily_max_minor.unwrap_or(self.settings.daily_max_minor_default);
        for (what, value) in [("single transaction maximum", single_max), ("daily maximum", daily_max)] {
            if value == 0 || value > AMOUNT_MAX_MINOR {
                return Err(MerchantError::input(format!("{what}: 1 to {AMOUNT_MAX_MINOR}")));
            }
        }
        if single_max > daily_max {
            return Err(MerchantError::input("the single transaction maximum is above the daily maximum"));
        }
        let now_ms = self.now_ms();
        let merchant_id = self.transact(|tx| {
            let record = self.application_in(tx, application_id)?;
            if record.status != ApplicationStatus::Approved {
                return Err(MerchantError::state(format!(
                    "application {application_id} is {}: only an approved application can be activated",
                    record.status
                )));
            }
            let a = &record.application;
            let merchant_id = self.next_merchant_id(tx, &a.mcc)?;
            let plan = &terms.fee_plan;
            tx.execute(
                &format!(
                    "INSERT INTO merchants_merchants ({MERCHANT_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', NULL, $11, $12, $13, $14, $15, $16, $17,
                             $18, $18, 0)"
                ),
                &[
                    merchant_id.as_str().into(),
                    application_id.into(),
                    a.business_name.as_str().into(),
                    a.licence_no.as_str().into(),
                    a.legal_representative.as_str().into(),
                    a.mcc.as_str().into(),
                    a.city.as_str().into(),
                    a.country.as_str().into(),
                    a.settlement.bank_code.as_str().into(),
                    a.settlement.account_no.as_str().into(),
                    plan.debit.rate_bp.into(),
                    opt_int(plan.debit.cap_minor),
                    plan.credit.rate_bp.into(),
                    opt_int(plan.credit.cap_minor),
                    terms.cycle.name().into(),
                    int(single_max),
                    int(daily_max),
                    int(now_ms),
                ],
            )?;
            store::push_account_history(tx, &merchant_id, &a.settlement, now_ms, None)?;
            tx.execute(
                "UPDATE merchants_applications SET status = 'activated', merchant_id = $1, updated_ms = $2
                 WHERE application_id = $3",
                &[merchant_id.as_str().into(), int(now_ms), application_id.into()],
            )?;
            let cap = |cap: Option<u64>| cap.map_or_else(|| "uncapped".to_owned(), |cap| format!("cap {cap}"));
            let summary = format!(
                "merchant {merchant_id}: debit {} bp {}, credit {} bp {}, cycle {}, single max {single_max}, daily max {daily_max}",
                plan.debit.rate_bp,
                cap(plan.debit.cap_minor),
                plan.credit.rate_bp,
                cap(plan.credit.cap_minor),
                terms.cycle
            );
            store::trail(tx, Subject::Application, &application_id.to_string(), now_ms, "activated", ACTOR_OPERATOR, &summary)?;
            store::trail(tx, Subject::Merchant, &merchant_id, now_ms, "activated", ACTOR_OPERATOR, &summary)?;
            Ok(merchant_id)
        })?;
        self.merchant(&merchant_id)?.ok_or_else(|| MerchantError::internal("the merchant just stored is missing"))
    }

    fn next_merchant_id(&self, tx: &mut Tx<'_>, mcc: &str) -> Result<String> {
        let base = format!("{}{mcc}", self.settings.merchant_id_prefix);
        let width = MERCHANT_ID_SEQUENCE_LEN;
        let row = tx.query_opt(
            "SELECT merchant_id FROM merchants_merchants WHERE merchant_id >= $1 AND merchant_id <= $2
             ORDER BY merchant_id DESC",
            &[format!("{base}{:0width$}", 0).into(), format!("{base}{MERCHANT_ID_SEQUENCE_MAX:0width$}").into()],
        )?;
        let last = match row {
            Some(row) => {
                let id = row.text(0)?;
                id.get(base.len()..).and_then(|tail| tail.parse::<u64>().ok()).unwrap_or(MERCHANT_ID_SEQUENCE_MAX)
            }
            None => 0,
        };
        if last >= MERCHANT_ID_SEQUENCE_MAX {
            return Err(MerchantError::state(format!(
                "every merchant id under {base} is taken ({MERCHANT_ID_SEQUENCE_MAX} merchants): use another prefix"
            )));
        }
        let id = format!("{base}{:0width$}", last + 1);
        debug_assert_eq!(id.len(), MERCHANT_ID_LEN);
        Ok(id)
    }

    // ---- Lookups ---------------------------------------------------------------------------

    fn application_in(&self, tx: &mut Tx<'_>, application_id: i64) -> Result<ApplicationRecord> {
        let row = tx
            .query_opt(
                &format!("SELECT {APPLICATION_COLUMNS} FROM merchants_applications WHERE application_id = $1"),
                &[application_id.into()],
            )?
            .ok_or_else(|| MerchantError::not_found(format!("no application {application_id}")))?;
        let checks = store::checks(tx, Subject::Application, &application_id.to_string())?;
        store::application_from_row(&row, checks)
    }

    pub(crate) fn merchant_in(&self, tx: &mut Tx<'_>, merchant_id: &str) -> Result<Option<MerchantRecord>> {
        tx.query_opt(
            &format!("SELECT {MERCHANT_COLUMNS} FROM merchants_merchants WHERE merchant_id = $1"),
            &[merchant_id.into()],
        )?
        .map(|row| store::merchant_from_row(&row))
        .transpose()
    }

    fn change_in(&self, tx: &mut Tx<'_>, change_id: i64) -> Result<AccountChangeRecord> {
        let row = tx
            .query_opt(
                &format!("SELECT {CHANGE_COLUMNS} FROM merchants_account_changes WHERE change_id = $1"),
                &[change_id.into()],
            )?
            .ok_or_else(|| MerchantError::not_found(format!("no account change {change_id}")))?;
        let checks = store::checks(tx, Subject::AccountChange, &change_id.to_string())?;
        store::change_from_row(&row, checks)
    }

    /// An application with its checks and decision.
    pub fn application(&self, application_id: i64) -> Result<Option<ApplicationRecord>> {
        self.transact(|tx| match self.application_in(tx, application_id) {
            Ok(record) => Ok(Some(record)),
            Err(MerchantError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        })
    }

    /// An application's review trail (submission, automatic outcome, decision, activation).
    pub fn application_trail(&self, application_id: i64) -> Result<Vec<TrailEntry>> {
        self.transact(|tx| store::trail_of(tx, Subject::Application, &application_id.to_string()))
    }

    pub fn merchant(&self, merchant_id: &str) -> Result<Option<MerchantRecord>> {
        self.transact(|tx| self.merchant_in(tx, merchant_id))
    }

    /// The account a merchant is paid into now (the old one while a change is pending).
    pub fn payout_account(&self, merchant_id: &str) -> Result<Option<SettlementAccount>> {
        Ok(self.merchant(merchant_id)?.map(|merchant| merchant.settlement))
    }

    pub fn account_change(&self, change_id: i64) -> Result<Option<AccountChangeRecord>> {
        self.transact(|tx| match self.change_in(tx, change_id) {
            Ok(record) => Ok(Some(record)),
            Err(MerchantError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        })
    }

    /// Everything about a merchant, its whole trail included.
    pub fn merchant_details(&self, merchant_id: &str) -> Result<Option<MerchantDetails>> {
        self.transact(|tx| {
            let Some(merchant) = self.merchant_in(tx, merchant_id)? else { return Ok(None) };
            let application = self.application_in(tx, merchant.application_id)?;
            let mut trail = store::trail_of(tx, Subject::Application, &merchant.application_id.to_string())?;
            trail.extend(store::trail_of(tx, Subject::Merchant, merchant_id)?);
            let change_ids: Vec<i64> = tx
                .query(
                    "SELECT change_id FROM merchants_account_changes WHERE merchant_id = $1 ORDER BY change_id",
                    &[merchant_id.into()],
                )?
                .iter()
                .map(|row| row.i64(0))
                .collect::<sqlstore::Result<_>>()?;
            let mut account_changes = Vec::with_capacity(change_ids.len());
            for change_id in change_ids {
                account_changes.push(self.change_in(tx, change_id)?);
                trail.extend(store::trail_of(tx, Subject::AccountChange, &change_id.to_string())?);
            }
            let terminals = tx
                .query(
                    &format!(
                        "SELECT {TERMINAL_COLUMNS} FROM merchants_terminals WHERE merchant_id = $1 ORDER BY terminal_id"
                    ),
                    &[merchant_id.into()],
                )?
                .iter()
                .map(store::terminal_from_row)
                .collect::<Result<Vec<_>>>()?;
            for terminal in &terminals {
                trail.extend(store::trail_of(tx, Subject::Terminal, &terminal.terminal_id)?);
            }
            // A stable sort: entries of one subject keep their recorded order within a millisecond.
            trail.sort_by_key(|entry| entry.at_ms);
            let account_history = store::account_history(tx, merchant_id)?;
            Ok(Some(MerchantDetails { merchant, application, account_history, account_changes, terminals, trail }))
        })
    }

    /// Applications and merchants by life-cycle status (all without a filter), oldest first, at
    /// most [`LIST_MAX`].
    pub fn list(&self, status: Option<Status>) -> Result<Vec<Listing>> {
        // Two statements rather than `$1 IS NULL OR …`: PostgreSQL cannot type a NULL parameter.
        let (filter, params): (&str, Vec<Value>) = match status {
            Some(status) => ("WHERE COALESCE(m.status, a.status) = $1", vec![status.name().into()]),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT a.application_id, m.merchant_id, a.business_name, a.mcc, a.city,
                    COALESCE(m.status, a.status), COALESCE(m.updated_ms, a.updated_ms)
             FROM merchants_applications a LEFT JOIN merchants_merchants m ON m.application_id = a.application_id
             {filter} ORDER BY a.application_id LIMIT {LIST_MAX}"
        );
        self.transact(|tx| {
            let rows = tx.query(&sql, &params)?;
            rows.iter()
                .map(|row| {
                    let status = row.text(5)?;
                    Ok(Listing {
                        application_id: row.i64(0)?,
                        merchant_id: row.opt_text(1)?,
                        name: row.text(2)?,
                        mcc: row.text(3)?,
                        city: row.text(4)?,
                        status: Status::from_name(&status).ok_or_else(|| {
                            MerchantError::internal(format!("unknown status {status:?} in the database"))
                        })?,
                        updated_ms: row.u64(6)?,
                    })
                })
                .collect()
        })
    }

    /// Merchants (activated), by status, oldest first, at most [`LIST_MAX`].
    pub fn list_merchants(&self, status: Option<MerchantStatus>) -> Result<Vec<MerchantRecord>> {
        let (filter, params): (&str, Vec<Value>) = match status {
            Some(status) => ("WHERE status = $1", vec![status.name().into()]),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants_merchants {filter} ORDER BY activated_ms, merchant_id LIMIT {LIST_MAX}"
        );
        self.transact(|tx| tx.query(&sql, &params)?.iter().map(store::merchant_from_row).collect())
    }

    // ---- Status ----------------------------------------------------------------------------

    /// Stop a merchant (risk, compliance): no transactions, no new terminals, until reinstated.
    pub fn suspend(&self, merchant_id: &str, reason: &str) -> Result<MerchantRecord> {
        self.set_status(merchant_id, MerchantStatus::Suspended, reason)
    }

    /// Make a suspended merchant active again.
    pub fn reinstate(&self, merchant_id: &str, reason: &str) -> Result<MerchantRecord> {
        self.set_status(merchant_id, MerchantStatus::Active, reason)
    }

    /// Whether any of the merchant's terminals may void what another took (a multi-lane
    /// store), or only the terminal that took it (the default).
    pub fn set_void_any_terminal(&self, merchant_id: &str, any: bool) -> Result<MerchantRecord> {
        let now_ms = self.now_ms();
        self.transact(|tx| {
            let changed = tx.execute(
                "UPDATE merchants_merchants SET void_any_terminal = $1, updated_ms = $2 WHERE merchant_id = $3",
                &[i64::from(any).into(), int(now_ms), merchant_id.into()],
            )?;
            if changed == 0 {
                return Err(MerchantError::not_found(format!("no merchant {merchant_id}")));
            }
            self.merchant_in(tx, merchant_id)?
                .ok_or_else(|| MerchantError::not_found(format!("no merchant {merchant_id}")))
        })
    }

    /// End the relationship: final. Its terminals are disabled with it.
    pub fn close(&self, merchant_id: &str, reason: &str) -> Result<MerchantRecord> {
        self.set_status(merchant_id, MerchantStatus::Closed, reason)
    }

    fn set_status(&self, merchant_id: &str, target: MerchantStatus, reason: &str) -> Result<MerchantRecord> {
        let reason = required_text("reason", reason)?;
        let now_ms = self.now_ms();
        self.transact(|tx| {
            let merchant = self
                .merchant_in(tx, merchant_id)?
                .ok_or_else(|| MerchantError::not_found(format!("no merchant {merchant_id}")))?;
            let (allowed, event) = match target {
                MerchantStatus::Suspended => (merchant.status == MerchantStatus::Active, "suspended"),
                MerchantStatus::Active => (merchant.status == MerchantStatus::Suspended, "reinstated"),
                MerchantStatus::Closed => (merchant.status != MerchantStatus::Closed, "closed"),
            };
            if !allowed {
                return Err(MerchantError::state(format!("merchant {merchant_id} is {}: cannot be {event}", merchant.status)));
            }
            tx.execute(
                "UPDATE merchants_merchants SET status = $1, status_reason = $2, updated_ms = $3 WHERE merchant_id = $4",
                &[target.name().into(), reason.as_str().into(), int(now_ms), merchant_id.into()],
            )?;
            store::trail(tx, Subject::Merchant, merchant_id, now_ms, event, ACTOR_OPERATOR, &reason)?;
            if target == MerchantStatus::Closed {
                let open: Vec<String> = tx
                    .query(
                        "SELECT terminal_id FROM merchants_terminals WHERE merchant_id = $1 AND status <> 'disabled'",
                        &[merchant_id.into()],
                    )?
                    .iter()
                    .map(|row| row.text(0))
                    .collect::<sqlstore::Result<_>>()?;
                for terminal_id in open {
                    tx.execute(
                        "UPDATE merchants_terminals SET status = $1, updated_ms = $2 WHERE terminal_id = $3",
                        &[TerminalStatus::Disabled.name().into(), int(now_ms), terminal_id.as_str().into()],
                    )?;
                    let why = format!("merchant closed: {reason}");
                    store::trail(tx, Subject::Terminal, &terminal_id, now_ms, "terminal-disabled", ACTOR_OPERATOR, &why)?;
                }
            }
            self.merchant_in(tx, merchant_id)?.ok_or_else(|| MerchantError::internal("the merchant vanished"))
        })
    }

    // ---- Settlement account changes --------------------------------------------------------

    /// Ask to pay a merchant into another account. Checked like an application (required
    /// fields, a different account, duplicates); until a reviewer approves it the old account
    /// stays the payout account. One pending change per merchant.
    pub fn request_account_change(
        &self,
        merchant_id: &str,
        account: &SettlementAccount,
    ) -> Result<AccountChangeRecord> {
        let account = clean_account(account)?;
        let now_ms = self.now_ms();
        let change_id = self.transact(|tx| {
            let merchant = self
                .merchant_in(tx, merchant_id)?
                .ok_or_else(|| MerchantError::not_found(format!("no merchant {merchant_id}")))?;
            if merchant.status == MerchantStatus::Closed {
                return Err(MerchantError::state(format!("merchant {merchant_id} is closed")));
            }
            if let Some(row) = tx.query_opt(
                "SELECT change_id FROM merchants_account_changes WHERE merchant_id = $1 AND status = 'pending'",
                &[merchant_id.into()],
            )? {
                return Err(MerchantError::state(format!(
                    "account change {} of merchant {merchant_id} is pending review",
                    row.i64(0)?
                )));
            }
            let mut checks = Vec::with_capacity(3);
            let mut problems = Vec::new();
            account_problems(&account, &mut problems);
            checks.push(outcome(
                Check::RequiredFields,
                now_ms,
                if problems.is_empty() {
                    Ok("bank code and account number well-formed".into())
                } else {
                    Err(problems.join("; "))
                },
            ));
            checks.push(outcome(
                Check::AccountDiffers,
                now_ms,
                if account == merchant.settlement {
                    Err("the merchant is already paid into this account".into())
                } else {
                    Ok("differs from the current payout account".into())
                },
            ));
            let holder = account_holder(tx, &account, Some(merchant_id))?;
            checks.push(outcome(
                Check::DuplicateAccount,
                now_ms,
                match holder {
                    Some(holder) => Err(holder),
                    None => Ok("no other live merchant, open application or pending change has this account".into()),
                },
            ));
            let failed = failed_names(&checks);
            let status = if failed.is_empty() { ChangeStatus::Pending } else { ChangeStatus::Rejected };
            let change_id = store::next_id(tx, "merchants_account_changes", "change_id")?;
            tx.execute(
                &format!(
                    "INSERT INTO merchants_account_changes ({CHANGE_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, NULL, $8, $8)"
                ),
                &[
                    change_id.into(),
                    merchant_id.into(),
                    merchant.settlement.bank_code.as_str().into(),
                    merchant.settlement.account_no.as_str().into(),
                    account.bank_code.as_str().into(),
                    account.account_no.as_str().into(),
                    status.name().into(),
                    int(now_ms),
                ],
            )?;
            let subject_id = change_id.to_string();
            store::insert_checks(tx, Subject::AccountChange, &subject_id, &checks)?;
            let requested = format!("merchant {merchant_id}");
            store::trail(
                tx,
                Subject::AccountChange,
                &subject_id,
                now_ms,
                "account-change-requested",
                ACTOR_OPERATOR,
                &requested,
            )?;
            if failed.is_empty() {
                let reason = format!("{} automatic checks passed", checks.len());
                store::trail(tx, Subject::AccountChange, &subject_id, now_ms, "checks-passed", ACTOR_SYSTEM, &reason)?;
            } else {
                let reason = format!("automatic checks failed: {}", failed.join(", "));
                store::trail(tx, Subject::AccountChange, &subject_id, now_ms, "checks-failed", ACTOR_SYSTEM, &reason)?;
                store::trail(tx, Subject::AccountChange, &subject_id, now_ms, "rejected", ACTOR_SYSTEM, &reason)?;
            }
            Ok(change_id)
        })?;
        self.account_change(change_id)?.ok_or_else(|| MerchantError::internal("the change just stored is missing"))
    }

    /// A reviewer decides a pending account change; on approval the new account becomes the
    /// payout account (and joins the account history).
    pub fn review_account_change(
        &self,
        change_id: i64,
        decision: Decision,
        reason: &str,
        reviewer: &str,
    ) -> Result<AccountChangeRecord> {
        let reason = required_text("reason", reason)?;
        let reviewer = required_text("reviewer", reviewer)?;
        let now_ms = self.now_ms();
        self.transact(|tx| {
            let change = self.change_in(tx, change_id)?;
            if change.status != ChangeStatus::Pending {
                return Err(MerchantError::state(format!(
                    "account change {change_id} is {}: only a pending change can be reviewed",
                    change.status
                )));
            }
            let (status, event) = match decision {
                Decision::Approve => (ChangeStatus::Approved, "approved"),
                Decision::Reject => (ChangeStatus::Rejected, "rejected"),
            };
            if decision == Decision::Approve {
                let merchant = self
                    .merchant_in(tx, &change.merchant_id)?
                    .ok_or_else(|| MerchantError::internal("the change's merchant is missing"))?;
                if merchant.status == MerchantStatus::Closed {
                    return Err(MerchantError::state(format!("merchant {} is closed", merchant.merchant_id)));
                }
                tx.execute(
                    "UPDATE merchants_merchants SET bank_code = $1, account_no = $2, updated_ms = $3 WHERE merchant_id = $4",
                    &[
                        change.new.bank_code.as_str().into(),
                        change.new.account_no.as_str().into(),
                        int(now_ms),
                        change.merchant_id.as_str().into(),
                    ],
                )?;
                store::push_account_history(tx, &change.merchant_id, &change.new, now_ms, Some(change_id))?;
                let why = format!("account change {change_id} approved by {reviewer}: {reason}");
                store::trail(tx, Subject::Merchant, &change.merchant_id, now_ms, "account-changed", &reviewer, &why)?;
            }
            tx.execute(
                "UPDATE merchants_account_changes SET status = $1, reviewer = $2, review_approved = $3, review_reason = $4,
                 reviewed_ms = $5, updated_ms = $5 WHERE change_id = $6",
                &[
                    status.name().into(),
                    reviewer.as_str().into(),
                    (decision == Decision::Approve).into(),
                    reason.as_str().into(),
                    int(now_ms),
                    change_id.into(),
                ],
            )?;
            store::trail(tx, Subject::AccountChange, &change_id.to_string(), now_ms, event, &reviewer, &reason)?;
            self.change_in(tx, change_id)
        })
    }
}
