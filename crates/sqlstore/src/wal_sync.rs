//! Durability off the deciding thread: [`Database::batch_then`].
//!
//! A party's core used to wait inside every batch's commit for the disk (`synchronous=FULL`:
//! the WAL's fsync before `COMMIT` returns), and decided nothing meanwhile: at 4,000
//! authorizations/s each of the five commits on an authorization's path cost its party a
//! wait of 0.3–0.8 ms, and the requests behind it waited too. Here a batch commits with
//! `synchronous=NORMAL` — its frames are written to the WAL, not yet synced — and its outputs
//! wait for a thread of their own that syncs the WAL (`fdatasync`) and only then hands them
//! back, in commit order, while the core goes on deciding the next batch. One sync covers every
//! batch committed before it began (the WAL is one file, appended in commit order), so a busy
//! party pays one sync for several batches.
//!
//! A committer with nothing else to do meanwhile (an idle party's core: a batch of one event,
//! none waiting) may sync on its own thread instead ([`WalSync::sync_here`], through
//! `HeldBatch::commit_then_here`) when no sync runs or waits: a lone batch then costs no hand-off
//! to the sync thread and back — two wake-ups across threads, on a busy two-core machine each a
//! wait for a CPU — and comes back no later, nothing else being in line for the disk. Behind a
//! sync that runs or waits it takes its turn on the sync thread, so outputs still come back in
//! commit order.
//!
//! What stays true: nothing a batch decided is acted on before it is on disk — the same
//! guarantee as `FULL`. A process crash (kill -9) loses nothing committed either way (the
//! frames are in the kernel's page cache); a power cut loses at most batches whose outputs
//! were never acted on, and — the WAL being replayed as a prefix — never an earlier batch
//! while keeping a later one. What changes: another connection can read a batch's rows up to
//! one sync (about a millisecond) before they are durable; every other transaction on the
//! connection still commits with `FULL`, which syncs the WAL — and so every batch before it.
//!
//! A failed sync leaves the WAL's state on disk unknown (Linux may mark unwritten pages clean):
//! the waiting outputs are dropped unanswered, and the database refuses every later commit
//! (fail-stop, as after a failed commit); only a restart, which reads the database back, makes
//! memory and disk agree again.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use crate::error::{Error, Result};

/// Committed batches whose outputs wait for a sync, at most: a committer waits for room beyond
/// it (the disk, not memory, sets the pace).
pub const WAL_SYNC_WAITING_MAX: usize = 256;

/// What runs once a batch is durable.
type Then = Box<dyn FnOnce() + Send>;

/// The WAL's sync thread of one SQLite file (started at its first batch).
pub(crate) struct WalSync {
    shared: Arc<SyncShared>,
}

struct SyncShared {
    /// The database file's WAL (`PATH-wal`).
    wal_path: PathBuf,
    /// Opened by the first committer, while its connection holds the WAL open: the file is the
    /// connection's for as long as the connection lives (SQLite removes a WAL only when the
    /// last connection closes, or the journal mode changes, which nothing here does).
    wal: OnceLock<File>,
    state: Mutex<SyncState>,
    /// Rung when work is queued or the database closes.
    work: Condvar,
    /// Rung when the queue shrinks.
    room: Condvar,
    /// Set for good by a failed sync.
    failed: AtomicBool,
}

#[derive(Default)]
struct SyncState {
    waiting: VecDeque<Then>,
    /// A sync runs (on the sync thread, or on a committer's own thread: [`WalSync::sync_here`]).
    syncing: bool,
    started: bool,
    closed: bool,
    error: Option<String>,
}

impl WalSync {
    pub(crate) fn new(database_path: &std::path::Path) -> WalSync {
        let mut wal_path = database_path.as_os_str().to_owned();
        wal_path.push("-wal");
        WalSync {
            shared: Arc::new(SyncShared {
                wal_path: PathBuf::from(wal_path),
                wal: OnceLock::new(),
                state: Mutex::new(SyncState::default()),
                work: Condvar::new(),
                room: Condvar::new(),
                failed: AtomicBool::new(false),
            }),
        }
    }

