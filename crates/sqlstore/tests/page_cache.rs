//! The page-cache wrapper (`page_cache.rs`) under a workload that splits and rebalances B-tree
//! pages on every commit: the database stays intact and equal to a plain model, commits skip
//! their truncation, and a rolled-back growth of the file is truncated for real.
//!
//! One test in this binary on purpose: the truncation counters are per process, and this
//! test's first SQLite use must be sqlstore's, for the wrapper to be installed.

use std::collections::BTreeMap;

use sqlstore::{Database, Error, Tx, Value, page_cache};

/// Commits of the workload.
const COMMITS: usize = 400;
/// Transactions per commit (one batch).
const MEMBERS: usize = 10;
/// Rows inserted per transaction.
const INSERTS: usize = 6;
/// Every so many members, one fails and its savepoint is rolled back.
const FAILING_MEMBER_EVERY: usize = 7;
/// Every so many commits, a transaction grows the file and is rolled back whole.
const ROLLED_BACK_GROWTH_EVERY: usize = 50;
/// Rows of such a transaction: enough pages to grow the file well past its end.
const GROWTH_ROWS: usize = 1_500;
/// Every so many commits, another connection writes, so the first one's cache is reset. Prime:
/// never the commit just before a rolled-back growth, whose count of real truncations would
/// then include that reset's.
const OTHER_WRITER_EVERY: usize = 23;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sqlstore-page-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// xorshift: deterministic, so a failure repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random index key: rows land all over the index, so its pages split everywhere.
    fn key(&mut self) -> Vec<u8> {
        (0..2).flat_map(|_| self.next().to_le_bytes()).collect()
    }

    fn text(&mut self) -> String {
        let len = 20 + self.below(180) as usize;
        (0..len).map(|i| char::from(b'a' + ((self.next() >> (i % 32)) % 26) as u8)).collect()
    }
}

/// `id → (key, text)`: what the table must hold.
type Model = BTreeMap<i64, (Vec<u8>, String)>;

fn insert(tx: &mut Tx<'_>, id: i64, key: &[u8], text: &str) -> sqlstore::Result<()> {
    tx.execute(
        "INSERT INTO cards (id, k, v) VALUES ($1, $2, $3)",
        &[Value::Int(id), Value::Blob(key.to_vec()), Value::Text(text.to_owned())],
    )
    .map(drop)
}

/// Insert `count` fresh rows; the model takes them only if `keep` says the transaction commits.
fn insert_rows(db: &Database, model: &mut Model, next_id: &mut i64, random: &mut Random, count: usize, keep: bool) {
    let rows: Vec<(i64, Vec<u8>, String)> = (0..count)
        .map(|_| {
            *next_id += 1;
            (*next_id, random.key(), random.text())
        })
        .collect();
    let result = db.transaction(|tx| {
        for (id, key, text) in &rows {
            insert(tx, *id, key, text)?;
        }
        if keep { Ok(()) } else { Err(Error::new("test", "undo on purpose")) }
    });
    assert_eq!(result.is_ok(), keep, "{result:?}");
    if keep {
        model.extend(rows.into_iter().map(|(id, key, text)| (id, (key, text))));
    }
}

/// Delete a few rows picked at random from the model.
fn delete_some(db: &Database, model: &mut Model, random: &mut Random) {
    let ids: Vec<i64> = model.keys().copied().filter(|_| random.below(40) == 0).collect();
    db.transaction(|tx| {
        for id in &ids {
            tx.execute("DELETE FROM cards WHERE id = $1", &[Value::Int(*id)])?;
        }
        Ok(())
    })
    .unwrap();
    for id in ids {
        model.remove(&id);
    }
}

fn check(db: &Database, model: &Model) {
    let (verdict, rows, by_key) = db
        .transaction(|tx| {
            let verdict = tx.query("PRAGMA integrity_check", &[])?;
            let rows = tx.query("SELECT id, k, v FROM cards ORDER BY id", &[])?;
            let by_key = tx.query("SELECT id FROM cards INDEXED BY cards_k ORDER BY k, id", &[])?;
            Ok((verdict, rows, by_key))
        })
        .unwrap();
    assert_eq!(verdict.len(), 1);
    assert_eq!(verdict[0].text(0).unwrap(), "ok");
    let found: Model =
        rows.iter().map(|row| (row.i64(0).unwrap(), (row.blob(1).unwrap(), row.text(2).unwrap()))).collect();
    assert_eq!(found.len(), rows.len());
    assert!(found == *model, "the table differs from the model ({} rows, model {})", found.len(), model.len());
    let mut expected_by_key: Vec<(&Vec<u8>, i64)> = model.iter().map(|(id, (key, _))| (key, *id)).collect();
    expected_by_key.sort();
    let found_by_key: Vec<i64> = by_key.iter().map(|row| row.i64(0).unwrap()).collect();
    assert_eq!(found_by_key, expected_by_key.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
}

#[test]
fn pages_split_rebalance_and_roll_back_through_the_wrapper_without_damage() {
    let dir = temp_dir("workload");
    let path = dir.join("party.db");
    let db = Database::open_sqlite(&path).unwrap();
    assert!(page_cache::installed(), "sqlstore opened this process's first connection: the wrapper must be installed");
    db.migrate(
        "cards-v1",
        &[
            "CREATE TABLE cards (id BIGINT PRIMARY KEY, k BLOB NOT NULL, v TEXT NOT NULL)",
            "CREATE INDEX cards_k ON cards (k)",
        ],
    )
    .unwrap();
    let other = Database::open_sqlite(&path).unwrap();
    let start = page_cache::truncations();
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut model = Model::new();
    let mut next_id = 0i64;
    let mut growth_delegated = 0;
    for commit in 1..=COMMITS {
        db.batch(|| {
            for member in 1..=MEMBERS {
                let keep = member % FAILING_MEMBER_EVERY != 0;
                insert_rows(&db, &mut model, &mut next_id, &mut random, INSERTS, keep);
            }
        })
        .unwrap();
        if commit % 3 == 0 {
            delete_some(&db, &mut model, &mut random);
        }
        if commit % OTHER_WRITER_EVERY == 0 {
            insert_rows(&other, &mut model, &mut next_id, &mut random, INSERTS, true);
        }
        if commit % ROLLED_BACK_GROWTH_EVERY == 0 {
            let before = page_cache::truncations().delegated;
            insert_rows(&db, &mut model, &mut next_id, &mut random, GROWTH_ROWS, false);
            growth_delegated += page_cache::truncations().delegated - before;
            check(&db, &model);
        }
    }
    check(&db, &model);
    check(&other, &model);
    let end = page_cache::truncations();
    println!("page cache truncations during the workload: {end:?} since {start:?}");
    assert!(end.skipped > start.skipped, "no commit skipped its truncation");
    assert!(growth_delegated > 0, "no rolled-back growth was truncated for real");

    // What is on disk, read by a fresh connection.
    drop((db, other));
    let reopened = Database::open_sqlite(&path).unwrap();
    check(&reopened, &model);
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}
