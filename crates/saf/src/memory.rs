//! An in-memory queue with the same semantics as the SQLite one (not durable): for tests and
//! simulations.

use std::collections::{BTreeMap, HashMap};

use crate::{
    Clock, Counts, DUE_LIMIT_MAX, Entry, EntryId, EntryState, NewEntry, SafConfig, SafError, SafQueue, SafResult,
    SystemClock, after_failure,
};

#[derive(Debug)]
pub struct MemorySafQueue<C: Clock = SystemClock> {
    config: SafConfig,
    clock: C,
    entries: BTreeMap<EntryId, Entry>,
    keys: HashMap<String, EntryId>,
    next_id: u64,
    /// Entries in [`EntryState::Pending`] (kept, so the bound check does not scan).
    pending: u64,
}

impl MemorySafQueue<SystemClock> {
    pub fn new() -> MemorySafQueue<SystemClock> {
        MemorySafQueue::with_clock(SafConfig::default(), SystemClock)
    }
}

impl Default for MemorySafQueue<SystemClock> {
    fn default() -> Self {
        MemorySafQueue::new()
    }
}

impl<C: Clock> MemorySafQueue<C> {
    pub fn with_clock(config: SafConfig, clock: C) -> MemorySafQueue<C> {
        MemorySafQueue { config, clock, entries: BTreeMap::new(), keys: HashMap::new(), next_id: 1, pending: 0 }
    }
}

impl<C: Clock> SafQueue for MemorySafQueue<C> {
    fn enqueue(&mut self, entry: NewEntry) -> SafResult<EntryId> {
        if let Some(id) = self.keys.get(&entry.key) {
            return Ok(*id);
        }
        if self.pending >= self.config.pending_max {
            return Err(SafError::QueueFull { pending_max: self.config.pending_max });
        }
        let id = EntryId(self.next_id);
        self.next_id += 1;
        let now = self.clock.now_ms();
        self.pending += 1;
        self.keys.insert(entry.key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                id,
                key: entry.key,
                destination: entry.destination,
                payload: entry.payload,
                expires_at_ms: entry.expires_at_ms,
                created_ms: now,
                attempts: 0,
                next_attempt_ms: now,
                state: EntryState::Pending,
            },
        );
        Ok(id)
    }

    fn due(&mut self, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
        Ok(self
            .entries
            .values()
            .filter(|e| e.state == EntryState::Pending && e.destination == destination && e.next_attempt_ms <= now_ms)
            .filter(|e| e.expires_at_ms.is_none_or(|at| at > now_ms))
            .take(limit.min(DUE_LIMIT_MAX))
            .cloned()
            .collect())
    }

    fn attempt_failed(&mut self, id: EntryId, now_ms: u64) -> SafResult<EntryState> {
        let config = self.config;
        let entry = self.entries.get_mut(&id).ok_or(SafError::NotFound(id))?;
        if entry.state != EntryState::Pending {
            return Ok(entry.state);
        }
        let (attempts, next, state) = after_failure(&config, entry.attempts, entry.expires_at_ms, now_ms);
        entry.attempts = attempts;
        entry.next_attempt_ms = next;
        entry.state = state;
        if state != EntryState::Pending {
            self.pending = self.pending.saturating_sub(1);
        }
        Ok(state)
    }

    fn acknowledged(&mut self, id: EntryId) -> SafResult<()> {
        let entry = self.entries.get_mut(&id).ok_or(SafError::NotFound(id))?;
        if entry.state == EntryState::Pending {
            self.pending = self.pending.saturating_sub(1);
        }
        entry.state = EntryState::Done;
        Ok(())
    }

    fn get(&mut self, id: EntryId) -> SafResult<Option<Entry>> {
        Ok(self.entries.get(&id).cloned())
    }

    fn expire(&mut self, now_ms: u64) -> SafResult<usize> {
        let mut expired: u64 = 0;
        for entry in self.entries.values_mut() {
            if entry.state == EntryState::Pending && entry.expires_at_ms.is_some_and(|at| at <= now_ms) {
                entry.state = EntryState::Dead;
                expired += 1;
            }
        }
        self.pending = self.pending.saturating_sub(expired);
        Ok(expired as usize)
    }

    fn counts(&mut self) -> SafResult<Counts> {
        let mut counts = Counts::default();
        for entry in self.entries.values() {
            match entry.state {
                EntryState::Pending => counts.pending += 1,
                EntryState::Done => counts.done += 1,
                EntryState::Dead => counts.dead += 1,
            }
        }
        Ok(counts)
    }
}
