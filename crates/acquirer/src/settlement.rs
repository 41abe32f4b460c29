//! Batch settlement (批结算, reference §6, docs/acquirer.md §3): the terminal's 0500 totals are
//! compared with the host journal of that batch and answered balanced (1) or unbalanced (2) in
//! 48; the batch is closed (the batch number moves on) at the 0500 either way. An unbalanced
//! terminal then uploads its transactions (0320 201/203/204/205, ended by 202); at the end the
//! host records what one side had and the other did not in `acquirer_batch_differences`, the
//! input to reconciliation. No MAC on 0500 or 0320 (reference §5).

use domain::TerminalId;
use iso8583::{Envelope, Message};
use network::codes;
use sqlstore::Tx;

use crate::engine::{Acquirer, PosKind, Reply, TransactionRecord, next_batch, transact};
use crate::error::Result;
use crate::journal;
use crate::limits::{BATCH_TRANSACTIONS_MAX, UPLOAD_RECORD_DIGITS, UPLOAD_RECORDS_MAX};
use crate::store::{self, int, opt_int};

/// Settlement results in 48 (reference §6).
pub const BALANCED: char = '1';
pub const UNBALANCED: char = '2';
/// Positions of the result digits in the 62-digit field 48 (0-based).
const DOMESTIC_RESULT_AT: usize = 30;
const FOREIGN_RESULT_AT: usize = 61;
const FIELD48_SETTLEMENT_DIGITS: usize = 62;
/// What field 48's 3-digit counts carry: a count is compared modulo this.
const COUNT_MODULUS: u64 = 1_000;

/// One side's totals for one card group: debit and credit amounts (minor units) and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupTotals {
    pub debit_minor: u64,
    pub debit_count: u64,
    pub credit_minor: u64,
    pub credit_count: u64,
}

impl GroupTotals {
    /// Whether the host's totals (`self`) agree with the terminal's as field 48 carries them:
    /// the amounts in full, the counts modulo 1,000 (three digits: a terminal's counter of a
    /// batch of 1,001 reads 001, and comparing the host's full count would call every batch
    /// above 999 unbalanced). The amounts still catch a missing or extra transaction unless
    /// a thousand of them cancel out exactly, which the batch upload would then show.
    pub fn agrees_with(&self, terminal: &GroupTotals) -> bool {
        self.debit_minor == terminal.debit_minor
            && self.credit_minor == terminal.credit_minor
            && self.debit_count % COUNT_MODULUS == terminal.debit_count % COUNT_MODULUS
            && self.credit_count % COUNT_MODULUS == terminal.credit_count % COUNT_MODULUS
    }
}

/// Totals of a batch: domestic and foreign cards (reference §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchTotals {
    pub domestic: GroupTotals,
    pub foreign: GroupTotals,
}

impl BatchTotals {
    /// Field 48 of an 0500: the terminal's totals (result digits ignored).
    pub fn parse(field48: &str) -> Option<BatchTotals> {
        if field48.len() != FIELD48_SETTLEMENT_DIGITS || !field48.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number = |from: usize, len: usize| field48.get(from..from + len)?.parse::<u64>().ok();
        let group = |at: usize| {
            Some(GroupTotals {
                debit_minor: number(at, 12)?,
                debit_count: number(at + 12, 3)?,
                credit_minor: number(at + 15, 12)?,
                credit_count: number(at + 27, 3)?,
            })
        };
        Some(BatchTotals { domestic: group(0)?, foreign: group(31)? })
    }

    /// As field 48 with both result digits (counts beyond 3 digits are cut to their last 3,
    /// as a terminal's counters wrap).
    pub fn field48(&self, domestic_result: char, foreign_result: char) -> String {
        let group = |g: &GroupTotals, result: char| {
            format!(
                "{:012}{:03}{:012}{:03}{result}",
                g.debit_minor % 1_000_000_000_000,
                g.debit_count % COUNT_MODULUS,
                g.credit_minor % 1_000_000_000_000,
                g.credit_count % COUNT_MODULUS
            )
        };
        format!("{}{}", group(&self.domestic, domestic_result), group(&self.foreign, foreign_result))
    }
}

/// Whether the host read only part of the batch: [`Acquirer::batch_transactions`] stops at
/// `BATCH_TRANSACTIONS_MAX`, and totals or differences over part of a batch would be wrong
/// (the settlement is refused, 96, instead).
fn read_in_part(records: &[TransactionRecord], terminal_id: &str, batch: u32) -> bool {
    let in_part = records.len() >= BATCH_TRANSACTIONS_MAX;
    if in_part {
        tracing::error!(terminal = %terminal_id, batch, "acquirer: the batch is larger than the host reads: not settled");
    }
    in_part
}

