//! What reconciliation reports about a transaction that does not match: its class, the evidence
//! and a suggested resolution. The dispute (差错) handling turns it into a record.

use clearing::{BusinessDate, TxnCode};

use crate::keys::{LegKey, Rrn, TerminalKey};

/// The four parties whose records are matched, in the order a transaction passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    Terminal,
    Acquirer,
    Clearing,
    Issuer,
}

impl Party {
    pub const ALL: [Party; 4] = [Party::Terminal, Party::Acquirer, Party::Clearing, Party::Issuer];

    pub fn name(self) -> &'static str {
        match self {
            Party::Terminal => "terminal",
            Party::Acquirer => "acquirer",
            Party::Clearing => "clearing",
            Party::Issuer => "issuer",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Presence bit in [`Exception::present`].
    pub fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// Every transaction that does not match ends in exactly one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// 长款: a party upstream has it, the host after it (acquirer or switch) does not.
    MissingAtHost,
    /// 短款: the host has it, the terminal's batch does not.
    MissingAtTerminal,
    /// 短款: cleared, never posted by the issuer.
    MissingAtIssuer,
    /// Every party has it; one amount differs (after the tolerance rules).
    AmountMismatch,
    /// A second record with one party's key: the extra copy.
    Duplicate,
    /// A reversal (of a timeout) reached the terminal, or the acquirer, and went no further,
    /// while the original went on: approved at one party, reversed at another.
    NotReversedAfterTimeout,
    /// A reversal, void or refund whose original is absent where the reversal is.
    ReversalWithoutOriginal,
    /// Cleared on a different business date than the parties' (the cut-off passed between).
    LatePresentment,
    /// The parties' states of one original disagree (voided at one, live at another).
    StateMismatch,
}

impl Class {
    pub const ALL: [Class; 9] = [
        Class::MissingAtHost,
        Class::MissingAtTerminal,
        Class::MissingAtIssuer,
        Class::AmountMismatch,
        Class::Duplicate,
        Class::NotReversedAfterTimeout,
        Class::ReversalWithoutOriginal,
        Class::LatePresentment,
        Class::StateMismatch,
    ];
    pub const COUNT: usize = Class::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Class::MissingAtHost => "missing_at_host",
            Class::MissingAtTerminal => "missing_at_terminal",
            Class::MissingAtIssuer => "missing_at_issuer",
            Class::AmountMismatch => "amount_mismatch",
            Class::Duplicate => "duplicate",
            Class::NotReversedAfterTimeout => "not_reversed_after_timeout",
            Class::ReversalWithoutOriginal => "reversal_without_original",
            Class::LatePresentment => "late_presentment",
            Class::StateMismatch => "state_mismatch",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What to do about an exception. The money ones become next date's clearing records
/// ([`crate::apply_resolutions`]); the others are a party correcting its own books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// 贷记调整: the acquirer pays the issuer back (clearing had too much for the acquirer).
    CreditAdjustment { amount_minor: u64 },
    /// 借记调整 / 请款: the issuer pays the acquirer what clearing missed.
    DebitAdjustment { amount_minor: u64 },
    /// 退单: presented after the window: the issuer may take it back.
    Chargeback { amount_minor: u64 },
    /// Late within the window: it cleared on the next date, nothing to move.
    AcceptLate,
    /// The named party corrects its own record (re-upload a batch, restore a journal row,
    /// force-post, fix a state); no money between members.
    Correct { party: Party },
    /// Close with the reason: nothing moved anywhere.
    WriteOff,
}

impl Resolution {
    pub fn name(&self) -> &'static str {
        match self {
            Resolution::CreditAdjustment { .. } => "credit_adjustment",
            Resolution::DebitAdjustment { .. } => "debit_adjustment",
            Resolution::Chargeback { .. } => "chargeback",
            Resolution::AcceptLate => "accept_late",
            Resolution::Correct { .. } => "correct_record",
            Resolution::WriteOff => "write_off",
        }
    }

    /// The money it moves (0 for the others).
    pub fn amount_minor(&self) -> u64 {
        match *self {
            Resolution::CreditAdjustment { amount_minor }
            | Resolution::DebitAdjustment { amount_minor }
            | Resolution::Chargeback { amount_minor } => amount_minor,
            _ => 0,
        }
    }

    /// The party that acts (`None`: the two members through the network).
    pub fn party(&self) -> Option<Party> {
        match *self {
            Resolution::Correct { party } => Some(party),
            _ => None,
        }
    }
}

/// One exception: a transaction (an original and its voids, refunds, reversals) that does not
/// match, with the evidence of the record at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub class: Class,
    pub resolution: Resolution,
    /// The party whose record is absent or differs (the minority), if one can be named.
    pub party: Option<Party>,
    /// Why, in a few words.
    pub reason: &'static str,
    /// The record at fault: its kind, which parties hold it (bits of [`Party::bit`]), its keys.
    pub kind: TxnCode,
    pub present: u8,
    pub terminal: Option<TerminalKey>,
    pub acquirer: Option<LegKey>,
    pub issuer: Option<LegKey>,
    pub reference: Option<u64>,
    pub rrn: Option<Rrn>,
    /// Each party's amount and business date for it (`None` where absent). The issuer's amount
    /// of an original is its posting plus the voids and reversals it received (its posting is
    /// net of them), so that it compares with the others'.
    pub amounts: [Option<u64>; 4],
    pub dates: [Option<BusinessDate>; 4],
    /// The amount most parties agree on (ties: clearing, acquirer, terminal, issuer).
    pub expected_minor: u64,
    pub currency: u16,
    /// The members an adjustment moves money between (0 if unknown).
    pub acquirer_member: u64,
    pub issuer_member: u64,
    /// Records of all parties this exception covers (the whole transaction's).
    pub records: u32,
}
