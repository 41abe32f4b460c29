//! The acquirer's journal: every SQL statement of the authorization path — transactions,
//! terminals, messages, reversals — as typed functions the decisions call inside their
//! transaction (`sqlstore::Tx`), so one decision and everything it records commit together.
//! Nothing here decides: what to write is the caller's. Settlement-time statements (the 0500
//! and 0320 tables, the merchant settlement run) stay beside their code in `settlement*.rs` and
//! `merchant_run.rs`; the schema and its migrations are `crate::store`.

/// The kinds the merchant's day counts (the risk hook's totals): the kind table's
/// `takes_money`, written out because SQL text (the totals' triggers, migration
/// `acquirer-v6-merchant-day`'s partial index before them) is built from it; a test keeps it
/// equal to the table.
macro_rules! merchant_day_kinds {
    () => {
        "('purchase', 'pre-auth', 'completion', 'completion-advice')"
    };
}

mod merchant_days;
mod messages;
mod reversals;
mod terminals;
mod transactions;

pub(crate) use merchant_days::{
    MIGRATION_V8, MIGRATION_V12, ddl as merchant_days_ddl, ddl_v12 as merchant_days_ddl_v12, merchant_day,
};
pub(crate) use messages::{Flow, log, log_exchange};
pub(crate) use reversals::{
    NewTerminalReversal, insert_reversal, insert_terminal_reversal, reversal_answered, reversal_queued,
    reversal_transaction, reversed_twice, terminal_reversal_answer,
};
pub use terminals::TerminalState;
pub(crate) use terminals::change_count as terminal_change_count;
pub(crate) use terminals::{
    WorkingKeys, close_batch, ensure_terminal, install_keys, mark_settlement_pending, record_sign_on, require_sign_on,
    sign_off, terminal, terminal_ids,
};
pub use transactions::RiskRow;
pub use transactions::TransactionRecord;
pub(crate) use transactions::{
    NetworkAnswer, NewTransaction, OriginalEffect, answer_state, approved_between, batch, by_id, by_rrn, by_trace,
    insert_request, lock, mark_reversed, network_payload, pending_follow_ups, risk_rows, set_answer, set_failed,
    set_original_effect,
};
