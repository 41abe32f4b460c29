//! `cardnet merchant ...`: the acquirer's merchant onboarding (商户申请 → 银行审核 → 开户) and
//! the merchants' life afterwards, over `merchants::Registry`.
//!
//! Every subcommand reads the acquirer's configuration file (`--config`: its `database`,
//! `lmk_file` and `[merchants]` table). An application is recorded even when its automatic
//! checks fail: it is then rejected, and `merchant show` prints every check with its reason.
//! With `--json` each subcommand prints exactly one JSON object; errors are one line on stderr,
//! exit status 2 for bad input (an unknown id, a refused state change included).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use merchants::{
    AccountChangeRecord, AccountHistoryEntry, Application, ApplicationRecord, CheckOutcome, Decision, DiscountRate,
    FeePlan, Listing, MerchantError, MerchantRecord, MerchantTerms, Registry, RegistryConfig, Review,
    SettlementAccount, SettlementCycle, Status, TerminalRecord, TrailEntry,
};
use serde_json::{Value, json};

use crate::cli_error::CliError;

#[derive(Subcommand)]
pub enum MerchantCommand {
    /// Submit a merchant application; the automatic checks run at once (a failure rejects it).
    Apply(ApplyArgs),
    /// A reviewer approves or rejects an application that passed its checks.
    Review(ReviewArgs),
    /// Open the merchant of an approved application: merchant id, fee plan, cycle, limits.
    Activate(ActivateArgs),
    /// Everything about an application or merchant: checks with reasons, decisions, trail.
    Show(ShowArgs),
    /// Applications and merchants, optionally of one status.
    List(ListArgs),
    /// Suspend an active merchant (no transactions, no new terminals).
    Suspend(StatusArgs),
    /// Make a suspended merchant active again.
    Reinstate(StatusArgs),
    /// Close a merchant for good (its terminals are disabled).
    Close(StatusArgs),
    /// Which of its terminals may void a transaction: the one that took it (the default) or
    /// any (a multi-lane store).
    Voids(VoidsArgs),
    /// Ask to pay a merchant into another account (checked, then reviewed with review-change).
    ChangeAccount(ChangeAccountArgs),
    /// A reviewer approves or rejects a pending settlement account change.
    ReviewChange(ReviewChangeArgs),
}

