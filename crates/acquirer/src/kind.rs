//! The POS dialect's kind table (reference §3, docs/acquirer.md §2): which transaction a
//! terminal request is — MTI, field 3 digits 1–2 and field 25 — and, per kind, everything the
//! decisions ask of it: the originals it may name, whether it moves money, counts against the
//! merchant's limits, counts in settlement, may be reversed by the terminal, and what its
//! network leg is. One row per kind, so a kind's properties are read in one place and the
//! test below walks the rows against both documents.

use network::TransactionKind;

/// A transaction of the POS interface (reference §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosKind {
    Balance,
    Purchase,
    Void,
    Refund,
    PreAuth,
    PreAuthVoid,
    CompletionRequest,
    CompletionAdvice,
    /// 完成撤销: a completion voided the same day.
    CompletionVoid,
}

/// How a kind counts in a terminal batch's settlement totals (reference §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settles {
    /// Not counted (balance, pre-auth and its void: no money changes hands at settlement).
    No,
    /// Purchase and completion.
    Debit,
    /// Void, completion void and refund.
    Credit,
}

/// The network dialect's leg of a kind: its transaction and its MTI toward the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkLeg {
    pub kind: TransactionKind,
    /// The request's MTI; 0220 is an advice, answered by the switch at once and never reversed.
    pub mti: &'static str,
}

impl NetworkLeg {
    /// `request`, as `network::request::build` made it for this leg's transaction, under this
    /// leg's MTI (the network builds a completion as 0200; a completion advice goes as 0220).
    pub(crate) fn set_mti(&self, request: &mut iso8583::Message) -> iso8583::Result<()> {
        if request.mti().as_str() != self.mti {
            request.set_mti(iso8583::Mti::parse(self.mti)?);
        }
        Ok(())
    }
}

/// One row of the kind table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindRow {
    pub kind: PosKind,
    /// The kind's name in the journal (`acquirer_transactions.kind`): never changed, rows keep it.
    pub name: &'static str,
    /// The terminal request's MTI.
    pub mti: &'static str,
    /// Field 3, digits 1–2.
    pub processing: &'static str,
    /// Field 25 is 06 (the pre-authorization family); otherwise any other value, or none.
    pub preauth: bool,
    /// The kinds its original may be; empty: it names no original.
    pub original_kinds: &'static [PosKind],
    /// An approval changes a balance somewhere (everything but a balance inquiry).
    pub moves_money: bool,
    /// Counted against the merchant's single and daily limits: what takes money from a card.
    pub takes_money: bool,
    pub settles: Settles,
    /// A terminal 0400 of it may be honoured (reference §6's "Rev." column).
    pub reversible: bool,
    pub network: NetworkLeg,
}

/// 0200 financial, 0100 authorization, 0220 advice.
const FINANCIAL: &str = "0200";
const AUTHORIZATION: &str = "0100";
const ADVICE: &str = "0220";

/// The table, in [`PosKind`] order (a test holds it there: [`PosKind::row`] indexes it).
pub const KINDS: [KindRow; 9] = [
    KindRow {
        kind: PosKind::Balance,
        name: "balance",
        mti: FINANCIAL,
        processing: "31",
        preauth: false,
        original_kinds: &[],
        moves_money: false,
        takes_money: false,
        settles: Settles::No,
        reversible: false,
        network: NetworkLeg { kind: TransactionKind::BalanceInquiry, mti: FINANCIAL },
    },
    KindRow {
        kind: PosKind::Purchase,
        name: "purchase",
        mti: FINANCIAL,
        processing: "00",
        preauth: false,
        original_kinds: &[],
        moves_money: true,
        takes_money: true,
        settles: Settles::Debit,
        reversible: true,
        network: NetworkLeg { kind: TransactionKind::Purchase, mti: FINANCIAL },
    },
    KindRow {
        kind: PosKind::Void,
        name: "void",
        mti: FINANCIAL,
        processing: "20",
        preauth: false,
        original_kinds: &[PosKind::Purchase],
        moves_money: true,
        takes_money: false,
        settles: Settles::Credit,
        reversible: true,
        network: NetworkLeg { kind: TransactionKind::Void, mti: FINANCIAL },
    },
    KindRow {
        kind: PosKind::Refund,
        name: "refund",
        mti: ADVICE,
        processing: "20",
        preauth: false,
        original_kinds: &[PosKind::Purchase, PosKind::CompletionRequest, PosKind::CompletionAdvice],
        moves_money: true,
        takes_money: false,
        settles: Settles::Credit,
        reversible: false,
        // The terminal's refund is an advice; the network's is a request the issuer decides.
        network: NetworkLeg { kind: TransactionKind::Refund, mti: FINANCIAL },
    },
    KindRow {
        kind: PosKind::PreAuth,
        name: "pre-auth",
        mti: AUTHORIZATION,
        processing: "03",
        preauth: true,
        original_kinds: &[],
        moves_money: true,
        takes_money: true,
        settles: Settles::No,
        reversible: true,
        network: NetworkLeg { kind: TransactionKind::PreAuthorization, mti: AUTHORIZATION },
    },
    KindRow {
        kind: PosKind::PreAuthVoid,
        name: "pre-auth-void",
        mti: AUTHORIZATION,
        processing: "20",
        preauth: true,
        original_kinds: &[PosKind::PreAuth],
        moves_money: true,
        takes_money: false,
        settles: Settles::No,
        reversible: true,
        network: NetworkLeg { kind: TransactionKind::PreAuthorizationVoid, mti: AUTHORIZATION },
    },
    KindRow {
        kind: PosKind::CompletionRequest,
        name: "completion",
        mti: FINANCIAL,
        processing: "00",
        preauth: true,
        original_kinds: &[PosKind::PreAuth],
        moves_money: true,
        takes_money: true,
        settles: Settles::Debit,
        reversible: true,
        network: NetworkLeg { kind: TransactionKind::Completion, mti: FINANCIAL },
    },
    KindRow {
        kind: PosKind::CompletionAdvice,
        name: "completion-advice",
        mti: ADVICE,
        processing: "00",
        preauth: true,
        original_kinds: &[PosKind::PreAuth],
        moves_money: true,
        takes_money: true,
        settles: Settles::Debit,
        reversible: false,
        network: NetworkLeg { kind: TransactionKind::Completion, mti: ADVICE },
    },
    KindRow {
        kind: PosKind::CompletionVoid,
        name: "completion-void",
        mti: FINANCIAL,
        processing: "20",
        preauth: true,
        original_kinds: &[PosKind::CompletionRequest, PosKind::CompletionAdvice],
        moves_money: true,
        takes_money: false,
        settles: Settles::Credit,
        reversible: true,
        network: NetworkLeg { kind: TransactionKind::CompletionVoid, mti: FINANCIAL },
    },
];