/// What counts in a batch's totals: approved, not reversed, debit or credit kinds.
fn counts(record: &TransactionRecord) -> bool {
    record.approved() && !record.reversed && record.pos_kind().is_some_and(|k| k.is_debit() || k.is_credit())
}

/// The host's totals of a terminal batch.
pub fn host_totals(records: &[TransactionRecord], domestic_org: &str) -> BatchTotals {
    let mut totals = BatchTotals::default();
    for record in records.iter().filter(|r| counts(r)) {
        let group = if record.card_org == domestic_org { &mut totals.domestic } else { &mut totals.foreign };
        if record.pos_kind().is_some_and(PosKind::is_debit) {
            group.debit_minor += record.amount_minor;
            group.debit_count += 1;
        } else {
            group.credit_minor += record.amount_minor;
            group.credit_count += 1;
        }
    }
    totals
}

/// A reconciliation input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDifference {
    pub terminal_id: TerminalId,
    pub batch_no: u32,
    pub trace: String,
    /// `terminal_only`, `host_only` or `amount_differs`.
    pub side: String,
    pub pan_masked: Option<String>,
    pub terminal_amount_minor: Option<u64>,
    pub host_amount_minor: Option<u64>,
    pub transaction_id: Option<u64>,
}

/// A settled batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRecord {
    pub terminal_id: TerminalId,
    pub batch_no: u32,
    pub terminal_totals: String,
    pub host_totals: String,
    pub domestic_result: String,
    pub foreign_result: String,
    /// `none` (balanced), `awaiting` (unbalanced, upload expected), `done`.
    pub upload_state: String,
}

fn text_path(message: &Message, path: &str) -> Option<String> {
    message.get_path(path).ok().flatten().and_then(|v| std::str::from_utf8(v).ok()).map(str::to_owned)
}

impl Acquirer {
    /// The host's reply to an 0500/0320: echo fields, host time, 32, 39; no MAC.
    fn settlement_reply(
        &self,
        envelope: &Envelope,
        request: &Message,
        code: &str,
        now_ms: u64,
    ) -> Result<(Envelope, Message)> {
        let mut response = request.response(&[11, 41, 42, 48, 49, 60])?;
        let now = clock::UtcDateTime::from_ms(now_ms);
        response.set_str(12, &now.hhmmss())?;
        response.set_str(13, &now.mmdd())?;
        response.set_str(32, &self.settings.institution_id)?;
        response.set_str(39, code)?;
        let mut reply = if self.settings.tpdu_swap { envelope.response() } else { *envelope };
        if let Some(header) = self.settings.response_header {
            reply.header = Some(header);
        }
        Ok((reply, response))
    }

    fn settlement_refusal(&self, envelope: &Envelope, request: &Message, code: &str, now_ms: u64) -> Result<Reply> {
        let (envelope, response) = self.settlement_reply(envelope, request, code, now_ms)?;
        transact(&self.db, |tx| Ok(journal::log_exchange(tx, None, request, &response, now_ms)?))?;
        Ok(Reply { envelope, response, reversal_queued: false })
    }

