//! Reconciliation over a network folder: every source read afresh into `recon`'s records —
//!
//! * **terminal batches** and **the acquirer journal** (`acquirer_transactions`): see
//!   [`crate::recon_acquirer`];
//! * **clearing**: the switch's clearing files of the date (each record once, from its
//!   acquirer's file);
//! * **issuer**: each issuer's authorization journal of the requests the date cleared or that it
//!   approved that day, with their state, and its posting result;
//! * **the settlement bank**: the statements of the date against the clearing's net positions.
//!
//! Every difference found is opened as an exception (差错) at the switch; the detail goes to
//! `NET/recon/DATE/` as CSV and JSON lines with the summary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use clearing::{BusinessDate, ClearingRecord, TxnCode};
use recon::{ClearingItem, IssuerRecord, IssuerRow, Sources, StatementLine};
use serde_json::{Value, json};
use sqlstore::Database;

use crate::net::NetDir;
use crate::recon_acquirer::{AcquirerLeg, acquirer_sources};
use crate::{EodError, SharedClock};

/// A terminal's reversal (0400) names its original's trace: on the terminal side it is keyed
/// apart from its original by this offset on the trace (above any 6-digit trace).
pub(crate) const REVERSAL_TRACE_OFFSET: u32 = 1_000_000;
/// Kinds that move money between members (a pre-authorization and its void do not).
pub(crate) const MONEY_KINDS: [&str; 6] = ["purchase", "completion", "void", "completion_void", "refund", "reversal"];
/// Exceptions opened in one call at the switch (each call its own transactions).
const EXCEPTIONS_PER_CALL_MAX: usize = 1_000;

pub(crate) fn failure<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> EodError + '_ {
    move |e| EodError::failure(format!("{what}: {e}"))
}

pub(crate) fn bad<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> EodError + '_ {
    move |e| EodError::bad_input(format!("{what}: {e}"))
}

