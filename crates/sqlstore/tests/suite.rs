//! The same behaviour on every backend: SQLite file, SQLite in memory, and PostgreSQL when
//! `CARDNET_TEST_PG` names a server.

use sqlstore::{Database, Value};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cardnet-sqlstore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, body BLOB, amount BIGINT)",
    "CREATE INDEX items_amount ON items (amount)",
];

fn exercise(db: &Database) {
    db.migrate("v1", SCHEMA).unwrap();
    // A second run of the same migration does nothing (the table exists already otherwise).
    db.migrate("v1", SCHEMA).unwrap();

    db.transaction(|tx| {
        tx.execute(
            "INSERT INTO items (id, name, body, amount) VALUES ($1, $2, $3, $4)",
            &[1i64.into(), "one".into(), vec![0u8, 1, 2, 255].into(), Value::from_u64(12_345)?],
        )?;
        tx.execute(
            "INSERT INTO items (id, name, body, amount) VALUES ($1, $2, $3, $4)",
            &[2i64.into(), "two".into(), Value::Null, Some(7i64).into()],
        )
    })
    .unwrap();

    let rows = db.transaction(|tx| tx.query("SELECT id, name, body, amount FROM items ORDER BY id", &[])).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].i64(0).unwrap(), 1);
    assert_eq!(rows[0].text(1).unwrap(), "one");
    assert_eq!(rows[0].blob(2).unwrap(), vec![0u8, 1, 2, 255]);
    assert_eq!(rows[0].u64(3).unwrap(), 12_345);
    assert_eq!(rows[1].opt_blob(2).unwrap(), None);
    assert!(rows[1].blob(2).is_err(), "NULL read as bytes is an error");
    assert!(rows[0].text(0).is_err(), "an integer read as text is an error");

    // Aggregates cast back to BIGINT read the same on both backends.
    let total = db
        .transaction(|tx| tx.query_opt("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM items", &[]))
        .unwrap()
        .unwrap();
    assert_eq!(total.i64(0).unwrap(), 12_352);

    // A unique violation is reported as one, and the failed transaction leaves nothing.
    let error = db
        .transaction(|tx| {
            tx.execute("INSERT INTO items (id, name) VALUES ($1, $2)", &[3i64.into(), "three".into()])?;
            tx.execute("INSERT INTO items (id, name) VALUES ($1, $2)", &[4i64.into(), "one".into()])
        })
        .unwrap_err();
    assert!(error.is_unique_violation(), "{error}");
    let count = db.transaction(|tx| tx.query_opt("SELECT COUNT(*) FROM items", &[])).unwrap().unwrap();
    assert_eq!(count.i64(0).unwrap(), 2, "the rolled-back insert of id 3 is gone");

    // An error from the closure rolls back too.
    let result: sqlstore::Result<()> = db.transaction(|tx| {
        tx.execute("UPDATE items SET amount = 0", &[])?;
        Err(sqlstore::Error::new("test", "changed my mind"))
    });
    assert!(result.is_err());
    let kept = db.transaction(|tx| tx.query_opt("SELECT amount FROM items WHERE id = $1", &[1i64.into()])).unwrap();
    assert_eq!(kept.unwrap().i64(0).unwrap(), 12_345);

    // Text with a '$1' inside a literal is not a placeholder.
    let literal = db
        .transaction(|tx| tx.query_opt("SELECT name FROM items WHERE name <> '$1' AND id = $1", &[2i64.into()]))
        .unwrap();
    assert_eq!(literal.unwrap().text(0).unwrap(), "two");

    // Appended rows go in with a batch's commit, those of an undone transaction not at all
    // (multi-row inserts: 37 rows are 32 + 4 + 1).
    static LOG: sqlstore::AppendLog = sqlstore::AppendLog::new("items", &["id", "name", "amount"]);
    db.batch(|| {
        for id in 100..137i64 {
            db.transaction(|tx| tx.append(&LOG, vec![id.into(), format!("appended {id}").into(), id.into()])).unwrap();
        }
        let undone: sqlstore::Result<()> = db.transaction(|tx| {
            tx.append(&LOG, vec![200i64.into(), "undone".into(), Value::Null])?;
            Err(sqlstore::Error::new("test", "changed my mind"))
        });
        assert!(undone.is_err());
    })
    .unwrap();
    let appended = db
        .transaction(|tx| tx.query_opt("SELECT COUNT(*), CAST(SUM(amount) AS BIGINT) FROM items WHERE id >= 100", &[]))
        .unwrap()
        .unwrap();
    assert_eq!((appended.i64(0).unwrap(), appended.i64(1).unwrap()), (37, (100..137).sum::<i64>()));

    // Bad SQL is an error naming the operation, not a panic.
    let bad = db.transaction(|tx| tx.execute("INSERT INTO nowhere VALUES ($1)", &[1i64.into()])).unwrap_err();
    assert!(bad.to_string().starts_with("database "), "{bad}");
}

