//! The backends the suite runs on. Each test gets its own database: a fresh in-memory store, a
//! SQLite file in its own temporary directory, or a PostgreSQL schema of its own (named from the
//! process id and a counter), removed when the test ends.

use ledger::Store;
use ledger::memory::MemoryStore;

/// A database the suite can open a ledger store on (and open again, to test what survives).
pub trait Backend: Sized {
    type S: Store;
    const NAME: &'static str;
    /// Why [`Backend::create`] may return `None`.
    const SKIP_REASON: &'static str = "";
    /// A fresh, empty database; `None` when the backend is not configured here.
    fn create() -> Option<Self>;
    /// The store on this database (the first call: empty).
    fn open(&self) -> Self::S;
    /// The same database opened again, as a restarted process would see it.
    fn reopen(&self, current: &mut Self::S) -> Self::S;
}

pub struct Memory;

impl Backend for Memory {
    type S = MemoryStore;
    const NAME: &'static str = "memory";

    fn create() -> Option<Memory> {
        Some(Memory)
    }

    fn open(&self) -> MemoryStore {
        MemoryStore::new()
    }

    fn reopen(&self, current: &mut MemoryStore) -> MemoryStore {
        // Nothing is durable in memory: a copy of what was committed stands in for a restart.
        current.clone()
    }
}

pub use self::sql::{InDatabasePostgres, InDatabaseSqlite, Postgres, Sqlite};

mod sql {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use ledger::postgres::{PostgresStore, drop_schema};
    use ledger::sql_ledger::SqlStore;
    use ledger::sqlite::SqliteStore;

    use super::Backend;

    static NEXT: AtomicU64 = AtomicU64::new(0);

    fn unique(prefix: &str) -> String {
        format!("{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// A SQLite database in a temporary directory of its own, removed on drop.
    pub struct Sqlite {
        dir: PathBuf,
    }

    impl Sqlite {
        fn path(&self) -> PathBuf {
            self.dir.join("ledger.db")
        }
    }

    impl Backend for Sqlite {
        type S = SqliteStore;
        const NAME: &'static str = "sqlite";

        fn create() -> Option<Sqlite> {
            let dir = std::env::temp_dir().join(unique("cardnet-ledger-behaviour"));
            std::fs::create_dir_all(&dir).expect("create a temporary directory");
            Some(Sqlite { dir })
        }

        fn open(&self) -> SqliteStore {
            SqliteStore::open(&self.path()).expect("open the SQLite store")
        }

        fn reopen(&self, _current: &mut SqliteStore) -> SqliteStore {
            self.open()
        }
    }

    impl Drop for Sqlite {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A PostgreSQL schema of its own on the server `CARDNET_TEST_PG` names, dropped on drop.
    pub struct Postgres {
        url: String,
        schema: String,
    }

    impl Backend for Postgres {
        type S = PostgresStore;
        const NAME: &'static str = "postgres";
        const SKIP_REASON: &'static str = "CARDNET_TEST_PG is not set";

        fn create() -> Option<Postgres> {
            let url = std::env::var("CARDNET_TEST_PG").ok().filter(|url| !url.is_empty())?;
            Some(Postgres { url, schema: unique("cardnet_behaviour") })
        }

        fn open(&self) -> PostgresStore {
            PostgresStore::connect(&self.url, &self.schema).expect("connect the PostgreSQL store")
        }

        fn reopen(&self, _current: &mut PostgresStore) -> PostgresStore {
            self.open()
        }
    }

    impl Drop for Postgres {
        fn drop(&mut self) {
            let _ = drop_schema(&self.url, &self.schema);
        }
    }

    /// The ledger's tables inside a party's `sqlstore` database (SQLite file): what the issuer
    /// keeps its money in, beside its journal.
    pub struct InDatabaseSqlite {
        dir: PathBuf,
    }

    impl Backend for InDatabaseSqlite {
        type S = SqlStore;
        const NAME: &'static str = "in-database sqlite";

        fn create() -> Option<InDatabaseSqlite> {
            let dir = std::env::temp_dir().join(unique("cardnet-ledger-in-database"));
            std::fs::create_dir_all(&dir).expect("create a temporary directory");
            Some(InDatabaseSqlite { dir })
        }

        fn open(&self) -> SqlStore {
            let db = sqlstore::Database::open_sqlite(&self.dir.join("party.db")).expect("open the party database");
            SqlStore::open(db).expect("the ledger's tables")
        }

        fn reopen(&self, _current: &mut SqlStore) -> SqlStore {
            self.open()
        }
    }

    impl Drop for InDatabaseSqlite {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The ledger's tables in a party's `sqlstore` database on PostgreSQL (a schema of its own).
    pub struct InDatabasePostgres {
        url: String,
        schema: String,
    }

    impl Backend for InDatabasePostgres {
        type S = SqlStore;
        const NAME: &'static str = "in-database postgres";
        const SKIP_REASON: &'static str = "CARDNET_TEST_PG is not set";

        fn create() -> Option<InDatabasePostgres> {
            let url = std::env::var("CARDNET_TEST_PG").ok().filter(|url| !url.is_empty())?;
            Some(InDatabasePostgres { url, schema: unique("cardnet_in_database") })
        }

        fn open(&self) -> SqlStore {
            let db = sqlstore::Database::connect_postgres(&self.url, &self.schema).expect("connect the party database");
            SqlStore::open(db).expect("the ledger's tables")
        }

        fn reopen(&self, _current: &mut SqlStore) -> SqlStore {
            self.open()
        }
    }

    impl Drop for InDatabasePostgres {
        fn drop(&mut self) {
            let _ = sqlstore::drop_postgres_schema(&self.url, &self.schema);
        }
    }
}
