//! Per-event results of `create_accounts` and `create_transfers`, named as TigerBeetle names them.

/// The outcome of one account in a `create_accounts` batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateAccountResult {
    Ok,
    LinkedEventFailed,
    LinkedEventChainOpen,
    TimestampMustBeZero,
    ReservedFlag,
    IdMustNotBeZero,
    IdMustNotBeIntMax,
    FlagsAreMutuallyExclusive,
    DebitsPendingMustBeZero,
    DebitsPostedMustBeZero,
    CreditsPendingMustBeZero,
    CreditsPostedMustBeZero,
    LedgerMustNotBeZero,
    CodeMustNotBeZero,
    ExistsWithDifferentFlags,
    ExistsWithDifferentUserData128,
    ExistsWithDifferentUserData64,
    ExistsWithDifferentUserData32,
    ExistsWithDifferentLedger,
    ExistsWithDifferentCode,
    Exists,
}

impl CreateAccountResult {
    pub const ALL: [CreateAccountResult; 21] = [
        CreateAccountResult::Ok,
        CreateAccountResult::LinkedEventFailed,
        CreateAccountResult::LinkedEventChainOpen,
        CreateAccountResult::TimestampMustBeZero,
        CreateAccountResult::ReservedFlag,
        CreateAccountResult::IdMustNotBeZero,
        CreateAccountResult::IdMustNotBeIntMax,
        CreateAccountResult::FlagsAreMutuallyExclusive,
        CreateAccountResult::DebitsPendingMustBeZero,
        CreateAccountResult::DebitsPostedMustBeZero,
        CreateAccountResult::CreditsPendingMustBeZero,
        CreateAccountResult::CreditsPostedMustBeZero,
        CreateAccountResult::LedgerMustNotBeZero,
        CreateAccountResult::CodeMustNotBeZero,
        CreateAccountResult::ExistsWithDifferentFlags,
        CreateAccountResult::ExistsWithDifferentUserData128,
        CreateAccountResult::ExistsWithDifferentUserData64,
        CreateAccountResult::ExistsWithDifferentUserData32,
        CreateAccountResult::ExistsWithDifferentLedger,
        CreateAccountResult::ExistsWithDifferentCode,
        CreateAccountResult::Exists,
    ];

    /// TigerBeetle's name for the result.
    pub fn name(self) -> &'static str {
        match self {
            CreateAccountResult::Ok => "ok",
            CreateAccountResult::LinkedEventFailed => "linked_event_failed",
            CreateAccountResult::LinkedEventChainOpen => "linked_event_chain_open",
            CreateAccountResult::TimestampMustBeZero => "timestamp_must_be_zero",
            CreateAccountResult::ReservedFlag => "reserved_flag",
            CreateAccountResult::IdMustNotBeZero => "id_must_not_be_zero",
            CreateAccountResult::IdMustNotBeIntMax => "id_must_not_be_int_max",
            CreateAccountResult::FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
            CreateAccountResult::DebitsPendingMustBeZero => "debits_pending_must_be_zero",
            CreateAccountResult::DebitsPostedMustBeZero => "debits_posted_must_be_zero",
            CreateAccountResult::CreditsPendingMustBeZero => "credits_pending_must_be_zero",
            CreateAccountResult::CreditsPostedMustBeZero => "credits_posted_must_be_zero",
            CreateAccountResult::LedgerMustNotBeZero => "ledger_must_not_be_zero",
            CreateAccountResult::CodeMustNotBeZero => "code_must_not_be_zero",
            CreateAccountResult::ExistsWithDifferentFlags => "exists_with_different_flags",
            CreateAccountResult::ExistsWithDifferentUserData128 => "exists_with_different_user_data_128",
            CreateAccountResult::ExistsWithDifferentUserData64 => "exists_with_different_user_data_64",
            CreateAccountResult::ExistsWithDifferentUserData32 => "exists_with_different_user_data_32",
            CreateAccountResult::ExistsWithDifferentLedger => "exists_with_different_ledger",
            CreateAccountResult::ExistsWithDifferentCode => "exists_with_different_code",
            CreateAccountResult::Exists => "exists",
        }
    }

    pub fn is_ok(self) -> bool {
        self == CreateAccountResult::Ok
    }
}

