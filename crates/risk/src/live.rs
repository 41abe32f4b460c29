//! The engine as a party runs it inside its authorizations: shared behind one lock, the rule
//! file read again when it changes, card-testing blocks kept, and every decision that fired a
//! rule kept for the operator — each collection bounded. Both hosts (the acquirer's merchant and
//! terminal view, the issuer's card view) use it; each only maps its request to an [`Event`].
//!
//! Why a `Mutex`: the windows change with every evaluation; a party decides one batch at a time
//! on its core thread, so the lock is not contended. No I/O on the decision path: the rule file
//! is looked at from [`Live::reload_if_changed`], which the party's tick calls.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use domain::{Currency, Pan, ResponseCode, TerminalId};

use crate::{CardKey, Decision, Engine, Event, KeyHasher, Outcome, RuleSet, StoreLimits};

/// How often the rule file is looked at for a change (one `stat`).
pub const RULES_CHECK_INTERVAL_MS: u64 = 1_000;
/// A rule file larger than this is refused unread.
const RULE_FILE_BYTES_MAX: u64 = 1 << 20;
/// Decisions that fired a rule kept for inspection, and card-testing blocks kept.
pub const DECISIONS_KEPT_MAX: usize = 1_024;
/// Terminals blocked by card testing, at most (a block beyond it is not kept: `record` says so).
pub const BLOCKED_TERMINALS_MAX: usize = 10_000;

/// One kept decision: the event it was about and what fired.
#[derive(Debug, Clone)]
pub struct Kept {
    pub event: Event,
    pub decision: Decision,
}

/// A terminal a card-testing rule blocked: the alert for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub terminal: TerminalId,
    pub at_ms: u64,
    /// The card-testing rules of the set (one of them reached its threshold).
    pub rules: Vec<String>,
}

/// What [`Live::record`] did with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Nothing,
    /// The answer completed a card-testing pattern: the terminal is blocked from now on.
    Blocked(Block),
    /// It would have, but [`BLOCKED_TERMINALS_MAX`] terminals are blocked already.
    BlockNotKept(TerminalId),
}

struct State {
    engine: Engine,
    blocked: BTreeSet<TerminalId>,
    decisions: VecDeque<Kept>,
    blocks: VecDeque<Block>,
    source: Option<Source>,
}

/// The rule file the rules came from, and what it looked like when last read.
struct Source {
    path: PathBuf,
    modified: Option<SystemTime>,
    checked_ms: u64,
}

/// The engine behind a party's authorizations.
pub struct Live {
    state: Mutex<State>,
    hasher: KeyHasher,
    currency: Currency,
}

impl Live {
    /// The engine with `rules`, cards hashed under `key` (keep it secret and stable: another
    /// key starts every card's history afresh), tables bounded by `limits`.
    pub fn new(rules: RuleSet, key: [u8; 16], limits: StoreLimits) -> Live {
        let currency = rules.currency;
        let hasher = KeyHasher::new(key);
        let engine = Engine::new(rules, hasher, limits);
        let state = State {
            engine,
            blocked: BTreeSet::new(),
            decisions: VecDeque::new(),
            blocks: VecDeque::new(),
            source: None,
        };
        Live { state: Mutex::new(state), hasher, currency }
    }

    /// The engine over the rule file text `text` (named `file` in its errors).
    pub fn from_toml(file: &str, text: &str, key: [u8; 16], limits: StoreLimits) -> Result<Live, crate::RuleFileError> {
        Ok(Live::new(crate::parse(file, text, &KeyHasher::new(key))?, key, limits))
    }

