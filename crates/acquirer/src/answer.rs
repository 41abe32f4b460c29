//! What the host adds to its answers to terminals beyond the echoed fields (issue 12 points 5
//! and 6, docs/acquirer.md §2): the sign-on answer's 37, a financial answer's 44 and 54.

use iso8583::Message;
use network::balance::{AVAILABLE_BALANCE, AdditionalAmount, LEDGER_BALANCE};
use sqlstore::Tx;

use crate::limits::STAN_MAX;
use crate::store;

/// Characters of field 44's issuer part (reference §2: issuer id 11 + acquirer id 11).
const FIELD44_ISSUER_CHARS: usize = 11;

/// A retrieval reference number for an answer that has no network leg (the sign-on: the
/// reference §3 lists 37 in it): `YDDDhh` + the next STAN of the host's own sequence, so it
/// never repeats a financial transaction's.
pub(crate) fn host_rrn(tx: &mut Tx<'_>, now_ms: u64) -> sqlstore::Result<String> {
    let stan = format!("{:06}", (store::next_id(tx, store::SEQ_STAN)?.saturating_sub(1)) % STAN_MAX + 1);
    Ok(network::time::rrn(now_ms, &stan))
}

/// Field 44 of a financial answer: the issuer's institution id (field 100 of the network
/// answer, which the switch sets to the issuer it routed to), left-justified in 11, then ours.
pub(crate) fn field44(network_answer: &Message, acquirer_id: &str) -> Option<String> {
    let issuer = network_answer.get_str(100)?;
    (issuer.len() <= FIELD44_ISSUER_CHARS).then(|| format!("{issuer:<FIELD44_ISSUER_CHARS$}{acquirer_id}"))
}

/// Field 54 for the terminal from the network answer's sets: the **available** balance first
/// — the amount a terminal that reads one set shows the cardholder — then the ledger balance.
/// The issuer sends ledger (01) before available (02); forwarding its first set showed the
/// ledger balance as if it could be spent. `None` when the answer has no available balance.
pub(crate) fn field54_sets(network54: &str) -> Option<(String, Option<String>)> {
    let sets = AdditionalAmount::parse_all(network54).ok()?;
    let of = |amount_type: &str| sets.iter().find(|s| s.amount_type == amount_type);
    let available = of(AVAILABLE_BALANCE)?.encode().ok()?;
    let ledger = of(LEDGER_BALANCE).and_then(|s| s.encode().ok());
    Some((available, ledger))
}

/// Set field 54 of `response`: both sets when the terminal spec's field 54 takes 40
/// characters (the built-in `cup-pos` does), else the available one alone (a profile whose
/// spec keeps the reference's 20).
pub(crate) fn set_balance(response: &mut Message, network54: &str) {
    let Some((available, ledger)) = field54_sets(network54) else { return };
    let both = ledger.map(|ledger| format!("{available}{ledger}"));
    if both.is_some_and(|both| response.set_str(54, &both).is_ok()) {
        return;
    }
    if let Err(error) = response.set_str(54, &available) {
        tracing::warn!(%error, "acquirer: the balance does not fit the terminal's field 54");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_available_balance_goes_first_whatever_order_the_issuer_used() {
        let network = "0001156C0000010000000002156C000000098750";
        let (available, ledger) = field54_sets(network).unwrap();
        assert_eq!(available, "0002156C000000098750");
        assert_eq!(ledger.as_deref(), Some("0001156C000001000000"));
        // A debit (overdrawn) available balance keeps its sign.
        let (available, ledger) = field54_sets("0002156D000000000500").unwrap();
        assert_eq!((available.as_str(), ledger), ("0002156D000000000500", None));
        // No available balance, or not the layout: nothing to forward.
        assert!(field54_sets("0001156C000001000000").is_none());
        assert!(field54_sets("garbage").is_none());
    }
}
