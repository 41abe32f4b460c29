//! The `risk` crate's engine as the acquirer's [`RiskCheck`]: the merchant's and terminal's view
//! of a transaction (card by keyed hash, terminal, merchant, card at merchant, MCC, entry mode),
//! decided inside the authorization against in-memory windows — no I/O on the decision path.
//!
//! * The merchant's daily limit ([`DailyLimit`]) is checked first, as without the engine.
//! * A terminal a card-testing rule blocked is refused 58 from then on (bounded set, kept until
//!   the process restarts or an operator [`EngineRisk::unblock`]s it).
//! * Every decision that fired a rule (alert or decline) is kept, newest last, at most
//!   [`DECISIONS_KEPT_MAX`], for the operator and for tests.
//! * The network's answers are fed back ([`RiskCheck::answered`]): a wrong PIN (55) counts
//!   toward card testing at its terminal.
//!
//! Why a `Mutex`: the engine's windows change with every evaluation; the acquirer decides one
//! batch at a time on its core thread, so the lock is not contended.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use ::risk::{Decision, Engine, Event, KeyHasher, RuleSet, StoreLimits, Verdict};
use domain::{Currency, MerchantId, Money, ResponseCode, TerminalId, TransactionKind};

use crate::risk::{DailyLimit, RiskAnswer, RiskCheck, RiskContext};

/// 58: what a blocked terminal is answered.
const NOT_PERMITTED_TERMINAL: &str = ResponseCode::NOT_PERMITTED_TERMINAL.as_str();

/// How far back the journal is replayed at start-up: the longest window a rule may have.
pub const REPLAY_WINDOW_MS: u64 = 30 * 86_400_000;
/// Journal rows replayed at start-up at most (the newest are what matter; a journal with more
/// in 30 days than this rebuilds the oldest first and stops — stated, not silent).
pub const REPLAY_ROWS_MAX: u64 = 5_000_000;
/// The codes the engine itself declines with: rows so declined reached it.
pub const RISK_DECLINE_CODES: [&str; 8] = ["34", "61", "65", "57", "58", "62", "05", "59"];

/// How often the rule file is looked at for a change (one `stat`, off the decision path).
pub const RULES_CHECK_INTERVAL_MS: u64 = 1_000;
/// A rule file larger than this is refused unread.
const RULE_FILE_BYTES_MAX: u64 = 1 << 20;

/// Decisions that fired a rule, kept for inspection.
pub const DECISIONS_KEPT_MAX: usize = 1_024;
/// Terminals blocked by card testing, at most (a block beyond it is logged, not kept).
pub const BLOCKED_TERMINALS_MAX: usize = 10_000;

/// One kept decision: who, what, and what fired.
#[derive(Debug, Clone)]
pub struct KeptDecision {
    pub terminal_id: String,
    pub merchant_id: String,
    pub amount_minor: u64,
    pub at_ms: u64,
    pub decision: Decision,
}

/// A terminal a card-testing rule blocked: the alert for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalBlock {
    pub terminal_id: String,
    pub at_ms: u64,
    /// The card-testing rules of the set (one of them reached its threshold).
    pub rules: Vec<String>,
}

struct State {
    engine: Engine,
    blocked: BTreeSet<String>,
    decisions: VecDeque<KeptDecision>,
    blocks: VecDeque<TerminalBlock>,
    source: Option<Source>,
}

/// The rule file the rules came from, and what it looked like when last read.
struct Source {
    path: PathBuf,
    modified: Option<SystemTime>,
    checked_ms: u64,
    key: [u8; 16],
}

/// The risk engine behind the acquirer's hook.
pub struct EngineRisk {
    state: Mutex<State>,
    currency: Currency,
}

impl EngineRisk {
    /// The engine with `rules`, cards hashed under `key` (keep it secret and stable: a restart
    /// with another key starts every card's history afresh), tables bounded by `limits`.
    pub fn new(rules: RuleSet, key: [u8; 16], limits: StoreLimits) -> EngineRisk {
        let currency = rules.currency;
        let engine = Engine::new(rules, KeyHasher::new(key), limits);
        EngineRisk {
            state: Mutex::new(State {
                engine,
                blocked: BTreeSet::new(),
                decisions: VecDeque::new(),
                blocks: VecDeque::new(),
                source: None,
            }),
            currency,
        }
    }

    /// The engine over the rule file `text` (named `file` in its errors).
    pub fn from_toml(
        file: &str,
        text: &str,
        key: [u8; 16],
        limits: StoreLimits,
    ) -> Result<EngineRisk, ::risk::RuleFileError> {
        let rules = ::risk::parse(file, text, &KeyHasher::new(key))?;
        Ok(EngineRisk::new(rules, key, limits))
    }

