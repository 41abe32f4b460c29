//! The engine: a [`RuleSet`] over a [`Store`]. [`Engine::evaluate`] counts the transaction
//! in its windows, runs every rule against the windows as they now stand (so values include
//! the transaction), then takes it into the running baselines (so "usual" and anomaly
//! comparisons are with the history before it). It reads no clock and does no I/O: time is
//! `now_ms`, and it allocates nothing.
//!
//! Declined transactions stay counted: velocity counts attempts, which is what a fraudster
//! probing a card produces.

use domain::TerminalId;

use crate::decision::{Decision, Fired};
use crate::event::{Event, Outcome};
use crate::key::KeyHasher;
use crate::rules::{Check, Measure, Mismatch, NewMerchantLimit, Rule, RuleSet};
use crate::store::{Entity, Slots, Store, StoreLimits};
use crate::window::Flow;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// A rule with the columns it reads resolved, so evaluation does no lookup by key.
#[derive(Clone, Copy, Debug, Default)]
struct Plan {
    columns: [usize; 2],
}

/// A rule set and the state it reads. Clone it to try something on a copy.
#[derive(Clone)]
pub struct Engine {
    rules: RuleSet,
    plans: Vec<Plan>,
    store: Store,
}

impl Engine {
    pub fn new(rules: RuleSet, hasher: KeyHasher, limits: StoreLimits) -> Engine {
        let store = Store::new(hasher, rules.currency, limits);
        let mut engine = Engine { rules: RuleSet { rules: Vec::new(), ..rules.clone() }, plans: Vec::new(), store };
        engine.replace_rules(rules);
        engine
    }

    /// Hot reload. Windows are kept by (entity, length, flow), so a window a new rule shares
    /// with an old one keeps its history; windows no rule reads any more are dropped. A
    /// change of currency starts a fresh store (amounts in the old one mean nothing now).
    pub fn replace_rules(&mut self, rules: RuleSet) {
        if rules.currency != self.store.currency() {
            self.store = Store::new(*self.store.hasher(), rules.currency, self.limits());
        }
        self.store.set_windows(&rules.windows());
        self.plans = rules.rules.iter().map(|r| self.plan(r)).collect();
        self.rules = rules;
    }

    fn limits(&self) -> StoreLimits {
        StoreLimits {
            cards: self.store.capacity(Entity::Card),
            terminals: self.store.capacity(Entity::Terminal),
            merchants: self.store.capacity(Entity::Merchant),
            cards_at_merchants: self.store.capacity(Entity::CardAtMerchant),
        }
    }

    fn plan(&self, rule: &Rule) -> Plan {
        let mut plan = Plan::default();
        for (i, (entity, key)) in rule.check.windows().into_iter().enumerate().take(2) {
            // `set_windows` was just given every rule's windows, so each is there.
            plan.columns[i] = self.store.column(entity, key).unwrap_or(usize::MAX);
        }
        plan
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn hasher(&self) -> &KeyHasher {
        self.store.hasher()
    }

    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
    }

    /// See [`Store::prefault`].
    pub fn prefault(&mut self) {
        self.store.prefault();
    }

    /// Decide on `tx` at `now_ms`, and count it. When `tx.response` is already set (an
    /// event from a journal), it is recorded after the rules ran, as [`Engine::record`]
    /// would.
    pub fn evaluate(&mut self, tx: &Event, now_ms: u64) -> Decision {
        let slots = self.store.observe(tx, now_ms);
        let mut decision = Decision::default();
        let mut anomaly = AnomalyCache::default();
        for (rule, plan) in self.rules.rules.iter().zip(&self.plans) {
            let Some(observed) = self.observe(rule, plan, tx, &slots, now_ms, &mut anomaly) else { continue };
            let Some((score, bound, band_reason)) = rule.scoring.judge(observed) else { continue };
            let reason = band_reason.unwrap_or(rule.reason);
            decision.push(Fired { rule: rule.id, observed, bound, score, reason, decline: rule.decline });
            if rule.check.blocks_terminal() {
                decision.block_terminal = Some(tx.terminal);
            }
        }
        self.store.learn(tx, &slots, now_ms);
        if let Some(response) = tx.response {
            self.store.record(&tx.outcome(response, now_ms));
        }
        decision.finish(self.rules.decline_score, self.rules.alert_score);
        decision
    }

    /// Feed the issuer's answer. Returns the terminal to block when a card-testing rule's
    /// count is reached by it.
    pub fn record(&mut self, outcome: &Outcome) -> Option<TerminalId> {
        let slot = self.store.record(outcome)?;
        let blocks = self.rules.rules.iter().any(|r| match r.check {
            Check::CardTesting { window_ms } => {
                let distinct = self.store.pin_failure_cards(slot, outcome.at_ms.saturating_sub(window_ms));
                r.scoring.judge(distinct).is_some()
            }
            _ => false,
        });
        blocks.then_some(outcome.terminal)
    }

    /// Rebuild the windows from a journal (oldest first); see [`Store::replay`].
    pub fn replay(&mut self, events: impl Iterator<Item = Event>) {
        self.store.replay(events);
    }

