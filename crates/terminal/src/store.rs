//! The terminal's own database (SQLite through `sqlstore`): state, the pending reversal, the
//! batch journal and the operators. Everything sensitive is sealed under the storage key by the
//! caller before it comes here; this module only keeps rows. A load generator's virtual
//! terminals keep the same rows in plain memory instead (`memory.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use domain::{EntryMode, Pan, Rrn, Stan};
use serde::{Deserialize, Serialize};
use sqlstore::{Database, Tx, Value};

use crate::{Kind, Result, TerminalError};

mod memory;

const MIGRATION: &str = "terminal-1";
const SCHEMA: [&str; 4] = [
    // One row (id = 1). keys: PIK ‖ MAK [‖ TDK] sealed under the storage key.
    "CREATE TABLE terminal_state (id BIGINT PRIMARY KEY, batch_no BIGINT NOT NULL, trace BIGINT NOT NULL, \
     scheme TEXT, keys BLOB, sign_on_needed BIGINT NOT NULL, salt BLOB NOT NULL)",
    // At most one row: a terminal has one request outstanding, so at most one reversal.
    "CREATE TABLE terminal_reversal (id BIGINT PRIMARY KEY, batch_no BIGINT NOT NULL, trace TEXT NOT NULL, \
     reason TEXT NOT NULL, request BLOB NOT NULL, attempts BIGINT NOT NULL)",
    // record: the JournalEntry as JSON, sealed (its tag is the record's checksum).
    "CREATE TABLE terminal_journal (batch_no BIGINT NOT NULL, trace TEXT NOT NULL, status TEXT NOT NULL, \
     record BLOB NOT NULL, PRIMARY KEY (batch_no, trace))",
    "CREATE TABLE terminal_operators (number TEXT PRIMARY KEY, role TEXT NOT NULL, hash BLOB NOT NULL)",
];
const MIGRATION_RECEIPTS: &str = "terminal-2";
const SCHEMA_RECEIPTS: [&str; 2] = [
    // The parameter download's items (0800/360 field 62: 01 merchant name, 02 merchant id, ...).
    "CREATE TABLE terminal_parameters (tag TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // One row (id = 1): the last slip as printed for a reprint, in each language. Rendered text
    // only, so it holds the masked card number and nothing more of the card. Written until
    // terminal-4 (`terminal_last_slip`); still read when that table is empty.
    "CREATE TABLE terminal_last_receipt (id BIGINT PRIMARY KEY, zh TEXT NOT NULL, en TEXT NOT NULL)",
];

const MIGRATION_ADVICE: &str = "terminal-3";
const SCHEMA_ADVICE: [&str; 1] = [
    // At most one row: an advice (refund, offline completion) not answered yet, which the
    // terminal sends again until the host answers it. request: the 0220 as sent; entry: its
    // journal record (JSON) — both sealed under the storage key.
    "CREATE TABLE terminal_advice (id BIGINT PRIMARY KEY, batch_no BIGINT NOT NULL, trace TEXT NOT NULL, \
     kind TEXT NOT NULL, request BLOB NOT NULL, entry BLOB NOT NULL, attempts BIGINT NOT NULL)",
];

const MIGRATION_LAST_SLIP: &str = "terminal-4";
const SCHEMA_LAST_SLIP: [&str; 1] = [
    // One row (id = 1): the last slip's data (`slip::keep`, JSON), rendered only when a reprint
    // is asked for. It holds the masked card number and nothing more of the card. It replaces
    // `terminal_last_receipt`, read only when this table is empty (a journal from before).
    "CREATE TABLE terminal_last_slip (id BIGINT PRIMARY KEY, slip TEXT NOT NULL)",
];