impl PosKind {
    pub const ALL: [PosKind; 9] = [
        PosKind::Balance,
        PosKind::Purchase,
        PosKind::Void,
        PosKind::Refund,
        PosKind::PreAuth,
        PosKind::PreAuthVoid,
        PosKind::CompletionRequest,
        PosKind::CompletionAdvice,
        PosKind::CompletionVoid,
    ];

    /// The kind's row of [`KINDS`].
    pub fn row(self) -> &'static KindRow {
        &KINDS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.row().name
    }

    pub fn from_name(name: &str) -> Option<PosKind> {
        KINDS.iter().find(|row| row.name == name).map(|row| row.kind)
    }

    /// The network dialect's transaction.
    pub fn network_kind(self) -> TransactionKind {
        self.row().network.kind
    }

    /// Counted as a debit in settlement (reference §6): purchase and completion.
    pub fn is_debit(self) -> bool {
        self.row().settles == Settles::Debit
    }

    /// Counted as a credit in settlement: void, completion void and refund.
    pub fn is_credit(self) -> bool {
        self.row().settles == Settles::Credit
    }

    /// Counted against the merchant's limits: what takes money from a card.
    pub(crate) fn takes_money(self) -> bool {
        self.row().takes_money
    }

    /// Sent to the network as an advice (answered at once by the switch, never reversed).
    pub(crate) fn is_advice(self) -> bool {
        self.row().network.mti == ADVICE
    }

    /// The kinds an original of this one may be (empty: it names none).
    pub(crate) fn original_kinds(self) -> &'static [PosKind] {
        self.row().original_kinds
    }

    /// One of the voids (消费撤销, 预授权撤销, 完成撤销): what its approval does to its original.
    pub(crate) fn is_void(self) -> bool {
        matches!(self, PosKind::Void | PosKind::PreAuthVoid | PosKind::CompletionVoid)
    }

    /// A terminal's 0400 of it may be honoured (reference §6).
    pub(crate) fn reversible(self) -> bool {
        self.row().reversible
    }

    /// Whether the acquirer reverses it itself when the switch's answer is missing or cannot be
    /// trusted: whatever may have moved money (a refund too: its 0420 says 98, a timeout
    /// reversal, which switch and issuer honour), not a balance inquiry (nothing moved) nor an
    /// advice (the terminal repeats it).
    pub(crate) fn reversed_on_timeout(self) -> bool {
        self.row().moves_money && !self.is_advice()
    }
}

/// Classify a terminal request by MTI, 3 (digits 1–2) and 25 (reference §3).
pub(crate) fn classify(request: &iso8583::Message) -> Option<PosKind> {
    let processing = request.get_str(3)?.get(..2)?;
    let preauth = request.get_str(25) == Some("06");
    let mti = request.mti();
    KINDS
        .iter()
        .find(|row| row.mti == mti.as_str() && row.processing == processing && row.preauth == preauth)
        .map(|row| row.kind)
}

#[cfg(test)]
#[path = "kind_tests.rs"]
mod tests;
