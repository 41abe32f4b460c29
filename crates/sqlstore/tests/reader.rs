//! `Database::open_reader`: another process's SQLite database read while its owner writes —
//! no file created, no write lock taken, writes refused.

use sqlstore::Database;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sqlstore-reader-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_reader_sees_the_last_commit_while_the_owner_holds_its_write_lock() {
    let dir = temp_dir("lock");
    let path = dir.join("owner.db");
    let owner = Database::open_sqlite(&path).unwrap();
    owner.migrate("t-v1", &["CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL)"]).unwrap();
    owner.transaction(|tx| tx.execute("INSERT INTO t (id, name) VALUES (1, 'one')", &[])).unwrap();
    let reader = Database::open_reader(&format!("sqlite:{}", path.display())).unwrap();
    // Inside the owner's write transaction (its lock held): a writer's BEGIN IMMEDIATE would
    // wait out the busy timeout and fail; the reader's deferred BEGIN reads at once.
    let seen = owner
        .transaction(|tx| {
            tx.execute("INSERT INTO t (id, name) VALUES (2, 'two')", &[])?;
            let rows = reader.transaction(|r| r.query("SELECT name FROM t ORDER BY id", &[]))?;
            rows.iter().map(|row| row.text(0)).collect::<sqlstore::Result<Vec<_>>>()
        })
        .unwrap();
    assert_eq!(seen, ["one"], "the last commit, not the open transaction");
    let after = reader.transaction(|r| r.query("SELECT COUNT(*) FROM t", &[])).unwrap();
    assert_eq!(after[0].u64(0).unwrap(), 2);
    let write = reader.transaction(|r| r.execute("INSERT INTO t (id, name) VALUES (3, 'three')", &[]));
    assert!(write.is_err(), "a reader cannot write");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reader_never_creates_the_file() {
    let dir = temp_dir("missing");
    let path = dir.join("absent.db");
    assert!(Database::open_reader(&format!("sqlite:{}", path.display())).is_err());
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