impl std::fmt::Display for CreateAccountResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one transfer in a `create_transfers` batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateTransferResult {
    Ok,
    LinkedEventFailed,
    LinkedEventChainOpen,
    TimestampMustBeZero,
    ReservedFlag,
    IdMustNotBeZero,
    IdMustNotBeIntMax,
    FlagsAreMutuallyExclusive,
    DebitAccountIdMustNotBeZero,
    DebitAccountIdMustNotBeIntMax,
    CreditAccountIdMustNotBeZero,
    CreditAccountIdMustNotBeIntMax,
    AccountsMustBeDifferent,
    PendingIdMustBeZero,
    PendingIdMustNotBeZero,
    PendingIdMustNotBeIntMax,
    PendingIdMustBeDifferent,
    TimeoutReservedForPendingTransfer,
    AmountMustNotBeZero,
    AmountMustNotExceedMax,
    LedgerMustNotBeZero,
    CodeMustNotBeZero,
    DebitAccountNotFound,
    CreditAccountNotFound,
    AccountsMustHaveTheSameLedger,
    TransferMustHaveTheSameLedgerAsAccounts,
    PendingTransferNotFound,
    PendingTransferNotPending,
    PendingTransferHasDifferentDebitAccountId,
    PendingTransferHasDifferentCreditAccountId,
    PendingTransferHasDifferentLedger,
    PendingTransferHasDifferentCode,
    ExceedsPendingTransferAmount,
    PendingTransferHasDifferentAmount,
    PendingTransferAlreadyPosted,
    PendingTransferAlreadyVoided,
    PendingTransferExpired,
    ExistsWithDifferentFlags,
    ExistsWithDifferentDebitAccountId,
    ExistsWithDifferentCreditAccountId,
    ExistsWithDifferentAmount,
    ExistsWithDifferentPendingId,
    ExistsWithDifferentUserData128,
    ExistsWithDifferentUserData64,
    ExistsWithDifferentUserData32,
    ExistsWithDifferentTimeout,
    ExistsWithDifferentLedger,
    ExistsWithDifferentCode,
    Exists,
    OverflowsDebitsPending,
    OverflowsCreditsPending,
    OverflowsDebitsPosted,
    OverflowsCreditsPosted,
    OverflowsDebits,
    OverflowsCredits,
    OverflowsTimeout,
    ExceedsCredits,
    ExceedsDebits,
    DebitAccountAlreadyClosed,
    CreditAccountAlreadyClosed,
}