    /// 0500: compare, answer, close the batch.
    pub(crate) fn settle(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<Reply> {
        let Some(terminal_id) = request.get_str(41).map(|t| t.trim_end().to_owned()) else {
            return self.settlement_refusal(envelope, request, codes::FORMAT_ERROR, now_ms);
        };
        let Some((_, merchant)) =
            self.directory.terminal_with_merchant(&terminal_id).map_err(crate::error::AcquirerError::Directory)?
        else {
            return self.settlement_refusal(envelope, request, crate::engine::TERMINAL_NOT_REGISTERED, now_ms);
        };
        if request.get_str(42).map(str::trim_end) != Some(merchant.merchant_id.as_str()) {
            return self.settlement_refusal(envelope, request, codes::INVALID_MERCHANT, now_ms);
        }
        let batch = text_path(request, "60.2").and_then(|b| b.parse::<u32>().ok());
        let (Some(batch), Some(terminal_totals)) = (batch, request.get_str(48).and_then(BatchTotals::parse)) else {
            return self.settlement_refusal(envelope, request, codes::FORMAT_ERROR, now_ms);
        };
        let records = self.batch_transactions(&terminal_id, batch)?;
        if read_in_part(&records, &terminal_id, batch) {
            return self.settlement_refusal(envelope, request, codes::SYSTEM_MALFUNCTION, now_ms);
        }
        let host = host_totals(&records, &self.settings.card_organisation);
        let domestic = if host.domestic.agrees_with(&terminal_totals.domestic) { BALANCED } else { UNBALANCED };
        let foreign = if host.foreign.agrees_with(&terminal_totals.foreign) { BALANCED } else { UNBALANCED };
        let (reply_envelope, mut response) = self.settlement_reply(envelope, request, codes::APPROVED, now_ms)?;
        transact(&self.db, |tx| {
            let earlier = tx.query_opt(
                "SELECT domestic_result, foreign_result FROM acquirer_settlements WHERE terminal_id = $1 AND batch_no = $2",
                &[terminal_id.as_str().into(), batch.into()],
            )?;
            let (domestic, foreign) = match earlier {
                // A repeat of an 0500 already answered: the same result, the batch is closed.
                Some(row) => (
                    row.text(0)?.chars().next().unwrap_or(UNBALANCED),
                    row.text(1)?.chars().next().unwrap_or(UNBALANCED),
                ),
                None => {
                    let id = store::next_id(tx, store::SEQ_SETTLEMENT)?;
                    let upload = if domestic == BALANCED && foreign == BALANCED { "none" } else { "awaiting" };
                    tx.execute(
                        "INSERT INTO acquirer_settlements (id, terminal_id, batch_no, terminal_totals, host_totals, \
                         domestic_result, foreign_result, upload_state, settled_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            int(id)?,
                            terminal_id.as_str().into(),
                            batch.into(),
                            terminal_totals.field48(domestic, foreign).into(),
                            host.field48(domestic, foreign).into(),
                            domestic.to_string().into(),
                            foreign.to_string().into(),
                            upload.into(),
                            int(now_ms)?,
                        ],
                    )?;
                    (domestic, foreign)
                }
            };
            // Close the batch: the terminal moves to the next batch number after settlement, in
            // the commit that records the settlement (the host's table is the one place it lives).
            if let Some(state) = journal::terminal(tx, &terminal_id)?
                && state.batch_no == batch
            {
                journal::close_batch(tx, &terminal_id, next_batch(batch), now_ms)?;
            }
            let mut field48 = request.get_str(48).unwrap_or_default().to_owned();
            field48.replace_range(DOMESTIC_RESULT_AT..=DOMESTIC_RESULT_AT, &domestic.to_string());
            field48.replace_range(FOREIGN_RESULT_AT..=FOREIGN_RESULT_AT, &foreign.to_string());
            response.set_str(48, &field48)?;
            Ok(journal::log_exchange(tx, None, request, &response, now_ms)?)
        })?;
        tracing::info!(terminal = %terminal_id, batch, %domestic, %foreign, "acquirer: batch settled");
        Ok(Reply { envelope: reply_envelope, response, reversal_queued: false })
    }

