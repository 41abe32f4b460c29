//! What a merchant settlement run produces besides its rows (crate::merchant_run): the ledger
//! postings, the tie to the clearing file, the funds-arrival notices' bodies, and the files — a
//! payout file per currency for the paying bank, and per payout a statement as CSV and as a
//! readable page. Files are owner-only and rebuilt from the database, so a rerun writes the same
//! bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clearing::{BusinessDate, ClearingRecord};
use serde_json::json;
use sqlstore::Tx;

use crate::acquirer_ledger::{
    AcquirerLedger, CODE_INTERCHANGE_EXPENSE, CODE_MDR_INCOME, CODE_MERCHANT_PAYABLE, CODE_NETWORK_FEE_EXPENSE,
    CODE_NETWORK_SETTLEMENT, CODE_PAYING_BANK, Movement, TRANSFER_ADJUSTMENT, TRANSFER_INTERCHANGE, TRANSFER_MDR,
    TRANSFER_NETWORK_FEE, TRANSFER_PAYOUT, TRANSFER_SALES, account_id,
};
use crate::engine::{Acquirer, transact};
use crate::error::{AcquirerError, Result};
use crate::merchant_run::{MerchantPlan, PAYOUT_COLUMNS, Payout, SettlementRun, Tie, payout_from_row};
use crate::payout::{PayoutHeader, PayoutLine, PayoutWriter};
use crate::settlement_config::SettlementConfig;
use crate::statement::{StatementRow, StatementSummary};
use crate::store::int;

/// Items one statement lists at most (a merchant's day; far above a real one).
pub const STATEMENT_ITEMS_MAX: usize = 1_000_000;

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The ledger movements of one payout: sales, adjustments, MDR, payout.
pub fn payout_movements(run: &SettlementRun, p: &Payout) -> Vec<Movement> {
    let name = |what: &str| {
        vec![
            run.business_date.to_string(),
            run.cycle.clone(),
            p.merchant_id.clone(),
            p.currency.clone(),
            what.to_owned(),
        ]
    };
    let settlement = account_id(CODE_NETWORK_SETTLEMENT, &p.currency, "");
    let payable = account_id(CODE_MERCHANT_PAYABLE, &p.currency, &p.merchant_id);
    let sales = signed(p.gross_minor) - signed(p.voids_minor) - signed(p.refunds_minor);
    let mut out = Vec::with_capacity(4);
    out.extend(Movement::signed(name("sales"), &p.currency, settlement, payable, sales, TRANSFER_SALES));
    out.extend(Movement::signed(
        name("adjustment"),
        &p.currency,
        settlement,
        payable,
        p.adjustments_minor,
        TRANSFER_ADJUSTMENT,
    ));
    let income = account_id(CODE_MDR_INCOME, &p.currency, "");
    out.extend(Movement::signed(name("mdr"), &p.currency, payable, income, p.fee_minor, TRANSFER_MDR));
    if p.net_minor > 0 {
        let bank = account_id(CODE_PAYING_BANK, &p.currency, "");
        out.extend(Movement::signed(name("payout"), &p.currency, payable, bank, p.net_minor, TRANSFER_PAYOUT));
    }
    out
}

/// Post every payout of `run` (accounts created as needed); the transfers made now.
pub fn post_payouts(ledger: &AcquirerLedger, run: &SettlementRun) -> Result<u64> {
    let mut by_currency: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in &run.payouts {
        by_currency.entry(&p.currency).or_default().push(&p.merchant_id);
    }
    for (currency, merchants) in &by_currency {
        ledger.ensure_accounts(currency, merchants)?;
    }
    let movements: Vec<Movement> = run.payouts.iter().flat_map(|p| payout_movements(run, p)).collect();
    ledger.post(&movements)
}