/// The last slip kept for a reprint.
pub(crate) enum LastSlip {
    /// Its data (`slip::keep`).
    Kept(String),
    /// Its text as printed, (Chinese, English): a journal written before slips were kept as data.
    Rendered(String, String),
}

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// 主管: manages cashiers; authorises void, refund and settlement.
    Supervisor,
    Cashier,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Supervisor => "supervisor",
            Role::Cashier => "cashier",
        }
    }

    pub fn parse(text: &str) -> Result<Role> {
        match text {
            "supervisor" => Ok(Role::Supervisor),
            "cashier" => Ok(Role::Cashier),
            _ => Err(TerminalError::Input("role: supervisor or cashier".into())),
        }
    }
}

/// One approved transaction of the batch, as the terminal keeps it (sealed at rest). The
/// sealed form is unchanged: every typed field is written as the text it was before.
#[derive(Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub batch_no: u32,
    /// Field 11 of the request, six digits.
    #[serde(with = "as_text")]
    pub trace: Stan,
    #[serde(with = "kind_name")]
    pub kind: Kind,
    /// Kept as its digits in the sealed record (the format is unchanged).
    #[serde(with = "pan_digits")]
    pub pan: Pan,
    pub amount_minor: u64,
    #[serde(with = "opt_as_text")]
    pub rrn: Option<Rrn>,
    pub auth_code: Option<String>,
    /// 63.1 of the response: `CUP` counts as domestic in settlement.
    pub organisation: Option<String>,
    #[serde(with = "opt_as_text")]
    pub original_trace: Option<Stan>,
    pub operator: String,
    /// `approved`, `voided` (a purchase or pre-auth voided later), `completed` (a pre-auth).
    #[serde(skip)]
    pub status: String,
    /// How the card was read; a void or completion carries its original's. Absent in records
    /// written before it was kept.
    #[serde(default, with = "opt_as_text")]
    pub entry_mode: Option<EntryMode>,
    /// Field 55 (hex) the batch upload sends for a chip approval: the card's TC, or the ARQC
    /// a tapped card sent. `None` for stripe and keyed records.
    #[serde(default)]
    pub icc_upload: Option<String>,
}

/// A PAN in a sealed record: its digits as a JSON string, checked when read back.
mod pan_digits {
    use domain::Pan;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pan: &Pan, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(pan.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Pan, D::Error> {
        let digits = String::deserialize(deserializer)?;
        Pan::new(&digits).map_err(serde::de::Error::custom)
    }
}

/// A checked type in a sealed record as its text (`Display`), checked again when read back
/// (`FromStr`).
mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: std::fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
        D: Deserializer<'de>,
    {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// [`as_text`] of an optional field (`null` when absent).
mod opt_as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: std::fmt::Display, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The kind by its name ([`Kind::name`]).
mod kind_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Kind;

    pub fn serialize<S: Serializer>(kind: &Kind, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(deserializer)?;
        Kind::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown kind {name:?}")))
    }
}

impl std::fmt::Debug for JournalEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalEntry")
            .field("batch_no", &self.batch_no)
            .field("trace", &self.trace)
            .field("kind", &self.kind)
            .field("pan", &self.pan)
            .field("amount_minor", &self.amount_minor)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StateRow {
    pub batch_no: u32,
    pub trace: u32,
    pub scheme: Option<String>,
    pub keys: Option<Vec<u8>>,
    pub sign_on_needed: bool,
    pub salt: Vec<u8>,
}

#[derive(Clone)]
pub(crate) struct ReversalRow {
    pub batch_no: u32,
    pub trace: String,
    pub reason: String,
    pub request: Vec<u8>,
    pub attempts: u32,
}

/// The advice waiting for its answer ([`SCHEMA_ADVICE`]).
#[derive(Clone)]
pub(crate) struct AdviceRow {
    pub batch_no: u32,
    pub trace: String,
    pub kind: String,
    pub request: Vec<u8>,
    pub entry: Vec<u8>,
    pub attempts: u32,
}

/// The terminal's database.
#[derive(Clone, Debug)]
pub struct Store {
    backing: Backing,
}

#[derive(Clone, Debug)]
enum Backing {
    /// A real terminal's journal file (or an SQLite database opened elsewhere).
    Sqlite(Database),
    /// Gone with the process: a load generator's virtual terminal.
    Memory(Arc<Mutex<memory::Tables>>),
}

impl Store {
    /// Open (or create) the journal file.
    pub fn open(path: &Path) -> Result<Store> {
        Store::with_database(Database::open_sqlite(path)?)
    }