    /// The engine over the rule file at `path`, read again when it changes.
    pub fn from_file(path: &Path, key: [u8; 16], limits: StoreLimits) -> Result<Live, String> {
        let (text, modified) = read_rules(path)?;
        let live = Live::from_toml(&path.display().to_string(), &text, key, limits).map_err(|e| e.to_string())?;
        live.lock().source = Some(Source { path: path.to_owned(), modified, checked_ms: 0 });
        Ok(live)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while evaluating leaves windows at worst one event off: carry on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the rules came from a file (and so want [`Live::reload_if_changed`] called).
    pub fn watches_file(&self) -> bool {
        self.lock().source.is_some()
    }

    /// A card's key (its keyed hash and BIN): what the engine and a journal know it by.
    pub fn card(&self, pan: &Pan) -> CardKey {
        self.hasher.card(pan)
    }

    /// Hot reload: the windows the new rules share with the old ones keep their history.
    pub fn replace_rules(&self, rules: RuleSet) {
        self.lock().engine.replace_rules(rules);
    }

    /// At most every [`RULES_CHECK_INTERVAL_MS`]: when the rule file changed, its rules replace
    /// the running ones. `Ok(true)`: reloaded. A file that does not read or parse leaves the
    /// running rules in place: `Err` says why, once per change.
    pub fn reload_if_changed(&self, now_ms: u64) -> Result<bool, String> {
        let mut state = self.lock();
        let Some(source) = state.source.as_mut() else { return Ok(false) };
        if now_ms < source.checked_ms.saturating_add(RULES_CHECK_INTERVAL_MS) {
            return Ok(false);
        }
        source.checked_ms = now_ms;
        let modified = std::fs::metadata(&source.path).and_then(|m| m.modified()).ok();
        if modified == source.modified {
            return Ok(false);
        }
        // Whatever the outcome, this version of the file is dealt with.
        source.modified = modified;
        let path = source.path.clone();
        let (text, _) = read_rules(&path)?;
        let rules = crate::parse(&path.display().to_string(), &text, &self.hasher).map_err(|e| e.to_string())?;
        state.engine.replace_rules(rules);
        Ok(true)
    }

    /// Decide `event` at `now_ms`: a blocked terminal is refused 58 without evaluating; every
    /// decision that fired a rule is kept. A card-testing block the decision asks for is kept.
    pub fn evaluate(&self, event: &Event, now_ms: u64) -> Decision {
        let mut state = self.lock();
        if state.blocked.contains(&event.terminal) {
            return Decision::declined(ResponseCode::NOT_PERMITTED_TERMINAL);
        }
        let decision = state.engine.evaluate(event, now_ms);
        if let Some(terminal) = decision.block_terminal
            && state.blocked.len() < BLOCKED_TERMINALS_MAX
        {
            state.blocked.insert(terminal);
        }
        if !decision.fired().is_empty() {
            if state.decisions.len() == DECISIONS_KEPT_MAX {
                state.decisions.pop_front();
            }
            state.decisions.push_back(Kept { event: *event, decision });
        }
        decision
    }

    /// Feed an answer decided after the evaluation (a wrong PIN counts toward card testing).
    pub fn record(&self, outcome: &Outcome) -> Recorded {
        let mut state = self.lock();
        let Some(terminal) = state.engine.record(outcome) else { return Recorded::Nothing };
        if state.blocked.contains(&terminal) {
            return Recorded::Nothing;
        }
        if state.blocked.len() >= BLOCKED_TERMINALS_MAX {
            return Recorded::BlockNotKept(terminal);
        }
        state.blocked.insert(terminal);
        let rules = state
            .engine
            .rules()
            .rules
            .iter()
            .filter(|r| matches!(r.check, crate::rules::Check::CardTesting { .. }))
            .map(|r| r.id.as_str().to_owned())
            .collect();
        let block = Block { terminal, at_ms: outcome.at_ms, rules };
        if state.blocks.len() == DECISIONS_KEPT_MAX {
            state.blocks.pop_front();
        }
        state.blocks.push_back(block.clone());
        Recorded::Blocked(block)
    }

    /// Rebuild the windows from a journal's events, oldest first.
    pub fn replay(&self, events: impl Iterator<Item = Event>) {
        self.lock().engine.replay(events);
    }

    /// Decisions that fired a rule, oldest first.
    pub fn decisions(&self) -> Vec<Kept> {
        self.lock().decisions.iter().cloned().collect()
    }

    /// Card-testing blocks raised, oldest first.
    pub fn blocks(&self) -> Vec<Block> {
        self.lock().blocks.iter().cloned().collect()
    }

    pub fn blocked_terminals(&self) -> Vec<TerminalId> {
        self.lock().blocked.iter().copied().collect()
    }

    /// An operator lifts a card-testing block.
    pub fn unblock(&self, terminal: &TerminalId) -> bool {
        self.lock().blocked.remove(terminal)
    }
}

fn read_rules(path: &Path) -> Result<(String, Option<SystemTime>), String> {
    let what = |e: std::io::Error| format!("risk rules {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(what)?;
    if meta.len() > RULE_FILE_BYTES_MAX {
        return Err(format!("risk rules {}: larger than {RULE_FILE_BYTES_MAX} bytes", path.display()));
    }
    Ok((std::fs::read_to_string(path).map_err(what)?, meta.modified().ok()))
}
