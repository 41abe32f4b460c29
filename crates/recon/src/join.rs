//! The exact-key joins, set-based: each source is sorted once by its key (an index of
//! `(packed key, record)` pairs, no per-record allocation) and neighbouring sources are merged.
//! The result is a set of chains: one per terminal request, naming its record at each party.
//!
//! Joins: terminal ↔ acquirer on (terminal, batch, trace); acquirer ↔ clearing on (acquirer,
//! STAN, transmission time); clearing ↔ issuer on the issuer leg. A fallback joins a terminal
//! row the acquirer lacks to its clearing record on (terminal id, RRN), so a row missing at one
//! party still makes one chain rather than two. Within a source, a second record with the same
//! key is a duplicate: it becomes a chain of its own, marked as such.

use crate::exception::Party;
use crate::source::Sources;

/// "No record" in the index arrays.
pub const NONE: u32 = u32::MAX;
/// Record indices are `u32`: a source may hold up to this many records.
pub const RECORDS_PER_SOURCE_MAX: usize = (u32::MAX - 1) as usize;

/// A sorted index: (packed key, record index), ascending.
pub type Index = Vec<(u128, u32)>;

#[derive(Debug, Default)]
pub struct Chains {
    /// Per chain, its record at each party (by [`Party::index`]) or [`NONE`].
    pub records: Vec<[u32; 4]>,
    /// Per chain: for a duplicate, the record it duplicates (at the one party it has);
    /// [`NONE`] otherwise.
    pub duplicate_of: Vec<u32>,
    /// Per party, per record: its chain.
    pub chain_of: [Vec<u32>; 4],
    /// The sorted indices the original lookups search (duplicates removed): terminal by
    /// terminal key, acquirer and clearing by acquirer leg, issuer by issuer leg.
    pub index: [Index; 4],
}

fn sorted(keys: impl Iterator<Item = u128>) -> Index {
    let mut index: Index = keys.enumerate().map(|(i, k)| (k, i as u32)).collect();
    index.sort_unstable();
    index
}

/// Removes every record after the first of a run of equal keys and returns them as
/// (duplicate, kept). `first` picks which of two equal-key records is the original (the
/// clearing file's is the lower reference; elsewhere the earlier row).
fn take_duplicates(index: &mut Index, first: impl Fn(u32, u32) -> bool) -> Vec<(u32, u32)> {
    let mut duplicates = Vec::new();
    let mut start = 0;
    while start < index.len() {
        let mut end = start + 1;
        while end < index.len() && index[end].0 == index[start].0 {
            if first(index[end].1, index[start].1) {
                index.swap(start, end);
            }
            end += 1;
        }
        for j in start + 1..end {
            duplicates.push((index[j].1, index[start].1));
        }
        start = end;
    }
    if !duplicates.is_empty() {
        index.dedup_by_key(|entry| entry.0);
    }
    duplicates
}

/// Merges two sorted indices on equal keys, one to one.
fn merge(left: &[(u128, u32)], right: &[(u128, u32)], mut pair: impl FnMut(u32, u32)) {
    let (mut l, mut r) = (0, 0);
    while l < left.len() && r < right.len() {
        match left[l].0.cmp(&right[r].0) {
            std::cmp::Ordering::Less => l += 1,
            std::cmp::Ordering::Greater => r += 1,
            std::cmp::Ordering::Equal => {
                pair(left[l].1, right[r].1);
                l += 1;
                r += 1;
            }
        }
    }
}

/// Finds a key in a sorted, duplicate-free index.
pub fn lookup(index: &[(u128, u32)], key: u128) -> Option<u32> {
    let at = index.partition_point(|entry| entry.0 < key);
    index.get(at).filter(|entry| entry.0 == key).map(|entry| entry.1)
}

