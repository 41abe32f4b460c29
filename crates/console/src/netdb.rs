//! A party's database as the console opens it: on first use, read-only, never created; for
//! one action on a risk case, a writing connection of its own.

use std::path::Path;
use std::sync::Mutex;

use sqlstore::{Database, Value};

use crate::error::ConsoleError;

/// A party's database, opened on first use (the party may start after the console).
pub struct Lazy {
    pub what: String,
    pub url: String,
    pub db: Mutex<Option<Database>>,
}

impl Lazy {
    /// `what` names the party in errors ("the acquirer 10000000788 database …").
    pub fn new(what: impl Into<String>, url: String) -> Lazy {
        Lazy { what: what.into(), url, db: Mutex::new(None) }
    }

    pub fn get(&self) -> Result<Database, ConsoleError> {
        let mut slot = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        self.exists()?;
        // Read-only, transactions begun deferred: the console takes no write lock, so the
        // party's commits never wait for it.
        let db = Database::open_reader(&self.url)
            .map_err(|e| ConsoleError::store(&format!("the {} database", self.what), e))?;
        *slot = Some(db.clone());
        Ok(db)
    }

    /// A writing connection of its own for one action (a risk case's assignment or close),
    /// dropped when the action ends, so the console holds no writer between actions.
    pub fn open_for_action(&self) -> Result<Database, ConsoleError> {
        self.exists()?;
        Database::open(&self.url).map_err(|e| ConsoleError::store(&format!("the {} database", self.what), e))
    }

    /// Opening a SQLite path for writing creates the file: a party that never ran has none, and
    /// the console must not make one for it (nor tell a missing file from an unreadable one).
    fn exists(&self) -> Result<(), ConsoleError> {
        let is_postgres = self.url.starts_with("postgres://") || self.url.starts_with("postgresql://");
        let path = self.url.strip_prefix("sqlite:").unwrap_or(&self.url);
        if !is_postgres && path != ":memory:" && !Path::new(path).exists() {
            return Err(ConsoleError::Failure(format!(
                "the {} database {path} does not exist yet (has the {} run?)",
                self.what, self.what
            )));
        }
        Ok(())
    }

    pub fn read<T>(&self, work: impl FnMut(&mut sqlstore::Tx<'_>) -> sqlstore::Result<T>) -> Result<T, ConsoleError> {
        self.get()?.transaction(work).map_err(|e| ConsoleError::store(&format!("the {} database", self.what), e))
    }
}

pub fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}
