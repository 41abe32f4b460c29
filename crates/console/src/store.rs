//! The console's own database (SQLite by default, PostgreSQL by URL, through `sqlstore`):
//! users, sessions, login failures and the audit trail. The audit table is append-only: this
//! module inserts into it and has no statement that updates or deletes it.

use sqlstore::{Database, Row, Value};

use crate::error::ConsoleError;
use crate::limits::{AUDIT_PAGE_ROWS_MAX, SESSIONS_PER_USER_MAX, USERS_LIST_ROWS_MAX};

const MIGRATION: &str = "console-v1";
/// The id counter of the audit trail (`sqlstore::sequence`: one row update per line, safe with
/// several console processes on one PostgreSQL database).
const SEQUENCES: &str = "console_sequences";
const AUDIT_SEQUENCE: &str = "audit";
const SCHEMA: [&str; 7] = [
    "CREATE TABLE console_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE console_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        merchant_id TEXT,
        password_hash TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    )",
    // The token itself never: its digest (a stolen database opens no session).
    "CREATE TABLE console_sessions (
        token_digest TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        seen_ms BIGINT NOT NULL
    )",
    "CREATE INDEX console_sessions_user ON console_sessions (user_name, created_ms)",
    // Failed logins of existing users only, so unknown names cannot grow the table.
    "CREATE TABLE console_login_failures (
        user_name TEXT PRIMARY KEY,
        failures BIGINT NOT NULL,
        locked_until_ms BIGINT NOT NULL
    )",
    "CREATE TABLE console_audit (
        id BIGINT PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL
    )",
    "CREATE INDEX console_audit_at ON console_audit (at_ms, id)",
];