#[derive(Args)]
pub struct ApplyArgs {
    /// The acquirer's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Business name as on the licence.
    #[arg(long)]
    name: String,
    /// Business licence number: the 18-character unified social credit code.
    #[arg(long)]
    licence: String,
    /// Legal representative.
    #[arg(long)]
    legal_rep: String,
    /// Merchant category code, 4 digits (one of `[merchants] allowed_mccs`).
    #[arg(long)]
    mcc: String,
    /// City of the business.
    #[arg(long)]
    city: String,
    /// ISO 3166-1 alpha-2 country code, such as CN.
    #[arg(long)]
    country: String,
    /// Settlement bank: 3 to 12 digits.
    #[arg(long)]
    bank_code: String,
    /// Settlement account number: 8 to 32 digits.
    #[arg(long)]
    account: String,
    /// Expected monthly volume in minor units (12550 is 125.50).
    #[arg(long, value_name = "MINOR")]
    volume: u64,
    /// Print one JSON object: the application as `merchant show` prints it.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["approve", "reject"])))]
pub struct ReviewArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// The application id.
    #[arg(long)]
    application: i64,
    /// Approve the application.
    #[arg(long)]
    approve: bool,
    /// Reject the application.
    #[arg(long)]
    reject: bool,
    /// Why (kept in the review trail).
    #[arg(long)]
    reason: String,
    /// The reviewer's name.
    #[arg(long)]
    reviewer: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum CycleArg {
    /// Paid the next business day.
    T1,
    /// Paid the same day.
    D0,
}

#[derive(Args)]
pub struct ActivateArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// The approved application's id.
    #[arg(long)]
    application: i64,
    /// Debit card merchant discount rate, basis points (50 is 0.50 %).
    #[arg(long, value_name = "BP")]
    mdr_debit_bp: u32,
    /// Debit card fee cap per transaction, minor units.
    #[arg(long, value_name = "MINOR")]
    cap_debit: Option<u64>,
    /// Credit card merchant discount rate, basis points.
    #[arg(long, value_name = "BP")]
    mdr_credit_bp: u32,
    /// Credit card fee cap per transaction, minor units.
    #[arg(long, value_name = "MINOR")]
    cap_credit: Option<u64>,
    /// Settlement cycle.
    #[arg(long, value_enum)]
    cycle: CycleArg,
    /// Largest single transaction, minor units (default: `[merchants] single_max_minor_default`).
    #[arg(long, value_name = "MINOR")]
    single_max: Option<u64>,
    /// Largest total a day, minor units (default: `[merchants] daily_max_minor_default`).
    #[arg(long, value_name = "MINOR")]
    daily_max: Option<u64>,
    /// Print one JSON object: the merchant as `merchant show` prints it.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true).args(["merchant", "application"])))]
pub struct ShowArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// A 15-digit merchant id.
    #[arg(long, value_name = "MID")]
    merchant: Option<String>,
    /// An application id (rejected ones too).
    #[arg(long, value_name = "ID")]
    application: Option<i64>,
    /// Print one JSON object: {"application", "merchant" (null before activation),
    /// "account_history", "account_changes", "terminals", "trail"}; the application carries
    /// every automatic check with "passed" and "reason", and the reviewer's decision.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// applied, rejected, approved, active, suspended or closed.
    #[arg(long)]
    status: Option<String>,
    /// Print one JSON object: {"entries": [{"application_id", "merchant_id", "name", "mcc",
    /// "city", "status", "updated_ms"}]}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// The 15-digit merchant id.
    #[arg(long, value_name = "MID")]
    merchant: String,
    /// Why (kept in the trail).
    #[arg(long)]
    reason: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Who may void a merchant's transaction.
#[derive(Clone, Copy, ValueEnum)]
pub enum VoidFrom {
    /// Only the terminal that took the transaction (others are answered 25).
    Original,
    /// Any terminal of the merchant.
    Any,
}

#[derive(Args)]
pub struct VoidsArgs {
    /// The acquirer's configuration (its database).
    #[arg(long)]
    config: PathBuf,
    /// The 15-digit merchant id.
    #[arg(long, value_name = "MID")]
    merchant: String,
    /// Who may void a sale: only its original terminal (default) or any terminal of the merchant.
    #[arg(long, value_enum)]
    from: VoidFrom,
    /// Print one JSON object: the merchant.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ChangeAccountArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// The 15-digit merchant id.
    #[arg(long, value_name = "MID")]
    merchant: String,
    /// The new settlement bank: 3 to 12 digits.
    #[arg(long)]
    bank_code: String,
    /// The new settlement account number: 8 to 32 digits.
    #[arg(long)]
    account: String,
    /// Print one JSON object: the change with its checks.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["approve", "reject"])))]
pub struct ReviewChangeArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// The account change id.
    #[arg(long)]
    change: i64,
    /// Approve the account change.
    #[arg(long)]
    approve: bool,
    /// Reject the account change.
    #[arg(long)]
    reject: bool,
    /// Why (kept in the review trail).
    #[arg(long)]
    reason: String,
    /// The reviewer's name.
    #[arg(long)]
    reviewer: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

impl From<MerchantError> for CliError {
    fn from(error: MerchantError) -> CliError {
        if error.is_bad_input() {
            CliError::bad_input(error)
        } else {
            CliError::Failure(error.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

pub fn run(command: MerchantCommand) -> Result<(), CliError> {
    match command {
        MerchantCommand::Apply(args) => apply(args),
        MerchantCommand::Review(args) => review(args),
        MerchantCommand::Activate(args) => activate(args),
        MerchantCommand::Show(args) => show(args),
        MerchantCommand::List(args) => list(args),
        MerchantCommand::Suspend(args) => set_status(args, Registry::suspend),
        MerchantCommand::Reinstate(args) => set_status(args, Registry::reinstate),
        MerchantCommand::Close(args) => set_status(args, Registry::close),
        MerchantCommand::Voids(args) => set_voids(args),
        MerchantCommand::ChangeAccount(args) => change_account(args),
        MerchantCommand::ReviewChange(args) => review_change(args),
    }
}

/// The registry a configuration file names (shared with `terminal_command`). Its database is
/// the acquirer's, whose tables are made ready too: a terminal's batch and settlement state
/// are read from the acquirer host's own records ([`host_batch`]).
pub(crate) fn open(config_path: &Path) -> Result<Registry, CliError> {
    let config = RegistryConfig::load(config_path)?;
    let registry = Registry::from_config(&config)?;
    acquirer::engine::migrate(registry.database()).map_err(acquirer_failure)?;
    Ok(registry)
}

fn acquirer_failure(error: acquirer::AcquirerError) -> CliError {
    CliError::Failure(format!("acquirer records: {error}"))
}

/// A terminal's batch (60.2, 6 digits) and whether it waits for settlement, as the acquirer
/// host keeps them — the one place they live; a terminal the host has not seen yet starts in
/// the first batch with nothing pending.
pub(crate) fn host_batch(registry: &Registry, terminal_id: &str) -> Result<(String, bool), CliError> {
    let state = acquirer::engine::host_terminal(registry.database(), terminal_id).map_err(acquirer_failure)?;
    let (batch_no, pending) =
        state.map_or((merchants::limits::BATCH_NO_FIRST, false), |s| (s.batch_no, s.settlement_pending));
    Ok((format!("{batch_no:06}"), pending))
}

fn decision(approve: bool) -> Decision {
    if approve { Decision::Approve } else { Decision::Reject }
}

fn check_json(check: &CheckOutcome) -> Value {
    json!({"check": check.check.name(), "passed": check.passed, "reason": check.reason, "at_ms": check.at_ms})
}

fn review_json(review: Option<&Review>) -> Value {
    review.map_or(
        Value::Null,
        |r| json!({"approved": r.approved, "reviewer": r.reviewer, "reason": r.reason, "at_ms": r.at_ms}),
    )
}

fn account_json(account: &SettlementAccount) -> Value {
    json!({"bank_code": account.bank_code, "account_no": account.account_no})
}

fn application_json(record: &ApplicationRecord) -> Value {
    let a = &record.application;
    json!({
        "application_id": record.application_id,
        "status": record.status.name(),
        "business_name": a.business_name,
        "licence_no": a.licence_no,
        "legal_representative": a.legal_representative,
        "mcc": a.mcc,
        "city": a.city,
        "country": a.country,
        "settlement_account": account_json(&a.settlement),
        "expected_monthly_volume_minor": a.expected_monthly_volume_minor,
        "checks": record.checks.iter().map(check_json).collect::<Vec<_>>(),
        "checks_failed": record.checks.iter().filter(|c| !c.passed).map(|c| c.check.name()).collect::<Vec<_>>(),
        "review": review_json(record.review.as_ref()),
        "merchant_id": record.merchant_id,
        "created_ms": record.created_ms,
        "updated_ms": record.updated_ms,
    })
}

fn rate_json(rate: &DiscountRate) -> Value {
    json!({"rate_bp": rate.rate_bp, "cap_minor": rate.cap_minor})
}

pub(crate) fn merchant_json(m: &MerchantRecord) -> Value {
    json!({
        "merchant_id": m.merchant_id,
        "application_id": m.application_id,
        "name": m.name,
        "licence_no": m.licence_no,
        "legal_representative": m.legal_representative,
        "mcc": m.mcc,
        "city": m.city,
        "country": m.country,
        "status": m.status.name(),
        "status_reason": m.status_reason,
        "settlement_account": account_json(&m.settlement),
        "fee_plan": {"debit": rate_json(&m.fee_plan.debit), "credit": rate_json(&m.fee_plan.credit)},
        "settlement_cycle": m.cycle.name(),
        "limits": {"single_max_minor": m.limits.single_max_minor, "daily_max_minor": m.limits.daily_max_minor},
        "void_any_terminal": m.void_any_terminal,
        "activated_ms": m.activated_ms,
        "updated_ms": m.updated_ms,
    })
}

fn change_json(c: &AccountChangeRecord) -> Value {
    json!({
        "change_id": c.change_id,
        "merchant_id": c.merchant_id,
        "status": c.status.name(),
        "old_account": account_json(&c.old),
        "new_account": account_json(&c.new),
        "checks": c.checks.iter().map(check_json).collect::<Vec<_>>(),
        "checks_failed": c.checks.iter().filter(|c| !c.passed).map(|c| c.check.name()).collect::<Vec<_>>(),
        "review": review_json(c.review.as_ref()),
        "created_ms": c.created_ms,
        "updated_ms": c.updated_ms,
    })
}

fn history_json(entry: &AccountHistoryEntry) -> Value {
    json!({"account": account_json(&entry.account), "from_ms": entry.from_ms, "change_id": entry.change_id})
}

fn trail_json(entry: &TrailEntry) -> Value {
    json!({
        "subject": entry.subject.name(),
        "subject_id": entry.subject_id,
        "at_ms": entry.at_ms,
        "event": entry.event,
        "actor": entry.actor,
        "reason": entry.reason,
    })
}

/// A terminal without its key: the check value only; its batch from the acquirer host.
pub(crate) fn terminal_json(registry: &Registry, t: &TerminalRecord) -> Result<Value, CliError> {
    let (batch_no, settlement_pending) = host_batch(registry, &t.terminal_id)?;
    Ok(json!({
        "terminal_id": t.terminal_id,
        "merchant_id": t.merchant_id,
        "model": t.model,
        "serial": t.serial,
        "status": t.status.name(),
        "tmk_kcv": t.tmk.kcv(),
        "batch_no": batch_no,
        "last_sign_on_ms": t.last_sign_on_ms,
        "settlement_pending": settlement_pending,
        "created_ms": t.created_ms,
        "updated_ms": t.updated_ms,
    }))
}

/// The one shape `show`, `apply` and `activate` print.
fn show_json(registry: &Registry, application_id: i64) -> Result<Value, CliError> {
    let application = registry
        .application(application_id)?
        .ok_or_else(|| CliError::bad_input(format!("no application {application_id}")))?;
    if let Some(merchant_id) = &application.merchant_id
        && let Some(details) = registry.merchant_details(merchant_id)?
    {
        return Ok(json!({
            "application": application_json(&details.application),
            "merchant": merchant_json(&details.merchant),
            "account_history": details.account_history.iter().map(history_json).collect::<Vec<_>>(),
            "account_changes": details.account_changes.iter().map(change_json).collect::<Vec<_>>(),
            "terminals": details.terminals.iter().map(|t| terminal_json(registry, t)).collect::<Result<Vec<_>, _>>()?,
            "trail": details.trail.iter().map(trail_json).collect::<Vec<_>>(),
        }));
    }
    let trail = registry.application_trail(application_id)?;
    Ok(json!({
        "application": application_json(&application),
        "merchant": Value::Null,
        "account_history": [],
        "account_changes": [],
        "terminals": [],
        "trail": trail.iter().map(trail_json).collect::<Vec<_>>(),
    }))
}

/// `YYYY-MM-DD hh:mm:ssZ` for people (JSON keeps milliseconds).
fn utc(ms: u64) -> String {
    let t = clock::UtcDateTime::from_ms(ms);
    format!("{} {:02}:{:02}:{:02}Z", t.iso_date(), t.hour, t.minute, t.second)
}

/// The human form of `show_json`'s object.
fn print_show(value: &Value) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let a = &value["application"];
    writeln!(out, "application {} — {}", text(&a["application_id"]), text(&a["status"]))?;
    writeln!(out, "  business: {} (licence {})", text(&a["business_name"]), text(&a["licence_no"]))?;
    writeln!(out, "  legal representative: {}", text(&a["legal_representative"]))?;
    writeln!(out, "  MCC {}, {}, {}", text(&a["mcc"]), text(&a["city"]), text(&a["country"]))?;
    writeln!(
        out,
        "  settlement account: bank {} account {}",
        text(&a["settlement_account"]["bank_code"]),
        text(&a["settlement_account"]["account_no"])
    )?;
    writeln!(out, "  expected monthly volume: {}", text(&a["expected_monthly_volume_minor"]))?;
    writeln!(out, "  automatic checks:")?;
    for check in a["checks"].as_array().into_iter().flatten() {
        let mark = if check["passed"] == Value::Bool(true) { "pass" } else { "FAIL" };
        writeln!(out, "    {mark}  {:<18} {}", text(&check["check"]), text(&check["reason"]))?;
    }
    if let Value::Object(review) = &a["review"] {
        let verdict = if review.get("approved") == Some(&Value::Bool(true)) { "approved" } else { "rejected" };
        writeln!(
            out,
            "  review: {verdict} by {}: {}",
            text(review.get("reviewer").unwrap_or(&Value::Null)),
            text(review.get("reason").unwrap_or(&Value::Null))
        )?;
    }
    let m = &value["merchant"];
    if m.is_object() {
        writeln!(out, "merchant {} — {}", text(&m["merchant_id"]), text(&m["status"]))?;
        if !m["status_reason"].is_null() {
            writeln!(out, "  status reason: {}", text(&m["status_reason"]))?;
        }
        writeln!(
            out,
            "  payout account: bank {} account {}",
            text(&m["settlement_account"]["bank_code"]),
            text(&m["settlement_account"]["account_no"])
        )?;
        let fee = |kind: &str| {
            let rate = &m["fee_plan"][kind];
            format!("{} bp, cap {}", text(&rate["rate_bp"]), text(&rate["cap_minor"]))
        };
        writeln!(out, "  fees: debit {}; credit {}", fee("debit"), fee("credit"))?;
        writeln!(
            out,
            "  cycle {}; single max {}; daily max {}",
            text(&m["settlement_cycle"]),
            text(&m["limits"]["single_max_minor"]),
            text(&m["limits"]["daily_max_minor"])
        )?;
        for change in value["account_changes"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  account change {}: {} → bank {} account {}",
                text(&change["change_id"]),
                text(&change["status"]),
                text(&change["new_account"]["bank_code"]),
                text(&change["new_account"]["account_no"])
            )?;
        }
        for terminal in value["terminals"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  terminal {} {} (TMK KCV {}, batch {})",
                text(&terminal["terminal_id"]),
                text(&terminal["status"]),
                text(&terminal["tmk_kcv"]),
                text(&terminal["batch_no"])
            )?;
        }
    }
    writeln!(out, "trail:")?;
    for entry in value["trail"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {}  {} {} {:<26} {:<10} {}",
            utc(entry["at_ms"].as_u64().unwrap_or(0)),
            text(&entry["subject"]),
            text(&entry["subject_id"]),
            text(&entry["event"]),
            text(&entry["actor"]),
            text(&entry["reason"])
        )?;
    }
    Ok(())
}

fn print_show_of(registry: &Registry, application_id: i64, as_json: bool) -> Result<(), CliError> {
    let value = show_json(registry, application_id)?;
    if as_json { crate::output::json(&value) } else { print_show(&value) }
}

fn apply(args: ApplyArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let record = registry.apply(&Application {
        business_name: args.name,
        licence_no: args.licence,
        legal_representative: args.legal_rep,
        mcc: args.mcc,
        city: args.city,
        country: args.country,
        settlement: SettlementAccount { bank_code: args.bank_code, account_no: args.account },
        expected_monthly_volume_minor: args.volume,
    })?;
    print_show_of(&registry, record.application_id, args.json)
}

fn review(args: ReviewArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let record = registry.review(args.application, decision(args.approve), &args.reason, &args.reviewer)?;
    print_show_of(&registry, record.application_id, args.json)
}

fn activate(args: ActivateArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let terms = MerchantTerms {
        fee_plan: FeePlan {
            debit: DiscountRate { rate_bp: args.mdr_debit_bp, cap_minor: args.cap_debit },
            credit: DiscountRate { rate_bp: args.mdr_credit_bp, cap_minor: args.cap_credit },
        },
        cycle: match args.cycle {
            CycleArg::T1 => SettlementCycle::T1,
            CycleArg::D0 => SettlementCycle::D0,
        },
        single_max_minor: args.single_max,
        daily_max_minor: args.daily_max,
    };
    let merchant = registry.activate(args.application, &terms)?;
    print_show_of(&registry, merchant.application_id, args.json)
}

fn show(args: ShowArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let application_id = match (args.merchant, args.application) {
        (Some(merchant_id), _) => {
            registry
                .merchant(merchant_id.trim())?
                .ok_or_else(|| CliError::bad_input(format!("no merchant {}", merchant_id.trim())))?
                .application_id
        }
        (None, Some(application_id)) => application_id,
        (None, None) => return Err(CliError::bad_input("give --merchant MID or --application ID")),
    };
    print_show_of(&registry, application_id, args.json)
}

fn listing_json(entry: &Listing) -> Value {
    json!({
        "application_id": entry.application_id,
        "merchant_id": entry.merchant_id,
        "name": entry.name,
        "mcc": entry.mcc,
        "city": entry.city,
        "status": entry.status.name(),
        "updated_ms": entry.updated_ms,
    })
}

fn list(args: ListArgs) -> Result<(), CliError> {
    let status = args
        .status
        .as_deref()
        .map(|name| {
            Status::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Status::ALL.iter().map(|s| s.name()).collect();
                CliError::bad_input(format!("--status must be one of {}", names.join(", ")))
            })
        })
        .transpose()?;
    let registry = open(&args.config)?;
    let entries = registry.list(status)?;
    if args.json {
        return crate::output::json(&json!({"entries": entries.iter().map(listing_json).collect::<Vec<_>>()}));
    }
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        writeln!(out, "no applications")?;
    }
    for e in &entries {
        writeln!(
            out,
            "{:>6}  {:<15}  {:<9}  {}  {}  {}",
            e.application_id,
            e.merchant_id.as_deref().unwrap_or("-"),
            e.status.name(),
            e.mcc,
            e.city,
            e.name
        )?;
    }
    Ok(())
}

