//! The journal in plain memory, for a load generator's virtual terminals
//! ([`Terminal::open_in_memory`]): the same rows as the SQLite journal, kept in maps, without
//! the SQL each write costs there. A transaction keeps what it overwrote; one that fails puts
//! it all back, so it leaves nothing behind, as a rolled-back SQLite transaction.
//!
//! [`Terminal::open_in_memory`]: crate::Terminal::open_in_memory

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{AdviceRow, Journal, JournalEntry, LastSlip, ReversalRow, Role, StateRow};
use crate::{Result, TerminalError};

/// (status, sealed record) of a journal entry; (role, hash) of an operator.
type Pair = (String, Vec<u8>);

/// The journal's tables.
#[derive(Default)]
pub(crate) struct Tables {
    state: Option<StateRow>,
    reversal: Option<ReversalRow>,
    advice: Option<AdviceRow>,
    /// By (batch, trace): the order `entries` gives, as the SQLite journal's primary key.
    journal: BTreeMap<(u32, String), Pair>,
    operators: BTreeMap<String, Pair>,
    parameters: BTreeMap<String, String>,
    last_slip: Option<String>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts only: the rows hold sealed records and password hashes.
        f.debug_struct("Tables")
            .field("records", &self.journal.len())
            .field("operators", &self.operators.len())
            .finish_non_exhaustive()
    }
}

/// What a write overwrote, to put back if its transaction fails.
enum Undo {
    State(Option<StateRow>),
    Reversal(Option<ReversalRow>),
    Advice(Option<AdviceRow>),
    Entry((u32, String), Option<Pair>),
    Operator(String, Option<Pair>),
    Parameter(String, Option<String>),
    LastSlip(Option<String>),
}

/// One transaction over the tables.
struct MemoryTx<'a> {
    tables: &'a mut Tables,
    undo: Vec<Undo>,
}

/// Run `work` in one transaction: all of its writes stay, or (an `Err`) none.
pub(crate) fn transact<T>(tables: &Mutex<Tables>, work: impl FnOnce(&mut dyn Journal) -> Result<T>) -> Result<T> {
    // Poisoned: a transaction panicked half-way, and what it wrote was not undone.
    let poisoned = || TerminalError::Store("a transaction panicked half-way: the journal is not used again".into());
    let mut tables = tables.lock().map_err(|_| poisoned())?;
    let mut tx = MemoryTx { tables: &mut tables, undo: Vec::new() };
    let result = work(&mut tx);
    if result.is_err() {
        tx.roll_back();
    }
    result
}

/// `value` under `key` (none: removed); what was there.
fn set<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) -> Option<V> {
    match value {
        Some(value) => map.insert(key, value),
        None => map.remove(&key),
    }
}

impl MemoryTx<'_> {
    fn roll_back(&mut self) {
        let tables = &mut *self.tables;
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::State(old) => tables.state = old,
                Undo::Reversal(old) => tables.reversal = old,
                Undo::Advice(old) => tables.advice = old,
                Undo::Entry(key, old) => drop(set(&mut tables.journal, key, old)),
                Undo::Operator(key, old) => drop(set(&mut tables.operators, key, old)),
                Undo::Parameter(key, old) => drop(set(&mut tables.parameters, key, old)),
                Undo::LastSlip(old) => tables.last_slip = old,
            }
        }
    }

    /// The records of `batch_no`, in trace order.
    fn batch(&self, batch_no: u32) -> impl Iterator<Item = (&(u32, String), &Pair)> {
        self.tables.journal.range((batch_no, String::new())..).take_while(move |((batch, _), _)| *batch == batch_no)
    }
}

/// A second row under a key, refused as the SQLite journal's primary keys refuse it.
fn taken(what: &str) -> TerminalError {
    TerminalError::Store(format!("{what}: the record exists already"))
}

/// `row` in an empty slot; a second row refused ([`taken`]).
fn fill<T: Clone>(slot: &mut Option<T>, row: &T, what: &str) -> Result<()> {
    if slot.is_some() {
        return Err(taken(what));
    }
    *slot = Some(row.clone());
    Ok(())
}

