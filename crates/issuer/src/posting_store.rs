//! The issuer's tables for end of day (beside the journal, in the card database): the clearing
//! files posted, the outcome of every cleared record (the reconciliation source "issuer
//! posting result"), and the holds that expired without being cleared.
//!
//! Reads for a batch of records are set-based (one `IN (…)` query per table per batch, the
//! list bounded by [`crate::limits::POSTING_BATCH_RECORDS`]), never a query per record.

use std::collections::HashMap;

use sqlstore::{Row, Tx, Value};

use crate::error::Result;
use crate::store::{CardStore, EntryState, JOURNAL_COLUMNS, JournalRow, id_blob, id_from_blob, int, journal_from_row};

pub(crate) const MIGRATION: &str = "issuer-3-posting";

/// Posting rows one INSERT writes (17 values each: 850 parameters, far below either
/// backend's limit).
const POSTING_INSERT_ROWS: usize = 50;

pub(crate) const DDL: [&str; 8] = [
    // One row per clearing file, keyed by what names a file: who sent it for whom, for which
    // date, and its trailer's checksum (a corrected file of the same date is another file).
    "CREATE TABLE issuer_posted_files (
        file_id BIGINT PRIMARY KEY,
        network TEXT NOT NULL,
        member TEXT NOT NULL,
        business_date BIGINT NOT NULL,
        checksum TEXT NOT NULL,
        records BIGINT NOT NULL,
        state TEXT NOT NULL,
        started_ms BIGINT NOT NULL,
        finished_ms BIGINT,
        UNIQUE (network, member, business_date, checksum)
    )",
    // One row per record of a posted file, in file order (ordinal from 1): its outcome here.
    "CREATE TABLE issuer_postings (
        file_id BIGINT NOT NULL,
        ordinal BIGINT NOT NULL,
        business_date BIGINT NOT NULL,
        reference BIGINT NOT NULL,
        code TEXT NOT NULL,
        issuer_stan TEXT NOT NULL,
        issuer_time TEXT NOT NULL,
        acquirer TEXT NOT NULL,
        request_key TEXT,
        card_id BIGINT,
        amount BIGINT NOT NULL,
        currency TEXT NOT NULL,
        moved BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        pan_masked TEXT NOT NULL,
        detail TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (file_id, ordinal)
    )",
    "CREATE INDEX issuer_postings_reference ON issuer_postings (business_date, reference)",
    "CREATE INDEX issuer_postings_key ON issuer_postings (request_key)",
    // Holds the ledger released on their timeout while the journal still had them held:
    // authorizations never cleared.
    "CREATE TABLE issuer_expired_holds (
        request_key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        card_id BIGINT,
        amount BIGINT NOT NULL,
        currency TEXT NOT NULL,
        transfer_id BLOB NOT NULL,
        authorized_ms BIGINT NOT NULL,
        expired_ms BIGINT NOT NULL
    )",
    "CREATE INDEX issuer_expired_holds_when ON issuer_expired_holds (expired_ms)",
    // The expiry sweep reads held rows of one kind by age.
    "CREATE INDEX issuer_authorizations_state ON issuer_authorizations (state, kind, created_ms)",
    // A cleared record without an authorization here finds its card by the masked PAN.
    "CREATE INDEX issuer_cards_masked ON issuer_cards (pan_masked)",
];

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// A posting file's row.
#[derive(Debug, Clone)]
pub(crate) struct FileRow {
    pub file_id: i64,
    pub posted: bool,
}

/// One record's outcome, as written.
#[derive(Debug, Clone)]
pub(crate) struct PostingRow {
    pub ordinal: u64,
    pub business_date: i64,
    pub reference: u64,
    pub code: String,
    pub issuer_stan: String,
    pub issuer_time: String,
    pub acquirer: String,
    pub request_key: Option<String>,
    pub card_id: Option<i64>,
    pub amount: u64,
    pub currency: String,
    pub moved: u64,
    pub outcome: String,
    pub pan_masked: String,
    pub detail: String,
}

pub(crate) const POSTING_COLUMNS: &str = "ordinal, business_date, reference, code, issuer_stan, issuer_time, \
     acquirer, request_key, card_id, amount, currency, moved, outcome, pan_masked, detail";

pub(crate) fn posting_from_row(row: &Row) -> Result<PostingRow> {
    Ok(PostingRow {
        ordinal: row.u64(0)?,
        business_date: row.i64(1)?,
        reference: row.u64(2)?,
        code: row.text(3)?,
        issuer_stan: row.text(4)?,
        issuer_time: row.text(5)?,
        acquirer: row.text(6)?,
        request_key: row.opt_text(7)?,
        card_id: row.opt_i64(8)?,
        amount: row.u64(9)?,
        currency: row.text(10)?,
        moved: row.u64(11)?,
        outcome: row.text(12)?,
        pan_masked: row.text(13)?,
        detail: row.text(14)?,
    })
}