fn set_status(
    args: StatusArgs,
    operation: fn(&Registry, &str, &str) -> merchants::Result<MerchantRecord>,
) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let merchant = operation(&registry, args.merchant.trim(), &args.reason)?;
    if args.json {
        return crate::output::json(&merchant_json(&merchant));
    }
    writeln!(
        std::io::stdout().lock(),
        "merchant {}: {} ({})",
        merchant.merchant_id,
        merchant.status.name(),
        merchant.status_reason.as_deref().unwrap_or("")
    )?;
    Ok(())
}

fn set_voids(args: VoidsArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let any = matches!(args.from, VoidFrom::Any);
    let merchant = registry.set_void_any_terminal(args.merchant.trim(), any)?;
    if args.json {
        return crate::output::json(&merchant_json(&merchant));
    }
    let who = if merchant.void_any_terminal { "any terminal" } else { "the original terminal only" };
    writeln!(std::io::stdout().lock(), "merchant {}: voids from {who}", merchant.merchant_id)?;
    Ok(())
}

fn print_change(change: &AccountChangeRecord, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return crate::output::json(&change_json(change));
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "account change {} of merchant {}: {} (bank {} account {} → bank {} account {})",
        change.change_id,
        change.merchant_id,
        change.status.name(),
        change.old.bank_code,
        change.old.account_no,
        change.new.bank_code,
        change.new.account_no
    )?;
    for check in &change.checks {
        let mark = if check.passed { "pass" } else { "FAIL" };
        writeln!(out, "  {mark}  {:<18} {}", check.check.name(), check.reason)?;
    }
    if let Some(review) = &change.review {
        let verdict = if review.approved { "approved" } else { "rejected" };
        writeln!(out, "  review: {verdict} by {}: {}", review.reviewer, review.reason)?;
    }
    Ok(())
}

fn change_account(args: ChangeAccountArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let account = SettlementAccount { bank_code: args.bank_code, account_no: args.account };
    let change = registry.request_account_change(args.merchant.trim(), &account)?;
    print_change(&change, args.json)
}

fn review_change(args: ReviewChangeArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let change = registry.review_account_change(args.change, decision(args.approve), &args.reason, &args.reviewer)?;
    print_change(&change, args.json)
}