pub fn reconcile(net: &NetDir, date: BusinessDate, clock: &SharedClock) -> Result<Value, EodError> {
    let switch_config = switch::SwitchConfig::load(&net.switch).map_err(EodError::bad_input)?;
    let network_id = switch_config.institution_id.clone();
    let records = clearing_records(net, date, &network_id)?;
    // Every acquirer host of the folder: its configuration, database and terminals.
    let mut hosts = Vec::with_capacity(net.acquirers.len());
    for path in &net.acquirers {
        let config = acquirer::AcquirerConfig::load(path).map_err(EodError::bad_input)?;
        let db = Database::open(&config.database).map_err(failure("acquirer database"))?;
        let terminals = acquirer::engine::host_terminals(&db).map_err(failure("acquirer terminals"))?;
        hosts.push((config, db, terminals));
    }
    // Records of channels without a journal here (another acquirer, or terminals this host does
    // not run): reconciled by whoever holds their journal; counted, and taken out of the
    // statement's positions so the rest still compares.
    // Exception records (差错 resolutions) are no authorization at any party: they are checked
    // against the switch's resolutions of the date, and kept out of the four-way match.
    let (resolutions, authorizations): (Vec<&ClearingRecord>, Vec<&ClearingRecord>) =
        records.iter().partition(|r| r.code.is_exception());
    let resolutions_check = check_resolutions(&switch_config, date, &resolutions)?;
    let (ours, mut others): (Vec<&ClearingRecord>, Vec<&ClearingRecord>) = authorizations.into_iter().partition(|r| {
        hosts.iter().any(|(config, _, terminals)| {
            r.acquirer == config.institution_id && r.terminal_id.is_some_and(|t| terminals.contains(t.as_str()))
        })
    });
    let other_channel_records = others.len();
    let other_amount: u64 = others.iter().map(|r| r.amount_minor).sum();
    // Their money is in the statements: take it out with the other channels'.
    others.extend(resolutions.iter().copied());
    let mut sources = Sources::default();
    for record in &ours {
        sources.clearing.push(clearing_item(record)?);
    }
    for (config, db, _) in &hosts {
        let cleared: HashSet<AcquirerLeg> = ours
            .iter()
            .filter(|r| r.acquirer == config.institution_id)
            .map(|r| (r.stan.map(|s| s.to_string()).unwrap_or_default(), r.transmission_time.clone()))
            .collect();
        let (terminal, acquirer) = acquirer_sources(config, db, date, &cleared)?;
        sources.terminal.extend(terminal);
        sources.acquirer.extend(acquirer);
    }
    let mut elsewhere = neighbours(net, date)?;
    elsewhere.extend(others.iter().map(|r| {
        let stan = r.issuer_stan.map(|s| s.to_string()).unwrap_or_default();
        (r.issuer.as_str().to_owned(), stan, r.issuer_time.clone())
    }));
    for (id, config) in &net.issuers {
        sources.issuer.extend(issuer_source(id, config, date, &elsewhere, clock)?);
    }
    let network = domain::InstitutionId::new(&network_id)
        .map_err(|e| EodError::bad_input(format!("switch institution_id {network_id:?}: {e}")))?;
    let mut other_positions = clearing::NetPositions::new(network);
    for record in &others {
        other_positions.add(record);
    }
    let other_positions = other_positions.finish();
    sources.statement = statements(&net.dir.join("settlement").join(date.to_string()))?;
    for line in &mut sources.statement {
        let other = other_positions.iter().find(|p| {
            p.member.as_str().parse::<u64>().ok() == Some(line.member) && p.currency.numeric() == line.currency
        });
        line.net_minor -= other.map_or(0, |p| p.net_minor);
    }
    let network_member = network_id.parse().map_err(|_| EodError::bad_input("switch institution_id is not digits"))?;
    let config = recon::Config { date, window_days: 1, network_member };
    let outcome = recon::reconcile(&sources, &config).map_err(failure("reconciliation"))?;
    let dir = net.recon_dir(date);
    let summary = recon::summary_json(&outcome.summary, &outcome.balances);
    write_outputs(&dir, &outcome, &summary)?;
    let opened = open_exceptions(&switch_config, date, &outcome, &records, clock.now_ms())?;
    let unmatched = summary["unmatched"].as_u64().unwrap_or(0);
    Ok(json!({
        "status": "done",
        "summary": summary,
        "exceptions_opened": opened,
        "other_channels": { "records": other_channel_records, "amount_minor": other_amount },
        "resolutions": resolutions_check,
        "dir": dir.display().to_string(),
        "line": format!("{} matched, {unmatched} unmatched; detail in {}", summary["matched"], dir.display()),
    }))
}

/// The issuer-leg keys (issuer, 11, 7) the switch's journal puts on the dates either side of
/// `date` (open or closed): an issuer's approvals that belong there, not to `date`.
fn neighbours(net: &NetDir, date: BusinessDate) -> Result<HashSet<(String, String, String)>, EodError> {
    let switch = crate::switch_ops::open_switch(&net.switch)?;
    let mut keys = HashSet::new();
    for day in [date.previous(), date.next()] {
        for record in switch.clearing_records(day, switch::clearing_records::no_exceptions()) {
            let record = record.map_err(failure("switch journal"))?;
            let stan = record.issuer_stan.map(|s| s.to_string()).unwrap_or_default();
            keys.insert((record.issuer.as_str().to_owned(), stan, record.issuer_time));
        }
    }
    Ok(keys)
}

/// The exception records of the date's clearing against the switch's resolutions that go on it:
/// each must be one of them, with its code and amount, and each of them must be in the files.
fn check_resolutions(
    config: &switch::SwitchConfig,
    date: BusinessDate,
    cleared: &[&ClearingRecord],
) -> Result<Value, EodError> {
    let db = switch::settlement::open_database(&config.database).map_err(failure("switch database"))?;
    let resolved = switch::disputes::clearing_records(&db, date).map_err(failure("exceptions"))?;
    let expected: HashMap<u64, (TxnCode, u64)> =
        resolved.iter().map(|r| (r.reference, (r.code, r.amount_minor))).collect();
    let matched = cleared.iter().filter(|r| expected.get(&r.reference) == Some(&(r.code, r.amount_minor))).count();
    let unmatched = cleared.len() - matched + resolved.len().saturating_sub(matched);
    Ok(json!({ "records": cleared.len(), "matched": matched, "unmatched": unmatched }))
}

