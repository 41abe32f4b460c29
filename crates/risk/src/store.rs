//! The tracked entities — cards, terminals, merchants and cards at a merchant — each in a
//! table of a fixed number of slots, so memory is bounded whatever traffic arrives: when a
//! table is full a key not seen lately (CLOCK, one reference bit per slot, an approximate
//! least-recently-seen) gives up its slot.
//!
//! Bytes per tracked card: 24 (key, running sum and count of sales, reference bit), plus 88
//! ([`Baseline`]), plus 32 to 64 (its share of the [`SlotIndex`]: 16-byte entries, twice
//! the capacity rounded up to a power of two), plus 152 per window the rules use on cards
//! ([`WindowSet::bytes_per_slot`]). With the 3 card windows of the bench's 50 rules and
//! 1,000,000 cards that is 601 bytes a card (601 MB; the whole engine, terminals, merchants
//! and cards at merchants included, 1.24 GiB). [`Store::memory_bytes`] gives the exact
//! figure of a store, all of it allocated up front.

use domain::Currency;

use crate::anomaly::Baseline;
use crate::event::{Event, Outcome};
use crate::index::SlotIndex;
use crate::key::KeyHasher;
use crate::window::{Flow, WindowKey, WindowSet, WindowTotals};

/// Keys tracked per entity kind, at most.
pub const CARDS_TRACKED_MAX: usize = 1 << 20;
pub const TERMINALS_TRACKED_MAX: usize = 1 << 18;
pub const MERCHANTS_TRACKED_MAX: usize = 1 << 17;
pub const CARDS_AT_MERCHANTS_TRACKED_MAX: usize = 1 << 20;
/// Windows per entity kind, at most (a rule file using more is refused).
pub const COLUMNS_PER_ENTITY_MAX: usize = 16;
/// Wrong-PIN answers kept per terminal for card-testing rules, the latest ones.
pub const PIN_FAILURES_KEPT: usize = 8;

const HOUR_MS: u64 = 3_600_000;

/// The kinds of tracked entity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Entity {
    Card,
    Terminal,
    Merchant,
    CardAtMerchant,
}

impl Entity {
    pub const ALL: [Entity; 4] = [Entity::Card, Entity::Terminal, Entity::Merchant, Entity::CardAtMerchant];