impl Journal for MemoryTx<'_> {
    fn load_state(&mut self) -> Result<Option<StateRow>> {
        Ok(self.tables.state.clone())
    }

    fn save_state(&mut self, state: &StateRow) -> Result<()> {
        let old = self.tables.state.replace(state.clone());
        self.undo.push(Undo::State(old));
        Ok(())
    }

    fn reversal(&mut self) -> Result<Option<ReversalRow>> {
        Ok(self.tables.reversal.clone())
    }

    fn insert_reversal(&mut self, reversal: &ReversalRow) -> Result<()> {
        fill(&mut self.tables.reversal, reversal, "reversal")?;
        self.undo.push(Undo::Reversal(None));
        Ok(())
    }

    fn clear_reversal(&mut self) -> Result<()> {
        let old = self.tables.reversal.take();
        self.undo.push(Undo::Reversal(old));
        Ok(())
    }

    fn advice(&mut self) -> Result<Option<AdviceRow>> {
        Ok(self.tables.advice.clone())
    }

    fn insert_advice(&mut self, advice: &AdviceRow) -> Result<()> {
        fill(&mut self.tables.advice, advice, "advice")?;
        self.undo.push(Undo::Advice(None));
        Ok(())
    }

    fn clear_advice(&mut self) -> Result<()> {
        let old = self.tables.advice.take();
        self.undo.push(Undo::Advice(old));
        Ok(())
    }

    fn insert_entry(&mut self, entry: &JournalEntry, sealed: Vec<u8>) -> Result<()> {
        let key = (entry.batch_no, entry.trace.to_string());
        if self.tables.journal.contains_key(&key) {
            return Err(taken(&format!("batch {:06} trace {}", key.0, key.1)));
        }
        self.tables.journal.insert(key.clone(), (entry.status.clone(), sealed));
        self.undo.push(Undo::Entry(key, None));
        Ok(())
    }

    fn set_status(&mut self, batch_no: u32, trace: &str, status: &str) -> Result<()> {
        let key = (batch_no, trace.to_owned());
        if let Some((old, sealed)) = self.tables.journal.get_mut(&key) {
            let before = (std::mem::replace(old, status.to_owned()), sealed.clone());
            self.undo.push(Undo::Entry(key, Some(before)));
        }
        Ok(())
    }

    fn entries(&mut self, batch_no: u32) -> Result<Vec<Pair>> {
        Ok(self.batch(batch_no).map(|(_, row)| row.clone()).collect())
    }

    fn entry_count(&mut self, batch_no: u32) -> Result<u64> {
        Ok(self.batch(batch_no).count() as u64)
    }

    fn operator(&mut self, number: &str) -> Result<Option<Pair>> {
        Ok(self.tables.operators.get(number).cloned())
    }

    fn operators(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self.tables.operators.iter().map(|(number, (role, _))| (number.clone(), role.clone())).collect())
    }

    fn operator_count(&mut self) -> Result<u64> {
        Ok(self.tables.operators.len() as u64)
    }

    fn supervisor(&mut self) -> Result<Option<String>> {
        let supervisor = Role::Supervisor.name();
        Ok(self.tables.operators.iter().find(|(_, (role, _))| role == supervisor).map(|(number, _)| number.clone()))
    }

    fn put_operator(&mut self, number: &str, role: Role, hash: Vec<u8>) -> Result<()> {
        let old = self.tables.operators.insert(number.to_owned(), (role.name().to_owned(), hash));
        self.undo.push(Undo::Operator(number.to_owned(), old));
        Ok(())
    }

    fn parameter(&mut self, tag: &str) -> Result<Option<String>> {
        Ok(self.tables.parameters.get(tag).cloned())
    }

    fn put_parameter(&mut self, tag: &str, value: &str) -> Result<()> {
        let old = self.tables.parameters.insert(tag.to_owned(), value.to_owned());
        self.undo.push(Undo::Parameter(tag.to_owned(), old));
        Ok(())
    }

    fn last_slip(&mut self) -> Result<Option<LastSlip>> {
        Ok(self.tables.last_slip.clone().map(LastSlip::Kept))
    }

    fn put_last_slip(&mut self, kept: &str) -> Result<()> {
        let old = self.tables.last_slip.replace(kept.to_owned());
        self.undo.push(Undo::LastSlip(old));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlstore::Database;

    use super::super::{Store, tests::entry};
    use super::*;

    fn state(batch_no: u32, trace: u32) -> StateRow {
        StateRow {
            batch_no,
            trace,
            scheme: Some("001".into()),
            keys: Some(vec![7; 16]),
            sign_on_needed: false,
            salt: vec![],
        }
    }

    fn reversal(trace: &str, reason: &str) -> ReversalRow {
        ReversalRow { batch_no: 1, trace: trace.into(), reason: reason.into(), request: vec![1, 2], attempts: 0 }
    }

    fn advice() -> AdviceRow {
        AdviceRow {
            batch_no: 1,
            trace: "000009".into(),
            kind: "refund".into(),
            request: vec![3],
            entry: vec![4],
            attempts: 1,
        }
    }

    fn record(batch_no: u32, trace: u32) -> JournalEntry {
        let mut entry = entry("6224242900000113");
        entry.batch_no = batch_no;
        entry.trace = domain::Stan::new(trace).unwrap();
        entry
    }

    /// Everything the journal holds, read back in one transaction.
    fn snapshot(store: &Store) -> String {
        store
            .transact(|tx| {
                let state = tx.load_state()?.map(|s| (s.batch_no, s.trace, s.scheme, s.keys, s.sign_on_needed));
                let reversal = tx.reversal()?.map(|r| (r.trace, r.reason, r.request, r.attempts));
                let advice = tx.advice()?.map(|a| (a.trace, a.kind, a.entry, a.attempts));
                let mut batches = Vec::new();
                for batch in [1, 2] {
                    batches.push((tx.entries(batch)?, tx.entry_count(batch)?));
                }
                let operators = (tx.operators()?, tx.operator("01")?, tx.operator_count()?, tx.supervisor()?);
                let slip = match tx.last_slip()? {
                    Some(LastSlip::Kept(kept)) => Some(kept),
                    Some(LastSlip::Rendered(zh, _)) => Some(zh),
                    None => None,
                };
                Ok(format!(
                    "{state:?} {reversal:?} {advice:?} {batches:?} {operators:?} {:?} {slip:?}",
                    tx.parameter("01")?
                ))
            })
            .unwrap()
    }

    /// One sequence of transactions, with what each left: (failed?, the journal after it).
    fn exercise(store: &Store) -> Vec<(bool, String)> {
        let steps: [fn(&mut dyn Journal) -> Result<()>; 7] = [
            |tx| {
                tx.save_state(&state(1, 5))?;
                tx.insert_reversal(&reversal("000005", "98"))?;
                tx.put_operator("00", Role::Supervisor, vec![0; 8])?;
                tx.put_operator("01", Role::Cashier, vec![1; 8])?;
                tx.put_parameter("01", "SHOP")
            },
            |tx| {
                for trace in [3, 1, 2] {
                    tx.insert_entry(&record(1, trace), vec![trace as u8])?;
                }
                tx.set_status(1, "000001", "voided")?;
                tx.put_last_slip("{\"slip\":1}")?;
                tx.clear_reversal()
            },
            // Fails after writing to every table: nothing of it stays.
            |tx| {
                tx.save_state(&state(2, 6))?;
                tx.insert_entry(&record(1, 4), vec![4])?;
                tx.insert_entry(&record(2, 1), vec![5])?;
                tx.set_status(1, "000002", "voided")?;
                tx.put_reversal(&reversal("000006", "06"))?;
                tx.put_advice(&advice())?;
                tx.put_operator("01", Role::Supervisor, vec![9; 8])?;
                tx.put_parameter("01", "OTHER")?;
                tx.put_parameter("02", "NEW")?;
                tx.put_last_slip("{\"slip\":2}")?;
                Err(TerminalError::State("failed after its writes".into()))
            },
            // A trace the batch has already: refused, and the insert before it undone.
            |tx| {
                tx.insert_entry(&record(2, 7), vec![7])?;
                tx.insert_entry(&record(1, 2), vec![8])
            },
            |tx| tx.insert_advice(&advice()),
            |tx| tx.insert_advice(&advice()),
            |tx| {
                tx.insert_reversal(&reversal("000010", "98"))?;
                tx.put_reversal(&reversal("000010", "A0"))?;
                tx.clear_advice()?;
                tx.insert_entry(&record(2, 1), vec![6])
            },
        ];
        steps.iter().map(|step| (store.transact(|tx| step(tx)).is_err(), snapshot(store))).collect()
    }

    #[test]
    fn the_memory_journal_keeps_what_the_sqlite_one_keeps_and_a_failed_transaction_leaves_nothing() {
        let memory = exercise(&Store::memory().unwrap());
        let sqlite = exercise(&Store::with_database(Database::open("sqlite::memory:").unwrap()).unwrap());
        let failed: Vec<bool> = memory.iter().map(|(failed, _)| *failed).collect();
        assert_eq!(failed, [false, false, true, true, false, true, false]);
        assert_eq!(memory[2].1, memory[1].1, "the failed transaction left nothing");
        assert_eq!(memory[3].1, memory[1].1, "the refused insert left nothing");
        assert!(
            memory[1].1.contains("[(\"voided\", [1]), (\"approved\", [2]), (\"approved\", [3])]"),
            "{}",
            memory[1].1
        );
        for (step, (memory, sqlite)) in memory.iter().zip(&sqlite).enumerate() {
            assert_eq!(memory, sqlite, "step {step}");
        }
    }
}
