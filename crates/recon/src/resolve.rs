//! Resolutions into records: each money-moving resolution becomes a clearing record of the next
//! business date (贷记调整, 借记调整, 退单) between the two members, so the next date's clearing
//! and net settlement carry it. Adjustments move the principal only (no fees): 差错 fees are the
//! dispute handling's to charge.

use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};
use domain::{Currency, InstitutionId, Stan};

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
        out.push(record(exception, code, amount, next_date, reference)?);
    }
    Ok(out)
}

fn record(
    e: &Exception,
    code: TxnCode,
    amount: u64,
    date: BusinessDate,
    reference: u64,
) -> Result<ClearingRecord, ReconError> {
    let bad = |what: &str, error: domain::ParseError| ReconError(format!("adjustment {reference}: {what}: {error}"));
    let leg = |key: Option<crate::keys::LegKey>, what: &str| match key {
        Some(k) => Ok((Some(Stan::new(k.stan).map_err(|e| bad(what, e))?), format!("{:010}", k.time))),
        None => Ok((None, String::new())),
    };
    let (stan, time) = leg(e.acquirer, "acquirer STAN")?;
    let (issuer_stan, issuer_time) = leg(e.issuer, "issuer STAN")?;
    let member = |n: u64, what: &str| InstitutionId::new(&n.to_string()).map_err(|e| bad(what, e));
    let amount_signed = i64::try_from(amount).unwrap_or(i64::MAX);
    Ok(ClearingRecord {
        date,
        reference,
        code,
        acquirer: member(e.acquirer_member, "acquirer")?,
        issuer: member(e.issuer_member, "issuer")?,
        stan,
        transmission_time: time.clone(),
        issuer_stan,
        issuer_time,
        pan_masked: String::new(),
        card_hash: String::new(),
        // Not known here and not needed: adjustments carry no fees.
        card_kind: CardKind::Debit,
        amount_minor: amount,
        currency: Currency::from_numeric(e.currency).map_err(|error| bad("currency", error))?,
        mcc: String::new(),
        terminal_id: e.terminal.map(|t| t.terminal),
        merchant_id: None,
        rrn: e.rrn,
        auth_code: String::new(),
        original_stan: stan,
        original_time: time,
        original_reference: e.reference.unwrap_or(0),
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: code.direction() * amount_signed,
        stand_in: false,
        late: false,
    })
}