    /// The value `rule` measures for `tx`, or `None` when it has no opinion (not
    /// applicable, or too little history: an exit condition).
    fn observe(
        &self,
        rule: &Rule,
        plan: &Plan,
        tx: &Event,
        slots: &Slots,
        now_ms: u64,
        anomaly: &mut AnomalyCache,
    ) -> Option<u64> {
        let store = &self.store;
        let sale = tx.flow() == Some(Flow::Sale) && tx.amount.currency == store.currency();
        match &rule.check {
            Check::Velocity { entity, measure, .. } => {
                let totals = store.totals(*entity, plan.columns[0], slot_of(*entity, slots)?);
                Some(match measure {
                    Measure::Count => u64::from(totals.count),
                    Measure::Amount => totals.amount_minor,
                })
            }
            Check::AmountVsUsual { entity, history_min } => {
                let (count, sum) = store.usual(*entity, slot_of(*entity, slots)?);
                if !sale || count < *history_min || sum == 0 {
                    return None;
                }
                let percent = u128::from(tx.amount.minor) * 100 * u128::from(count) / u128::from(sum);
                Some(u64::try_from(percent).unwrap_or(u64::MAX))
            }
            Check::SplitSale { count, .. } => {
                let totals = store.totals(Entity::CardAtMerchant, plan.columns[0], slots.card_at_merchant?);
                let limit = rule.scoring.lowest();
                let split = sale && totals.count >= *count && totals.max_minor < limit;
                split.then_some(totals.amount_minor)
            }
            Check::Restriction { mccs, hours, utc_offset_min } => {
                let mcc_hit = mccs.as_ref().is_none_or(|set| set.contains(tx.mcc));
                let hour_hit = hours.is_none_or(|mask| mask & (1 << local_hour(now_ms, *utc_offset_min)) != 0);
                Some(u64::from(mcc_hit && hour_hit))
            }
            Check::Block(list) => {
                let hit = list.cards.binary_search(&tx.card.hash).is_ok()
                    || list.terminals.binary_search(&slots.terminal_key).is_ok()
                    || list.merchants.binary_search(&slots.merchant_key).is_ok()
                    || list.bins.iter().any(|bin| tx.card.bin.starts_with(bin));
                Some(u64::from(hit))
            }
            Check::NewMerchant { days, limit, .. } => {
                let onboarded_ms = tx.merchant_onboarded_ms?;
                if now_ms.saturating_sub(onboarded_ms) >= u64::from(*days) * DAY_MS || !sale {
                    return None;
                }
                match limit {
                    NewMerchantLimit::Transaction => Some(tx.amount.minor),
                    NewMerchantLimit::Day => {
                        Some(store.totals(Entity::Merchant, plan.columns[0], slots.merchant).amount_minor)
                    }
                }
            }
            Check::RefundRatio { sales_min, .. } => {
                let sales = store.totals(Entity::Merchant, plan.columns[0], slots.merchant);
                let refunds = store.totals(Entity::Merchant, plan.columns[1], slots.merchant);
                if tx.flow() != Some(Flow::Refund) || sales.count < *sales_min || sales.amount_minor == 0 {
                    return None;
                }
                let percent = u128::from(refunds.amount_minor) * 100 / u128::from(sales.amount_minor);
                Some(u64::try_from(percent).unwrap_or(u64::MAX))
            }
            Check::CardTesting { window_ms } => {
                Some(store.pin_failure_cards(slots.terminal, now_ms.saturating_sub(*window_ms)))
            }
            Check::Mismatch(Mismatch::Currency) => {
                Some(u64::from(mismatch(tx.merchant_currency, Some(tx.amount.currency))))
            }
            Check::Mismatch(Mismatch::Country) => Some(u64::from(mismatch(tx.merchant_country, tx.card_country))),
            Check::Anomaly { entity } => {
                let cached = &mut anomaly.0[usize::from(*entity == Entity::Merchant)];
                *cached.get_or_insert_with(|| {
                    let baseline = store.baseline(*entity, slot_of(*entity, slots)?)?;
                    let hour = ((now_ms / HOUR_MS) % 24) as usize;
                    sale.then(|| baseline.score(tx.amount.minor, now_ms, hour)).flatten().map(|s| s.centi())
                })
            }
        }
    }
}

/// Card and merchant anomaly scores of one evaluation, each computed once however many
/// rules read it.
#[derive(Default)]
struct AnomalyCache([Option<Option<u64>>; 2]);

fn slot_of(entity: Entity, slots: &Slots) -> Option<usize> {
    match entity {
        Entity::Card => Some(slots.card),
        Entity::Terminal => Some(slots.terminal),
        Entity::Merchant => Some(slots.merchant),
        Entity::CardAtMerchant => slots.card_at_merchant,
    }
}

/// A mismatch only where both sides are known.
fn mismatch<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a != b)
}

/// The hour (0..24) at `now_ms` in a zone `utc_offset_min` minutes from UTC.
fn local_hour(now_ms: u64, utc_offset_min: i32) -> u32 {
    let minutes = (now_ms / MINUTE_MS) as i64 + i64::from(utc_offset_min);
    (minutes.rem_euclid(24 * 60) / 60) as u32
}
