//! The clearing record: one money-moving item of a business date between an acquirer and an
//! issuer, with the keys every party matches it by. Fields follow the UnionPay reconciliation
//! file (《银行卡交换系统技术规范 第3部分》, see `../shared/reference/next-anchors.md` §2).

use domain::{Currency, InstitutionId, MerchantId, Money, Rrn, Stan, TerminalId};

use crate::date::BusinessDate;
use crate::fees::CardKind;

/// What a record is. Each has a fixed three-letter code in the files and a direction: whether
/// the issuer pays the acquirer (+1) or the acquirer pays the issuer back (−1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnCode {
    Purchase,
    /// A pre-authorization completion (the pre-authorization itself moves no money).
    Completion,
    Void,
    CompletionVoid,
    Refund,
    /// A reversal of an approved purchase or completion (in full, or down to field 95).
    Reversal,
    /// 差错: the acquirer credits the cardholder (贷记调整).
    CreditAdjustment,
    /// 差错: the issuer pays the acquirer what it owed (借记调整 / 请款).
    DebitAdjustment,
    /// 退单: the issuer takes a cleared amount back.
    Chargeback,
    /// 再请款: the acquirer claims it again with evidence.
    Representment,
    /// 二次退单.
    SecondChargeback,
}

impl TxnCode {
    pub const ALL: [TxnCode; 11] = [
        TxnCode::Purchase,
        TxnCode::Completion,
        TxnCode::Void,
        TxnCode::CompletionVoid,
        TxnCode::Refund,
        TxnCode::Reversal,
        TxnCode::CreditAdjustment,
        TxnCode::DebitAdjustment,
        TxnCode::Chargeback,
        TxnCode::Representment,
        TxnCode::SecondChargeback,
    ];

    /// The code in the files.
    pub fn code(self) -> &'static str {
        match self {
            TxnCode::Purchase => "PUR",
            TxnCode::Completion => "CMP",
            TxnCode::Void => "VOD",
            TxnCode::CompletionVoid => "CVD",
            TxnCode::Refund => "RFD",
            TxnCode::Reversal => "REV",
            TxnCode::CreditAdjustment => "CAJ",
            TxnCode::DebitAdjustment => "DAJ",
            TxnCode::Chargeback => "CHB",
            TxnCode::Representment => "RPR",
            TxnCode::SecondChargeback => "CB2",
        }
    }

    pub fn from_code(code: &str) -> Option<TxnCode> {
        TxnCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// `network::TransactionKind::name` of the authorization kinds that clear.
    pub fn from_kind_name(kind: &str) -> Option<TxnCode> {
        match kind {
            "purchase" => Some(TxnCode::Purchase),
            "completion" => Some(TxnCode::Completion),
            "void" => Some(TxnCode::Void),
            "completion_void" => Some(TxnCode::CompletionVoid),
            "refund" => Some(TxnCode::Refund),
            "reversal" => Some(TxnCode::Reversal),
            _ => None,
        }
    }

    /// +1: the issuer pays the acquirer the amount; −1: the acquirer pays it back.
    pub fn direction(self) -> i64 {
        match self {
            TxnCode::Purchase | TxnCode::Completion | TxnCode::DebitAdjustment | TxnCode::Representment => 1,
            TxnCode::Void
            | TxnCode::CompletionVoid
            | TxnCode::Refund
            | TxnCode::Reversal
            | TxnCode::CreditAdjustment
            | TxnCode::Chargeback
            | TxnCode::SecondChargeback => -1,
        }
    }

    /// Records made by exception handling rather than by an authorization.
    pub fn is_exception(self) -> bool {
        matches!(
            self,
            TxnCode::CreditAdjustment
                | TxnCode::DebitAdjustment
                | TxnCode::Chargeback
                | TxnCode::Representment
                | TxnCode::SecondChargeback
        )
    }
}

/// One detail record. Identifiers are the domain's checked types; text fields without one
/// (times, masked PAN, card hash, MCC, approval code) are as on the wire, empty when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingRecord {
    /// The business date it clears on.
    pub date: BusinessDate,
    /// The switch's reference: unique per date (exchange id, or dispute id for exceptions),
    /// the files' order.
    pub reference: u64,
    pub code: TxnCode,
    /// Acquiring institution (field 32).
    pub acquirer: InstitutionId,
    /// Issuing institution the switch routed to (receiving, field 100).
    pub issuer: InstitutionId,
    /// The acquirer leg's STAN (11) and transmission time (7, `MMDDhhmmss`): the acquirer's key
    /// (an exception reconciliation found without the acquirer's record may have none).
    pub stan: Option<Stan>,
    pub transmission_time: String,
    /// The issuer leg's STAN and transmission time the switch sent with: the issuer's key
    /// (none when the switch stood in and no issuer leg was sent).
    pub issuer_stan: Option<Stan>,
    pub issuer_time: String,
    /// First 6, last 4 (never the full PAN in a file).
    pub pan_masked: String,
    /// The keyed hash of the PAN (hex, under the switch's DEK): matches one card across
    /// records and parties without the number.
    pub card_hash: String,
    pub card_kind: CardKind,
    /// The record's own amount (a void's, a refund's, the reversed part of a reversal), in
    /// minor units of `currency`.
    pub amount_minor: u64,
    pub currency: Currency,
    /// Merchant category code (18), 4 digits.
    pub mcc: String,
    pub terminal_id: Option<TerminalId>,
    pub merchant_id: Option<MerchantId>,
    pub rrn: Option<Rrn>,
    pub auth_code: String,
    /// For voids, refunds, completions, reversals and exceptions: the original's acquirer-leg
    /// STAN and transmission time (field 90's), and its reference.
    pub original_stan: Option<Stan>,
    pub original_time: String,
    pub original_reference: u64,
    /// Fees of this record, with the record's direction (a void carries its purchase's fees
    /// back): the issuer's fee (interchange), paid by the acquirer to the issuer, and the network
    /// fee charged to each of the two members.
    pub interchange_fee_minor: i64,
    pub network_fee_minor: i64,
    /// What the issuer pays the acquirer for this record: `direction × amount − interchange`.
    pub settlement_minor: i64,
    /// Approved by the switch standing in for the issuer.
    pub stand_in: bool,
    /// Arrived after its own date had closed: cleared on this (later) date.
    pub late: bool,
}

impl ClearingRecord {
    /// The record's own amount with its currency.
    pub fn amount(&self) -> Money {
        Money::new(self.amount_minor, self.currency)
    }
}