    /// A journal in plain memory, gone when the last handle is dropped
    /// ([`Terminal::open_in_memory`]): the rows of the SQLite journal without its SQL.
    ///
    /// [`Terminal::open_in_memory`]: crate::Terminal::open_in_memory
    pub fn memory() -> Result<Store> {
        Ok(Store { backing: Backing::Memory(Arc::default()) })
    }

    /// Over a database opened elsewhere (`sqlite::memory:` in tests).
    pub fn with_database(db: Database) -> Result<Store> {
        db.migrate(MIGRATION, &SCHEMA)?;
        db.migrate(MIGRATION_RECEIPTS, &SCHEMA_RECEIPTS)?;
        db.migrate(MIGRATION_ADVICE, &SCHEMA_ADVICE)?;
        db.migrate(MIGRATION_LAST_SLIP, &SCHEMA_LAST_SLIP)?;
        Ok(Store { backing: Backing::Sqlite(db) })
    }

    /// Run `work` in one transaction of the journal: all of its writes are kept, or (an `Err`)
    /// none.
    pub(crate) fn transact<T>(&self, mut work: impl FnMut(&mut dyn Journal) -> Result<T>) -> Result<T> {
        match &self.backing {
            Backing::Sqlite(db) => db.transact(|tx| work(tx)),
            Backing::Memory(tables) => memory::transact(tables, work),
        }
    }
}

/// The journal's rows, read and written inside one transaction ([`Store::transact`]): in
/// SQLite (a real terminal's file) or in plain memory (`memory.rs`).
pub(crate) trait Journal {
    fn load_state(&mut self) -> Result<Option<StateRow>>;
    /// The state row, in place of the one there may be.
    fn save_state(&mut self, state: &StateRow) -> Result<()>;
    fn reversal(&mut self) -> Result<Option<ReversalRow>>;
    /// The reversal record where there is none (refused where there is one).
    fn insert_reversal(&mut self, reversal: &ReversalRow) -> Result<()>;
    fn clear_reversal(&mut self) -> Result<()>;
    fn advice(&mut self) -> Result<Option<AdviceRow>>;
    /// The advice record where there is none (refused where there is one).
    fn insert_advice(&mut self, advice: &AdviceRow) -> Result<()>;
    fn clear_advice(&mut self) -> Result<()>;
    /// A record of the batch (refused when its batch already has its trace).
    fn insert_entry(&mut self, entry: &JournalEntry, sealed: Vec<u8>) -> Result<()>;
    fn set_status(&mut self, batch_no: u32, trace: &str, status: &str) -> Result<()>;
    /// (status, sealed record) of every entry of `batch_no`, in trace order.
    fn entries(&mut self, batch_no: u32) -> Result<Vec<(String, Vec<u8>)>>;
    /// Records of batch `batch_no`.
    fn entry_count(&mut self, batch_no: u32) -> Result<u64>;
    /// (role, hash) of operator `number`.
    fn operator(&mut self, number: &str) -> Result<Option<(String, Vec<u8>)>>;
    /// Every operator's number and role, by number (never the password hashes).
    fn operators(&mut self) -> Result<Vec<(String, String)>>;
    fn operator_count(&mut self) -> Result<u64>;
    /// The supervisor's number (the lowest, should there be more).
    fn supervisor(&mut self) -> Result<Option<String>>;
    /// Operator `number`, in place of the one there may be.
    fn put_operator(&mut self, number: &str, role: Role, hash: Vec<u8>) -> Result<()>;
    fn parameter(&mut self, tag: &str) -> Result<Option<String>>;
    fn put_parameter(&mut self, tag: &str, value: &str) -> Result<()>;
    /// The last slip kept for a reprint: its data, else (a journal from before) its text.
    fn last_slip(&mut self) -> Result<Option<LastSlip>>;
    fn put_last_slip(&mut self, kept: &str) -> Result<()>;

