//! The terminals the host has seen, each with its merchant and its state, kept in memory
//! between requests: reading them (the registry's terminal and merchant, then the host's own
//! row) was about 8 % of the host's CPU per authorization, for rows that change a few times a
//! day.
//!
//! A copy is used only while nothing it came from can have changed: it is kept with a
//! [`Stamp`] read *before* the rows, and used while a fresh stamp equals it. The stamp moves
//! when the directory changes ([`TerminalDirectory::version`]: this process's registry writes,
//! other connections' commits), when another connection commits to the host's database (its
//! data version), and when this process writes a terminal's row here
//! (`journal::terminal_change_count`). Any move empties the whole cache — changes are rare, a
//! reread is cheap. A directory or database that cannot give a version (PostgreSQL) gets no
//! stamp: every request reads them, as before.
//!
//! [`TerminalDirectory::version`]: crate::directory::TerminalDirectory::version

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::Known;

/// Terminals kept at most; past it the cache starts again empty (a host with more terminals
/// than this rereads some, it never grows without bound).
pub(crate) const KNOWN_CACHED_MAX: usize = 65_536;

/// What the kept rows were read under: equal stamps, same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub directory: u128,
    pub database: i64,
    pub terminal_rows: u64,
}

#[derive(Default)]
pub(crate) struct KnownCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    stamp: Option<Stamp>,
    entries: HashMap<String, Arc<Known>>,
}

impl Inner {
    /// Entries read under another stamp are dropped.
    fn at(&mut self, stamp: Stamp) {
        if self.stamp != Some(stamp) {
            self.entries.clear();
            self.stamp = Some(stamp);
        }
    }
}

impl KnownCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing is left half-written under the lock: a poisoned cache is still coherent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The copy of `terminal_id` read under `stamp`, if any.
    pub(crate) fn get(&self, stamp: Option<Stamp>, terminal_id: &str) -> Option<Arc<Known>> {
        let stamp = stamp?;
        let mut inner = self.lock();
        inner.at(stamp);
        inner.entries.get(terminal_id).cloned()
    }

    /// Keep `known`, read after `stamp` was taken.
    pub(crate) fn put(&self, stamp: Option<Stamp>, known: Arc<Known>) {
        let Some(stamp) = stamp else { return };
        let mut inner = self.lock();
        inner.at(stamp);
        if inner.entries.len() >= KNOWN_CACHED_MAX {
            inner.entries.clear();
        }
        inner.entries.insert(known.terminal.terminal_id.clone(), known);
        debug_assert!(inner.entries.len() <= KNOWN_CACHED_MAX);
    }
}
