//! A virtual terminal: the real terminal core (`crates/terminal`) installed from the TMK
//! components the acquirer printed (what `cardnet pos init` does), its journal in plain memory
//! (`Terminal::open_in_memory`: the same rows and sealed records as a real terminal's journal
//! file, written in the same transactions, without SQLite's work or disk writes — the journals
//! are read in this process after the run and never again), signed on (working keys downloaded under the TMK), then purchases MAC'd with the
//! MAK, PIN blocks under the PIK, track 2 under the TDK (scheme 004), chip data when the card
//! is inserted or tapped — one request outstanding on its own TCP connection, as a real
//! terminal. Its cards: a stripe card to swipe and a chip card to insert or tap (the chip's
//! transaction counter must rise, so a chip card belongs to one terminal).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hsm::Secret;
use serde_json::Value;
use terminal::{Card, EntryMode, Kind, Outcome, Pos, SimCard, Terminal, TerminalConfig, TxnRequest};
use tokio::sync::mpsc;

use crate::cli_error::CliError;

/// The operators every bench terminal is installed with (what `pos init` takes).
const SUPERVISOR_PASSWORD: &str = "123456";
const CASHIER: &str = "01";
const CASHIER_PASSWORD: &str = "1111";
/// Approved purchases in a batch before the terminal settles (0500), as the batch limit
/// demands (at most 999: field 48 counts in three digits).
const BATCH_RECORDS_MAX: u32 = terminal::config::BATCH_LIMIT_MAX;
/// Distinct terminal errors kept word for word for the report; the rest are only counted.
pub const ERROR_TEXTS_MAX: usize = 8;
/// The response code the terminal itself gives when no answer came in time.
pub const TIMEOUT_CODE: &str = "98";

/// How the card is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Swipe,
    Chip,
    Tap,
}

/// One purchase the schedule asks a terminal for.
pub struct Scheduled {
    /// When it was due: its latency counts from here, so a terminal (or network) that falls
    /// behind shows in the figures instead of delaying the schedule.
    pub due: Instant,
    pub read: Read,
    pub amount_minor: u64,
}

/// One scheduled purchase's result.
pub struct Sample {
    pub due: Instant,
    /// From `due` to the outcome; `None`: never sent (the drain deadline had passed).
    pub latency_us: Option<u64>,
    /// The response code (the terminal's own `98` when no answer came), or `None` when the
    /// terminal failed before an outcome (then an error text is kept).
    pub code: Option<String>,
}

/// What a terminal did in a run.
#[derive(Default)]
pub struct Worked {
    pub samples: Vec<Sample>,
    pub errors: Vec<String>,
    pub settlements: u64,
}

pub struct VirtualTerminal {
    pos: Pos,
    stripe: Arc<Mutex<SimCard>>,
    chip: Arc<Mutex<SimCard>>,
    supervisor: Secret,
    approved_in_batch: u32,
    /// The batches this terminal journaled in (a settlement opens the next): the check after
    /// a run reads each.
    batches: Vec<u32>,
}

/// A purchase a terminal saw approved, from its journal. `pan` is the clear card number,
/// only to find the card at the issuer: never printed (`Debug` masks it).
pub struct Approval {
    pub terminal_id: String,
    pub pan: String,
    pub amount_minor: u64,
    pub rrn: Option<domain::Rrn>,
    pub trace: domain::Stan,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("terminal_id", &self.terminal_id)
            .field("pan", &iso8583::mask::mask_pan(&self.pan))
            .field("amount_minor", &self.amount_minor)
            .field("rrn", &self.rrn)
            .field("trace", &self.trace)
            .finish()
    }
}

/// Install terminal `registered` under `dir` (its TMK from the acquirer's components), with
/// the acquirer at `host`, and power it on with its cards.
pub fn install(
    dir: &Path,
    registered: &super::setup::Registered,
    host: &str,
    timeout_ms: u64,
    cards: &(Value, Value),
) -> Result<VirtualTerminal, CliError> {
    let id = &registered.terminal_id;
    let failure =
        |what: &str, e: &dyn std::fmt::Display| CliError::Failure(format!("bench e2e: terminal {id}: {what}: {e}"));
    let installation = terminal::install::Installation {
        terminal_id: id.clone(),
        merchant_id: registered.merchant_id.clone(),
        merchant_name: None,
        primary: host.to_owned(),
        backup: None,
        key_scheme: hsm::SignOnScheme::DoubleWithTdk.code().to_owned(),
        operators: vec![
            ("00".into(), "supervisor".into(), SUPERVISOR_PASSWORD.into()),
            (CASHIER.into(), "cashier".into(), CASHIER_PASSWORD.into()),
        ],
    };
    let installed = terminal::install::install(dir, &installation, &registered.tmk_components)
        .map_err(|e| failure("install", &e))?;
    let mut config = TerminalConfig::load(&installed.config_path).map_err(|e| failure("configuration", &e))?;
    config.timeout_ms = timeout_ms;
    config.batch_limit = BATCH_RECORDS_MAX;
    let mut terminal = Terminal::open_in_memory(config).map_err(|e| failure("power-on", &e))?;
    terminal.log_in(CASHIER, &Secret::new(CASHIER_PASSWORD.as_bytes())).map_err(|e| failure("log in", &e))?;
    let card =
        |value: &Value| SimCard::from_json(value).map_err(|e| failure("card", &e)).map(|c| Arc::new(Mutex::new(c)));
    Ok(VirtualTerminal {
        pos: Pos::new(terminal),
        stripe: card(&cards.0)?,
        chip: card(&cards.1)?,
        supervisor: Secret::new(SUPERVISOR_PASSWORD.as_bytes()),
        approved_in_batch: 0,
        batches: Vec::new(),
    })
}

