//! `Database::data_version`: changes when another connection commits, never for the
//! database's own commits (through any clone) — what a party's in-memory copies rely on.

use sqlstore::Database;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sqlstore-data-version-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn insert(db: &Database, id: i64) {
    db.transaction(|tx| tx.execute("INSERT INTO t (id) VALUES ($1)", &[id.into()])).unwrap();
}

#[test]
fn another_connections_commit_changes_it_and_our_own_do_not() {
    let dir = temp_dir("commits");
    let path = dir.join("db.sqlite");
    let ours = Database::open_sqlite(&path).unwrap();
    ours.migrate("t-v1", &["CREATE TABLE t (id BIGINT PRIMARY KEY)"]).unwrap();
    let first = ours.data_version().unwrap().expect("SQLite has a data version");

    insert(&ours, 1);
    insert(&ours.clone(), 2);
    ours.batch(|| insert(&ours, 3)).unwrap();
    assert_eq!(ours.data_version().unwrap(), Some(first), "our own commits, through clones and batches");

    let theirs = Database::open_sqlite(&path).unwrap();
    insert(&theirs, 4);
    let after = ours.data_version().unwrap().unwrap();
    assert_ne!(after, first, "another connection committed");
    assert_eq!(ours.data_version().unwrap(), Some(after), "and nothing since");

    // A transaction of theirs that rolls back commits nothing.
    let failed: sqlstore::Result<()> = theirs.transaction(|tx| {
        tx.execute("INSERT INTO t (id) VALUES (5)", &[])?;
        Err(sqlstore::Error::new("test", "roll back"))
    });
    assert!(failed.is_err());
    assert_eq!(ours.data_version().unwrap(), Some(after));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_has_none() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG is not set; PostgreSQL's data version not checked");
        return;
    };
    let db = Database::open(&format!("{url}#sqlstore_data_version")).unwrap();
    assert_eq!(db.data_version().unwrap(), None);
}