/// Who may see what: operators see the network, merchants only their own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Operator,
    Merchant(String),
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Merchant(_) => "merchant",
        }
    }

    pub fn merchant_id(&self) -> Option<&str> {
        match self {
            Role::Operator => None,
            Role::Merchant(id) => Some(id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub created_ms: u64,
}

/// A live session as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
}

/// One line of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: u64,
    pub at_ms: u64,
    pub who: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

fn int(v: u64) -> Result<Value, ConsoleError> {
    Value::from_u64(v).map_err(|e| ConsoleError::store("a number for the console database", e))
}

fn user_of(row: &Row) -> sqlstore::Result<User> {
    let role = match (row.text(1)?.as_str(), row.opt_text(2)?) {
        ("merchant", Some(id)) => Role::Merchant(id),
        ("operator", _) => Role::Operator,
        _ => return Err(sqlstore::Error::column(1, "operator, or merchant with a merchant id")),
    };
    Ok(User { name: row.text(0)?, role, created_ms: row.u64(3)? })
}

/// The console's database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Open (and create the tables of) the database at `url`.
    pub fn open(url: &str) -> Result<Store, ConsoleError> {
        let what = || format!("console database {url}");
        let db = Database::open(url).map_err(|e| ConsoleError::store(&what(), e))?;
        db.migrate(MIGRATION, &SCHEMA).map_err(|e| ConsoleError::store(&what(), e))?;
        db.transaction(|tx| sqlstore::sequence::ensure(tx, SEQUENCES, &[AUDIT_SEQUENCE]))
            .map_err(|e| ConsoleError::store(&what(), e))?;
        Ok(Store { db })
    }

    fn run<T>(
        &self,
        what: &str,
        work: impl FnMut(&mut sqlstore::Tx<'_>) -> sqlstore::Result<T>,
    ) -> Result<T, ConsoleError> {
        self.db.transaction(work).map_err(|e| ConsoleError::store(what, e))
    }

    /// Add a user; refused (bad input) if the name is taken.
    pub fn add_user(&self, name: &str, role: &Role, password_hash: &str, now_ms: u64) -> Result<User, ConsoleError> {
        let now = int(now_ms)?;
        let taken = self.run("console users", |tx| {
            if tx.query_opt("SELECT name FROM console_users WHERE name = $1", &[name.into()])?.is_some() {
                return Ok(true);
            }
            tx.execute(
                "INSERT INTO console_users (name, role, merchant_id, password_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
                &[name.into(), role.name().into(), role.merchant_id().into(), password_hash.into(), now.clone()],
            )?;
            Ok(false)
        })?;
        if taken {
            return Err(ConsoleError::BadInput(format!("user {name:?} exists already")));
        }
        Ok(User { name: name.to_owned(), role: role.clone(), created_ms: now_ms })
    }

    /// Remove a user with its sessions and failure count; whether it existed.
    pub fn remove_user(&self, name: &str) -> Result<bool, ConsoleError> {
        self.run("console users", |tx| {
            tx.execute("DELETE FROM console_sessions WHERE user_name = $1", &[name.into()])?;
            tx.execute("DELETE FROM console_login_failures WHERE user_name = $1", &[name.into()])?;
            Ok(tx.execute("DELETE FROM console_users WHERE name = $1", &[name.into()])? > 0)
        })
    }

    /// A user and its password hash.
    pub fn user(&self, name: &str) -> Result<Option<(User, String)>, ConsoleError> {
        self.run("console users", |tx| {
            let row = tx.query_opt(
                "SELECT name, role, merchant_id, created_ms, password_hash FROM console_users WHERE name = $1",
                &[name.into()],
            )?;
            row.map(|row| Ok((user_of(&row)?, row.text(4)?))).transpose()
        })
    }

    pub fn users(&self) -> Result<Vec<User>, ConsoleError> {
        let limit = int(USERS_LIST_ROWS_MAX as u64)?;
        self.run("console users", |tx| {
            let rows = tx.query(
                "SELECT name, role, merchant_id, created_ms FROM console_users ORDER BY name LIMIT $1",
                std::slice::from_ref(&limit),
            )?;
            rows.iter().map(user_of).collect()
        })
    }

    /// Until when `name` is locked out (0: not locked).
    pub fn locked_until_ms(&self, name: &str) -> Result<u64, ConsoleError> {
        self.run("console login failures", |tx| {
            let row = tx
                .query_opt("SELECT locked_until_ms FROM console_login_failures WHERE user_name = $1", &[name.into()])?;
            row.map_or(Ok(0), |row| row.u64(0))
        })
    }

    /// Count a failed login of an existing user; at `failures_max` the name is locked until
    /// `now_ms + lock_ms` and the count starts again. Returns whether it is now locked.
    pub fn record_failure(
        &self,
        name: &str,
        now_ms: u64,
        failures_max: u64,
        lock_ms: u64,
    ) -> Result<bool, ConsoleError> {
        let locked_until = int(now_ms.saturating_add(lock_ms))?;
        self.run("console login failures", |tx| {
            let row =
                tx.query_opt("SELECT failures FROM console_login_failures WHERE user_name = $1", &[name.into()])?;
            let failures = row.map_or(Ok(0), |row| row.u64(0))? + 1;
            let (count, until) =
                if failures >= failures_max { (0, locked_until.clone()) } else { (failures, 0.into()) };
            tx.execute("DELETE FROM console_login_failures WHERE user_name = $1", &[name.into()])?;
            tx.execute(
                "INSERT INTO console_login_failures (user_name, failures, locked_until_ms) VALUES ($1, $2, $3)",
                &[name.into(), Value::from_u64(count)?, until],
            )?;
            Ok(failures >= failures_max)
        })
    }

    pub fn clear_failures(&self, name: &str) -> Result<(), ConsoleError> {
        self.run("console login failures", |tx| {
            tx.execute("DELETE FROM console_login_failures WHERE user_name = $1", &[name.into()]).map(|_| ())
        })
    }

    /// Store a new session (by its token's digest); the user's oldest sessions beyond
    /// [`SESSIONS_PER_USER_MAX`] end.
    pub fn create_session(&self, digest: &str, user: &str, csrf: &str, now_ms: u64) -> Result<(), ConsoleError> {
        let now = int(now_ms)?;
        let keep = int(SESSIONS_PER_USER_MAX as u64 - 1)?;
        self.run("console sessions", |tx| {
            let rows = tx.query(
                "SELECT token_digest FROM console_sessions WHERE user_name = $1 ORDER BY created_ms DESC LIMIT 1000 OFFSET $2",
                &[user.into(), keep.clone()],
            )?;
            for row in &rows {
                tx.execute("DELETE FROM console_sessions WHERE token_digest = $1", &[row.text(0)?.into()])?;
            }
            tx.execute(
                "INSERT INTO console_sessions (token_digest, user_name, csrf, created_ms, seen_ms) VALUES ($1, $2, $3, $4, $4)",
                &[digest.into(), user.into(), csrf.into(), now.clone()],
            )?;
            Ok(())
        })
    }

    /// The session of `digest` if it is still alive at `now_ms` (seen within `idle_ms`, created
    /// within `age_ms`); touching it moves its idle deadline. An expired one is deleted.
    pub fn session(
        &self,
        digest: &str,
        now_ms: u64,
        idle_ms: u64,
        age_ms: u64,
    ) -> Result<Option<Session>, ConsoleError> {
        let now = int(now_ms)?;
        self.run("console sessions", |tx| {
            let row = tx.query_opt(
                "SELECT u.name, u.role, u.merchant_id, u.created_ms, s.csrf, s.created_ms, s.seen_ms \
                 FROM console_sessions s JOIN console_users u ON u.name = s.user_name WHERE s.token_digest = $1",
                &[digest.into()],
            )?;
            let Some(row) = row else { return Ok(None) };
            let (created, seen) = (row.u64(5)?, row.u64(6)?);
            if now_ms.saturating_sub(seen) > idle_ms || now_ms.saturating_sub(created) > age_ms {
                tx.execute("DELETE FROM console_sessions WHERE token_digest = $1", &[digest.into()])?;
                return Ok(None);
            }
            tx.execute(
                "UPDATE console_sessions SET seen_ms = $2 WHERE token_digest = $1",
                &[digest.into(), now.clone()],
            )?;
            Ok(Some(Session { user: user_of(&row)?, csrf: row.text(4)? }))
        })
    }

    pub fn end_session(&self, digest: &str) -> Result<(), ConsoleError> {
        self.run("console sessions", |tx| {
            tx.execute("DELETE FROM console_sessions WHERE token_digest = $1", &[digest.into()]).map(|_| ())
        })
    }

    /// Append one line to the audit trail.
    pub fn audit(&self, at_ms: u64, who: &str, action: &str, target: &str, outcome: &str) -> Result<(), ConsoleError> {
        let at = int(at_ms)?;
        self.run("console audit", |tx| {
            let next = Value::from_u64(sqlstore::sequence::next(tx, SEQUENCES, AUDIT_SEQUENCE)?)?;
            tx.execute(
                "INSERT INTO console_audit (id, at_ms, who, action, target, outcome) VALUES ($1, $2, $3, $4, $5, $6)",
                &[next, at.clone(), who.into(), action.into(), target.into(), outcome.into()],
            )?;
            Ok(())
        })
    }

    /// The newest audit lines, at most [`AUDIT_PAGE_ROWS_MAX`].
    pub fn audit_trail(&self) -> Result<Vec<AuditEntry>, ConsoleError> {
        let limit = int(AUDIT_PAGE_ROWS_MAX as u64)?;
        self.run("console audit", |tx| {
            let rows = tx.query(
                "SELECT id, at_ms, who, action, target, outcome FROM console_audit ORDER BY id DESC LIMIT $1",
                std::slice::from_ref(&limit),
            )?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEntry {
                        id: row.u64(0)?,
                        at_ms: row.u64(1)?,
                        who: row.text(2)?,
                        action: row.text(3)?,
                        target: row.text(4)?,
                        outcome: row.text(5)?,
                    })
                })
                .collect()
        })
    }
}