    pub fn name(self) -> &'static str {
        match self {
            Entity::Card => "card",
            Entity::Terminal => "terminal",
            Entity::Merchant => "merchant",
            Entity::CardAtMerchant => "card_at_merchant",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Slots per table; each at most its `*_TRACKED_MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StoreLimits {
    pub cards: usize,
    pub terminals: usize,
    pub merchants: usize,
    pub cards_at_merchants: usize,
}

impl Default for StoreLimits {
    fn default() -> StoreLimits {
        StoreLimits {
            cards: CARDS_TRACKED_MAX,
            terminals: TERMINALS_TRACKED_MAX,
            merchants: MERCHANTS_TRACKED_MAX,
            cards_at_merchants: CARDS_AT_MERCHANTS_TRACKED_MAX,
        }
    }
}

impl StoreLimits {
    fn of(&self, entity: Entity) -> usize {
        let (asked, max) = match entity {
            Entity::Card => (self.cards, CARDS_TRACKED_MAX),
            Entity::Terminal => (self.terminals, TERMINALS_TRACKED_MAX),
            Entity::Merchant => (self.merchants, MERCHANTS_TRACKED_MAX),
            Entity::CardAtMerchant => (self.cards_at_merchants, CARDS_AT_MERCHANTS_TRACKED_MAX),
        };
        asked.clamp(1, max)
    }
}

/// A wrong PIN seen at a terminal.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct PinFailure {
    card: u64,
    at_ms: u64,
}

/// What a slot knows besides its windows, in one record so a lookup touches one line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct SlotState {
    key: u64,
    /// Sales in the store's currency since the key was first seen: the "usual" amount.
    sales_minor: u64,
    sales_count: u32,
    /// CLOCK's reference bit: seen since the hand last passed.
    referenced: bool,
}

/// One entity kind's slots. Vectors are per slot (index = slot).
#[derive(Clone, PartialEq, Debug)]
struct Table {
    entity: Entity,
    capacity: usize,
    index: SlotIndex,
    /// Slots `0..used` hold keys.
    used: usize,
    states: Vec<SlotState>,
    hand: usize,
    evictions: u64,
    windows: WindowSet,
    /// Cards and merchants only.
    baselines: Vec<Baseline>,
    /// Terminals only: `PIN_FAILURES_KEPT` per slot, a ring.
    pin_failures: Vec<PinFailure>,
    pin_cursor: Vec<u8>,
}

impl Table {
    fn new(entity: Entity, capacity: usize) -> Table {
        let baselines = matches!(entity, Entity::Card | Entity::Merchant);
        let terminal = entity == Entity::Terminal;
        Table {
            entity,
            capacity,
            index: SlotIndex::new(capacity),
            used: 0,
            states: vec![SlotState::default(); capacity],
            hand: 0,
            evictions: 0,
            windows: WindowSet::new(capacity, entity == Entity::CardAtMerchant),
            baselines: if baselines { vec![Baseline::default(); capacity] } else { Vec::new() },
            pin_failures: if terminal { vec![PinFailure::default(); capacity * PIN_FAILURES_KEPT] } else { Vec::new() },
            pin_cursor: if terminal { vec![0; capacity] } else { Vec::new() },
        }
    }

    /// The slot of `key`, taking one (evicting if full) when it is new.
    fn slot(&mut self, key: u64) -> usize {
        if let Some(slot) = self.index.get(key) {
            self.states[slot as usize].referenced = true;
            return slot as usize;
        }
        let slot = if self.used < self.capacity {
            self.used += 1;
            self.used - 1
        } else {
            let slot = self.victim();
            self.index.remove(self.states[slot].key);
            self.forget(slot);
            slot
        };
        // A new key enters unreferenced: a stream of cards seen once then evicts its own
        // kind before it evicts cards seen again (CLOCK with all bits set would sweep
        // everything clear and evict whatever the hand happened to stop at).
        self.states[slot] = SlotState { key, referenced: false, ..SlotState::default() };
        // Cannot fail: a key was removed above whenever the table was full.
        self.index.insert(key, slot as u32);
        slot
    }

    /// CLOCK: sweep, clearing reference bits, to the first slot not seen since the last
    /// sweep. At most two turns.
    fn victim(&mut self) -> usize {
        loop {
            let slot = self.hand;
            self.hand = (self.hand + 1) % self.capacity;
            if std::mem::replace(&mut self.states[slot].referenced, false) {
                continue;
            }
            self.evictions += 1;
            return slot;
        }
    }

    fn forget(&mut self, slot: usize) {
        self.windows.clear(slot);
        if let Some(baseline) = self.baselines.get_mut(slot) {
            *baseline = Baseline::default();
        }
        if let Some(cursor) = self.pin_cursor.get_mut(slot) {
            *cursor = 0;
            self.pin_failures[slot * PIN_FAILURES_KEPT..(slot + 1) * PIN_FAILURES_KEPT].fill(PinFailure::default());
        }
    }

    fn prefault(&mut self) {
        self.index.prefault();
        self.states.iter_mut().step_by(128).for_each(|s| s.sales_count = 0);
        self.baselines.iter_mut().step_by(32).for_each(|b| *b = Baseline::default());
        self.pin_failures.iter_mut().step_by(128).for_each(|f| *f = PinFailure::default());
        self.pin_cursor.iter_mut().step_by(4096).for_each(|c| *c = 0);
        self.windows.prefault();
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
            + self.states.capacity() * std::mem::size_of::<SlotState>()
            + self.baselines.capacity() * std::mem::size_of::<Baseline>()
            + self.pin_failures.capacity() * std::mem::size_of::<PinFailure>()
            + self.pin_cursor.capacity()
            + self.windows.memory_bytes()
    }
}

/// The slots one event touches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Slots {
    pub card: usize,
    pub terminal: usize,
    pub merchant: usize,
    /// `None` when no rule keeps a window per card at a merchant (the table is then unused).
    pub card_at_merchant: Option<usize>,
    /// The keyed hashes of the terminal and merchant ids (for block lists).
    pub terminal_key: u64,
    pub merchant_key: u64,
}

/// All tracked state.
#[derive(Clone, PartialEq, Debug)]
pub struct Store {
    hasher: KeyHasher,
    currency: Currency,
    tables: [Table; 4],
}

impl Store {
    /// A store counting amounts in `currency` (events in another currency count as events
    /// but add no amount: minor units of two currencies do not add up).
    pub fn new(hasher: KeyHasher, currency: Currency, limits: StoreLimits) -> Store {
        let tables = Entity::ALL.map(|e| Table::new(e, limits.of(e)));
        Store { hasher, currency, tables }
    }

    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    fn table(&self, entity: Entity) -> &Table {
        &self.tables[entity.index()]
    }

    /// Keep exactly the windows in `wanted`: ones already kept keep their history, new ones
    /// start empty, others are dropped. `track_max` columns (splits) are told by entity.
    pub fn set_windows(&mut self, wanted: &[(Entity, WindowKey)]) {
        for table in &mut self.tables {
            let keys: Vec<WindowKey> = wanted.iter().filter(|(e, _)| *e == table.entity).map(|(_, k)| *k).collect();
            table.windows.set_keys(&keys);
        }
    }

    /// Where the window `key` of `entity` is kept, if it is.
    pub fn column(&self, entity: Entity, key: WindowKey) -> Option<usize> {
        self.table(entity).windows.position(key)
    }

    pub fn totals(&self, entity: Entity, column: usize, slot: usize) -> WindowTotals {
        self.table(entity).windows.totals(slot, column)
    }

    /// Sales since the key was first seen: count and amount in minor units.
    pub fn usual(&self, entity: Entity, slot: usize) -> (u32, u64) {
        let state = &self.table(entity).states[slot];
        (state.sales_count, state.sales_minor)
    }

    pub fn baseline(&self, entity: Entity, slot: usize) -> Option<&Baseline> {
        self.table(entity).baselines.get(slot)
    }

    /// Find (or take) the event's slots and count it in every window at `now_ms`.
    pub fn observe(&mut self, event: &Event, now_ms: u64) -> Slots {
        let merchant_key = self.hasher.merchant(&event.merchant);
        let pair_key = KeyHasher::card_at_merchant(event.card.hash, merchant_key);
        let keys = [event.card.hash, self.hasher.terminal(&event.terminal), merchant_key, pair_key];
        // The four tables are far apart in memory: read all four index lines first, then
        // all four rows, so the cache misses overlap instead of following one another.
        let tracked = |t: &Table| t.entity != Entity::CardAtMerchant || !t.windows.keys().is_empty();
        let lines =
            self.tables.iter().zip(keys).filter(|(t, _)| tracked(t)).fold(0, |acc, (t, k)| acc ^ t.index.touch(k));
        std::hint::black_box(lines);
        let [card, terminal, merchant] = [0, 1, 2].map(|i| self.tables[i].slot(keys[i]));
        let pairs = &mut self.tables[Entity::CardAtMerchant.index()];
        let card_at_merchant = (!pairs.windows.keys().is_empty()).then(|| pairs.slot(pair_key));
        let slots = Slots { card, terminal, merchant, card_at_merchant, terminal_key: keys[1], merchant_key };
        let flow = event.flow();
        let amount = self.amount_minor(event);
        let all = [Some(card), Some(terminal), Some(merchant), card_at_merchant];
        let touched = self.tables.iter().zip(all).fold(0, |acc, (table, slot)| match slot {
            Some(slot) => {
                acc ^ table.windows.touch(slot) ^ table.baselines.get(slot).map_or(0, Baseline::history) as u64
            }
            None => acc,
        });
        std::hint::black_box(touched);
        for (table, slot) in self.tables.iter_mut().zip(all) {
            if let Some(slot) = slot {
                table.windows.observe(slot, flow, now_ms, amount);
            }
        }
        slots
    }

    fn amount_minor(&self, event: &Event) -> u64 {
        if event.amount.currency == self.currency { event.amount.minor } else { 0 }
    }

    /// Take a sale into the running sums and baselines. Called after the rules read them,
    /// so a rule compares a transaction with the history before it.
    pub fn learn(&mut self, event: &Event, slots: &Slots, now_ms: u64) {
        if event.flow() != Some(Flow::Sale) || event.amount.currency != self.currency {
            return;
        }
        let amount = event.amount.minor;
        let hour = ((now_ms / HOUR_MS) % 24) as usize;
        for (table, slot) in self.tables.iter_mut().zip([
            Some(slots.card),
            Some(slots.terminal),
            Some(slots.merchant),
            slots.card_at_merchant,
        ]) {
            let Some(slot) = slot else { continue };
            let state = &mut table.states[slot];
            state.sales_count = state.sales_count.saturating_add(1);
            state.sales_minor = state.sales_minor.saturating_add(amount);
            if let Some(baseline) = table.baselines.get_mut(slot) {
                baseline.learn(amount, now_ms, hour);
            }
        }
    }

    /// Feed the issuer's answer: a wrong PIN (55) is kept against the terminal for
    /// card-testing rules. Returns the terminal's slot when it was kept.
    pub fn record(&mut self, outcome: &Outcome) -> Option<usize> {
        if outcome.response != domain::ResponseCode::INCORRECT_PIN {
            return None;
        }
        let key = self.hasher.terminal(&outcome.terminal);
        let table = &mut self.tables[Entity::Terminal.index()];
        let slot = table.slot(key);
        let cursor = usize::from(table.pin_cursor[slot]);
        table.pin_failures[slot * PIN_FAILURES_KEPT + cursor] =
            PinFailure { card: outcome.card.hash, at_ms: outcome.at_ms };
        table.pin_cursor[slot] = ((cursor + 1) % PIN_FAILURES_KEPT) as u8;
        Some(slot)
    }

    /// Distinct cards with a wrong PIN at the terminal in `slot` since `since_ms` (of the
    /// last [`PIN_FAILURES_KEPT`] wrong PINs there).
    pub fn pin_failure_cards(&self, slot: usize, since_ms: u64) -> u64 {
        let table = self.table(Entity::Terminal);
        let ring = &table.pin_failures[slot * PIN_FAILURES_KEPT..(slot + 1) * PIN_FAILURES_KEPT];
        let recent = |f: &&PinFailure| f.at_ms != 0 && f.at_ms >= since_ms;
        let mut distinct = 0;
        for (i, failure) in ring.iter().enumerate().filter(|(_, f)| recent(f)) {
            if !ring[..i].iter().filter(recent).any(|earlier| earlier.card == failure.card) {
                distinct += 1;
            }
        }
        distinct
    }

    /// Rebuild windows, sums and baselines from a journal of past events (oldest first),
    /// as if each had been evaluated live at its `at_ms` and its response recorded then.
    pub fn replay(&mut self, events: impl Iterator<Item = Event>) {
        for event in events {
            let slots = self.observe(&event, event.at_ms);
            self.learn(&event, &slots, event.at_ms);
            if let Some(response) = event.response {
                self.record(&event.outcome(response, event.at_ms));
            }
        }
    }

    /// Write every page of the tables now (they are allocated zeroed, which the OS maps
    /// lazily), so no evaluation pays a page fault. Costs a moment at start-up; the memory
    /// is [`Store::memory_bytes`] either way.
    pub fn prefault(&mut self) {
        self.tables.iter_mut().for_each(Table::prefault);
    }

    /// Keys tracked now, per entity kind.
    pub fn tracked(&self, entity: Entity) -> usize {
        self.table(entity).used
    }

    pub fn capacity(&self, entity: Entity) -> usize {
        self.table(entity).capacity
    }

    pub fn evictions(&self, entity: Entity) -> u64 {
        self.table(entity).evictions
    }

    /// Bytes one tracked key of `entity` costs, index included.
    pub fn bytes_per_key(&self, entity: Entity) -> usize {
        let table = self.table(entity);
        table.memory_bytes() / table.capacity
    }

    /// Bytes held by the store: every table at full capacity (allocated up front, so this
    /// does not grow with traffic).
    pub fn memory_bytes(&self) -> usize {
        self.tables.iter().map(Table::memory_bytes).sum()
    }
}
