//! End of day in a run: once the day's workload is quiet and checked ([`crate::check`]), the
//! cores the driver held are dropped (an issuer's ledger belongs to one opener at a time), the
//! parties' configurations are written into the run folder in a network folder's layout
//! (`switch.toml`, `acquirer.toml`, `issuer-<id>.toml`, beside the LMK file), and the `eod`
//! crate — what `cardnet eod run` runs — takes every business date of the run through cut-off
//! (closed early, on the run's clock), clearing, net settlement, issuer posting, merchant
//! settlement and reconciliation. The books are then checked ([`crate::books`]).
//!
//! Nothing here enters the trace: the summaries name the run folder (the process id), so only
//! counts and amounts go into the report.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::books::{Books, Expected};
use crate::world::World;

/// Business dates one run takes through end of day at most (a run lasts minutes of simulated
/// time; a workload spread over more days than this is not one the simulation plans).
pub const DATES_MAX: usize = 31;

/// A deliberate fault in the books, for the test that shows the checks can fail. Never set by
/// `cardnet sim`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tamper {
    #[default]
    None,
    /// After issuer posting and before reconciliation, one posted record of the first issuer
    /// says one minor unit more moved on its card than did.
    PostedAmount,
    /// After cut-off and before clearing, the switch forgets the first approved purchase it
    /// journaled: it is never cleared.
    ForgetPurchase,
    /// After issuer posting, the first issuer's ledger moves one minor unit from a card to its
    /// network settlement account with no record of why (the ledger still balances).
    LedgerSkim,
    /// Before the day starts, one card account of the first issuer's ledger is debited one
    /// minor unit that no account is credited: the ledger no longer balances.
    UnbalancedLedger,
}

/// What end of day found, for the report (deterministic: counts and amounts only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayEnd {
    /// Business dates taken through end of day.
    pub dates: usize,
    /// Clearing records (each once).
    pub cleared: u64,
    /// (member, currency, net minor units) of every date, in the order the switch reports them.
    pub positions: Vec<(String, String, i64)>,
    /// Σ merchant payouts' net.
    pub payouts_minor: i64,
    /// Reconciliation: transactions matched, and differences (unmatched, statement drifts and
    /// exceptions opened at the switch).
    pub recon_matched: u64,
    pub recon_exceptions: u64,
}

/// Take the run's dates through end of day and check the books against what the terminals saw
/// (`expected`); every broken invariant is a line in `violations`.
pub fn end_of_day(world: Arc<World>, dir: &Path, expected: &Expected, tamper: Tamper) -> (DayEnd, Vec<String>) {
    let mut violations = Vec::new();
    let world = match Arc::try_unwrap(world) {
        Ok(world) => world,
        Err(_) => {
            violations.push("end of day: a party's core is still held by the driver".to_owned());
            return (DayEnd::default(), violations);
        }
    };
    let clock: ::eod::SharedClock = Arc::new(world.clock.clone());
    let configs = match Configs::write(&world, dir) {
        Ok(configs) => configs,
        Err(error) => {
            violations.push(format!("end of day: the network folder: {error}"));
            return (DayEnd::default(), violations);
        }
    };
    // The cores go: end of day opens each party afresh from its files.
    drop(world);
    let mut day = DayEnd::default();
    let mut books = Books::new(configs.network_id.clone(), configs.acquirer_id.clone());
    for date in configs.dates(clock.now_ms()) {
        match run_date(dir, date, &clock, &configs, tamper) {
            Ok(summary) => {
                day.dates += 1;
                add_figures(dir, &mut day, &summary, &mut violations);
                if let Err(error) = books.read(dir, date, &clock, &summary) {
                    violations.push(format!("end of day {date}: the books: {error}"));
                }
            }
            Err(error) => violations.push(format!("end of day {date}: {error}")),
        }
    }
    day.cleared = books.cleared();
    violations.extend(books.check(expected, &day));
    (day, violations)
}

/// What the written folder is for: the switch's id and cut-off (which dates the run's clock
/// crossed).
struct Configs {
    network_id: String,
    acquirer_id: String,
    cutoff: clearing::CutOff,
    /// The databases a tamper changes: the switch's and the first issuer's.
    switch_db: String,
    first_issuer_db: String,
}

impl Configs {
    fn write(world: &World, dir: &Path) -> Result<Configs, String> {
        let write =
            |name: &str, text: String| std::fs::write(dir.join(name), text).map_err(|e| format!("write {name}: {e}"));
        write(::eod::SWITCH_FILE, world.switch_config.to_toml())?;
        write(::eod::ACQUIRER_FILE, world.acquirer_config.to_toml())?;
        for (config, (id, _)) in world.issuer_configs.iter().zip(&world.issuers) {
            write(&::eod::issuer_file_name(id), config.to_toml())?;
        }
        Ok(Configs {
            network_id: world.switch_config.institution_id.clone(),
            acquirer_id: world.acquirer_config.institution_id.clone(),
            cutoff: world.switch_config.cutoff_resolved(),
            switch_db: world.switch_config.database.clone(),
            first_issuer_db: world.issuer_configs.first().map(|c| c.database.clone()).unwrap_or_default(),
        })
    }