/// A card as posting needs it.
#[derive(Debug, Clone)]
pub(crate) struct CardAccount {
    pub card_id: i64,
    pub pan_masked: String,
    pub account_id: u128,
}

fn card_account(row: &Row) -> Result<CardAccount> {
    let account = row.blob(2)?;
    let account_id =
        id_from_blob(&account).ok_or_else(|| sqlstore::Error::new("read row", "card account id is not 16 bytes"))?;
    Ok(CardAccount { card_id: row.i64(0)?, pan_masked: row.text(1)?, account_id })
}

/// A journal state change a batch makes: the authorization's key and its new state, applied
/// only if the row is still in `from`.
#[derive(Debug, Clone)]
pub(crate) struct StateChange {
    pub key: String,
    pub from: Vec<EntryState>,
    pub to: EntryState,
}

/// An expired hold, as recorded.
#[derive(Debug, Clone)]
pub(crate) struct ExpiredRow {
    pub key: String,
    pub kind: String,
    pub card_id: Option<i64>,
    pub amount: u64,
    pub currency: String,
    pub transfer_id: u128,
    pub authorized_ms: i64,
}

impl CardStore {
    /// The file's row, inserted (state `posting`) if it is new.
    pub(crate) fn begin_file(
        &self,
        network: &str,
        member: &str,
        date: i64,
        checksum: &str,
        records: u64,
        now_ms: i64,
    ) -> Result<FileRow> {
        let row = self.db().transaction(|tx| {
            let find = |tx: &mut Tx<'_>| {
                tx.query_opt(
                    "SELECT file_id, state FROM issuer_posted_files WHERE network = $1 AND member = $2 \
                     AND business_date = $3 AND checksum = $4",
                    &[network.into(), member.into(), date.into(), checksum.into()],
                )
            };
            if let Some(row) = find(tx)? {
                return Ok(row);
            }
            let next = tx.query_opt("SELECT COALESCE(MAX(file_id), 0) + 1 FROM issuer_posted_files", &[])?;
            let file_id = next.map(|row| row.i64(0)).transpose()?.unwrap_or(1);
            tx.execute(
                "INSERT INTO issuer_posted_files (file_id, network, member, business_date, checksum, records, \
                 state, started_ms) VALUES ($1, $2, $3, $4, $5, $6, 'posting', $7)",
                &[
                    file_id.into(),
                    network.into(),
                    member.into(),
                    date.into(),
                    checksum.into(),
                    int(records),
                    now_ms.into(),
                ],
            )?;
            find(tx)?.ok_or_else(|| sqlstore::Error::new("begin file", "the row just inserted is not there"))
        })?;
        Ok(FileRow { file_id: row.i64(0)?, posted: row.text(1)? == "posted" })
    }

    /// Records of the file already written (a resumed run skips them).
    pub(crate) fn file_progress(&self, file_id: i64) -> Result<u64> {
        let row = self.db().transaction(|tx| {
            tx.query_opt("SELECT COUNT(*) FROM issuer_postings WHERE file_id = $1", &[file_id.into()])
        })?;
        Ok(row.map(|row| row.u64(0)).transpose()?.unwrap_or(0))
    }

    pub(crate) fn finish_file(&self, file_id: i64, now_ms: i64) -> Result<()> {
        self.db().transaction(|tx| {
            tx.execute(
                "UPDATE issuer_posted_files SET state = 'posted', finished_ms = $1 WHERE file_id = $2",
                &[now_ms.into(), file_id.into()],
            )
        })?;
        Ok(())
    }

    /// (outcome, records, Σ moved) of a file.
    pub(crate) fn file_totals(&self, file_id: i64) -> Result<Vec<(String, u64, u64)>> {
        let rows = self.db().transaction(|tx| {
            tx.query(
                "SELECT outcome, COUNT(*), CAST(COALESCE(SUM(moved), 0) AS BIGINT) FROM issuer_postings WHERE file_id = $1 \
                 GROUP BY outcome ORDER BY outcome",
                &[file_id.into()],
            )
        })?;
        rows.iter().map(|row| Ok((row.text(0)?, row.u64(1)?, row.u64(2)?))).collect()
    }

    /// References of `date` among `references` already given an outcome other than duplicate
    /// (by any file).
    pub(crate) fn posted_references(&self, date: i64, references: &[u64]) -> Result<Vec<u64>> {
        if references.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT reference FROM issuer_postings WHERE business_date = $1 AND outcome <> 'duplicate' \
             AND reference IN ({})",
            placeholders(2, references.len())
        );
        let mut params: Vec<Value> = vec![date.into()];
        params.extend(references.iter().map(|&r| int(r)));
        let rows = self.db().transaction(|tx| tx.query(&sql, &params))?;
        rows.iter().map(|row| Ok(row.u64(0)?)).collect()
    }

    /// Authorization keys among `keys` a purchase or completion record already cleared
    /// (posted, forced, confirmed or found cancelled): another presentment of one is a duplicate.
    pub(crate) fn cleared_keys(&self, keys: &[String]) -> Result<Vec<String>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT request_key FROM issuer_postings \
             WHERE outcome IN ('posted', 'force_posted', 'confirmed', 'cancelled') \
             AND code IN ('PUR', 'CMP') AND request_key IN ({})",
            placeholders(1, keys.len())
        );
        let params: Vec<Value> = keys.iter().map(|k| k.as_str().into()).collect();
        let rows = self.db().transaction(|tx| tx.query(&sql, &params))?;
        rows.iter().map(|row| Ok(row.text(0)?)).collect()
    }

    /// Journal rows by key.
    pub(crate) fn journals(&self, keys: &[String]) -> Result<HashMap<String, JournalRow>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {JOURNAL_COLUMNS} FROM issuer_authorizations WHERE request_key IN ({})",
            placeholders(1, keys.len())
        );
        let params: Vec<Value> = keys.iter().map(|k| k.as_str().into()).collect();
        let rows = self.db().transaction(|tx| tx.query(&sql, &params))?;
        rows.iter().map(|row| journal_from_row(row).map(|j| (j.key.clone(), j))).collect()
    }

    /// Cards by id.
    pub(crate) fn card_accounts(&self, ids: &[i64]) -> Result<HashMap<i64, CardAccount>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT card_id, pan_masked, account_id FROM issuer_cards WHERE card_id IN ({})",
            placeholders(1, ids.len())
        );
        let params: Vec<Value> = ids.iter().map(|&id| id.into()).collect();
        let rows = self.db().transaction(|tx| tx.query(&sql, &params))?;
        rows.iter().map(|row| card_account(row).map(|c| (c.card_id, c))).collect()
    }

    /// Cards by masked PAN: only masks that name exactly one card are answered.
    pub(crate) fn cards_by_mask(&self, masks: &[String]) -> Result<HashMap<String, CardAccount>> {
        if masks.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT card_id, pan_masked, account_id FROM issuer_cards WHERE pan_masked IN ({})",
            placeholders(1, masks.len())
        );
        let params: Vec<Value> = masks.iter().map(|m| m.as_str().into()).collect();
        let rows = self.db().transaction(|tx| tx.query(&sql, &params))?;
        let mut found: HashMap<String, Option<CardAccount>> = HashMap::new();
        for row in &rows {
            let card = card_account(row)?;
            found.entry(card.pan_masked.clone()).and_modify(|slot| *slot = None).or_insert(Some(card));
        }
        Ok(found.into_iter().filter_map(|(mask, card)| card.map(|c| (mask, c))).collect())
    }

    /// One batch's outcomes and the journal changes they make, in one transaction: after a
    /// crash either all of the batch is recorded or none of it (its ledger transfers, made
    /// before under derived ids, are found again on the rerun).
    pub(crate) fn commit_postings(
        &self,
        file_id: i64,
        rows: &[PostingRow],
        changes: &[StateChange],
        now_ms: i64,
    ) -> Result<()> {
        const COLUMNS: usize = 17;
        self.db().transaction(|tx| {
            // Many rows per statement: a round trip per row would be most of a batch's time
            // on PostgreSQL.
            for chunk in rows.chunks(POSTING_INSERT_ROWS) {
                let values: Vec<String> =
                    (0..chunk.len()).map(|n| format!("({})", placeholders(1 + n * COLUMNS, COLUMNS))).collect();
                let sql = format!(
                    "INSERT INTO issuer_postings (file_id, {POSTING_COLUMNS}, created_ms) VALUES {}",
                    values.join(", ")
                );
                let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * COLUMNS);
                for row in chunk {
                    params.extend([
                        file_id.into(),
                        int(row.ordinal),
                        row.business_date.into(),
                        int(row.reference),
                        row.code.as_str().into(),
                        row.issuer_stan.as_str().into(),
                        row.issuer_time.as_str().into(),
                        row.acquirer.as_str().into(),
                        row.request_key.clone().into(),
                        row.card_id.into(),
                        int(row.amount),
                        row.currency.as_str().into(),
                        int(row.moved),
                        row.outcome.as_str().into(),
                        row.pan_masked.as_str().into(),
                        row.detail.as_str().into(),
                        now_ms.into(),
                    ]);
                }
                assert_eq!(params.len(), chunk.len() * COLUMNS);
                tx.execute(&sql, &params)?;
            }
            for change in changes {
                let from = placeholders(4, change.from.len());
                let mut params: Vec<Value> = vec![change.to.name().into(), now_ms.into(), change.key.as_str().into()];
                params.extend(change.from.iter().map(|s| s.name().into()));
                tx.execute(
                    &format!(
                        "UPDATE issuer_authorizations SET state = $1, updated_ms = $2 WHERE request_key = $3 \
                         AND state IN ({from})"
                    ),
                    &params,
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Every outcome of `date`, by reference then file order.
    pub(crate) fn postings_of_date(&self, date: i64) -> Result<Vec<PostingRow>> {
        let sql = format!(
            "SELECT {POSTING_COLUMNS} FROM issuer_postings WHERE business_date = $1 \
             ORDER BY reference, file_id, ordinal"
        );
        let rows = self.db().transaction(|tx| tx.query(&sql, &[date.into()]))?;
        rows.iter().map(posting_from_row).collect()
    }

    /// Held journal rows of `kind` created at or before `created_ms_max`: the holds whose
    /// timeout has passed (oldest first, at most `limit`). The ledger says which of them it
    /// has released.
    pub(crate) fn held_due(&self, kind: &str, created_ms_max: i64, limit: usize) -> Result<Vec<(JournalRow, i64)>> {
        let sql = format!(
            "SELECT {JOURNAL_COLUMNS}, created_ms FROM issuer_authorizations WHERE state = $1 AND kind = $2 \
             AND created_ms <= $3 ORDER BY created_ms, request_key LIMIT $4"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let params = [EntryState::Held.name().into(), kind.into(), created_ms_max.into(), limit.into()];
        let rows = self.db().transaction(|tx| tx.query(&sql, &params))?;
        rows.iter().map(|row| Ok((journal_from_row(row)?, row.i64(15)?))).collect()
    }

    /// Record holds found expired and mark their journal rows, in one transaction (a row
    /// still held is changed once: a second sweep finds it expired already).
    pub(crate) fn record_expired(&self, expired: &[ExpiredRow], now_ms: i64) -> Result<()> {
        self.db().transaction(|tx| {
            for hold in expired {
                let changed = tx.execute(
                    "UPDATE issuer_authorizations SET state = $1, updated_ms = $2 WHERE request_key = $3 AND state = $4",
                    &[
                        EntryState::Expired.name().into(),
                        now_ms.into(),
                        hold.key.as_str().into(),
                        EntryState::Held.name().into(),
                    ],
                )?;
                if changed == 0 {
                    continue;
                }
                tx.execute(
                    "INSERT INTO issuer_expired_holds (request_key, kind, card_id, amount, currency, transfer_id, \
                     authorized_ms, expired_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        hold.key.as_str().into(),
                        hold.kind.as_str().into(),
                        hold.card_id.into(),
                        int(hold.amount),
                        hold.currency.as_str().into(),
                        id_blob(hold.transfer_id),
                        hold.authorized_ms.into(),
                        now_ms.into(),
                    ],
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Expired holds, newest first, at most `limit`, with the card's masked PAN.
    pub(crate) fn expired_holds(&self, limit: usize) -> Result<Vec<Row>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self.db().transaction(|tx| {
            tx.query(
                "SELECT e.request_key, e.kind, e.card_id, COALESCE(c.pan_masked, ''), e.amount, e.currency, \
                 e.authorized_ms, e.expired_ms FROM issuer_expired_holds e \
                 LEFT JOIN issuer_cards c ON c.card_id = e.card_id \
                 ORDER BY e.expired_ms DESC, e.request_key LIMIT $1",
                &[limit.into()],
            )
        })?)
    }

    /// Holds standing in the journal, oldest first, at most `limit`, with the masked PAN.
    pub(crate) fn held(&self, limit: usize) -> Result<Vec<Row>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self.db().transaction(|tx| {
            tx.query(
                "SELECT a.request_key, a.kind, a.card_id, COALESCE(c.pan_masked, ''), a.amount, a.currency, \
                 a.created_ms FROM issuer_authorizations a LEFT JOIN issuer_cards c ON c.card_id = a.card_id \
                 WHERE a.state = $1 ORDER BY a.created_ms, a.request_key LIMIT $2",
                &[EntryState::Held.name().into(), limit.into()],
            )
        })?)
    }
}
