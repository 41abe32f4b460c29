//! Which acquirer reversals (0420/0421) the switch takes on: the switch's table of
//! docs/network-flows.md §5.2. The switch knows the original only as it passed through (its
//! kind and MTI), not what the issuer did since, so it refuses what is never reversible and
//! leaves the rest to the issuer's table (crate `issuer`, `reversal.rs`): a refusal here and
//! one there are both 12, and neither moves anything.

use iso8583::Message;
use network::codes;

use crate::journal::Exchange;

/// `Some(12)` when the reversal must be refused: a balance inquiry (refused before this, at the
/// format check, since it carries no amount), an advice the acquirer sent
/// (0120/0220: answered at once, never reversed), or a refund — unless it is a timeout
/// reversal (39 = 98/68: the acquirer never had the refund's answer, so undoing it leaves no
/// party's books different).
pub(crate) fn refusal(reversal: &Message, original: Option<&Exchange>) -> Option<&'static str> {
    let processing = reversal.get_str(3).and_then(|p| p.get(..2));
    let timeout = codes::is_timeout_reason(reversal.get_str(39));
    let advice = original.is_some_and(|o| o.acquirer_mti.as_bytes().get(2) == Some(&b'2'));
    let refused = match processing {
        Some("31") => true,
        Some("20") => !timeout,
        _ => advice,
    };
    refused.then_some(codes::INVALID_TRANSACTION)
}