    /// `Err` once a sync has failed: nothing may be committed after it.
    pub(crate) fn check(&self) -> Result<()> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let error = self.shared.lock().error.clone().unwrap_or_default();
        Err(Error::new("commit", format!("refused: an earlier sync of the log failed ({error}); restart the party")))
    }

    /// [`WalSync::after_sync`], but when no sync runs and none waits, sync on this thread and
    /// run `then` here before returning: a lone batch then costs no hand-off to the sync
    /// thread and back (two wake-ups across threads), and waits no longer — nothing else was
    /// in line for the disk.
    pub(crate) fn sync_here(&self, then: Then) -> Result<()> {
        self.check()?;
        self.open_log()?;
        let state = self.shared.lock();
        if state.syncing || !state.waiting.is_empty() || state.error.is_some() {
            return self.queue(state, then);
        }
        let _syncing = Syncing::begin(&self.shared, state);
        if let Err(error) = self.shared.sync_log() {
            // Dropped, never run: its outputs go unanswered, as after a crash.
            drop((then, self.shared.fail(&error)));
            return self.check();
        }
        // Run while the sync is still marked running, so the sync thread runs nothing committed
        // after it before it: commit order.
        then();
        Ok(())
    }

    fn open_log(&self) -> Result<()> {
        if self.shared.wal.get().is_none() {
            // Write access only so that the file opens as the connection's does; nothing is
            // written through it.
            let wal = std::fs::OpenOptions::new().write(true).open(&self.shared.wal_path).map_err(|error| {
                Error::new("commit", format!("cannot open the log {}: {error}", self.shared.wal_path.display()))
            })?;
            let _ = self.shared.wal.set(wal);
        }
        Ok(())
    }

    /// Run `then` once everything committed so far is on disk, on the sync thread, after every
    /// `then` queued before it. Call right after a commit, on the committing thread.
    pub(crate) fn after_sync(&self, then: Then) -> Result<()> {
        self.check()?;
        self.open_log()?;
        self.queue(self.shared.lock(), then)
    }

    /// Queue `then` for the sync thread (started here if it is not yet), waiting for room.
    fn queue(&self, mut state: MutexGuard<'_, SyncState>, then: Then) -> Result<()> {
        while state.waiting.len() >= WAL_SYNC_WAITING_MAX && state.error.is_none() {
            state = self.shared.room.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if state.error.is_some() {
            drop(state);
            return self.check();
        }
        state.waiting.push_back(then);
        if !state.started {
            state.started = true;
            let shared = Arc::clone(&self.shared);
            if let Err(error) = std::thread::Builder::new().name("wal-sync".into()).spawn(move || shared.run()) {
                // Nothing would ever sync what waits: refuse from now on, as after a failed sync.
                state.error = Some(format!("cannot start the log's sync thread: {error}"));
                self.shared.failed.store(true, Ordering::Release);
                let waiting = std::mem::take(&mut state.waiting);
                drop((state, waiting));
                return self.check();
            }
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl Drop for WalSync {
    /// The thread syncs what is still waiting, runs it, and ends.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

impl SyncShared {
    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(&self) {
        loop {
            let mut state = self.lock();
            while (state.waiting.is_empty() || state.syncing) && !state.closed {
                state = self.work.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.waiting.is_empty() {
                return;
            }
            // Everything queued now was committed before this sync starts: one sync for all.
            let due: Vec<Then> = state.waiting.drain(..).collect();
            let syncing = Syncing::begin(self, state);
            self.room.notify_all();
            match self.sync_log() {
                Ok(()) => {
                    due.into_iter().for_each(|then| then());
                    drop(syncing);
                }
                Err(error) => {
                    // Dropped, never run: their outputs go unanswered, as after a crash.
                    drop((due, self.fail(&error)));
                    return;
                }
            }
        }
    }

    /// `fdatasync` the log.
    fn sync_log(&self) -> std::result::Result<(), String> {
        match self.wal.get() {
            Some(wal) => wal.sync_data().map_err(|error| error.to_string()),
            None => Err("the log was never opened".to_owned()),
        }
    }

    /// A sync failed: refuse from now on (first, so whoever sees an output dropped finds the
    /// database refusing) and hand back what waits, to be dropped unrun.
    fn fail(&self, error: &str) -> VecDeque<Then> {
        let mut state = self.lock();
        state.error = Some(format!("sync of {}: {error}", self.wal_path.display()));
        self.failed.store(true, Ordering::Release);
        let later = std::mem::take(&mut state.waiting);
        drop(state);
        self.room.notify_all();
        later
    }
}

/// A sync running, from its start (marked under the state's lock) until its outputs have run:
/// a committer meanwhile queues behind it. Dropped — also if an output panics — it marks the
/// sync done and wakes the sync thread for what queued meanwhile.
struct Syncing<'a>(&'a SyncShared);

impl<'a> Syncing<'a> {
    fn begin(shared: &'a SyncShared, mut state: MutexGuard<'_, SyncState>) -> Syncing<'a> {
        state.syncing = true;
        Syncing(shared)
    }
}

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.0.lock().syncing = false;
        self.0.work.notify_one();
    }
}

#[cfg(test)]
impl WalSync {
    /// Make every sync fail, as a disk that refuses it: the log's descriptor becomes
    /// `/dev/null`'s, whose `fdatasync` fails (EINVAL). Before the first batch only.
    pub(crate) fn break_the_log(&self) {
        let null = File::open("/dev/null").expect("/dev/null opens");
        assert!(self.shared.wal.set(null).is_ok(), "before the log is first opened");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use crate::{Database, Value};

    /// A fresh file database with a table `t`, in a folder of its own (removed by the caller).
    fn file_db(name: &str) -> (Database, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sqlstore-wal-sync-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Database::open_sqlite(&dir.join("t.db")).unwrap();
        db.migrate("t", &["CREATE TABLE t (id BIGINT PRIMARY KEY)"]).unwrap();
        (db, dir)
    }

    fn insert(db: &Database, id: i64) -> crate::Result<()> {
        db.transaction(|tx| tx.execute("INSERT INTO t (id) VALUES ($1)", &[Value::Int(id)]).map(|_| ()))
    }

    fn count(db: &Database) -> crate::Result<i64> {
        db.transaction(|tx| tx.query("SELECT COUNT(*) FROM t", &[])?[0].i64(0))
    }

    /// The connection's `synchronous` level: 2 is FULL, 1 NORMAL.
    fn synchronous(db: &Database) -> i64 {
        db.transaction(|tx| tx.query("PRAGMA synchronous", &[])?[0].i64(0)).unwrap()
    }

    #[test]
    fn outputs_come_back_after_the_sync_in_commit_order_on_the_sync_thread() {
        let (db, dir) = file_db("order");
        let (done, outputs) = mpsc::channel();
        let me = std::thread::current().id();
        for batch in 0..40_i64 {
            let done = done.clone();
            db.batch_then(
                || {
                    assert_eq!(synchronous(&db), 1, "the batch commits without syncing");
                    (0..5).map(|k| insert(&db, batch * 5 + k).map(|()| batch)).collect::<Vec<_>>()
                },
                move |results| {
                    let batch = results.into_iter().map(Result::unwrap).max().unwrap();
                    done.send((batch, std::thread::current().id())).unwrap();
                },
            )
            .unwrap();
            assert_eq!(synchronous(&db), 2, "the connection syncs at commit again after the batch");
        }
        let seen: Vec<_> = (0..40).map(|_| outputs.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert_eq!(seen.iter().map(|(batch, _)| *batch).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>());
        assert!(seen.iter().all(|(_, thread)| *thread != me), "run by the sync thread");
        assert_eq!(count(&db).unwrap(), 200);
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_sync_answers_nothing_and_refuses_every_later_commit() {
        let (db, dir) = file_db("broken");
        db.inner.wal_sync.as_ref().unwrap().break_the_log();
        let (done, outputs) = mpsc::channel::<()>();
        db.batch_then(|| insert(&db, 1).unwrap(), move |()| done.send(()).unwrap()).unwrap();
        // The sender is dropped with the output, never used: nothing of the batch is acted on.
        assert_eq!(outputs.recv_timeout(Duration::from_secs(10)), Err(mpsc::RecvTimeoutError::Disconnected));
        let refused = db.batch_then(|| insert(&db, 2), |_| panic!("never durable")).unwrap_err();
        assert!(refused.message.contains("sync of the log failed"), "{refused}");
        assert!(db.batch(|| insert(&db, 3)).is_err());
        assert!(insert(&db, 4).is_err());
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lone_batch_committed_here_is_synced_and_acted_on_before_the_call_returns() {
        let (db, dir) = file_db("here");
        let (done, outputs) = mpsc::channel();
        let me = std::thread::current().id();
        for id in 0..3 {
            let held = db.hold_batch().unwrap();
            insert(&db, id).unwrap();
            let done = done.clone();
            held.commit_then_here(move || done.send(std::thread::current().id()).unwrap()).unwrap();
            assert_eq!(outputs.try_recv(), Ok(me), "run here, before the call returned");
        }
        assert_eq!(count(&db).unwrap(), 3);
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn behind_a_sync_in_progress_a_batch_committed_here_waits_its_turn_on_the_sync_thread() {
        let (db, dir) = file_db("turn");
        let (release, released) = mpsc::channel::<()>();
        let (done, outputs) = mpsc::channel();
        let first = db.hold_batch().unwrap();
        insert(&db, 1).unwrap();
        let first_done = done.clone();
        // The first batch's output holds the sync thread until released.
        first
            .commit_then(move || {
                released.recv_timeout(Duration::from_secs(10)).unwrap();
                first_done.send((1, std::thread::current().id())).unwrap();
            })
            .unwrap();
        // Until the sync thread has taken the first batch, the second may find it still queued;
        // either way it must not overtake it.
        let second = db.hold_batch().unwrap();
        insert(&db, 2).unwrap();
        second.commit_then_here(move || done.send((2, std::thread::current().id())).unwrap()).unwrap();
        assert!(outputs.try_recv().is_err(), "nothing acted on while the first batch's output is held");
        release.send(()).unwrap();
        let seen: Vec<_> = (0..2).map(|_| outputs.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert_eq!(seen.iter().map(|(batch, _)| *batch).collect::<Vec<_>>(), [1, 2], "in commit order");
        let me = std::thread::current().id();
        assert!(seen.iter().all(|(_, thread)| *thread != me), "both on the sync thread");
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_sync_here_acts_on_nothing_and_refuses_every_later_commit() {
        let (db, dir) = file_db("broken-here");
        db.inner.wal_sync.as_ref().unwrap().break_the_log();
        let held = db.hold_batch().unwrap();
        insert(&db, 1).unwrap();
        let failed = held.commit_then_here(|| panic!("never durable")).unwrap_err();
        assert!(failed.message.contains("sync of the log failed"), "{failed}");
        assert!(db.hold_batch().is_err());
        assert!(insert(&db, 2).is_err());
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_a_log_to_sync_the_output_comes_back_before_the_call_returns() {
        let db = Database::open("sqlite::memory:").unwrap();
        db.migrate("t", &["CREATE TABLE t (id BIGINT PRIMARY KEY)"]).unwrap();
        let (done, outputs) = mpsc::channel();
        db.batch_then(|| insert(&db, 1).is_ok(), move |inserted| done.send(inserted).unwrap()).unwrap();
        assert_eq!(outputs.try_recv(), Ok(true));
    }

    #[test]
    fn a_batch_synced_later_cannot_hide_inside_another_batch() {
        let (db, dir) = file_db("nested");
        let inner = db.batch(|| db.batch_then(|| insert(&db, 1), |_| panic!("never run"))).unwrap();
        assert!(inner.unwrap_err().message.contains("inside another batch"));
        assert_eq!(count(&db).unwrap(), 0);
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
