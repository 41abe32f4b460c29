//! The settlement bank's statements (one per member and currency, CSV and text) and the
//! settlement report (text and JSON), written owner-only into a folder of the date. Amounts are
//! minor units throughout (the currency's exponent is not the network's business).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{SettlementReport, Statement};

/// The statement as CSV: a header line and one line.
pub fn statement_csv(statement: &Statement) -> String {
    let mut out = String::from("date,member,currency,opening_minor,movement_minor,closing_minor\n");
    let _ = writeln!(
        out,
        "{},{},{},{},{},{}",
        statement.date,
        statement.member,
        statement.currency,
        statement.opening_minor,
        statement.movement_minor,
        statement.closing_minor
    );
    out
}

/// The statement as a readable page.
pub fn statement_text(statement: &Statement) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Settlement bank statement");
    let _ = writeln!(out, "  account   member {} settlement, currency {}", statement.member, statement.currency);
    let _ = writeln!(out, "  date      {}", statement.date);
    let _ = writeln!(out, "  opening   {:>20} minor units", statement.opening_minor);
    let direction = if statement.movement_minor < 0 { "debit" } else { "credit" };
    let _ = writeln!(out, "  movement  {:>20} minor units ({direction}: net settlement)", statement.movement_minor);
    let _ = writeln!(out, "  closing   {:>20} minor units", statement.closing_minor);
    out
}

impl SettlementReport {
    /// The report as one JSON object: per member `net_minor` and the rest, per currency totals,
    /// `sum_minor` over all (zero).
    pub fn to_json(&self) -> Value {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|m| {
                json!({
                    "member": m.member,
                    "currency": m.currency,
                    "net_minor": m.net_minor,
                    "receivable_minor": m.receivable_minor,
                    "payable_minor": m.payable_minor,
                    "interchange_minor": m.interchange_minor,
                    "network_fee_minor": m.network_fee_minor,
                    "records": m.records,
                    "opening_minor": m.opening_minor,
                    "closing_minor": m.closing_minor,
                })
            })
            .collect();
        let totals: Vec<Value> = self
            .totals
            .iter()
            .map(|t| {
                json!({
                    "currency": t.currency,
                    "records": t.records,
                    "debit_total_minor": t.debit_total_minor,
                    "credit_total_minor": t.credit_total_minor,
                    "interchange_minor": t.interchange_minor,
                    "network_fee_income_minor": t.network_fee_income_minor,
                    "receives_minor": t.receives_minor,
                    "pays_minor": t.pays_minor,
                    "sum_minor": t.sum_minor,
                })
            })
            .collect();
        json!({
            "date": self.date.to_string(),
            "network": self.network,
            "already_settled": self.already_settled,
            "members": members,
            "totals": totals,
            "sum_minor": self.sum_minor(),
        })
    }

    /// The report as a readable page.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Net settlement of {} (network {})", self.date, self.network);
        if self.already_settled {
            let _ = writeln!(out, "(settled before: nothing moved this time)");
        }
        let _ = writeln!(
            out,
            "{:<11} {:>3} {:>16} {:>16} {:>16} {:>12} {:>12} {:>8}",
            "member", "cur", "net", "receivable", "payable", "interchange", "network fee", "records"
        );
        for m in &self.members {
            let _ = writeln!(
                out,
                "{:<11} {:>3} {:>16} {:>16} {:>16} {:>12} {:>12} {:>8}",
                m.member,
                m.currency,
                m.net_minor,
                m.receivable_minor,
                m.payable_minor,
                m.interchange_minor,
                m.network_fee_minor,
                m.records
            );
        }
        for t in &self.totals {
            let _ = writeln!(
                out,
                "total {}: {} records, debits {} credits {}, interchange {}, network fee income {}, pays {} = \
                 receives {}, sum {}",
                t.currency,
                t.records,
                t.debit_total_minor,
                t.credit_total_minor,
                t.interchange_minor,
                t.network_fee_income_minor,
                t.pays_minor,
                t.receives_minor,
                t.sum_minor
            );
        }
        let _ = writeln!(out, "(amounts in minor units; positive receives, negative pays)");
        out
    }
}

/// Write the report (`settlement-report.txt`, `settlement-report.json`) and every statement
/// (`statement-<member>-<currency>.csv` and `.txt`) into `dir` (created), owner-only. Returns
/// the paths written. A rerun writes the same bytes.
pub fn write_settlement_files(report: &SettlementReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::with_capacity(2 + 2 * report.members.len());
    let mut write = |name: String, bytes: &[u8]| -> std::io::Result<()> {
        let path = dir.join(name);
        host::write_private(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    // The file records the date as settled, whichever run wrote it: `already_settled` is what
    // one run did, not a property of the date.
    let mut canonical = report.clone();
    canonical.already_settled = false;
    write("settlement-report.txt".into(), canonical.to_text().as_bytes())?;
    let mut json = canonical.to_json();
    if let Some(object) = json.as_object_mut() {
        object.remove("already_settled");
    }
    write("settlement-report.json".into(), format!("{json}\n").as_bytes())?;
    for statement in report.statements() {
        let stem = format!("statement-{}-{}", statement.member, statement.currency);
        write(format!("{stem}.csv"), statement_csv(&statement).as_bytes())?;
        write(format!("{stem}.txt"), statement_text(&statement).as_bytes())?;
    }
    Ok(written)
}