    /// The reversal record, in place of the one there may be.
    fn put_reversal(&mut self, reversal: &ReversalRow) -> Result<()> {
        self.clear_reversal()?;
        self.insert_reversal(reversal)
    }

    /// The advice record, in place of the one there may be.
    fn put_advice(&mut self, advice: &AdviceRow) -> Result<()> {
        self.clear_advice()?;
        self.insert_advice(advice)
    }
}

impl Journal for Tx<'_> {
    fn load_state(&mut self) -> Result<Option<StateRow>> {
        let Some(row) = self.query_opt(
            "SELECT batch_no, trace, scheme, keys, sign_on_needed, salt FROM terminal_state WHERE id = 1",
            &[],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(StateRow {
            batch_no: u32::try_from(row.u64(0)?).unwrap_or(1),
            trace: u32::try_from(row.u64(1)?).unwrap_or(0),
            scheme: row.opt_text(2)?,
            keys: row.opt_blob(3)?,
            sign_on_needed: row.i64(4)? != 0,
            salt: row.blob(5)?,
        }))
    }

    /// The state row, updated in place (it is written before and after every transaction);
    /// inserted the first time.
    fn save_state(&mut self, state: &StateRow) -> Result<()> {
        let values = [
            state.batch_no.into(),
            state.trace.into(),
            state.scheme.clone().map_or(Value::Null, Value::Text),
            state.keys.clone().map_or(Value::Null, Value::Blob),
            i64::from(state.sign_on_needed).into(),
            Value::Blob(state.salt.clone()),
        ];
        let updated = self.execute(
            "UPDATE terminal_state SET batch_no = $1, trace = $2, scheme = $3, keys = $4, sign_on_needed = $5, \
             salt = $6 WHERE id = 1",
            &values,
        )?;
        if updated == 0 {
            self.execute(
                "INSERT INTO terminal_state (id, batch_no, trace, scheme, keys, sign_on_needed, salt) \
                 VALUES (1, $1, $2, $3, $4, $5, $6)",
                &values,
            )?;
        }
        Ok(())
    }

    fn reversal(&mut self) -> Result<Option<ReversalRow>> {
        let Some(row) = self
            .query_opt("SELECT batch_no, trace, reason, request, attempts FROM terminal_reversal WHERE id = 1", &[])?
        else {
            return Ok(None);
        };
        Ok(Some(ReversalRow {
            batch_no: u32::try_from(row.u64(0)?).unwrap_or(0),
            trace: row.text(1)?,
            reason: row.text(2)?,
            request: row.blob(3)?,
            attempts: u32::try_from(row.u64(4)?).unwrap_or(u32::MAX),
        }))
    }

    /// The reversal record where there is none.
    fn insert_reversal(&mut self, reversal: &ReversalRow) -> Result<()> {
        self.execute(
            "INSERT INTO terminal_reversal (id, batch_no, trace, reason, request, attempts) VALUES (1, $1, $2, $3, $4, $5)",
            &[
                reversal.batch_no.into(),
                reversal.trace.as_str().into(),
                reversal.reason.as_str().into(),
                Value::Blob(reversal.request.clone()),
                reversal.attempts.into(),
            ],
        )?;
        Ok(())
    }

    fn clear_reversal(&mut self) -> Result<()> {
        self.execute("DELETE FROM terminal_reversal WHERE id = 1", &[])?;
        Ok(())
    }

    fn advice(&mut self) -> Result<Option<AdviceRow>> {
        let Some(row) = self.query_opt(
            "SELECT batch_no, trace, kind, request, entry, attempts FROM terminal_advice WHERE id = 1",
            &[],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(AdviceRow {
            batch_no: u32::try_from(row.u64(0)?).unwrap_or(0),
            trace: row.text(1)?,
            kind: row.text(2)?,
            request: row.blob(3)?,
            entry: row.blob(4)?,
            attempts: u32::try_from(row.u64(5)?).unwrap_or(u32::MAX),
        }))
    }

