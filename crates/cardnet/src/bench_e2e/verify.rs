//! The check after a run (`--kill`, `--verify`): what the terminals saw approved against what
//! the issuers hold. It is what proves that no party answers before its commit: a party
//! killed with SIGKILL under load loses only what it had not committed, and what it had not
//! committed it had not answered.
//!
//! First the network is let go quiet ([`wait_quiet`], parties still running): the acquirer's
//! and the switch's store-and-forward queues (`acquirer_saf`, `switch_saf`) empty, so the
//! reversals of purchases whose answers were lost, and the switch's stand-in advices, have
//! reached the issuers. Then, the parties stopped, [`check`] opens each issuer's database and
//! asserts, for every purchase a terminal journaled approved: one approved purchase row with
//! its RRN across both issuers, at the card's issuer, on that card, for that amount, its state
//! held or posted, its ledger hold pending or posted; and each issuer's ledger balances.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use issuer::{EntryState, Issuer, IssuerConfig, JournalEntry};
use ledger::PendingStatus;
use network::TransactionKind;

use super::run::Journals;
use super::setup::Network;
use super::terminals::Approval;
use crate::cli_error::CliError;

/// How long the store-and-forward queues may take to empty after the load: a reversal that
/// failed while its destination was down waits 1, 2, 4, 8 … s between attempts.
const QUIET_WAIT_MS_MAX: u64 = 60_000;
/// How often the queues are read while waiting.
const QUIET_POLL_MS: u64 = 250;
/// Violations written out in full (the rest are counted).
pub const VIOLATIONS_SHOWN_MAX: usize = 5;
/// Rows `Issuer::card_journal` returns at most: a card with this many may have more the check
/// cannot see, so it refuses to judge rather than judge on part of the journal.
const CARD_JOURNAL_ROWS_MAX: usize = 1_000;
/// `saf::EntryState::Pending` as the queue table stores it (the code is the saf crate's own;
/// the check reads the table from outside the party's process).
const SAF_STATE_PENDING: i64 = 0;

/// How the network ended.
pub struct Quiet {
    /// Entries still pending in the acquirer's and switch's queues when the wait ended (0:
    /// quiet).
    pub saf_pending: u64,
    pub waited_ms: u64,
}

/// What the check found.
#[derive(Default)]
pub struct Verdict {
    /// Approvals the terminals saw that the issuers hold exactly once, as they should.
    pub verified_approvals: u64,
    pub violations: u64,
    /// The first [`VIOLATIONS_SHOWN_MAX`], card numbers masked.
    pub shown: Vec<String>,
    /// Approved purchases an issuer holds that no terminal journaled approved (an answer lost
    /// on the way whose reversal is still owed, or gave up): counted, not a violation.
    pub holds_unseen: u64,
    /// Approved purchases an issuer released (voided) that no terminal saw approved: answers
    /// lost in the kill and reversed, the sign that it struck work in flight.
    pub holds_released: u64,
}

impl Verdict {
    fn violation(&mut self, text: String) {
        self.violations += 1;
        if self.shown.len() < VIOLATIONS_SHOWN_MAX {
            self.shown.push(text);
        }
    }
}

fn failure(text: String) -> CliError {
    CliError::Failure(format!("bench e2e: the check: {text}"))
}

/// The configuration of the party named `name`.
fn config_of<'a>(network: &'a Network, name: &str) -> Result<&'a Path, CliError> {
    network
        .parties
        .iter()
        .find(|party| party.name == name)
        .map(|party| party.config.as_path())
        .ok_or_else(|| failure(format!("no {name} in the network")))
}

/// Entries pending in queue `table` of the database at `url`.
fn pending(url: &str, table: &str, party: &str) -> Result<u64, CliError> {
    let db = sqlstore::Database::open(url).map_err(|e| failure(format!("the {party}'s database: {e}")))?;
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE state = $1");
    let row = db
        .transaction(|tx| tx.query_opt(&sql, &[SAF_STATE_PENDING.into()]))
        .map_err(|e| failure(format!("the {party}'s {table}: {e}")))?;
    Ok(row.map(|row| row.u64(0)).transpose().map_err(|e| failure(format!("the {party}'s {table}: {e}")))?.unwrap_or(0))
}

/// Wait (at most `QUIET_WAIT_MS_MAX`) until nothing is pending in the acquirer's reversal queue
/// and the switch's advice queue.
pub fn wait_quiet(network: &Network) -> Result<Quiet, CliError> {
    let acquirer = acquirer::AcquirerConfig::load(config_of(network, "acquirer")?)
        .map_err(|e| failure(format!("the acquirer's configuration: {e}")))?;
    let switch = switch::SwitchConfig::load(config_of(network, "switch")?)
        .map_err(|e| failure(format!("the switch's configuration: {e}")))?;
    let started = Instant::now();
    let deadline = started + Duration::from_millis(QUIET_WAIT_MS_MAX);
    loop {
        let saf_pending = pending(&acquirer.database, "acquirer_saf", "acquirer")?
            + pending(&switch.database, "switch_saf", "switch")?;
        if saf_pending == 0 || Instant::now() > deadline {
            let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            return Ok(Quiet { saf_pending, waited_ms });
        }
        std::thread::sleep(Duration::from_millis(QUIET_POLL_MS));
    }
}

/// Where a card is: (issuer index, card id), by its clear PAN (never printed).
fn card_index(network: &Network) -> Result<HashMap<String, (usize, i64)>, CliError> {
    let mut cards = HashMap::new();
    for (terminal, (stripe, chip)) in network.cards.iter().enumerate() {
        for card in [stripe, chip] {
            let (Some(pan), Some(card_id)) = (card["pan"].as_str(), card["card_id"].as_i64()) else {
                return Err(failure(format!("terminal {terminal}'s card has no pan and card_id")));
            };
            // Terminal i takes its cards from issuer i % 2 (setup.rs).
            cards.insert(pan.to_owned(), (terminal % 2, card_id));
        }
    }
    Ok(cards)
}