#[test]
fn sqlite_file_keeps_committed_rows_across_reopen() {
    let dir = temp_dir("file");
    let path = dir.join("party.db");
    {
        let db = Database::open(&format!("sqlite:{}", path.display())).unwrap();
        exercise(&db);
    }
    let db = Database::open_sqlite(&path).unwrap();
    let count = db.transaction(|tx| tx.query_opt("SELECT COUNT(*) FROM items", &[])).unwrap().unwrap();
    assert_eq!(count.i64(0).unwrap(), 2 + 37, "two inserted, 37 appended");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sqlite_memory() {
    exercise(&Database::open("sqlite::memory:").unwrap());
}

#[test]
fn postgres() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; sqlstore's PostgreSQL backend was not tested");
        return;
    };
    let schema = format!("sqlstore_test_{}", std::process::id());
    let _ = sqlstore::drop_postgres_schema(&url, &schema);
    {
        let db = Database::open(&format!("{url}#{schema}")).unwrap();
        assert_eq!(db.kind(), sqlstore::BackendKind::Postgres);
        exercise(&db);
    }
    sqlstore::drop_postgres_schema(&url, &schema).unwrap();
}

fn sequences(db: &Database) {
    db.migrate("seq-v1", &["CREATE TABLE t_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)"]).unwrap();
    for _ in 0..2 {
        db.transaction(|tx| sqlstore::sequence::ensure(tx, "t_sequences", &["a", "b"])).unwrap();
    }
    let next = |name: &str| db.transaction(|tx| sqlstore::sequence::next(tx, "t_sequences", name));
    assert_eq!(next("a").unwrap(), 1);
    assert_eq!(next("a").unwrap(), 2);
    assert_eq!(next("b").unwrap(), 1);
    assert!(next("c").unwrap_err().to_string().contains("no sequence c"));
    // A value taken in a transaction that rolls back is taken again.
    let undone: sqlstore::Result<()> = db.transaction(|tx| {
        assert_eq!(sqlstore::sequence::next(tx, "t_sequences", "a")?, 3);
        Err(sqlstore::Error::new("test", "undo"))
    });
    assert!(undone.is_err());
    assert_eq!(next("a").unwrap(), 3);
}

#[test]
fn a_reserved_block_is_taken_from_memory_and_never_given_to_another_thread() {
    let db = std::sync::Arc::new(Database::open("sqlite::memory:").unwrap());
    db.migrate("seq-v1", &["CREATE TABLE t_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)"]).unwrap();
    db.transaction(|tx| sqlstore::sequence::ensure(tx, "t_sequences", &["a"])).unwrap();
    let next = |db: &Database| db.transaction(|tx| sqlstore::sequence::next(tx, "t_sequences", "a")).unwrap();
    assert_eq!(next(&db), 1);
    db.transaction(|tx| sqlstore::sequence::reserve(tx, "t_sequences", "a", 2, 4)).unwrap();
    // Another thread goes to the row, past the block.
    let other = std::sync::Arc::clone(&db);
    assert_eq!(std::thread::spawn(move || next(&other)).join().unwrap(), 6);
    assert_eq!((next(&db), next(&db)), (2, 3));
    // Enough left: no new block.
    db.transaction(|tx| sqlstore::sequence::reserve(tx, "t_sequences", "a", 2, 4)).unwrap();
    assert_eq!(next(&db), 4);
    // One left, below the mark: a new block (7..=10), the rest of the old one (5) skipped.
    db.transaction(|tx| sqlstore::sequence::reserve(tx, "t_sequences", "a", 2, 4)).unwrap();
    assert_eq!((next(&db), next(&db), next(&db), next(&db)), (7, 8, 9, 10));
    // The block used up: back to the row.
    assert_eq!(next(&db), 11);
}

