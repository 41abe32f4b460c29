//! Which terminal reversals (0400) the acquirer honours: the acquirer's table of
//! docs/network-flows.md §5.1, one function. A reversal is honoured only for a state that
//! admits it; anything else is refused 12 and nothing goes to the network, so terminal,
//! acquirer, switch and issuer keep the same state.
//!
//! Reference §6: which kinds are reversible at all is the kind table's (crate::kind). A
//! reversible original that a later transaction acted on (voided, completed, refunded in whole
//! or part) is not reversible any more either: reversing it would undo money the follow-up has
//! already moved again (a refunded sale reversed would credit the card twice).

use network::codes;

use crate::engine::TransactionRecord;

/// What to do with a terminal's 0400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TerminalReversal {
    /// Queue the network 0420 of the original, mark it reversed and undo its effects; 00.
    Forward,
    /// Nothing went out, it was declined, or it is reversed already: record the reversal; 00
    /// (the terminal clears its record).
    Record,
    /// Not reversible in its state: record the refusal; answered with this code (12).
    Refuse(&'static str),
}

impl TerminalReversal {
    pub(crate) fn code(self) -> &'static str {
        match self {
            TerminalReversal::Forward | TerminalReversal::Record => codes::APPROVED,
            TerminalReversal::Refuse(code) => code,
        }
    }
}

/// The rule for a terminal reversal of `original` (`None`: the host never saw it).
pub(crate) fn terminal_reversal(original: Option<&TransactionRecord>) -> TerminalReversal {
    let Some(original) = original else { return TerminalReversal::Record };
    let Some(kind) = original.pos_kind() else { return TerminalReversal::Refuse(codes::INVALID_TRANSACTION) };
    if !kind.reversible() {
        return TerminalReversal::Refuse(codes::INVALID_TRANSACTION);
    }
    let live = matches!(original.status.as_str(), "approved" | "pending" | "timeout");
    if !original.sent || !live || original.reversed {
        return TerminalReversal::Record;
    }
    if original.voided || original.completed || original.refunded_minor > 0 {
        return TerminalReversal::Refuse(codes::INVALID_TRANSACTION);
    }
    TerminalReversal::Forward
}
