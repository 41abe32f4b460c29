//! A party's SQLite database copied while it runs, and copied back while it does not
//! (`cardnet backup`, `cardnet restore`; docs/operations.md). PostgreSQL databases are backed up
//! with `pg_dump`, not here.
//!
//! The backup is SQLite's online backup API in one step: every page copied under one read
//! transaction, so the copy is the database as of one commit while the party keeps writing (WAL:
//! a reader does not block the writer). It is written to `OUT.partial`, made a self-contained
//! rollback-journal file, checked (`PRAGMA integrity_check`) and only then renamed to `OUT`,
//! owner-only like the database. A restore checks the backup first, then copies it into the
//! database through SQLite (which takes care of the database's `-wal`), and checks the result.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::owner_only::prepare_sqlite_file;
use crate::sqlite::connect;

/// What a backup or restore copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Size of the file written (the backup, or the database after a restore).
    pub bytes: u64,
    /// Database pages copied.
    pub pages: u64,
}

/// The file of a `sqlite:PATH` (or bare path) database URL; `None` for PostgreSQL and
/// `sqlite::memory:`, which have no file to copy.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    (path != ":memory:" && !path.is_empty()).then(|| PathBuf::from(path))
}

fn fail(operation: &'static str, path: &Path, error: impl std::fmt::Display) -> Error {
    Error::new(operation, format!("{}: {error}", path.display()))
}

/// An existing database, never created by opening it.
fn open_existing(path: &Path, flags: OpenFlags) -> Result<Connection> {
    if !path.is_file() {
        return Err(fail("open", path, "no database file there"));
    }
    connect(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(|e| fail("open", path, e))
}

/// `PRAGMA integrity_check` of the database at `path`: `Ok` only when SQLite answers `ok`
/// (a file that is not a database fails here too).
pub fn integrity_check(path: &Path) -> Result<()> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    check(&conn, path)
}

fn check(conn: &Connection, path: &Path) -> Result<()> {
    let mut statement = conn.prepare("PRAGMA integrity_check").map_err(|e| fail("integrity check", path, e))?;
    let lines: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| fail("integrity check", path, e))?;
    if lines == ["ok"] {
        Ok(())
    } else {
        // SQLite's findings name pages and indexes, never row values.
        let first = lines.first().map(String::as_str).unwrap_or("no answer");
        Err(fail("integrity check", path, format!("{} problem(s), first: {first}", lines.len())))
    }
}

fn pages(conn: &Connection, path: &Path) -> Result<u64> {
    conn.query_row("PRAGMA page_count", [], |row| row.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(|e| fail("page count", path, e))
}

fn size(path: &Path) -> Result<u64> {
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| fail("stat", path, e))
}

/// Copy the database at `database` to `out` (which must not exist) while the party may be
/// running. `out` is owner-only, complete and checked when this returns `Ok`.
pub fn backup_to(database: &Path, out: &Path) -> Result<Copied> {
    if out.exists() {
        return Err(fail("backup", out, "exists; name a new file"));
    }
    let source = open_existing(database, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    prepare_sqlite_file(&partial).map_err(|e| fail("create", &partial, e))?;
    let copied = (|| {
        let mut target = connect(&partial, OpenFlags::default()).map_err(|e| fail("open", &partial, e))?;
        {
            let backup =
                rusqlite::backup::Backup::new(&source, &mut target).map_err(|e| fail("backup", database, e))?;
            // -1: every page in one step, under one read transaction of the source: a
            // consistent copy that never restarts however busy the party is.
            backup.step(-1).map_err(|e| fail("backup", database, e))?;
        }
        // One file, no -wal beside it: a backup is copied around as a single file.
        target.pragma_update(None, "journal_mode", "DELETE").map_err(|e| fail("journal mode", &partial, e))?;
        check(&target, &partial)?;
        pages(&target, &partial)
    })();
    let pages = match copied {
        Ok(pages) => pages,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| fail("rename", out, e))?;
    Ok(Copied { bytes: size(out)?, pages })
}

/// Replace the database at `database` with the backup at `backup`. The caller makes sure the
/// party is not running. The backup is checked first; a damaged one changes nothing.
pub fn restore_from(backup: &Path, database: &Path) -> Result<Copied> {
    integrity_check(backup)?;
    let source = open_existing(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    prepare_sqlite_file(database).map_err(|e| fail("create", database, e))?;
    let mut target = connect(database, OpenFlags::default()).map_err(|e| fail("open", database, e))?;
    {
        let copy = rusqlite::backup::Backup::new(&source, &mut target).map_err(|e| fail("restore", database, e))?;
        copy.step(-1).map_err(|e| fail("restore", database, e))?;
    }
    // Back to the parties' mode (WAL) with everything in the main file.
    target.pragma_update(None, "journal_mode", "WAL").map_err(|e| fail("journal mode", database, e))?;
    target.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| fail("checkpoint", database, e))?;
    check(&target, database)?;
    let pages = pages(&target, database)?;
    drop(target);
    Ok(Copied { bytes: size(database)?, pages })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Database;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sqlstore-backup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn count(db: &Database) -> i64 {
        db.transaction(|tx| tx.query("SELECT COUNT(*) FROM t", &[])?[0].i64(0)).unwrap()
    }

    fn insert(db: &Database, n: i64) {
        db.transaction(|tx| tx.execute("INSERT INTO t (v) VALUES ($1)", &[n.into()])).unwrap();
    }

    #[test]
    fn a_backup_taken_while_open_restores_the_old_state() {
        let dir = dir("round-trip");
        let path = dir.join("party.db");
        let db = Database::open_sqlite(&path).unwrap();
        db.migrate("t", &["CREATE TABLE t (v BIGINT)"]).unwrap();
        insert(&db, 1);
        insert(&db, 2);
        // The database stays open (a running party) while it is copied.
        let out = dir.join("party.backup");
        let copied = backup_to(&path, &out).unwrap();
        assert!(copied.pages > 0 && copied.bytes == std::fs::metadata(&out).unwrap().len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(backup_to(&path, &out), Err(e) if e.message.contains("exists")), "never overwritten");
        insert(&db, 3);
        assert_eq!(count(&db), 3);
        drop(db);
        restore_from(&out, &path).unwrap();
        assert_eq!(count(&Database::open_sqlite(&path).unwrap()), 2, "the state of the backup");
    }

    #[test]
    fn a_damaged_backup_is_refused_and_the_database_is_untouched() {
        let dir = dir("damaged");
        let path = dir.join("party.db");
        let db = Database::open_sqlite(&path).unwrap();
        db.migrate("t", &["CREATE TABLE t (v BIGINT)"]).unwrap();
        insert(&db, 1);
        drop(db);
        let bad = dir.join("bad.backup");
        std::fs::write(&bad, b"SQLite format 3\0 but not really a database, just some bytes").unwrap();
        let error = restore_from(&bad, &path).unwrap_err();
        assert!(error.to_string().contains("bad.backup"), "{error}");
        assert!(restore_from(&dir.join("missing.backup"), &path).unwrap_err().to_string().contains("no database file"));
        assert_eq!(count(&Database::open_sqlite(&path).unwrap()), 1);
    }

    #[test]
    fn only_sqlite_urls_have_a_file() {
        assert_eq!(sqlite_file("sqlite:/srv/issuer.db"), Some(PathBuf::from("/srv/issuer.db")));
        assert_eq!(sqlite_file("/srv/issuer.db"), Some(PathBuf::from("/srv/issuer.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db#issuer"), None);
    }
}
