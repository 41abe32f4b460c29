//! Backtest: run past events through a candidate rule set and the current one, each on a
//! fresh engine, and say what would have changed — before the candidate is published.
//! Deterministic: the same events and sets give the same report.

use serde::Serialize;

use crate::decision::Verdict;
use crate::engine::Engine;
use crate::event::Event;
use crate::key::KeyHasher;
use crate::rules::RuleSet;
use crate::store::StoreLimits;

/// Event indexes listed per report, at most (counts stay exact beyond it).
pub const AFFECTED_LISTED_MAX: usize = 100_000;

/// How often one rule fired.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub fired: usize,
    /// Of those, in a declined decision.
    pub in_declines: usize,
}

/// One rule set's results over the events.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Default)]
pub struct Outcomes {
    pub declines: usize,
    pub alerts: usize,
    /// In rule-file order, rules that never fired included.
    pub by_rule: Vec<RuleCount>,
    /// Indexes (into the events) of the alerted or declined ones.
    pub affected: Vec<usize>,
}

/// The candidate against the current set.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Backtest {
    pub evaluated: usize,
    pub current: Outcomes,
    pub candidate: Outcomes,
    /// Indexes whose verdict differs between the two.
    pub changed: Vec<usize>,
}

/// Evaluate every event (oldest first, each at its own `at_ms`) under both sets.
pub fn run(
    events: &[Event],
    current: &RuleSet,
    candidate: &RuleSet,
    hasher: KeyHasher,
    limits: StoreLimits,
) -> Backtest {
    let mut engines = [Engine::new(current.clone(), hasher, limits), Engine::new(candidate.clone(), hasher, limits)];
    let mut outcomes = [current, candidate].map(|set| Outcomes {
        by_rule: set.rules.iter().map(|r| RuleCount { rule: r.id.to_string(), fired: 0, in_declines: 0 }).collect(),
        ..Outcomes::default()
    });
    let mut changed = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let mut verdicts = [Verdict::Approve; 2];
        for ((engine, out), verdict) in engines.iter_mut().zip(&mut outcomes).zip(&mut verdicts) {
            let decision = engine.evaluate(event, event.at_ms);
            *verdict = decision.verdict;
            match decision.verdict {
                Verdict::Approve => {}
                Verdict::Alert => out.alerts += 1,
                Verdict::Decline(_) => out.declines += 1,
            }
            if decision.verdict != Verdict::Approve && out.affected.len() < AFFECTED_LISTED_MAX {
                out.affected.push(index);
            }
            for fired in decision.fired() {
                if let Some(count) = out.by_rule.iter_mut().find(|c| c.rule == fired.rule.as_str()) {
                    count.fired += 1;
                    count.in_declines += usize::from(decision.is_declined());
                }
            }
        }
        if verdicts[0] != verdicts[1] && changed.len() < AFFECTED_LISTED_MAX {
            changed.push(index);
        }
    }
    let [current, candidate] = outcomes;
    Backtest { evaluated: events.len(), current, candidate, changed }
}