#[test]
fn a_dropped_databases_reserved_ids_are_never_taken_by_the_next_one_on_the_thread() {
    // A simulation opens world after world on one thread: a database opened after another was
    // dropped (its connection possibly at the same address) starts from its own row.
    for _ in 0..20 {
        let db = Database::open("sqlite::memory:").unwrap();
        db.migrate("seq-v1", &["CREATE TABLE t_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)"]).unwrap();
        db.transaction(|tx| sqlstore::sequence::ensure(tx, "t_sequences", &["a"])).unwrap();
        let next = || db.transaction(|tx| sqlstore::sequence::next(tx, "t_sequences", "a")).unwrap();
        assert_eq!(next(), 1);
        db.transaction(|tx| sqlstore::sequence::reserve(tx, "t_sequences", "a", 2, 4)).unwrap();
        assert_eq!(next(), 2);
    }
}

#[test]
fn sequences_count_from_one_and_refuse_unknown_names() {
    sequences(&Database::open("sqlite::memory:").unwrap());
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; sequences on PostgreSQL were not tested");
        return;
    };
    let schema = format!("sqlstore_seq_{}", std::process::id());
    let _ = sqlstore::drop_postgres_schema(&url, &schema);
    sequences(&Database::open(&format!("{url}#{schema}")).unwrap());
    sqlstore::drop_postgres_schema(&url, &schema).unwrap();
}

#[derive(Debug)]
enum PartyError {
    Store(sqlstore::Error),
    Refused(&'static str),
}

impl From<sqlstore::Error> for PartyError {
    fn from(error: sqlstore::Error) -> PartyError {
        PartyError::Store(error)
    }
}

impl sqlstore::CarriesStoreError for PartyError {
    fn into_store_error(self) -> Result<sqlstore::Error, PartyError> {
        match self {
            PartyError::Store(error) => Ok(error),
            other => Err(other),
        }
    }
}

#[test]
fn transact_carries_the_callers_error_and_rolls_back() {
    let db = Database::open("sqlite::memory:").unwrap();
    db.migrate("tx-v1", &["CREATE TABLE t (v BIGINT NOT NULL)"]).unwrap();
    let count = || db.transaction(|tx| tx.query_opt("SELECT COUNT(*) FROM t", &[])?.unwrap().u64(0)).unwrap();
    let refused = db.transact(|tx| {
        tx.execute("INSERT INTO t (v) VALUES (1)", &[])?;
        Err::<(), _>(PartyError::Refused("no"))
    });
    assert!(matches!(refused, Err(PartyError::Refused("no"))));
    assert_eq!(count(), 0);
    let store = db.transact(|tx| -> Result<u64, PartyError> { Ok(tx.execute("INSERT INTO missing VALUES (1)", &[])?) });
    assert!(matches!(store, Err(PartyError::Store(_))));
    let done = db.transact(|tx| -> Result<u64, PartyError> {
        Ok(tx.execute("INSERT INTO t (v) VALUES ($1)", &[Value::from_opt_u64(Some(7))?])?)
    });
    assert_eq!(done.unwrap(), 1);
    assert_eq!(count(), 1);
    assert_eq!(Value::from_opt_u64(None).unwrap(), Value::Null);
    assert!(Value::from_opt_u64(Some(u64::MAX)).is_err());
}

/// The mode bits of `path` and of SQLite's `-wal` and `-shm` files beside it.
#[cfg(unix)]
fn modes(path: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let file = format!("{}{suffix}", path.display());
            let mode = std::fs::metadata(&file).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            (file, mode)
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn sqlite_files_are_owner_only_and_an_existing_file_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("modes");
    let path = dir.join("party.db");
    let db = Database::open(&format!("sqlite:{}", path.display())).unwrap();
    exercise(&db);
    for (file, mode) in modes(&path) {
        assert_eq!(mode, 0o600, "{file}");
    }
    drop(db);
    // A file an older version left readable by everyone is made owner-only when opened again.
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if std::path::Path::new(&file).exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let db = Database::open_sqlite(&path).unwrap();
    db.transaction(|tx| tx.execute("INSERT INTO items (id, name) VALUES (3, 'three')", &[])).unwrap();
    for (file, mode) in modes(&path) {
        assert_eq!(mode, 0o600, "{file}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