pub fn build(sources: &Sources) -> Chains {
    let (t, a, c, i) = (&sources.terminal, &sources.acquirer, &sources.clearing, &sources.issuer);
    // The four sorts are independent: two on another core, two here.
    let (mut index_t, mut index_a, mut index_c, mut index_i) = std::thread::scope(|scope| {
        let other =
            scope.spawn(|| (sorted(t.iter().map(|r| r.key.packed())), sorted(a.iter().map(|r| r.key.packed()))));
        let index_c = sorted(c.iter().map(|r| r.key.packed()));
        let index_i = sorted(i.iter().map(|r| r.key.packed()));
        let (index_t, index_a) = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (index_t, index_a, index_c, index_i)
    });
    let dup_t = take_duplicates(&mut index_t, |x, y| x < y);
    let dup_a = take_duplicates(&mut index_a, |x, y| x < y);
    let dup_c = take_duplicates(&mut index_c, |x, y| (c[x as usize].reference, x) < (c[y as usize].reference, y));
    let dup_i = take_duplicates(&mut index_i, |x, y| x < y);

    let mut a_of_t = vec![NONE; t.len()];
    let mut t_of_a = vec![NONE; a.len()];
    let mut c_of_a = vec![NONE; a.len()];
    let mut a_of_c = vec![NONE; c.len()];
    let mut i_of_c = vec![NONE; c.len()];
    let mut c_of_i = vec![NONE; i.len()];
    // Three merges writing disjoint arrays: terminal ↔ acquirer on another core.
    std::thread::scope(|scope| {
        let terminal_side = scope.spawn(|| {
            // The acquirer by terminal key is needed only for this merge.
            let by_terminal = sorted_subset(&index_a, |r| a[r as usize].terminal.packed());
            merge(&index_t, &by_terminal, |x, y| {
                a_of_t[x as usize] = y;
                t_of_a[y as usize] = x;
            });
        });
        merge(&index_a, &index_c, |x, y| {
            c_of_a[x as usize] = y;
            a_of_c[y as usize] = x;
        });
        let by_issuer = sorted_subset(&index_c, |r| c[r as usize].issuer_key.packed());
        merge(&by_issuer, &index_i, |x, y| {
            i_of_c[x as usize] = y;
            c_of_i[y as usize] = x;
        });
        drop(by_issuer);
        terminal_side.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
    let t_of_c = fallback_terminal_to_clearing(sources, &index_t, &a_of_t, &index_c, &a_of_c);

    let mut chains = Chains {
        chain_of: [vec![NONE; t.len()], vec![NONE; a.len()], vec![NONE; c.len()], vec![NONE; i.len()]],
        ..Chains::default()
    };
    let issuer_of = |rc: u32| if rc == NONE { NONE } else { i_of_c[rc as usize] };
    for &(_, ra) in &index_a {
        let rc = c_of_a[ra as usize];
        chains.push([t_of_a[ra as usize], ra, rc, issuer_of(rc)], NONE);
    }
    for &(_, rc) in &index_c {
        if a_of_c[rc as usize] == NONE {
            chains.push([t_of_c.get(&rc).copied().unwrap_or(NONE), NONE, rc, issuer_of(rc)], NONE);
        }
    }
    for &(_, rt) in &index_t {
        if chains.chain_of[0][rt as usize] == NONE {
            chains.push([rt, NONE, NONE, NONE], NONE);
        }
    }
    for &(_, ri) in &index_i {
        if c_of_i[ri as usize] == NONE {
            chains.push([NONE, NONE, NONE, ri], NONE);
        }
    }
    for (party, duplicates) in [dup_t, dup_a, dup_c, dup_i].into_iter().enumerate() {
        for (record, kept) in duplicates {
            let mut records = [NONE; 4];
            records[party] = record;
            chains.push(records, kept);
        }
    }
    // Every record of every source is in exactly one chain.
    for party in Party::ALL {
        assert!(
            chains.chain_of[party.index()].iter().all(|&chain| chain != NONE),
            "a {} record in no chain",
            party.name()
        );
    }
    chains.index = [index_t, index_a, index_c, index_i];
    chains
}

impl Chains {
    fn push(&mut self, records: [u32; 4], duplicate_of: u32) {
        let chain = self.records.len() as u32;
        for (party, &record) in records.iter().enumerate() {
            if record != NONE {
                let slot = &mut self.chain_of[party][record as usize];
                assert_eq!(*slot, NONE, "a record in two chains");
                *slot = chain;
            }
        }
        self.records.push(records);
        self.duplicate_of.push(duplicate_of);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The records of `index` re-sorted by another key.
fn sorted_subset(index: &Index, key: impl Fn(u32) -> u128) -> Index {
    let mut out: Index = index.iter().map(|&(_, r)| (key(r), r)).collect();
    out.sort_unstable();
    out
}

/// Terminal rows without an acquirer row, joined to clearing records without one on (terminal
/// id, RRN): few (faults only), so a map is fine here.
fn fallback_terminal_to_clearing(
    sources: &Sources,
    index_t: &Index,
    a_of_t: &[u32],
    index_c: &Index,
    a_of_c: &[u32],
) -> std::collections::HashMap<u32, u32> {
    use std::collections::HashMap;

    use crate::keys::{Rrn, TerminalId};
    let mut orphans: HashMap<(TerminalId, Rrn), u32> = HashMap::new();
    for &(_, rt) in index_t {
        if a_of_t[rt as usize] == NONE {
            let r = &sources.terminal[rt as usize];
            orphans.insert((r.key.terminal, r.rrn), rt);
        }
    }
    let mut t_of_c = HashMap::new();
    if orphans.is_empty() {
        return t_of_c;
    }
    for &(_, rc) in index_c {
        if a_of_c[rc as usize] == NONE {
            let r = &sources.clearing[rc as usize];
            if let Some(rt) = orphans.remove(&(r.terminal, r.rrn)) {
                t_of_c.insert(rc, rt);
            }
        }
    }
    t_of_c
}