/// Each record of the date once, from its acquirer's clearing file.
fn clearing_records(net: &NetDir, date: BusinessDate, network_id: &str) -> Result<Vec<ClearingRecord>, EodError> {
    let files = crate::switch_ops::clearing_files(&net.clearing_root().join(date.to_string()))?;
    crate::switch_ops::date_records(files, date, network_id.to_owned())
        .collect::<Result<Vec<_>, String>>()
        .map_err(EodError::bad_input)
}

fn clearing_item(record: &ClearingRecord) -> Result<ClearingItem, EodError> {
    let mut item = ClearingItem::try_from(record).map_err(bad("clearing record"))?;
    // A completion names its pre-authorization, which does not clear: a root here.
    if record.code == TxnCode::Completion {
        item.original = None;
        item.original_reference = 0;
    }
    Ok(item)
}

/// One issuer authorization as read from its journal.
struct Authorization {
    kind: String,
    amount: u64,
    currency: String,
    state: String,
    original_key: Option<String>,
    refunded: u64,
    day: i64,
}

/// (STAN, time) of a request key `year:11:7:32:33`.
fn key_parts(key: &str) -> (String, String) {
    let mut parts = key.split(':').skip(1);
    (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
}

/// An issuer's side: the authorizations the date cleared, and those it approved that day which
/// no neighbouring date cleared (approved but never presented).
fn issuer_source(
    id: &str,
    config: &Path,
    date: BusinessDate,
    elsewhere: &HashSet<(String, String, String)>,
    clock: &SharedClock,
) -> Result<Vec<IssuerRecord>, EodError> {
    let config = issuer::IssuerConfig::load(config).map_err(EodError::bad_input)?;
    let issuer = crate::steps::open_issuer(&config, clock)?;
    let mut moved: HashMap<String, u64> = HashMap::new();
    let mut cleared: HashSet<String> = HashSet::new();
    let mut cleared_elsewhere: HashSet<String> = HashSet::new();
    for day in [date.previous(), date, date.next()] {
        for result in issuer.posting_results(day)? {
            let Some(key) = result.request_key else { continue };
            if day == date {
                *moved.entry(key.clone()).or_default() += result.moved_minor;
                cleared.insert(key);
            } else {
                cleared_elsewhere.insert(key);
            }
        }
    }
    let db = Database::open(&config.database).map_err(failure("issuer database"))?;
    let kinds: Vec<String> = MONEY_KINDS.iter().chain(["pre_authorization"].iter()).map(|k| format!("'{k}'")).collect();
    let sql = format!(
        "SELECT request_key, kind, amount, currency, state, original_key, refunded_amount, business_day \
         FROM issuer_authorizations WHERE response_code = '00' AND kind IN ({}) AND business_day >= $1 AND business_day <= $2",
        kinds.join(", ")
    );
    let range = [i64::from(date.days()) - 2, i64::from(date.days()) + 1];
    let rows =
        db.transaction(|tx| tx.query(&sql, &[range[0].into(), range[1].into()])).map_err(failure("issuer journal"))?;
    let mut journal: BTreeMap<String, Authorization> = BTreeMap::new();
    for row in &rows {
        let read = || -> sqlstore::Result<(String, Authorization)> {
            Ok((
                row.text(0)?,
                Authorization {
                    kind: row.text(1)?,
                    amount: row.u64(2)?,
                    currency: row.text(3)?,
                    state: row.text(4)?,
                    original_key: row.opt_text(5)?,
                    refunded: row.u64(6)?,
                    day: row.i64(7)?,
                },
            ))
        };
        let (key, authorization) = read().map_err(failure("issuer journal"))?;
        journal.insert(key, authorization);
    }
    // Originals undone by a reversal (rather than a void) are "reversed" on every side.
    let reversed: HashSet<&str> =
        journal.values().filter(|a| a.kind == "reversal").filter_map(|a| a.original_key.as_deref()).collect();
    // A completion's money moved at its authorization, so posting moves nothing for it; what the
    // issuer holds of it is its amount less the completion voids that stand, as a purchase's
    // posting is net of its voids.
    let mut completion_voided: HashMap<&str, u64> = HashMap::new();
    for v in
        journal.values().filter(|v| v.kind == "completion_void" && !matches!(v.state.as_str(), "voided" | "reversed"))
    {
        if let Some(original) = v.original_key.as_deref() {
            *completion_voided.entry(original).or_default() += v.amount;
        }
    }
    let mut out = Vec::new();
    for (key, a) in &journal {
        if a.kind == "pre_authorization" {
            continue;
        }
        let (stan, time) = key_parts(key);
        let on_another_date =
            cleared_elsewhere.contains(key) || elsewhere.contains(&(id.to_owned(), stan.clone(), time.clone()));
        let approved_that_day = a.day == i64::from(date.days()) && !on_another_date;
        let other_channel = elsewhere.contains(&(id.to_owned(), stan.clone(), time.clone()));
        if other_channel || (!cleared.contains(key) && !approved_that_day) {
            continue;
        }
        // Approved here, then undone before anything cleared (the switch had answered the
        // acquirer otherwise, and reversed): no money moved anywhere, nothing to present.
        let undone = |a: &Authorization| matches!(a.state.as_str(), "voided" | "reversed");
        let cancelled_original = a.original_key.as_deref().and_then(|o| journal.get(o)).is_some_and(undone);
        // A reversal of an original this issuer never received (lost on its way, the switch
        // reversed it after its timeout): approved so the sender stops, nothing moved, nothing
        // presents it.
        let never_received = a.original_key.as_deref().is_some_and(|o| !journal.contains_key(o));
        if !cleared.contains(key) && (undone(a) || (a.kind == "reversal" && (cancelled_original || never_received))) {
            continue;
        }
        let original =
            a.original_key.as_deref().filter(|o| journal.get(*o).is_some_and(|o| o.kind != "pre_authorization"));
        let (stan, time) = key_parts(key);
        let (o_stan, o_time) = original.map(key_parts).unwrap_or_default();
        let state = match a.state.as_str() {
            "voided" if reversed.contains(key.as_str()) => "reversed",
            "voided" => "voided",
            "reversed" => "reversed",
            // The issuer keeps a completion posted when it is voided (the void credits the card
            // back as its own movement): voided, as the other parties say.
            _ if a.kind == "completion" && completion_voided.contains_key(key.as_str()) => "voided",
            _ if a.refunded > 0 => "refunded",
            "held" | "posted" => "posted",
            _ => "approved",
        };
        let posted = match state {
            // A sale undone holds nothing; a credit (void, completion void, refund) undone keeps
            // its amount, which its reversal restores.
            "voided" | "reversed" if !matches!(a.kind.as_str(), "reversal" | "void" | "completion_void" | "refund") => {
                0
            }
            _ if a.kind == "completion" => {
                a.amount.saturating_sub(completion_voided.get(key.as_str()).copied().unwrap_or(0))
            }
            _ => moved.get(key).copied().filter(|m| *m > 0).unwrap_or(a.amount),
        };
        let row = IssuerRow {
            issuer: id,
            stan: &stan,
            transmission_time: &time,
            original_stan: &o_stan,
            original_time: &o_time,
            amount_minor: posted,
            held_minor: a.amount,
            currency: &a.currency,
            kind: &a.kind,
            state,
            date,
        };
        out.push(IssuerRecord::try_from(&row).map_err(bad("issuer journal"))?);
    }
    Ok(out)
}

/// The settlement bank's statements of the date: `statement-<member>-<currency>.csv`, whose
/// data line is `date,member,currency,opening_minor,movement_minor,closing_minor`.
fn statements(dir: &Path) -> Result<Vec<StatementLine>, EodError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| EodError::bad_input(format!("{}: {e} (run the settlement step first)", dir.display())))?;
    let mut lines = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("statement-") && name.ends_with(".csv")) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split(',').collect();
            let [_, member, currency, _, movement, _] = fields[..] else {
                return Err(EodError::bad_input(format!("{}: not a statement line: {line}", path.display())));
            };
            let movement: i64 = movement
                .parse()
                .map_err(|_| EodError::bad_input(format!("{}: bad movement {movement}", path.display())))?;
            lines.push(StatementLine::parse(member, currency, movement).map_err(bad("statement"))?);
        }
    }
    Ok(lines)
}