/// Tie the date's payouts to the acquirer's records in the clearing file, per currency, and
/// post the network side (interchange and network fee) once.
pub fn tie(
    acquirer: &Acquirer,
    ledger: &AcquirerLedger,
    date: BusinessDate,
    records: &[ClearingRecord],
    now_ms: u64,
) -> Result<(Vec<Tie>, u64)> {
    let own = acquirer.settings.institution_id.trim_start_matches('0');
    // currency → (position, interchange, network fee, adjustments, records)
    let mut network: BTreeMap<String, (i64, i64, i64, i64, u64)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.acquirer.as_str().trim_start_matches('0') == own) {
        let entry = network.entry(r.currency.as_str().to_owned()).or_default();
        entry.0 += r.settlement_minor - r.network_fee_minor;
        entry.1 += r.interchange_fee_minor;
        entry.2 += r.network_fee_minor;
        if r.code.is_exception() {
            entry.3 += r.code.direction() * signed(r.amount_minor);
        }
        entry.4 += 1;
    }
    let date_text = date.to_string();
    // Σ (net + fee) of every payout of the date, every cycle.
    let sums = transact(&acquirer.db, |tx| {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM acquirer_payouts WHERE business_date = $1");
        let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for row in tx.query(&sql, &[date_text.as_str().into()])? {
            let p = payout_from_row(&row)?;
            let entry = sums.entry(p.currency).or_default();
            entry.0 += p.net_minor + p.fee_minor;
            entry.1 += p.fee_minor;
        }
        Ok(sums)
    })?;
    let mut currencies: Vec<&String> = network.keys().chain(sums.keys()).collect();
    currencies.sort();
    currencies.dedup();
    let mut ties = Vec::with_capacity(currencies.len());
    let mut movements = Vec::new();
    for currency in currencies {
        let (position, interchange, network_fee, adjustments, count) =
            network.get(currency).copied().unwrap_or_default();
        let (net_and_fee, mdr) = sums.get(currency).copied().unwrap_or_default();
        let ours = net_and_fee - interchange - network_fee;
        ties.push(Tie {
            currency: currency.clone(),
            position_minor: position,
            ours_minor: ours,
            mdr_minor: mdr,
            interchange_minor: interchange,
            network_fee_minor: network_fee,
            difference_minor: ours - position,
            tie_ok: ours == position,
        });
        let name = |what: &str| vec![date_text.clone(), currency.clone(), what.to_owned()];
        let settlement = account_id(CODE_NETWORK_SETTLEMENT, currency, "");
        let interchange_account = account_id(CODE_INTERCHANGE_EXPENSE, currency, "");
        let fee_account = account_id(CODE_NETWORK_FEE_EXPENSE, currency, "");
        ledger.ensure_accounts(currency, &[])?;
        movements.extend(Movement::signed(
            name("interchange"),
            currency,
            interchange_account,
            settlement,
            interchange,
            TRANSFER_INTERCHANGE,
        ));
        movements.extend(Movement::signed(
            name("network-fee"),
            currency,
            fee_account,
            settlement,
            network_fee,
            TRANSFER_NETWORK_FEE,
        ));
        transact(&acquirer.db, |tx| {
            let known = tx.query_opt(
                "SELECT records FROM acquirer_network_postings WHERE business_date = $1 AND currency = $2",
                &[date_text.as_str().into(), currency.as_str().into()],
            )?;
            if known.is_none() {
                tx.execute(
                    "INSERT INTO acquirer_network_postings (business_date, currency, records, settlement_minor, \
                     interchange_minor, network_fee_minor, adjustments_minor, posted_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        date_text.as_str().into(),
                        currency.as_str().into(),
                        int(count)?,
                        position.into(),
                        interchange.into(),
                        network_fee.into(),
                        adjustments.into(),
                        int(now_ms)?,
                    ],
                )?;
            }
            Ok(())
        })?;
    }
    let made = ledger.post(&movements)?;
    Ok((ties, made))
}

/// The account number shown to people: its last 4 digits.
pub fn mask_account(account: &str) -> String {
    let tail: String = account.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}

/// Store the funds-arrival notice of a payout that pays something (net above zero).
pub(crate) fn insert_notice(
    tx: &mut Tx<'_>,
    payout: &Payout,
    date: BusinessDate,
    cycle: &str,
    now_ms: u64,
    _config: &SettlementConfig,
) -> Result<()> {
    if payout.net_minor <= 0 {
        return Ok(());
    }
    let id = crate::store::next_id(tx, crate::store::SEQ_NOTICE)?;
    let body = json!({
        "notice_id": id,
        "type": "funds_arrival",
        "merchant_id": payout.merchant_id,
        "business_date": date.to_string(),
        "cycle": cycle,
        "payout_reference": payout.reference,
        "payout_date": payout.payout_date.to_string(),
        "currency": payout.currency,
        "gross_minor": payout.gross_minor,
        "fee_minor": payout.fee_minor,
        "net_minor": payout.net_minor,
        "account": mask_account(&payout.account_no),
    })
    .to_string();
    tx.execute(
        "INSERT INTO acquirer_notices (id, payout_id, merchant_id, body, state, attempts, next_attempt_ms, created_ms) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        &[int(id)?, int(payout.payout_id)?, payout.merchant_id.as_str().into(), body.into(), int(now_ms)?],
    )?;
    Ok(())
}