/// The issuers (A, B), opened on their databases: the parties must be stopped (one process per
/// SQLite ledger file).
fn open_issuers(network: &Network) -> Result<Vec<(String, Issuer)>, CliError> {
    ["issuer-a", "issuer-b"]
        .into_iter()
        .map(|name| {
            let config = IssuerConfig::load(config_of(network, name)?)
                .map_err(|e| failure(format!("the {name}'s configuration: {e}")))?;
            let issuer =
                Issuer::open_with_lmk_file(&config).map_err(|e| failure(format!("opening the {name}: {e}")))?;
            Ok((name.to_owned(), issuer))
        })
        .collect()
}

/// One approved purchase row at an issuer.
struct Held {
    issuer: usize,
    entry: JournalEntry,
}

/// Every approved purchase row of the bench's cards, by RRN.
fn approved_rows(
    issuers: &[(String, Issuer)],
    cards: &HashMap<String, (usize, i64)>,
) -> Result<HashMap<String, Vec<Held>>, CliError> {
    let mut by_rrn: HashMap<String, Vec<Held>> = HashMap::new();
    for &(issuer, card_id) in cards.values() {
        let (name, host) = issuers.get(issuer).ok_or_else(|| failure(format!("no issuer {issuer}")))?;
        let journal = host.card_journal(card_id).map_err(|e| failure(format!("the {name}'s journal: {e}")))?;
        if journal.len() >= CARD_JOURNAL_ROWS_MAX {
            return Err(failure(format!(
                "card {card_id} of the {name} has {CARD_JOURNAL_ROWS_MAX} journal rows or more: too many to check; \
                 run fewer purchases per terminal"
            )));
        }
        for entry in journal {
            if entry.kind == TransactionKind::Purchase.name() && entry.response_code == network::codes::APPROVED {
                let rrn = entry.rrn.map(|rrn| rrn.to_string()).unwrap_or_default();
                by_rrn.entry(rrn).or_default().push(Held { issuer, entry });
            }
        }
    }
    Ok(by_rrn)
}

/// What is wrong with approval `approval`'s one approved row `held` (`None`: nothing).
fn fault(
    held: &Held,
    approval: &Approval,
    card: Option<(usize, i64)>,
    issuers: &[(String, Issuer)],
) -> Result<Option<String>, CliError> {
    let entry = &held.entry;
    if card != Some((held.issuer, entry.card_id.unwrap_or(-1))) {
        return Ok(Some(format!("held on card {:?} of issuer {}, not the card read", entry.card_id, held.issuer)));
    }
    if entry.amount_minor != approval.amount_minor {
        return Ok(Some(format!("held for {} minor units", entry.amount_minor)));
    }
    if !matches!(entry.state, EntryState::Held | EntryState::Posted) {
        return Ok(Some(format!("its journal row is {}, not held or posted", entry.state.name())));
    }
    let (name, issuer) = &issuers[held.issuer];
    let Some(id) = entry.transfer_id else { return Ok(Some("its journal row names no ledger hold".into())) };
    let transfer = issuer.ledger_transfer(id).map_err(|e| failure(format!("the {name}'s ledger: {e}")))?;
    Ok(match transfer.map(|t| t.status) {
        Some(PendingStatus::Pending | PendingStatus::Posted) => None,
        Some(status) => Some(format!("its ledger hold is {status:?}, not pending or posted")),
        None => Some("its ledger hold is not in the ledger".into()),
    })
}

/// Check every approval the terminals journaled against the issuers (the parties stopped).
pub fn check(network: &Network, journals: &Journals) -> Result<Verdict, CliError> {
    let cards = card_index(network)?;
    let issuers = open_issuers(network)?;
    let mut verdict = Verdict::default();
    for (name, issuer) in &issuers {
        if let Err(error) = issuer.check_ledger() {
            verdict.violation(format!("the {name}'s ledger does not balance: {error}"));
        }
    }
    let by_rrn = approved_rows(&issuers, &cards)?;
    let mut seen = HashSet::new();
    for approval in &journals.approvals {
        let what = format!(
            "terminal {} trace {} card {} amount {} RRN {}",
            approval.terminal_id,
            approval.trace,
            iso8583::mask::mask_pan(&approval.pan),
            approval.amount_minor,
            approval.rrn.as_ref().map_or("none", |rrn| rrn.as_str())
        );
        let Some(rrn) = approval.rrn.as_ref().map(|rrn| rrn.as_str()) else {
            verdict.violation(format!("{what}: approved at the terminal without an RRN"));
            continue;
        };
        seen.insert(rrn.to_owned());
        let rows = by_rrn.get(rrn).map_or(&[][..], Vec::as_slice);
        let [held] = rows else {
            verdict.violation(format!(
                "{what}: approved at the terminal, {} approved purchases with its RRN at the issuers (1 expected)",
                rows.len()
            ));
            continue;
        };
        match fault(held, approval, cards.get(&approval.pan).copied(), &issuers)? {
            Some(fault) => verdict.violation(format!("{what}: approved at the terminal, but {fault}")),
            None => verdict.verified_approvals += 1,
        }
    }
    let unseen: Vec<&Held> = by_rrn.iter().filter(|(rrn, _)| !seen.contains(*rrn)).flat_map(|(_, rows)| rows).collect();
    verdict.holds_unseen = unseen.iter().filter(|held| held.entry.state == EntryState::Held).count() as u64;
    verdict.holds_released = unseen.iter().filter(|held| held.entry.state == EntryState::Voided).count() as u64;
    Ok(verdict)
}