impl CreateTransferResult {
    pub const ALL: [CreateTransferResult; 60] = [
        CreateTransferResult::Ok,
        CreateTransferResult::LinkedEventFailed,
        CreateTransferResult::LinkedEventChainOpen,
        CreateTransferResult::TimestampMustBeZero,
        CreateTransferResult::ReservedFlag,
        CreateTransferResult::IdMustNotBeZero,
        CreateTransferResult::IdMustNotBeIntMax,
        CreateTransferResult::FlagsAreMutuallyExclusive,
        CreateTransferResult::DebitAccountIdMustNotBeZero,
        CreateTransferResult::DebitAccountIdMustNotBeIntMax,
        CreateTransferResult::CreditAccountIdMustNotBeZero,
        CreateTransferResult::CreditAccountIdMustNotBeIntMax,
        CreateTransferResult::AccountsMustBeDifferent,
        CreateTransferResult::PendingIdMustBeZero,
        CreateTransferResult::PendingIdMustNotBeZero,
        CreateTransferResult::PendingIdMustNotBeIntMax,
        CreateTransferResult::PendingIdMustBeDifferent,
        CreateTransferResult::TimeoutReservedForPendingTransfer,
        CreateTransferResult::AmountMustNotBeZero,
        CreateTransferResult::AmountMustNotExceedMax,
        CreateTransferResult::LedgerMustNotBeZero,
        CreateTransferResult::CodeMustNotBeZero,
        CreateTransferResult::DebitAccountNotFound,
        CreateTransferResult::CreditAccountNotFound,
        CreateTransferResult::AccountsMustHaveTheSameLedger,
        CreateTransferResult::TransferMustHaveTheSameLedgerAsAccounts,
        CreateTransferResult::PendingTransferNotFound,
        CreateTransferResult::PendingTransferNotPending,
        CreateTransferResult::PendingTransferHasDifferentDebitAccountId,
        CreateTransferResult::PendingTransferHasDifferentCreditAccountId,
        CreateTransferResult::PendingTransferHasDifferentLedger,
        CreateTransferResult::PendingTransferHasDifferentCode,
        CreateTransferResult::ExceedsPendingTransferAmount,
        CreateTransferResult::PendingTransferHasDifferentAmount,
        CreateTransferResult::PendingTransferAlreadyPosted,
        CreateTransferResult::PendingTransferAlreadyVoided,
        CreateTransferResult::PendingTransferExpired,
        CreateTransferResult::ExistsWithDifferentFlags,
        CreateTransferResult::ExistsWithDifferentDebitAccountId,
        CreateTransferResult::ExistsWithDifferentCreditAccountId,
        CreateTransferResult::ExistsWithDifferentAmount,
        CreateTransferResult::ExistsWithDifferentPendingId,
        CreateTransferResult::ExistsWithDifferentUserData128,
        CreateTransferResult::ExistsWithDifferentUserData64,
        CreateTransferResult::ExistsWithDifferentUserData32,
        CreateTransferResult::ExistsWithDifferentTimeout,
        CreateTransferResult::ExistsWithDifferentLedger,
        CreateTransferResult::ExistsWithDifferentCode,
        CreateTransferResult::Exists,
        CreateTransferResult::OverflowsDebitsPending,
        CreateTransferResult::OverflowsCreditsPending,
        CreateTransferResult::OverflowsDebitsPosted,
        CreateTransferResult::OverflowsCreditsPosted,
        CreateTransferResult::OverflowsDebits,
        CreateTransferResult::OverflowsCredits,
        CreateTransferResult::OverflowsTimeout,
        CreateTransferResult::ExceedsCredits,
        CreateTransferResult::ExceedsDebits,
        CreateTransferResult::DebitAccountAlreadyClosed,
        CreateTransferResult::CreditAccountAlreadyClosed,
    ];