const ITEM_SQL: &str = "SELECT s.role, s.amount_minor, s.fee_minor, t.terminal_id, t.received_ms, t.batch_no, \
     t.trace, t.rrn, t.pan_masked, t.card_kind, t.issuer_id, o.trace, o.rrn, t.kind, o.card_kind, s.payout_id \
     FROM acquirer_settled_items s \
     LEFT JOIN acquirer_transactions t ON t.id = s.transaction_id \
     LEFT JOIN acquirer_transactions o ON o.id = t.original_id \
     WHERE s.payout_id >= $1 AND s.payout_id <= $2 ORDER BY s.payout_id, s.transaction_id, s.role LIMIT ";

/// Payouts whose statements one query reads (set-based: a query per chunk, not per merchant).
pub const STATEMENT_PAYOUTS_PER_QUERY: usize = 1_000;

/// A payout's statement rows, in journal order.
pub fn statement_rows(acquirer: &Acquirer, payout_id: u64) -> Result<Vec<StatementRow>> {
    Ok(statement_rows_between(acquirer, payout_id, payout_id)?.remove(&payout_id).unwrap_or_default())
}

/// The statement rows of the payouts `first..=last`, by payout, each in journal order.
pub fn statement_rows_between(acquirer: &Acquirer, first: u64, last: u64) -> Result<BTreeMap<u64, Vec<StatementRow>>> {
    let sql = format!("{ITEM_SQL}{}", STATEMENT_ITEMS_MAX.saturating_mul(STATEMENT_PAYOUTS_PER_QUERY));
    transact(&acquirer.db, |tx| {
        let mut by_payout: BTreeMap<u64, Vec<StatementRow>> = BTreeMap::new();
        for row in tx.query(&sql, &[int(first)?, int(last)?])? {
            let out = by_payout.entry(row.u64(15)?).or_default();
            let role = row.text(0)?;
            let kind = match role.as_str() {
                "reversal" => "reversal".to_owned(),
                r if r.starts_with("adjustment:") => "adjustment".to_owned(),
                _ => row.opt_text(13)?.unwrap_or_default(),
            };
            let original = match (row.opt_text(11)?, row.opt_text(12)?) {
                (Some(trace), rrn) => format!("{trace}/{}", rrn.unwrap_or_default()),
                _ if role.starts_with("adjustment:") => role.trim_start_matches("adjustment:").to_owned(),
                _ => String::new(),
            };
            out.push(StatementRow {
                terminal_id: row.opt_text(3)?.unwrap_or_default(),
                at_ms: row.opt_i64(4)?.map_or(0, |v| v.max(0) as u64),
                kind,
                batch_no: row.opt_i64(5)?.map(|b| format!("{b:06}")).unwrap_or_default(),
                trace: row.opt_text(6)?.unwrap_or_default(),
                rrn: row.opt_text(7)?.unwrap_or_default(),
                pan_masked: row.opt_text(8)?.unwrap_or_default(),
                card_kind: row.opt_text(9)?.or(row.opt_text(14)?).unwrap_or_else(|| "debit".to_owned()),
                issuer: row.opt_text(10)?.unwrap_or_default(),
                amount_minor: row.i64(1)?,
                fee_minor: row.i64(2)?,
                original,
            });
        }
        for rows in by_payout.values_mut() {
            rows.sort_by_key(|r| r.at_ms);
        }
        Ok(by_payout)
    })
}

fn io_error(path: &Path, e: std::io::Error) -> AcquirerError {
    AcquirerError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The payout file: owner-only and synced before the run reports it (it goes to the bank).
fn write(path: PathBuf, bytes: &[u8], files: &mut Vec<PathBuf>) -> Result<()> {
    host::write_private(&path, bytes).map_err(|e| io_error(&path, e))?;
    files.push(path);
    Ok(())
}

/// A statement: owner-only, not synced file by file — it is a view of rows already committed
/// and a rerun after a crash writes it again, while a sync per merchant would cost a disk flush
/// per file (minutes for a large acquirer's day).
fn write_view(path: PathBuf, bytes: &[u8], files: &mut Vec<PathBuf>) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(|e| io_error(&path, e))?;
    // A file that was there keeps its own mode until it is set.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| io_error(&path, e))?;
    }
    file.write_all(bytes).map_err(|e| io_error(&path, e))?;
    files.push(path);
    Ok(())
}

