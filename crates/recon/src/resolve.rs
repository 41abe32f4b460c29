//! Resolutions into records: each money-moving resolution becomes a clearing record of the next
//! business date (贷记调整, 借记调整, 退单) between the two members, so the next date's clearing
//! and net settlement carry it. Adjustments move the principal only (no fees): 差错 fees are the
//! dispute handling's to charge.

use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};

use crate::engine::ReconError;
use crate::exception::{Exception, Resolution};

/// The adjustment records of `exceptions`, dated `next_date`, with references from
/// `first_reference` up (in the exceptions' order, so a rerun gives the same records).
/// Exceptions that move no money give none. Fails, naming the exception, if a member is unknown.
pub fn apply_resolutions(
    exceptions: &[Exception],
    next_date: BusinessDate,
    first_reference: u64,
) -> Result<Vec<ClearingRecord>, ReconError> {
    let mut out = Vec::new();
    for exception in exceptions {
        let (code, amount) = match exception.resolution {
            Resolution::CreditAdjustment { amount_minor } => (TxnCode::CreditAdjustment, amount_minor),
            Resolution::DebitAdjustment { amount_minor } => (TxnCode::DebitAdjustment, amount_minor),
            Resolution::Chargeback { amount_minor } => (TxnCode::Chargeback, amount_minor),
            _ => continue,
        };
        if exception.acquirer_member == 0 || exception.issuer_member == 0 {
            return Err(ReconError(format!(
                "{} of RRN {}: the {} is unknown, the adjustment cannot be addressed",
                exception.class.name(),
                exception.rrn.as_ref().map_or("?", |r| r.as_str()),
                if exception.acquirer_member == 0 { "acquirer" } else { "issuer" },
            )));
        }
        let reference = first_reference + out.len() as u64;
        out.push(record(exception, code, amount, next_date, reference));
    }
    Ok(out)
}

fn record(e: &Exception, code: TxnCode, amount: u64, date: BusinessDate, reference: u64) -> ClearingRecord {
    let (stan, time) =
        e.acquirer.map_or((String::new(), String::new()), |k| (format!("{:06}", k.stan), format!("{:010}", k.time)));
    let (issuer_stan, issuer_time) =
        e.issuer.map_or((String::new(), String::new()), |k| (format!("{:06}", k.stan), format!("{:010}", k.time)));
    let amount_signed = i64::try_from(amount).unwrap_or(i64::MAX);
    ClearingRecord {
        date,
        reference,
        code,
        acquirer: e.acquirer_member.to_string(),
        issuer: e.issuer_member.to_string(),
        stan: stan.clone(),
        transmission_time: time.clone(),
        issuer_stan,
        issuer_time,
        pan_masked: String::new(),
        card_hash: String::new(),
        // Not known here and not needed: adjustments carry no fees.
        card_kind: CardKind::Debit,
        amount_minor: amount,
        currency: format!("{:03}", e.currency),
        mcc: String::new(),
        terminal_id: e.terminal.map_or(String::new(), |t| t.terminal.as_str().to_owned()),
        merchant_id: String::new(),
        rrn: e.rrn.map_or(String::new(), |r| r.as_str().to_owned()),
        auth_code: String::new(),
        original_stan: stan,
        original_time: time,
        original_reference: e.reference.unwrap_or(0),
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: code.direction() * amount_signed,
        stand_in: false,
        late: false,
    }
}