    /// The engine over the rule file at `path`, read again when it changes
    /// ([`EngineRisk::reload_if_changed`]).
    pub fn from_file(path: &Path, key: [u8; 16], limits: StoreLimits) -> Result<EngineRisk, String> {
        let (text, modified) = read_rules(path)?;
        let risk = EngineRisk::from_toml(&path.display().to_string(), &text, key, limits).map_err(|e| e.to_string())?;
        risk.lock().source = Some(Source { path: path.to_owned(), modified, checked_ms: 0, key });
        Ok(risk)
    }

    /// At most every [`RULES_CHECK_INTERVAL_MS`]: when the rule file changed, its rules replace
    /// the running ones (windows they share keep their history). `Ok(true)`: reloaded. A file
    /// that does not read or parse leaves the running rules in place: `Err` says why, once per
    /// change.
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
        let (path, key) = (source.path.clone(), source.key);
        let (text, _) = read_rules(&path)?;
        let rules =
            ::risk::parse(&path.display().to_string(), &text, &KeyHasher::new(key)).map_err(|e| e.to_string())?;
        state.engine.replace_rules(rules);
        Ok(true)
    }

    /// Rebuild the windows from journaled transactions, oldest first (at start-up: the engine
    /// then knows what it knew before the restart). Rows it cannot read are skipped.
    pub fn replay(&self, rows: &[crate::journal::RiskRow]) -> usize {
        let mut state = self.lock();
        let currency = self.currency;
        let events: Vec<Event> = rows.iter().filter_map(|row| replay_event(row, currency)).collect();
        let replayed = events.len();
        state.engine.replay(events.into_iter());
        replayed
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while evaluating leaves windows at worst one event off: carry on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hot reload: the windows the new rules share with the old ones keep their history.
    pub fn replace_rules(&self, rules: RuleSet) {
        self.lock().engine.replace_rules(rules);
    }

    /// Decisions that fired a rule, oldest first.
    pub fn decisions(&self) -> Vec<KeptDecision> {
        self.lock().decisions.iter().cloned().collect()
    }

    /// The card-testing blocks raised, oldest first (at most [`DECISIONS_KEPT_MAX`]).
    pub fn blocks(&self) -> Vec<TerminalBlock> {
        self.lock().blocks.iter().cloned().collect()
    }

    pub fn blocked_terminals(&self) -> Vec<String> {
        self.lock().blocked.iter().cloned().collect()
    }

    /// An operator lifts a card-testing block.
    pub fn unblock(&self, terminal_id: &str) -> bool {
        self.lock().blocked.remove(terminal_id)
    }

    fn event(&self, state: &State, context: &RiskContext<'_>) -> Option<Event> {
        let pan = context.card?;
        let terminal = TerminalId::new(&context.terminal.terminal_id).ok()?;
        let merchant = MerchantId::new(&context.merchant.merchant_id).ok()?;
        let kind = TransactionKind::from_name(context.kind.network_kind().name())?;
        Some(Event {
            card: state.engine.hasher().card(pan),
            terminal,
            merchant,
            mcc: context.merchant.mcc.parse().unwrap_or(0),
            amount: Money::new(context.amount_minor, self.currency),
            kind,
            entry_mode: context.entry_mode.unwrap_or(domain::EntryMode::Keyed),
            response: None,
            merchant_onboarded_ms: None,
            merchant_currency: Some(self.currency),
            merchant_country: None,
            card_country: None,
            at_ms: context.now_ms,
        })
    }
}

/// The engine a host starts with: the rule file, the card key from the HSM, and the windows
/// rebuilt from the journal's last [`REPLAY_WINDOW_MS`] (before its newest row: no clock).
pub(crate) fn start(
    path: &Path,
    hsm: &dyn hsm::SecurityModule,
    dek: &hsm::WrappedKey,
    db: &sqlstore::Database,
) -> crate::error::Result<EngineRisk> {
    let config_error = |e: String| crate::AcquirerError::Config(crate::config::ConfigError(format!("risk.rules: {e}")));
    let engine = EngineRisk::from_file(path, card_key(hsm, dek)?, StoreLimits::default()).map_err(config_error)?;
    let rows =
        db.transaction(|tx| crate::journal::risk_rows(tx, REPLAY_WINDOW_MS, &RISK_DECLINE_CODES, REPLAY_ROWS_MAX))?;
    let replayed = engine.replay(&rows);
    tracing::info!(replayed, "risk: windows rebuilt from the journal");
    Ok(engine)
}

/// The key the engine hashes card numbers under: derived inside the HSM from the acquirer's
/// DEK, so it is stable across restarts and never configured in the clear. It lives in this
/// process's memory as the engine's hashing state does (a card's key, not a card number).
pub fn card_key(hsm: &dyn hsm::SecurityModule, dek: &hsm::WrappedKey) -> crate::error::Result<[u8; 16]> {
    let digest = hsm.keyed_hash(dek, b"cardnet acquirer risk card key v1")?;
    let mut key = [0u8; 16];
    for (slot, byte) in key.iter_mut().zip(digest) {
        *slot = byte;
    }
    Ok(key)
}