/// Write the run's payout files and statements into `dir` (created owner-only if missing).
pub fn write_files(
    acquirer: &Acquirer,
    run: &SettlementRun,
    dir: &Path,
    plans: &dyn Fn(&[String]) -> Result<Vec<MerchantPlan>>,
    config: &SettlementConfig,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // Checked before anything is written: a bad zone is refused with no file half made.
    config.zone_minutes()?;
    let cycle_code: String = run.cycle.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut files = Vec::new();
    let mut currencies: Vec<&str> = run.payouts.iter().map(|p| p.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    for currency in currencies {
        let header = PayoutHeader {
            acquirer: acquirer.settings.institution_id.clone(),
            business_date: run.business_date,
            cycle: run.cycle.clone(),
            currency: currency.to_owned(),
            paying_bank: config.paying_bank.clone(),
            paying_account: config.paying_account.clone(),
        };
        let mut bytes = Vec::new();
        let mut writer = PayoutWriter::new(&mut bytes, &header)?;
        for p in run.payouts.iter().filter(|p| p.currency == currency && p.net_minor > 0) {
            writer.line(&PayoutLine {
                merchant_id: p.merchant_id.clone(),
                bank_code: p.bank_code.clone(),
                account_no: p.account_no.clone(),
                amount_minor: p.net_minor.unsigned_abs(),
                payout_date: p.payout_date,
                reference: p.reference.clone(),
            })?;
        }
        writer.finish()?;
        write(dir.join(format!("payouts-{cycle_code}-{currency}.txt")), &bytes, &mut files)?;
    }
    let ids: Vec<String> = run.payouts.iter().map(|p| p.merchant_id.clone()).collect();
    let names: BTreeMap<String, String> = plans(&ids)?.into_iter().map(|p| (p.merchant_id, p.name)).collect();
    let mut ordered: Vec<&crate::merchant_run::Payout> = run.payouts.iter().collect();
    ordered.sort_by_key(|p| p.payout_id);
    for chunk in ordered.chunks(STATEMENT_PAYOUTS_PER_QUERY) {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else { continue };
        let mut rows_of = statement_rows_between(acquirer, first.payout_id, last.payout_id)?;
        for p in chunk {
            let rows = rows_of.remove(&p.payout_id).unwrap_or_default();
            write_statement(p, &rows, run, &names, dir, config, &mut files)?;
        }
    }
    // The folder's entries made durable once (where a directory can be opened for it).
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(files)
}

/// One payout's statement, CSV and page.
fn write_statement(
    p: &crate::merchant_run::Payout,
    rows: &[StatementRow],
    run: &SettlementRun,
    names: &BTreeMap<String, String>,
    dir: &Path,
    config: &SettlementConfig,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    let zone = config.zone_minutes()?;
    let cycle_code: String = run.cycle.chars().filter(char::is_ascii_alphanumeric).collect();
    {
        let summary = StatementSummary {
            merchant_id: p.merchant_id.clone(),
            merchant_name: names.get(&p.merchant_id).cloned().unwrap_or_default(),
            business_date: run.business_date,
            cycle: run.cycle.clone(),
            currency: p.currency.clone(),
            gross_minor: p.gross_minor,
            voids_minor: p.voids_minor,
            refunds_minor: p.refunds_minor,
            fee_minor: p.fee_minor,
            adjustments_minor: p.adjustments_minor,
            net_minor: p.net_minor,
            payout_date: p.payout_date,
            reference: p.reference.clone(),
            account_masked: mask_account(&p.account_no),
            zone: config.zone.clone(),
        };
        let stem = format!("statement-{}-{cycle_code}-{}", p.merchant_id, p.currency);
        let csv = crate::statement::csv(&p.merchant_id, rows, zone);
        write_view(dir.join(format!("{stem}.csv")), csv.as_bytes(), files)?;
        let page = crate::statement::page(&summary, rows, zone);
        write_view(dir.join(format!("{stem}.txt")), page.as_bytes(), files)?;
    }
    Ok(())
}