fn write_outputs(dir: &Path, outcome: &recon::Outcome, summary: &Value) -> Result<(), EodError> {
    std::fs::create_dir_all(dir)?;
    let mut csv = Vec::new();
    recon::write_csv(outcome, &mut csv)?;
    host::write_private(&dir.join("recon.csv"), &csv)?;
    let mut jsonl = Vec::new();
    recon::write_jsonl(outcome, &mut jsonl)?;
    host::write_private(&dir.join("recon.jsonl"), &jsonl)?;
    host::write_private(&dir.join("summary.json"), format!("{summary}\n").as_bytes())?;
    Ok(())
}

/// Open every exception at the switch (idempotent: a rerun opens nothing new).
fn open_exceptions(
    config: &switch::SwitchConfig,
    date: BusinessDate,
    outcome: &recon::Outcome,
    records: &[ClearingRecord],
    now_ms: u64,
) -> Result<u64, EodError> {
    let by_reference: HashMap<u64, &ClearingRecord> = records.iter().map(|r| (r.reference, r)).collect();
    let mut news = Vec::with_capacity(outcome.exceptions.len());
    for exception in &outcome.exceptions {
        let Some(class) = switch::disputes::ExceptionClass::from_name(exception.class.name()) else { continue };
        // A difference between a terminal and its acquirer alone (长款/短款 at the host) is the
        // acquirer's to settle with its merchant: it stays in the detail file, not at the switch.
        if exception.reference.is_none() && (exception.acquirer_member == 0 || exception.issuer_member == 0) {
            continue;
        }
        let record = match exception.reference.and_then(|r| by_reference.get(&r)) {
            Some(record) => switch::disputes::ExceptionRecord::from_clearing(record),
            None => exception_record(exception)?,
        };
        news.push(switch::disputes::NewException { date, class, record, note: exception.reason.to_owned() });
    }
    let db = switch::settlement::open_database(&config.database).map_err(failure("switch database"))?;
    let mut opened = 0u64;
    for chunk in news.chunks(EXCEPTIONS_PER_CALL_MAX) {
        let done = switch::disputes::open_exceptions(&db, chunk, "recon", now_ms).map_err(failure("exceptions"))?;
        opened += done.len() as u64;
    }
    Ok(opened)
}