fn read_rules(path: &Path) -> Result<(String, Option<SystemTime>), String> {
    let what = |e: std::io::Error| format!("risk rules {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(what)?;
    if meta.len() > RULE_FILE_BYTES_MAX {
        return Err(format!("risk rules {}: larger than {RULE_FILE_BYTES_MAX} bytes", path.display()));
    }
    Ok((std::fs::read_to_string(path).map_err(what)?, meta.modified().ok()))
}

/// A journal row as the event the engine saw when it was live.
fn replay_event(row: &crate::journal::RiskRow, currency: Currency) -> Option<Event> {
    let kind = crate::PosKind::from_name(&row.kind)?;
    Some(Event {
        card: ::risk::CardKey::from_parts(row.risk_card, row.pan_masked.as_bytes()),
        terminal: TerminalId::new(&row.terminal_id).ok()?,
        merchant: MerchantId::new(&row.merchant_id).ok()?,
        mcc: 0,
        amount: Money::new(row.amount_minor, currency),
        kind: TransactionKind::from_name(kind.network_kind().name())?,
        entry_mode: domain::EntryMode::Keyed,
        response: row.response_code.as_deref().and_then(|c| ResponseCode::new(c).ok()),
        merchant_onboarded_ms: None,
        merchant_currency: Some(currency),
        merchant_country: None,
        card_country: None,
        at_ms: row.received_ms,
    })
}

/// The response codes a rule may decline with, as the acquirer's static codes.
fn static_code(code: ResponseCode) -> &'static str {
    RISK_DECLINE_CODES.into_iter().find(|c| *c == code.as_str()).unwrap_or("05")
}

impl RiskCheck for EngineRisk {
    fn check(&self, context: &RiskContext<'_>) -> Option<&'static str> {
        if let Some(code) = DailyLimit.check(context) {
            return Some(code);
        }
        let mut state = self.lock();
        if state.blocked.contains(&context.terminal.terminal_id) {
            return Some(NOT_PERMITTED_TERMINAL);
        }
        let event = self.event(&state, context)?;
        let decision = state.engine.evaluate(&event, context.now_ms);
        if let Some(terminal) = decision.block_terminal {
            if state.blocked.len() < BLOCKED_TERMINALS_MAX {
                state.blocked.insert(terminal.to_string());
            } else {
                tracing::error!(terminal = %terminal, "risk: too many blocked terminals; this block is not kept");
            }
        }
        if !decision.fired().is_empty() {
            if state.decisions.len() == DECISIONS_KEPT_MAX {
                state.decisions.pop_front();
            }
            state.decisions.push_back(KeptDecision {
                terminal_id: context.terminal.terminal_id.clone(),
                merchant_id: context.merchant.merchant_id.clone(),
                amount_minor: context.amount_minor,
                at_ms: context.now_ms,
                decision,
            });
        }
        match decision.verdict {
            Verdict::Decline(code) => Some(static_code(code)),
            Verdict::Alert | Verdict::Approve => None,
        }
    }

    fn card_hash(&self, card: &domain::Pan) -> Option<u64> {
        Some(self.lock().engine.hasher().pan_hash(card))
    }

    fn wants_time(&self) -> bool {
        self.lock().source.is_some()
    }

    fn on_time(&self, now_ms: u64) {
        match self.reload_if_changed(now_ms) {
            Ok(true) => tracing::info!("risk: rules reloaded"),
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "risk: the changed rule file is refused; the running rules stay"),
        }
    }

    fn answered(&self, answer: &RiskAnswer<'_>) {
        let (Some(pan), Ok(terminal), Ok(response)) =
            (answer.card, TerminalId::new(answer.terminal_id), ResponseCode::new(answer.response_code))
        else {
            return;
        };
        let mut state = self.lock();
        let outcome =
            ::risk::Outcome { card: state.engine.hasher().card(pan), terminal, response, at_ms: answer.now_ms };
        let Some(blocked) = state.engine.record(&outcome) else { return };
        let terminal_id = blocked.to_string();
        if state.blocked.len() >= BLOCKED_TERMINALS_MAX {
            tracing::error!(terminal = %terminal_id, "risk: too many blocked terminals; this block is not kept");
            return;
        }
        if state.blocked.insert(terminal_id.clone()) {
            let rules: Vec<String> = state
                .engine
                .rules()
                .rules
                .iter()
                .filter(|r| matches!(r.check, ::risk::rules::Check::CardTesting { .. }))
                .map(|r| r.id.as_str().to_owned())
                .collect();
            if state.blocks.len() == DECISIONS_KEPT_MAX {
                state.blocks.pop_front();
            }
            let names: Vec<&str> = rules.iter().map(String::as_str).collect();
            tracing::warn!(terminal = %terminal_id, rules = %names.join(","), "risk: card testing: terminal blocked");
            state.blocks.push_back(TerminalBlock { terminal_id, at_ms: answer.now_ms, rules });
        }
    }
}
