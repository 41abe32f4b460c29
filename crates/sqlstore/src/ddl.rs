//! DDL per dialect, and the SQLite rebuild that gives an existing table a rowid key.
//!
//! Parties write DDL once: `BIGINT`, `TEXT`, `BLOB`, `id BIGINT PRIMARY KEY`. PostgreSQL gets
//! `BLOB` as `BYTEA`. SQLite gets `BIGINT PRIMARY KEY` as `INTEGER PRIMARY KEY`: only that exact
//! type name makes the column an alias of the rowid, so that the table is one B-tree keyed by
//! the id. With any other name (`BIGINT`) SQLite keeps a second B-tree, a unique index from the
//! id to the rowid, and every insert and every update or lookup by id pays both. The values are
//! the same 64-bit integers either way.

use crate::error::{Error, Result};
use crate::{BackendKind, Tx};

/// `statement` as `kind` runs it.
pub(crate) fn dialect(kind: BackendKind, statement: &str) -> String {
    match kind {
        BackendKind::Postgres => rewrite_words(statement, blob_as_bytea),
        BackendKind::Sqlite => rowid_keys(statement),
    }
}

/// `BIGINT PRIMARY KEY` → `INTEGER PRIMARY KEY` (whole words, outside quotes): the SQLite
/// form of a 64-bit id key, the rowid itself.
pub(crate) fn rowid_keys(statement: &str) -> String {
    rewrite_words(statement, bigint_key_as_integer)
}

fn blob_as_bytea(word: &[u8], _rest: &[u8]) -> Option<&'static str> {
    word.eq_ignore_ascii_case(b"blob").then_some("BYTEA")
}

fn bigint_key_as_integer(word: &[u8], rest: &[u8]) -> Option<&'static str> {
    if !word.eq_ignore_ascii_case(b"bigint") {
        return None;
    }
    let mut words = rest.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty());
    let primary = words.next().is_some_and(|w| w.eq_ignore_ascii_case(b"primary"));
    // `KEY` may be followed at once by `,` or `)`.
    let key = words.next().is_some_and(|w| {
        let end = w.iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).unwrap_or(w.len());
        w[..end].eq_ignore_ascii_case(b"key")
    });
    (primary && key).then_some("INTEGER")
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Replace whole words outside quotes: `replace(word, text after it)` names the replacement.
fn rewrite_words(statement: &str, replace: fn(&[u8], &[u8]) -> Option<&'static str>) -> String {
    let bytes = statement.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(statement.len() + 8);
    let mut i = 0;
    let mut quoted = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' {
            quoted = !quoted;
        }
        let word_start = !quoted && is_word_byte(c) && (i == 0 || !is_word_byte(bytes[i - 1]));
        if word_start {
            let end = bytes[i..].iter().position(|&b| !is_word_byte(b)).map_or(bytes.len(), |n| i + n);
            let word = &bytes[i..end];
            out.extend_from_slice(replace(word, &bytes[end..]).map_or(word, str::as_bytes));
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    // Only whole ASCII words were replaced by ASCII words, so the text is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| statement.to_owned())
}

/// Rebuild each of `tables` whose key is `BIGINT PRIMARY KEY` as SQLite's rowid table (see the
/// module): a new table with the rewritten definition, every row copied, the old one dropped,
/// the new one renamed, its indexes and triggers created again. A table already keyed by the
/// rowid is left as it is. Inside the caller's transaction: all of it or nothing.
pub(crate) fn rebuild_with_rowid_keys(tx: &mut Tx<'_>, tables: &[&str]) -> Result<()> {
    for table in tables {
        rebuild_one(tx, table)?;
    }
    Ok(())
}

fn rebuild_one(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    if table.is_empty() || !table.bytes().all(is_word_byte) {
        return Err(Error::new("rebuild", format!("not a table name: {table:?}")));
    }
    let definition = tx
        .query_opt("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1", &[table.into()])?
        .ok_or_else(|| Error::new("rebuild", format!("no table {table}")))?
        .text(0)?;
    let rewritten = rowid_keys(&definition);
    if rewritten == definition {
        return Ok(());
    }
    let columns_from = rewritten.find('(').ok_or_else(|| Error::new("rebuild", format!("{table}: no columns")))?;
    // Indexes (not the automatic ones, which have no SQL) and triggers go with the old table.
    let dependents = tx.query(
        "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = $1 AND sql IS NOT NULL \
         ORDER BY type, name",
        &[table.into()],
    )?;
    let dependents = dependents.iter().map(|row| row.text(0)).collect::<Result<Vec<_>>>()?;
    let count = |tx: &mut Tx<'_>, name: &str| -> Result<i64> {
        tx.query_opt(&format!("SELECT COUNT(*) FROM {name}"), &[])?
            .ok_or_else(|| Error::new("rebuild", "no count"))?
            .i64(0)
    };
    let rows = count(tx, table)?;
    let staging = format!("{table}_sqlstore_rebuild");
    tx.execute(&format!("CREATE TABLE {staging} {}", &rewritten[columns_from..]), &[])?;
    // Same definition, same column order: `SELECT *` copies every column of every row.
    tx.execute(&format!("INSERT INTO {staging} SELECT * FROM {table}"), &[])?;
    if count(tx, &staging)? != rows {
        return Err(Error::new("rebuild", format!("{table}: rows lost in the copy")));
    }
    tx.execute(&format!("DROP TABLE {table}"), &[])?;
    tx.execute(&format!("ALTER TABLE {staging} RENAME TO {table}"), &[])?;
    for statement in &dependents {
        tx.execute(statement, &[])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{dialect, rowid_keys};
    use crate::BackendKind;

    #[test]
    fn blob_is_rewritten_as_a_word_only() {
        let pg = |s: &str| dialect(BackendKind::Postgres, s);
        assert_eq!(
            pg("CREATE TABLE t (a BLOB, blobby TEXT, b blob NOT NULL)"),
            "CREATE TABLE t (a BYTEA, blobby TEXT, b BYTEA NOT NULL)"
        );
        assert_eq!(pg("INSERT INTO t VALUES ('BLOB')"), "INSERT INTO t VALUES ('BLOB')");
        assert_eq!(pg("CREATE TABLE t (id BIGINT PRIMARY KEY)"), "CREATE TABLE t (id BIGINT PRIMARY KEY)");
    }

    #[test]
    fn a_bigint_key_is_the_rowid_on_sqlite_only() {
        assert_eq!(
            rowid_keys("CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, bigints BIGINT)"),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n BIGINT NOT NULL, bigints BIGINT)"
        );
        assert_eq!(
            rowid_keys("CREATE TABLE t (\n  id bigint\n    primary  key NOT NULL,\n  b BLOB)"),
            "CREATE TABLE t (\n  id INTEGER\n    primary  key NOT NULL,\n  b BLOB)"
        );
        assert_eq!(rowid_keys("CREATE TABLE t (id BIGINT PRIMARY KEY)"), "CREATE TABLE t (id INTEGER PRIMARY KEY)");
        // A composite key, a plain BIGINT column, a literal: untouched.
        for same in [
            "CREATE TABLE t (a BIGINT, b TEXT, PRIMARY KEY (a, b))",
            "CREATE TABLE t (a BIGINT PRIMARY KEYS)",
            "SELECT 'BIGINT PRIMARY KEY'",
            "CREATE TABLE t (a BIGINT NOT NULL PRIMARY KEY)",
        ] {
            assert_eq!(rowid_keys(same), same);
        }
    }
}