/// An exception with no clearing record: what reconciliation knows of it. Both members must be
/// known (an exception moves money between them).
fn exception_record(exception: &recon::Exception) -> Result<switch::disputes::ExceptionRecord, EodError> {
    let bad = |what: &str, e: domain::ParseError| {
        EodError::failure(format!(
            "an exception of RRN {}: {what}: {e}",
            exception.rrn.map_or("?".into(), |r| r.to_string())
        ))
    };
    let member = |n: u64, what: &str| domain::InstitutionId::new(&format!("{n:011}")).map_err(|e| bad(what, e));
    let leg = |key: Option<recon::LegKey>, what: &str| -> Result<_, EodError> {
        match key {
            Some(k) => Ok((Some(domain::Stan::new(k.stan).map_err(|e| bad(what, e))?), format!("{:010}", k.time))),
            None => Ok((None, String::new())),
        }
    };
    let (stan, time) = leg(exception.acquirer, "acquirer STAN")?;
    let (issuer_stan, issuer_time) = leg(exception.issuer, "issuer STAN")?;
    Ok(switch::disputes::ExceptionRecord {
        reference: 0,
        acquirer: member(exception.acquirer_member, "acquirer")?,
        issuer: member(exception.issuer_member, "issuer")?,
        amount_minor: exception.expected_minor,
        currency: domain::Currency::from_numeric(exception.currency).map_err(|e| bad("currency", e))?,
        stan,
        transmission_time: time,
        issuer_stan,
        issuer_time,
        rrn: exception.rrn,
        auth_code: String::new(),
        pan_masked: String::new(),
        card_hash: String::new(),
        card_kind: clearing::CardKind::Debit,
        mcc: String::new(),
        terminal_id: exception.terminal.map(|t| t.terminal),
        merchant_id: None,
    })
}