    /// TigerBeetle's name for the result.
    pub fn name(self) -> &'static str {
        match self {
            CreateTransferResult::Ok => "ok",
            CreateTransferResult::LinkedEventFailed => "linked_event_failed",
            CreateTransferResult::LinkedEventChainOpen => "linked_event_chain_open",
            CreateTransferResult::TimestampMustBeZero => "timestamp_must_be_zero",
            CreateTransferResult::ReservedFlag => "reserved_flag",
            CreateTransferResult::IdMustNotBeZero => "id_must_not_be_zero",
            CreateTransferResult::IdMustNotBeIntMax => "id_must_not_be_int_max",
            CreateTransferResult::FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
            CreateTransferResult::DebitAccountIdMustNotBeZero => "debit_account_id_must_not_be_zero",
            CreateTransferResult::DebitAccountIdMustNotBeIntMax => "debit_account_id_must_not_be_int_max",
            CreateTransferResult::CreditAccountIdMustNotBeZero => "credit_account_id_must_not_be_zero",
            CreateTransferResult::CreditAccountIdMustNotBeIntMax => "credit_account_id_must_not_be_int_max",
            CreateTransferResult::AccountsMustBeDifferent => "accounts_must_be_different",
            CreateTransferResult::PendingIdMustBeZero => "pending_id_must_be_zero",
            CreateTransferResult::PendingIdMustNotBeZero => "pending_id_must_not_be_zero",
            CreateTransferResult::PendingIdMustNotBeIntMax => "pending_id_must_not_be_int_max",
            CreateTransferResult::PendingIdMustBeDifferent => "pending_id_must_be_different",
            CreateTransferResult::TimeoutReservedForPendingTransfer => "timeout_reserved_for_pending_transfer",
            CreateTransferResult::AmountMustNotBeZero => "amount_must_not_be_zero",
            CreateTransferResult::AmountMustNotExceedMax => "amount_must_not_exceed_max",
            CreateTransferResult::LedgerMustNotBeZero => "ledger_must_not_be_zero",
            CreateTransferResult::CodeMustNotBeZero => "code_must_not_be_zero",
            CreateTransferResult::DebitAccountNotFound => "debit_account_not_found",
            CreateTransferResult::CreditAccountNotFound => "credit_account_not_found",
            CreateTransferResult::AccountsMustHaveTheSameLedger => "accounts_must_have_the_same_ledger",
            CreateTransferResult::TransferMustHaveTheSameLedgerAsAccounts => {
                "transfer_must_have_the_same_ledger_as_accounts"
            }
            CreateTransferResult::PendingTransferNotFound => "pending_transfer_not_found",
            CreateTransferResult::PendingTransferNotPending => "pending_transfer_not_pending",
            CreateTransferResult::PendingTransferHasDifferentDebitAccountId => {
                "pending_transfer_has_different_debit_account_id"
            }
            CreateTransferResult::PendingTransferHasDifferentCreditAccountId => {
                "pending_transfer_has_different_credit_account_id"
            }
            CreateTransferResult::PendingTransferHasDifferentLedger => "pending_transfer_has_different_ledger",
            CreateTransferResult::PendingTransferHasDifferentCode => "pending_transfer_has_different_code",
            CreateTransferResult::ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
            CreateTransferResult::PendingTransferHasDifferentAmount => "pending_transfer_has_different_amount",
            CreateTransferResult::PendingTransferAlreadyPosted => "pending_transfer_already_posted",
            CreateTransferResult::PendingTransferAlreadyVoided => "pending_transfer_already_voided",
            CreateTransferResult::PendingTransferExpired => "pending_transfer_expired",
            CreateTransferResult::ExistsWithDifferentFlags => "exists_with_different_flags",
            CreateTransferResult::ExistsWithDifferentDebitAccountId => "exists_with_different_debit_account_id",
            CreateTransferResult::ExistsWithDifferentCreditAccountId => "exists_with_different_credit_account_id",
            CreateTransferResult::ExistsWithDifferentAmount => "exists_with_different_amount",
            CreateTransferResult::ExistsWithDifferentPendingId => "exists_with_different_pending_id",
            CreateTransferResult::ExistsWithDifferentUserData128 => "exists_with_different_user_data_128",
            CreateTransferResult::ExistsWithDifferentUserData64 => "exists_with_different_user_data_64",
            CreateTransferResult::ExistsWithDifferentUserData32 => "exists_with_different_user_data_32",
            CreateTransferResult::ExistsWithDifferentTimeout => "exists_with_different_timeout",
            CreateTransferResult::ExistsWithDifferentLedger => "exists_with_different_ledger",
            CreateTransferResult::ExistsWithDifferentCode => "exists_with_different_code",
            CreateTransferResult::Exists => "exists",
            CreateTransferResult::OverflowsDebitsPending => "overflows_debits_pending",
            CreateTransferResult::OverflowsCreditsPending => "overflows_credits_pending",
            CreateTransferResult::OverflowsDebitsPosted => "overflows_debits_posted",
            CreateTransferResult::OverflowsCreditsPosted => "overflows_credits_posted",
            CreateTransferResult::OverflowsDebits => "overflows_debits",
            CreateTransferResult::OverflowsCredits => "overflows_credits",
            CreateTransferResult::OverflowsTimeout => "overflows_timeout",
            CreateTransferResult::ExceedsCredits => "exceeds_credits",
            CreateTransferResult::ExceedsDebits => "exceeds_debits",
            CreateTransferResult::DebitAccountAlreadyClosed => "debit_account_already_closed",
            CreateTransferResult::CreditAccountAlreadyClosed => "credit_account_already_closed",
        }
    }

    pub fn is_ok(self) -> bool {
        self == CreateTransferResult::Ok
    }
}

impl std::fmt::Display for CreateTransferResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