impl VirtualTerminal {
    pub fn terminal_id(&self) -> String {
        self.pos.terminal().config().terminal_id.clone()
    }

    /// Remember the open batch (the sign-on's answer names it; a settlement opens the next).
    fn note_batch(&mut self) {
        let batch = self.pos.terminal().batch_no();
        if !self.batches.contains(&batch) {
            self.batches.push(batch);
        }
    }

    /// 0800: working keys under the TMK.
    pub async fn sign_on(&mut self) -> Result<(), String> {
        let outcome = self.pos.sign_on().await.map_err(|e| e.to_string())?;
        self.note_batch();
        if outcome.approved {
            Ok(())
        } else {
            Err(format!("sign-on answered {}: {}", outcome.code_text(), outcome.message))
        }
    }

    /// One purchase: the card read as `read`, its PIN typed, the request built, MAC'd and sent
    /// by the terminal core (after any reversal it owes), the answer checked and journaled.
    pub async fn purchase(&mut self, read: Read, amount_minor: u64) -> Result<Outcome, String> {
        let (sim, entry) = match read {
            Read::Swipe => (&self.stripe, EntryMode::Swipe),
            Read::Chip => (&self.chip, EntryMode::Chip),
            Read::Tap => (&self.chip, EntryMode::Contactless),
        };
        let pin = sim.lock().map_err(|_| "the card reader failed".to_owned())?.pin().cloned();
        let card = Card::read(sim, entry).map_err(|e| e.to_string())?;
        let request = TxnRequest {
            kind: Some(Kind::Purchase),
            card: Some(card),
            amount_minor: Some(amount_minor),
            pin,
            original_trace: None,
            original: None,
            supervisor_password: None,
        };
        let outcome = self.pos.transact(&request).await.map_err(|e| e.to_string());
        // A re-sign-on inside `transact` may have named another batch.
        self.note_batch();
        let outcome = outcome?;
        if outcome.approved {
            self.approved_in_batch += 1;
        }
        Ok(outcome)
    }

    /// Send the reversal the terminal owes, if any (a purchase it timed out on): after a run,
    /// so the issuer's hold of an answer the terminal never saw is released before the check.
    pub async fn flush_reversal(&mut self) -> Result<(), String> {
        self.pos.flush_reversal().await.map_err(|e| format!("terminal {}: {e}", self.terminal_id()))
    }

    /// Whether a reversal is still owed (it could not be sent).
    pub fn reversal_pending(&self) -> bool {
        self.pos.terminal().pending_reversal().ok().flatten().is_some()
    }

    /// Every purchase of its journal that is approved (not voided), from every batch it used.
    pub fn approvals(&self) -> Result<Vec<Approval>, String> {
        let terminal_id = self.terminal_id();
        let mut approvals = Vec::new();
        for &batch in &self.batches {
            let entries = self
                .pos
                .terminal()
                .batch_entries(batch)
                .map_err(|e| format!("terminal {terminal_id}: its journal, batch {batch:06}: {e}"))?;
            for entry in entries {
                if entry.kind == Kind::Purchase && entry.status == "approved" {
                    approvals.push(Approval {
                        terminal_id: terminal_id.clone(),
                        pan: entry.pan.as_str().to_owned(),
                        amount_minor: entry.amount_minor,
                        rrn: entry.rrn,
                        trace: entry.trace,
                    });
                }
            }
        }
        Ok(approvals)
    }

    /// Settle when the batch is at its limit (the supervisor's 0500); true when it settled.
    async fn settle_if_full(&mut self) -> Result<bool, String> {
        if self.approved_in_batch < BATCH_RECORDS_MAX {
            return Ok(false);
        }
        let settled = self.pos.settle(&self.supervisor).await.map_err(|e| format!("settlement: {e}"));
        self.note_batch();
        settled?;
        self.approved_in_batch = 0;
        Ok(true)
    }

    /// Serve the schedule until it closes: each purchase as it comes (one outstanding), those
    /// dequeued after `drain_deadline` not sent. `done` counts outcomes for the progress bar.
    /// The terminal comes back with what it did: its journal is read after the run.
    pub async fn work(
        mut self,
        mut queue: mpsc::Receiver<Scheduled>,
        drain_deadline: Instant,
        done: Arc<AtomicU64>,
    ) -> (Worked, VirtualTerminal) {
        let mut worked = Worked::default();
        while let Some(next) = queue.recv().await {
            if Instant::now() > drain_deadline {
                worked.samples.push(Sample { due: next.due, latency_us: None, code: None });
                continue;
            }
            match self.settle_if_full().await {
                Ok(settled) => worked.settlements += u64::from(settled),
                Err(error) => keep_error(&mut worked.errors, error),
            }
            let result = self.purchase(next.read, next.amount_minor).await;
            let latency_us = Some(u64::try_from(next.due.elapsed().as_micros()).unwrap_or(u64::MAX));
            let code = match result {
                Ok(outcome) => Some(outcome.code_text().to_owned()),
                Err(error) => {
                    keep_error(&mut worked.errors, error);
                    None
                }
            };
            worked.samples.push(Sample { due: next.due, latency_us, code });
            done.fetch_add(1, Ordering::Relaxed);
        }
        (worked, self)
    }
}

fn keep_error(errors: &mut Vec<String>, error: String) {
    if errors.len() < ERROR_TEXTS_MAX && !errors.contains(&error) {
        errors.push(error);
    }
}
