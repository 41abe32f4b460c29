//! End of day for a network folder (a folder `cardnet network init` wrote, or a simulation's run
//! folder laid out the same way), each party's step on its own data, exchanging files as members
//! do:
//!
//! cut-off (the switch closes the date) → clearing (the switch writes one file per member) →
//! net settlement (the switch's settlement ledger and the settlement bank's statements) →
//! issuer posting (each issuer posts its clearing file) → merchant settlement (the acquirer pays
//! its merchants after fees and ties the payouts to its net position) → reconciliation (every
//! source read afresh and matched; differences opened as exceptions at the switch).
//!
//! A library so that `cardnet eod` (and `cardnet demo`) and the deterministic simulation run the
//! same steps: the caller passes the clock every step reads (the system's, or the simulation's),
//! and gets each step's JSON summary back; printing and progress are the caller's.
//! Every step is safe to re-run: it finds its earlier result and says so
//! (`"status": "already_done"`). The parties must not be running while it runs: an issuer's
//! ledger belongs to one opener at a time.

mod error;
pub mod merchants;
mod net;
mod recon_acquirer;
mod recon_sources;
mod steps;
pub mod switch_ops;

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

pub use error::EodError;
pub use net::{ACQUIRER_FILE, NetDir, PartyAddress, SWITCH_FILE, answers, issuer_file_name};
pub use steps::open_issuer;

/// The clock every step reads (the cut-off's time, the ledgers' timestamps, the exceptions').
pub type SharedClock = Arc<dyn clock::Clock>;

/// The steps, in the order `eod run` takes them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Cutoff,
    Clearing,
    Settle,
    Post,
    Merchants,
    Recon,
}

impl Step {
    pub const ALL: [Step; 6] = [Step::Cutoff, Step::Clearing, Step::Settle, Step::Post, Step::Merchants, Step::Recon];

    pub fn name(self) -> &'static str {
        match self {
            Step::Cutoff => "cutoff",
            Step::Clearing => "clearing",
            Step::Settle => "settlement",
            Step::Post => "issuer_posting",
            Step::Merchants => "merchant_settlement",
            Step::Recon => "reconciliation",
        }
    }

    /// Run this step; its JSON summary carries `status`: `done` or `already_done`. An error
    /// names the step.
    pub fn run(
        self,
        net: &NetDir,
        date: clearing::BusinessDate,
        early: bool,
        clock: &SharedClock,
    ) -> Result<Value, EodError> {
        let result = match self {
            Step::Cutoff => steps::cutoff(net, date, early, clock),
            Step::Clearing => steps::clearing(net, date),
            Step::Settle => steps::settle(net, date),
            Step::Post => steps::post(net, date, clock),
            Step::Merchants => steps::merchants(net, date, clock),
            Step::Recon => recon_sources::reconcile(net, date, clock),
        };
        result.map_err(|error| error.in_step(self.name()))
    }
}

/// `steps` in order over the network folder `dir` (which must hold no running party):
/// `progress` is told each step before it runs. The summary object `eod run --json` prints.
pub fn run_steps(
    dir: &Path,
    date: clearing::BusinessDate,
    steps: &[Step],
    early: bool,
    clock: &SharedClock,
    mut progress: impl FnMut(Step),
) -> Result<Value, EodError> {
    let net = NetDir::open(dir)?;
    net.check_stopped()?;
    let mut results = Map::new();
    for step in steps {
        progress(*step);
        let result = step.run(&net, date, early, clock)?;
        results.insert(step.name().to_owned(), result);
    }
    Ok(summary(date, &net, results))
}

/// One object: the date, each step's result, and the figures a person looks for first lifted to
/// the top (members' net positions, merchants' payouts, reconciliation's counts).
fn summary(date: clearing::BusinessDate, net: &NetDir, steps: Map<String, Value>) -> Value {
    let pick = |step: Step, key: &str| steps.get(step.name()).and_then(|s| s.get(key)).cloned();
    let mut top = json!({ "date": date.to_string(), "dir": net.dir.display().to_string() });
    if let Some(object) = top.as_object_mut() {
        if let Some(members) = pick(Step::Settle, "members") {
            object.insert("members".into(), members);
        }
        if let Some(merchants) = pick(Step::Merchants, "merchants") {
            object.insert("merchants".into(), merchants);
        }
        if let Some(recon) = steps.get(Step::Recon.name()).and_then(|s| s.get("summary")).cloned() {
            object.insert("reconciliation".into(), recon);
        }
        object.insert("steps".into(), Value::Object(steps));
    }
    top
}

/// Minor units as major with two decimals (CNY and the other currencies this network carries
/// all have two).
pub fn amount(minor: Option<i64>) -> String {
    let Some(minor) = minor else { return "-".into() };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}