    /// 0320: record uploaded transactions; at 202 compare and record the differences.
    pub(crate) fn batch_upload(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<Reply> {
        let Some(terminal_id) = request.get_str(41).map(|t| t.trim_end().to_owned()) else {
            return self.settlement_refusal(envelope, request, codes::FORMAT_ERROR, now_ms);
        };
        if self
            .directory
            .terminal_with_merchant(&terminal_id)
            .map_err(crate::error::AcquirerError::Directory)?
            .is_none()
        {
            return self.settlement_refusal(envelope, request, crate::engine::TERMINAL_NOT_REGISTERED, now_ms);
        }
        let batch = text_path(request, "60.2").and_then(|b| b.parse::<u32>().ok());
        let code = text_path(request, "60.3");
        let (Some(batch), Some(code)) = (batch, code) else {
            return self.settlement_refusal(envelope, request, codes::FORMAT_ERROR, now_ms);
        };
        let records: Vec<(String, Option<String>, Option<String>, u64)> = match code.as_str() {
            "201" => match parse_upload(request.get_str(48).unwrap_or_default()) {
                Some(records) => records,
                None => return self.settlement_refusal(envelope, request, codes::FORMAT_ERROR, now_ms),
            },
            "203" | "204" | "205" => {
                let (Some(trace), Some(amount)) =
                    (request.get_str(11), request.get_str(4).and_then(|a| a.parse::<u64>().ok()))
                else {
                    return self.settlement_refusal(envelope, request, codes::FORMAT_ERROR, now_ms);
                };
                let pan = request.get_str(2).map(iso8583::mask::mask_pan);
                vec![(trace.to_owned(), None, pan, amount)]
            }
            "202" | "207" => Vec::new(),
            _ => return self.settlement_refusal(envelope, request, codes::NOT_SUPPORTED, now_ms),
        };
        let host = if code == "202" { self.batch_transactions(&terminal_id, batch)? } else { Vec::new() };
        if read_in_part(&host, &terminal_id, batch) {
            return self.settlement_refusal(envelope, request, codes::SYSTEM_MALFUNCTION, now_ms);
        }
        let (reply_envelope, response) = self.settlement_reply(envelope, request, codes::APPROVED, now_ms)?;
        transact(&self.db, |tx| {
            for (trace, flag, pan, amount) in &records {
                let id = store::next_id(tx, store::SEQ_UPLOAD)?;
                tx.execute(
                    "INSERT INTO acquirer_batch_uploads (id, terminal_id, batch_no, trace, network_code, card_flag, \
                     pan_masked, amount_minor, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        int(id)?,
                        terminal_id.as_str().into(),
                        batch.into(),
                        trace.as_str().into(),
                        code.as_str().into(),
                        flag.clone().into(),
                        pan.clone().into(),
                        int(*amount)?,
                        int(now_ms)?,
                    ],
                )?;
            }
            if code == "202" {
                record_differences(tx, &terminal_id, batch, &host, now_ms)?;
            }
            if code == "202" || code == "207" {
                tx.execute(
                    "UPDATE acquirer_settlements SET upload_state = 'done', upload_done_ms = $3 \
                     WHERE terminal_id = $1 AND batch_no = $2",
                    &[terminal_id.as_str().into(), batch.into(), int(now_ms)?],
                )?;
            }
            Ok(journal::log_exchange(tx, None, request, &response, now_ms)?)
        })?;
        Ok(Reply { envelope: reply_envelope, response, reversal_queued: false })
    }

    /// The recorded differences of a terminal batch (reconciliation input).
    pub fn batch_differences(&self, terminal_id: &str, batch_no: u32) -> Result<Vec<BatchDifference>> {
        transact(&self.db, |tx| {
            let rows = tx.query(
                "SELECT terminal_id, batch_no, trace, side, pan_masked, terminal_amount_minor, host_amount_minor, \
                 transaction_id FROM acquirer_batch_differences WHERE terminal_id = $1 AND batch_no = $2 ORDER BY id",
                &[terminal_id.into(), batch_no.into()],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(BatchDifference {
                    terminal_id: row.parsed(0, "terminal_id")?,
                    batch_no: u32::try_from(row.u64(1)?).unwrap_or(0),
                    trace: row.text(2)?,
                    side: row.text(3)?,
                    pan_masked: row.opt_text(4)?,
                    terminal_amount_minor: row.opt_i64(5)?.and_then(|v| u64::try_from(v).ok()),
                    host_amount_minor: row.opt_i64(6)?.and_then(|v| u64::try_from(v).ok()),
                    transaction_id: row.opt_i64(7)?.and_then(|v| u64::try_from(v).ok()),
                });
            }
            Ok(out)
        })
    }

    /// The settlement of a terminal batch, if it was settled.
    pub fn settlement(&self, terminal_id: &str, batch_no: u32) -> Result<Option<SettlementRecord>> {
        transact(&self.db, |tx| {
            let row = tx.query_opt(
                "SELECT terminal_totals, host_totals, domestic_result, foreign_result, upload_state, terminal_id \
                 FROM acquirer_settlements WHERE terminal_id = $1 AND batch_no = $2",
                &[terminal_id.into(), batch_no.into()],
            )?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(SettlementRecord {
                terminal_id: row.parsed(5, "terminal_id")?,
                batch_no,
                terminal_totals: row.text(0)?,
                host_totals: row.text(1)?,
                domestic_result: row.text(2)?,
                foreign_result: row.text(3)?,
                upload_state: row.text(4)?,
            }))
        })
    }
}

/// 0320/201 field 48: n2 count + records of flag n2, trace n6, PAN n20, amount n12.
/// `(trace, flag, masked PAN, amount)` per record.
type UploadRecord = (String, Option<String>, Option<String>, u64);

