//! Where an exception stands and what may be done to it next: the whole rule is the table
//! [`TRANSITIONS`]; [`next_stage`] only looks it up, and the tests walk it row by row.

/// The stage of an exception's handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Found, nothing done yet.
    Open,
    /// The issuer took the amount back (退单); the acquirer may re-present or accept.
    ChargedBack,
    /// The acquirer claimed it again (再请款); the issuer may charge back a second time or accept.
    Represented,
    /// Done: adjusted, written off, or ended by the second chargeback. Takes nothing more.
    Resolved,
}

/// A resolution an operator applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    CreditAdjustment,
    DebitAdjustment,
    Chargeback,
    Representment,
    SecondChargeback,
    /// Closed with no money moving (a reason is required, as for every action).
    WriteOff,
}

/// Every allowed (stage, action) → stage. Anything not here is refused: a representment only
/// after a chargeback, a second chargeback only after a representment, adjustments only before
/// any chargeback, a write-off from any stage not resolved, nothing after resolution. The
/// second chargeback ends the cycle (arbitration is outside the network's books).
pub const TRANSITIONS: [(Stage, Action, Stage); 8] = [
    (Stage::Open, Action::CreditAdjustment, Stage::Resolved),
    (Stage::Open, Action::DebitAdjustment, Stage::Resolved),
    (Stage::Open, Action::Chargeback, Stage::ChargedBack),
    (Stage::Open, Action::WriteOff, Stage::Resolved),
    (Stage::ChargedBack, Action::Representment, Stage::Represented),
    (Stage::ChargedBack, Action::WriteOff, Stage::Resolved),
    (Stage::Represented, Action::SecondChargeback, Stage::Resolved),
    (Stage::Represented, Action::WriteOff, Stage::Resolved),
];

/// The stage `action` leads to from `stage`, or `None` when the table does not allow it.
pub fn next_stage(stage: Stage, action: Action) -> Option<Stage> {
    TRANSITIONS.iter().find(|(from, act, _)| *from == stage && *act == action).map(|(_, _, to)| *to)
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Open, Stage::ChargedBack, Stage::Represented, Stage::Resolved];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Open => "open",
            Stage::ChargedBack => "charged_back",
            Stage::Represented => "represented",
            Stage::Resolved => "resolved",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The status a person reads: `open`, `chargeback_cycle` or `resolved`.
    pub fn status(self) -> &'static str {
        match self {
            Stage::Open => "open",
            Stage::ChargedBack | Stage::Represented => "chargeback_cycle",
            Stage::Resolved => "resolved",
        }
    }

    pub fn is_resolved(self) -> bool {
        self == Stage::Resolved
    }
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::CreditAdjustment,
        Action::DebitAdjustment,
        Action::Chargeback,
        Action::Representment,
        Action::SecondChargeback,
        Action::WriteOff,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::CreditAdjustment => "credit_adjustment",
            Action::DebitAdjustment => "debit_adjustment",
            Action::Chargeback => "chargeback",
            Action::Representment => "representment",
            Action::SecondChargeback => "second_chargeback",
            Action::WriteOff => "write_off",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The clearing record the action becomes on the next date; a write-off moves no money.
    pub fn txn_code(self) -> Option<clearing::TxnCode> {
        use clearing::TxnCode;
        match self {
            Action::CreditAdjustment => Some(TxnCode::CreditAdjustment),
            Action::DebitAdjustment => Some(TxnCode::DebitAdjustment),
            Action::Chargeback => Some(TxnCode::Chargeback),
            Action::Representment => Some(TxnCode::Representment),
            Action::SecondChargeback => Some(TxnCode::SecondChargeback),
            Action::WriteOff => None,
        }
    }
}