    /// The advice record where there is none.
    fn insert_advice(&mut self, advice: &AdviceRow) -> Result<()> {
        self.execute(
            "INSERT INTO terminal_advice (id, batch_no, trace, kind, request, entry, attempts) \
             VALUES (1, $1, $2, $3, $4, $5, $6)",
            &[
                advice.batch_no.into(),
                advice.trace.as_str().into(),
                advice.kind.as_str().into(),
                Value::Blob(advice.request.clone()),
                Value::Blob(advice.entry.clone()),
                advice.attempts.into(),
            ],
        )?;
        Ok(())
    }

    fn clear_advice(&mut self) -> Result<()> {
        self.execute("DELETE FROM terminal_advice WHERE id = 1", &[])?;
        Ok(())
    }

    fn insert_entry(&mut self, entry: &JournalEntry, sealed: Vec<u8>) -> Result<()> {
        self.execute(
            "INSERT INTO terminal_journal (batch_no, trace, status, record) VALUES ($1, $2, $3, $4)",
            &[entry.batch_no.into(), entry.trace.to_string().into(), entry.status.as_str().into(), Value::Blob(sealed)],
        )?;
        Ok(())
    }

    fn set_status(&mut self, batch_no: u32, trace: &str, status: &str) -> Result<()> {
        self.execute(
            "UPDATE terminal_journal SET status = $1 WHERE batch_no = $2 AND trace = $3",
            &[status.into(), batch_no.into(), trace.into()],
        )?;
        Ok(())
    }

    /// (status, sealed record) of every entry of `batch_no`, in trace order.
    fn entries(&mut self, batch_no: u32) -> Result<Vec<(String, Vec<u8>)>> {
        self.query(
            "SELECT status, record FROM terminal_journal WHERE batch_no = $1 ORDER BY trace",
            &[batch_no.into()],
        )?
        .into_iter()
        .map(|row| Ok((row.text(0)?, row.blob(1)?)))
        .collect()
    }

    /// Records of batch `batch_no`.
    fn entry_count(&mut self, batch_no: u32) -> Result<u64> {
        Ok(self
            .query_opt("SELECT COUNT(*) FROM terminal_journal WHERE batch_no = $1", &[batch_no.into()])?
            .map(|row| row.u64(0))
            .transpose()?
            .unwrap_or_default())
    }

    fn operator(&mut self, number: &str) -> Result<Option<(String, Vec<u8>)>> {
        Ok(match self.query_opt("SELECT role, hash FROM terminal_operators WHERE number = $1", &[number.into()])? {
            Some(row) => Some((row.text(0)?, row.blob(1)?)),
            None => None,
        })
    }

    /// Every operator's number and role, by number (never the password hashes).
    fn operators(&mut self) -> Result<Vec<(String, String)>> {
        self.query("SELECT number, role FROM terminal_operators ORDER BY number", &[])?
            .iter()
            .map(|row| Ok((row.text(0)?, row.text(1)?)))
            .collect()
    }

    fn operator_count(&mut self) -> Result<u64> {
        self.query_opt("SELECT COUNT(*) FROM terminal_operators", &[])?.map_or(Ok(0), |row| Ok(row.u64(0)?))
    }

    fn supervisor(&mut self) -> Result<Option<String>> {
        Ok(self
            .query_opt("SELECT number FROM terminal_operators WHERE role = 'supervisor' ORDER BY number", &[])?
            .map(|row| row.text(0))
            .transpose()?)
    }

    fn put_operator(&mut self, number: &str, role: Role, hash: Vec<u8>) -> Result<()> {
        self.execute("DELETE FROM terminal_operators WHERE number = $1", &[number.into()])?;
        self.execute(
            "INSERT INTO terminal_operators (number, role, hash) VALUES ($1, $2, $3)",
            &[number.into(), role.name().into(), Value::Blob(hash)],
        )?;
        Ok(())
    }

