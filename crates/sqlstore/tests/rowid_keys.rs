//! `BIGINT PRIMARY KEY` is SQLite's rowid in new databases, and `migrate_rowid_keys` rebuilds
//! the tables of an older database so, keeping every row, index and trigger; on PostgreSQL it
//! changes nothing.

use sqlstore::{Database, Value};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cardnet-sqlstore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The schema as a database made before the rewrite has it: the DDL ran as written.
const OLD_SCHEMA: &str = "
    CREATE TABLE journal (id BIGINT PRIMARY KEY, name TEXT NOT NULL, body BLOB, amount BIGINT);
    ALTER TABLE journal ADD COLUMN late BIGINT NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX journal_name ON journal (name);
    CREATE INDEX journal_amount ON journal (amount, id) WHERE amount IS NOT NULL;
    CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal BEGIN SELECT RAISE(ABORT, 'append only'); END;
    CREATE TABLE untouched (id BIGINT PRIMARY KEY, v TEXT);
";

/// `(type, name, sql)` of the table's indexes and triggers (not the automatic ones).
fn schema_objects(conn: &rusqlite::Connection, table: &str) -> Vec<(String, String, String)> {
    let mut statement = conn
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ?1 AND type <> 'table' AND sql IS NOT NULL ORDER BY name")
        .unwrap();
    statement
        .query_map([table], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A row of `journal`: id, name, body, amount, late.
type JournalRow = (i64, String, Option<Vec<u8>>, Option<i64>, i64);

fn rows(db: &Database) -> Vec<JournalRow> {
    db.transaction(|tx| {
        tx.query("SELECT id, name, body, amount, late FROM journal ORDER BY id", &[])?
            .iter()
            .map(|r| Ok((r.i64(0)?, r.text(1)?, r.opt_blob(2)?, r.opt_i64(3)?, r.i64(4)?)))
            .collect()
    })
    .unwrap()
}

fn table_sql(conn: &rusqlite::Connection, table: &str) -> String {
    conn.query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |row| row.get(0))
        .unwrap()
}

#[test]
fn an_old_sqlite_table_is_rebuilt_keyed_by_the_rowid_with_every_row_and_index() {
    let dir = temp_dir("rowid");
    let path = dir.join("party.db");
    // SQLite's page cache is configured before its first use, not while another test opens it.
    sqlstore::page_cache::install();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(OLD_SCHEMA).unwrap();
        for id in 1..=500i64 {
            let amount = (id % 3 != 0).then_some(id * 100);
            let body = (id % 2 == 0).then(|| vec![u8::try_from(id % 256).unwrap(); 3]);
            conn.execute(
                "INSERT INTO journal (id, name, body, amount, late) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id * 7, format!("n{id}"), body, amount, id % 2],
            )
            .unwrap();
        }
    }
    let reader = rusqlite::Connection::open(&path).unwrap();
    let objects_before = schema_objects(&reader, "journal");
    let db = Database::open_sqlite(&path).unwrap();
    let before = rows(&db);
    db.migrate_rowid_keys("rowid-v1", &["journal"]).unwrap();
    // Recorded: a second run does nothing, even with a table named that does not exist.
    db.migrate_rowid_keys("rowid-v1", &["journal", "missing"]).unwrap();

    assert_eq!(rows(&db), before, "every row, every column");
    assert_eq!(schema_objects(&reader, "journal"), objects_before, "indexes and trigger again");
    let sql = table_sql(&reader, "journal");
    assert!(sql.contains("id INTEGER PRIMARY KEY") && sql.contains("late BIGINT"), "{sql}");
    assert!(table_sql(&reader, "untouched").contains("BIGINT PRIMARY KEY"), "only the tables named");
    // No second B-tree: the only automatic index left is none.
    let automatic: i64 = reader
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'journal' AND sql IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(automatic, 0);
    // The id is the rowid, and the constraints hold as before.
    let rowid: i64 = reader.query_row("SELECT rowid FROM journal WHERE id = 14", [], |r| r.get(0)).unwrap();
    assert_eq!(rowid, 14);
    let duplicate =
        db.transaction(|tx| tx.execute("INSERT INTO journal (id, name) VALUES (14, 'other')", &[])).unwrap_err();
    assert!(duplicate.is_unique_violation(), "{duplicate}");
    let duplicate =
        db.transaction(|tx| tx.execute("INSERT INTO journal (id, name) VALUES (1, 'n1')", &[])).unwrap_err();
    assert!(duplicate.is_unique_violation(), "{duplicate}");
    let deleted = db.transaction(|tx| tx.execute("DELETE FROM journal WHERE id = 7", &[]));
    assert!(deleted.is_err(), "the trigger is back");
    drop((db, reader));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_sqlite_table_is_keyed_by_the_rowid_and_the_rebuild_leaves_it() {
    let db = Database::open("sqlite::memory:").unwrap();
    db.migrate("v1", &["CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)", "CREATE INDEX t_v ON t (v)"]).unwrap();
    db.transaction(|tx| tx.execute("INSERT INTO t (id, v) VALUES ($1, 'x')", &[Value::Int(5)])).unwrap();
    db.migrate_rowid_keys("v2", &["t"]).unwrap();
    let (sql, rowid) = db
        .transaction(|tx| {
            let sql = tx.query_opt("SELECT sql FROM sqlite_master WHERE name = 't'", &[])?.unwrap().text(0)?;
            let rowid = tx.query_opt("SELECT rowid FROM t WHERE id = 5", &[])?.unwrap().i64(0)?;
            Ok((sql, rowid))
        })
        .unwrap();
    assert_eq!(sql, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    assert_eq!(rowid, 5);
}

#[test]
fn postgres_keeps_bigint_and_the_rebuild_is_recorded_only() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; the rowid migration on PostgreSQL was not tested");
        return;
    };
    let schema = format!("sqlstore_rowid_{}", std::process::id());
    let _ = sqlstore::drop_postgres_schema(&url, &schema);
    {
        let db = Database::open(&format!("{url}#{schema}")).unwrap();
        db.migrate("v1", &["CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)"]).unwrap();
        db.transaction(|tx| tx.execute("INSERT INTO t (id, v) VALUES ($1, 'x')", &[Value::Int(i64::MAX)])).unwrap();
        db.migrate_rowid_keys("v2", &["t"]).unwrap();
        let (kind, count, recorded) = db
            .transaction(|tx| {
                let kind = tx
                    .query_opt(
                        "SELECT data_type FROM information_schema.columns WHERE table_schema = $1 \
                         AND table_name = 't' AND column_name = 'id'",
                        &[schema.as_str().into()],
                    )?
                    .unwrap()
                    .text(0)?;
                let count = tx.query_opt("SELECT COUNT(*) FROM t", &[])?.unwrap().i64(0)?;
                let recorded = tx.query_opt("SELECT name FROM sqlstore_migrations WHERE name = 'v2'", &[])?.is_some();
                Ok((kind, count, recorded))
            })
            .unwrap();
        assert_eq!((kind.as_str(), count, recorded), ("bigint", 1, true));
    }
    sqlstore::drop_postgres_schema(&url, &schema).unwrap();
}