fn parse_upload(field48: &str) -> Option<Vec<UploadRecord>> {
    let count: usize = field48.get(..2)?.parse().ok()?;
    let body = field48.get(2..)?;
    if count > UPLOAD_RECORDS_MAX || body.len() != count * UPLOAD_RECORD_DIGITS {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let record = body.get(index * UPLOAD_RECORD_DIGITS..(index + 1) * UPLOAD_RECORD_DIGITS)?;
        let flag = record.get(..2)?.to_owned();
        let trace = record.get(2..8)?.to_owned();
        let pan = record.get(8..28)?.trim_start_matches('0');
        let amount = record.get(28..40)?.parse().ok()?;
        let pan = (!pan.is_empty()).then(|| iso8583::mask::mask_pan(pan));
        out.push((trace, Some(flag), pan, amount));
    }
    Some(out)
}

/// Compare the uploaded records of a batch with the host's counted transactions.
fn record_differences(
    tx: &mut Tx<'_>,
    terminal_id: &str,
    batch: u32,
    host: &[TransactionRecord],
    now_ms: u64,
) -> sqlstore::Result<()> {
    let uploaded = tx.query(
        "SELECT trace, pan_masked, amount_minor FROM acquirer_batch_uploads WHERE terminal_id = $1 AND batch_no = $2 \
         ORDER BY id",
        &[terminal_id.into(), batch.into()],
    )?;
    let mut terminal: Vec<(String, Option<String>, u64)> = Vec::with_capacity(uploaded.len());
    for row in &uploaded {
        terminal.push((row.text(0)?, row.opt_text(1)?, row.u64(2)?));
    }
    let counted: Vec<&TransactionRecord> = host.iter().filter(|r| counts(r)).collect();
    // (trace, side, masked PAN, terminal amount, host amount, host transaction)
    type Difference<'a> = (String, &'a str, Option<String>, Option<u64>, Option<u64>, Option<u64>);
    let mut differences: Vec<Difference<'_>> = Vec::new();
    for (trace, pan, amount) in &terminal {
        match counted.iter().find(|r| r.trace.field().as_str() == trace) {
            None => differences.push((trace.clone(), "terminal_only", pan.clone(), Some(*amount), None, None)),
            Some(record) if record.amount_minor != *amount => differences.push((
                trace.clone(),
                "amount_differs",
                record.pan_masked.clone(),
                Some(*amount),
                Some(record.amount_minor),
                Some(record.id),
            )),
            Some(_) => {}
        }
    }
    for record in &counted {
        if !terminal.iter().any(|(trace, _, _)| trace == record.trace.field().as_str()) {
            differences.push((
                record.trace.to_string(),
                "host_only",
                record.pan_masked.clone(),
                None,
                Some(record.amount_minor),
                Some(record.id),
            ));
        }
    }
    for (trace, side, pan, terminal_amount, host_amount, transaction_id) in differences {
        let id = store::next_id(tx, store::SEQ_DIFFERENCE)?;
        tx.execute(
            "INSERT INTO acquirer_batch_differences (id, terminal_id, batch_no, trace, side, pan_masked, \
             terminal_amount_minor, host_amount_minor, transaction_id, recorded_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                int(id)?,
                terminal_id.into(),
                batch.into(),
                trace.into(),
                side.into(),
                pan.into(),
                opt_int(terminal_amount)?,
                opt_int(host_amount)?,
                opt_int(transaction_id)?,
                int(now_ms)?,
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(debit_minor: u64, debit_count: u64, credit_minor: u64, credit_count: u64) -> GroupTotals {
        GroupTotals { debit_minor, debit_count, credit_minor, credit_count }
    }

    #[test]
    fn counts_compare_as_three_digits_carry_them_and_amounts_in_full() {
        let host = group(100_100, 1_001, 5_000, 2_000);
        assert!(host.agrees_with(&group(100_100, 1, 5_000, 0)));
        assert!(!host.agrees_with(&group(100_100, 2, 5_000, 0)), "a count off by one");
        assert!(!host.agrees_with(&group(100_000, 1, 5_000, 0)), "a debit amount off");
        assert!(!host.agrees_with(&group(100_100, 1, 4_999, 0)), "a credit amount off");
        // What the terminal sends back parses to what it compares.
        let totals = BatchTotals { domestic: host, foreign: GroupTotals::default() };
        let parsed = BatchTotals::parse(&totals.field48('0', '0')).unwrap();
        assert!(host.agrees_with(&parsed.domestic) && parsed.domestic.debit_count == 1);
    }
}