    fn parameter(&mut self, tag: &str) -> Result<Option<String>> {
        Ok(self
            .query_opt("SELECT value FROM terminal_parameters WHERE tag = $1", &[tag.into()])?
            .map(|row| row.text(0))
            .transpose()?)
    }

    fn put_parameter(&mut self, tag: &str, value: &str) -> Result<()> {
        self.execute("DELETE FROM terminal_parameters WHERE tag = $1", &[tag.into()])?;
        self.execute("INSERT INTO terminal_parameters (tag, value) VALUES ($1, $2)", &[tag.into(), value.into()])?;
        Ok(())
    }

    /// The last slip kept for a reprint: its data, else (a journal from before) its text.
    fn last_slip(&mut self) -> Result<Option<LastSlip>> {
        if let Some(row) = self.query_opt("SELECT slip FROM terminal_last_slip WHERE id = 1", &[])? {
            return Ok(Some(LastSlip::Kept(row.text(0)?)));
        }
        match self.query_opt("SELECT zh, en FROM terminal_last_receipt WHERE id = 1", &[])? {
            Some(row) => Ok(Some(LastSlip::Rendered(row.text(0)?, row.text(1)?))),
            None => Ok(None),
        }
    }

    fn put_last_slip(&mut self, kept: &str) -> Result<()> {
        if self.execute("UPDATE terminal_last_slip SET slip = $1 WHERE id = 1", &[kept.into()])? == 0 {
            self.execute("INSERT INTO terminal_last_slip (id, slip) VALUES (1, $1)", &[kept.into()])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn entry(pan: &str) -> JournalEntry {
        JournalEntry {
            batch_no: 1,
            trace: Stan::new(1).unwrap(),
            kind: Kind::Purchase,
            pan: Pan::new(pan).unwrap(),
            amount_minor: 100,
            rrn: None,
            auth_code: None,
            organisation: None,
            original_trace: None,
            operator: "01".into(),
            status: "approved".into(),
            entry_mode: None,
            icc_upload: None,
        }
    }

    fn last_slip(store: &Store) -> Option<LastSlip> {
        store.transact(|tx| tx.last_slip()).unwrap()
    }

    #[test]
    fn the_last_slip_is_its_data_and_a_rendered_one_from_before_still_reads() {
        // The rendered slip of an old journal file: SQLite only (a memory journal is new).
        let db = Database::open("sqlite::memory:").unwrap();
        let store = Store::with_database(db.clone()).unwrap();
        assert!(last_slip(&store).is_none());
        db.transact(|tx| {
            tx.execute("INSERT INTO terminal_last_receipt (id, zh, en) VALUES (1, '重打印', 'REPRINT')", &[])?;
            Ok::<(), TerminalError>(())
        })
        .unwrap();
        assert!(matches!(last_slip(&store), Some(LastSlip::Rendered(zh, en)) if zh == "重打印" && en == "REPRINT"));
        for kept in ["{\"first\":1}", "{\"second\":2}"] {
            store.transact(|tx| tx.put_last_slip(kept)).unwrap();
            assert!(matches!(last_slip(&store), Some(LastSlip::Kept(text)) if text == kept));
        }
    }

    #[test]
    fn the_sealed_record_keeps_the_digits_and_refuses_a_bad_number() {
        let json = serde_json::to_string(&entry("6224242900000113")).unwrap();
        assert!(json.contains(r#""pan":"6224242900000113""#), "{json}");
        let back: JournalEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back.pan, entry("6224242900000113").pan);
        assert!(!format!("{back:?}").contains("2900000"), "Debug masks the PAN");
        let short = json.replace("6224242900000113", "62242429");
        let error = serde_json::from_str::<JournalEntry>(&short).unwrap_err().to_string();
        assert!(error.contains("PAN") && !error.contains("62242429"), "{error}");
    }
}
