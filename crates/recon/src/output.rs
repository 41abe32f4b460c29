//! The detail file (CSV and JSON lines, one exception a line, in the outcome's stable order) and
//! the summary as JSON. Same outcome → byte-identical output: no clock, no hash-map order.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::balance::BalanceDrift;
use crate::engine::{Outcome, Summary};
use crate::exception::{Class, Exception, Party};

/// The CSV header, in the column order of every line.
pub const CSV_HEADER: &str = "class,resolution,resolution_minor,party,reason,kind,present,rrn,terminal_id,batch,trace,\
acquirer,stan,transmission_time,issuer,issuer_stan,issuer_time,reference,terminal_minor,acquirer_minor,clearing_minor,\
issuer_minor,expected_minor,currency,terminal_date,acquirer_date,clearing_date,issuer_date,acquirer_member,issuer_member,records";

fn present(e: &Exception) -> String {
    Party::ALL.into_iter().filter(|p| e.present & p.bit() != 0).map(|p| p.name()).collect::<Vec<_>>().join("+")
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// The fields of one exception, as strings, in [`CSV_HEADER`]'s order.
fn fields(e: &Exception) -> Vec<(&'static str, String)> {
    let names: Vec<&'static str> = CSV_HEADER.split(',').collect();
    let values = vec![
        e.class.name().to_owned(),
        e.resolution.name().to_owned(),
        e.resolution.amount_minor().to_string(),
        opt(e.party.map(Party::name)),
        e.reason.to_owned(),
        e.kind.code().to_owned(),
        present(e),
        opt(e.rrn.as_ref().map(|r| r.as_str())),
        opt(e.terminal.as_ref().map(|t| t.terminal.as_str())),
        opt(e.terminal.map(|t| format!("{:06}", t.batch))),
        opt(e.terminal.map(|t| format!("{:06}", t.trace))),
        opt(e.acquirer.map(|k| k.institution)),
        opt(e.acquirer.map(|k| format!("{:06}", k.stan))),
        opt(e.acquirer.map(|k| format!("{:010}", k.time))),
        opt(e.issuer.map(|k| k.institution)),
        opt(e.issuer.map(|k| format!("{:06}", k.stan))),
        opt(e.issuer.map(|k| format!("{:010}", k.time))),
        opt(e.reference),
        opt(e.amounts[0]),
        opt(e.amounts[1]),
        opt(e.amounts[2]),
        opt(e.amounts[3]),
        e.expected_minor.to_string(),
        format!("{:03}", e.currency),
        opt(e.dates[0]),
        opt(e.dates[1]),
        opt(e.dates[2]),
        opt(e.dates[3]),
        e.acquirer_member.to_string(),
        e.issuer_member.to_string(),
        e.records.to_string(),
    ];
    debug_assert_eq!(names.len(), values.len());
    names.into_iter().zip(values).collect()
}

/// CSV: the header, then one line per exception. No field holds a comma, quote or newline
/// (codes, digits, dates, ids of printable characters are quoted if they ever do).
pub fn write_csv(outcome: &Outcome, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for e in &outcome.exceptions {
        let line: Vec<String> = fields(e).into_iter().map(|(_, v)| csv_field(v)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

fn csv_field(value: String) -> String {
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// JSON lines: one object per exception, keys in [`CSV_HEADER`]'s order; amounts are numbers,
/// absent fields `null`.
pub fn write_jsonl(outcome: &Outcome, out: &mut impl Write) -> io::Result<()> {
    const NUMERIC: [&str; 9] = [
        "resolution_minor",
        "terminal_minor",
        "acquirer_minor",
        "clearing_minor",
        "issuer_minor",
        "expected_minor",
        "acquirer_member",
        "issuer_member",
        "records",
    ];
    for e in &outcome.exceptions {
        let mut object = Map::new();
        for (name, value) in fields(e) {
            let value = if value.is_empty() {
                Value::Null
            } else if NUMERIC.contains(&name) {
                value.parse::<u64>().map_or(Value::String(value), Value::from)
            } else {
                Value::String(value)
            };
            object.insert(name.to_owned(), value);
        }
        serde_json::to_writer(&mut *out, &Value::Object(object))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The summary `cardnet recon --json` prints: `matched`, per-class counts, `unmatched` (their
/// sum), per-source counts and amounts, the statement check.
pub fn summary_json(summary: &Summary, balances: &[BalanceDrift]) -> Value {
    let mut classes = Map::new();
    for class in Class::ALL {
        classes.insert(class.name().to_owned(), json!(summary.classes[class.index()]));
    }
    let mut sources = Map::new();
    for party in Party::ALL {
        let t = summary.sources[party.index()];
        sources.insert(party.name().to_owned(), json!({ "records": t.records, "amount_minor": t.amount_minor }));
    }
    let drifts: Vec<Value> = balances
        .iter()
        .map(|d| {
            json!({
                "member": d.member,
                "currency": format!("{:03}", d.currency),
                "clearing_net_minor": d.expected_minor,
                "statement_net_minor": d.actual_minor,
            })
        })
        .collect();
    json!({
        "date": summary.date.to_string(),
        "transactions": summary.transactions,
        "matched": summary.matched,
        "unmatched": summary.unmatched,
        "classes": classes,
        "records_matched": summary.records_matched,
        "records_unmatched": summary.records_unmatched,
        "sources": sources,
        "statement_lines": summary.statement_lines,
        "balance_drifts": drifts,
    })
}