    /// Every business date from the run's start to `now_ms`, oldest first.
    fn dates(&self, now_ms: u64) -> Vec<clearing::BusinessDate> {
        let last = self.cutoff.business_date(now_ms);
        let mut date = self.cutoff.business_date(crate::run::START_MS);
        let mut dates = Vec::new();
        while date <= last && dates.len() < DATES_MAX {
            dates.push(date);
            date = date.next();
        }
        dates
    }
}

/// Every step of one date, the tamper (if any) before the step it falls before.
fn run_date(
    dir: &Path,
    date: clearing::BusinessDate,
    clock: &::eod::SharedClock,
    configs: &Configs,
    tamper: Tamper,
) -> Result<Value, ::eod::EodError> {
    let mut before = |step: ::eod::Step| match (tamper, step) {
        (Tamper::ForgetPurchase, ::eod::Step::Clearing) => tamper_database(&configs.switch_db, FORGET_PURCHASE),
        (Tamper::PostedAmount, ::eod::Step::Merchants) => tamper_database(&configs.first_issuer_db, ALTER_POSTING),
        (Tamper::LedgerSkim, ::eod::Step::Merchants) => {
            tamper_database(&configs.first_issuer_db, SKIM_CARD);
            tamper_database(&configs.first_issuer_db, SKIM_SETTLEMENT);
        }
        _ => {}
    };
    ::eod::run_steps(dir, date, &::eod::Step::ALL, true, clock, &mut before)
}

/// How the tampers change the books.
const FORGET_PURCHASE: &str = "DELETE FROM switch_exchanges WHERE id = \
     (SELECT MIN(p.id) FROM switch_exchanges p WHERE p.kind = 'purchase' AND p.response_code = '00' \
     AND NOT EXISTS (SELECT 1 FROM switch_exchanges c WHERE c.original_id = p.id))";
pub(crate) const UNBALANCE_LEDGER: &str = "UPDATE ledger_accounts SET debits_posted = debits_posted + 1 WHERE id = \
     (SELECT MIN(id) FROM ledger_accounts WHERE code = 100)";
const SKIM_CARD: &str = "UPDATE ledger_accounts SET debits_posted = debits_posted + 1 WHERE id = \
     (SELECT MIN(id) FROM ledger_accounts WHERE code = 100 AND credits_posted > debits_posted + debits_pending)";
const SKIM_SETTLEMENT: &str = "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE code = 200";
const ALTER_POSTING: &str = "UPDATE issuer_postings SET moved = moved + 1 WHERE rowid = \
     (SELECT MIN(rowid) FROM issuer_postings WHERE moved > 0)";

/// Apply a tamper's statement; a tamper that cannot apply leaves the books right, and the test
/// that asked for it fails.
pub(crate) fn tamper_database(url: &str, sql: &str) {
    if let Ok(db) = sqlstore::Database::open(url) {
        let _ = db.transaction(|tx| tx.execute(sql, &[]));
    }
}

/// The report's figures from one date's summary, and reconciliation's differences.
fn add_figures(dir: &Path, day: &mut DayEnd, summary: &Value, violations: &mut Vec<String>) {
    let date = summary["date"].as_str().unwrap_or("?");
    for member in summary["members"].as_array().into_iter().flatten() {
        day.positions.push((
            member["member"].as_str().unwrap_or_default().to_owned(),
            member["currency"].as_str().unwrap_or_default().to_owned(),
            member["net_minor"].as_i64().unwrap_or(0),
        ));
    }
    day.payouts_minor +=
        summary["merchants"].as_array().into_iter().flatten().filter_map(|m| m["net_minor"].as_i64()).sum::<i64>();
    let recon = &summary["steps"][::eod::Step::Recon.name()];
    let figures = &recon["summary"];
    day.recon_matched += figures["matched"].as_u64().unwrap_or(0);
    let unmatched = figures["unmatched"].as_u64().unwrap_or(0);
    let drifts = figures["balance_drifts"].as_array().map_or(0, Vec::len) as u64;
    let opened = recon["exceptions_opened"].as_u64().unwrap_or(0);
    let resolutions = recon["resolutions"]["unmatched"].as_u64().unwrap_or(0);
    let differences = unmatched + drifts + opened + resolutions;
    day.recon_exceptions += differences;
    if differences > 0 {
        violations.push(format!(
            "end of day {date}: reconciliation: {unmatched} transactions unmatched {}, {drifts} statement drifts, \
             {opened} exceptions opened, {resolutions} resolutions unmatched; {}",
            figures["classes"],
            exceptions_detail(dir, date)
        ));
    }
}

/// Exceptions a violation quotes at most (the rest are in the run folder's detail file).
const EXCEPTIONS_QUOTED_MAX: usize = 3;

/// The first exceptions of reconciliation's detail file (`recon/DATE/recon.jsonl`: keys,
/// amounts, class and reason — no card number), for the line that reports them.
fn exceptions_detail(dir: &Path, date: &str) -> String {
    let path = dir.join("recon").join(date).join("recon.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().take(EXCEPTIONS_QUOTED_MAX).collect();
    lines.join(" | ")
}
