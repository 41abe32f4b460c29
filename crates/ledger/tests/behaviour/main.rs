//! The ledger's behaviour suite: every result code, linked chains, two-phase transfers (post,
//! partial post, void, expiry), balancing transfers, both limit flags, idempotent resubmission,
//! closed accounts, history and lookups — written once over a [`Backend`] and run on every
//! backend (memory, SQLite, PostgreSQL when `CARDNET_TEST_PG` names a server, and the ledger's
//! tables inside a party's `sqlstore` database on either).
//!
//! Each scenario gets a fresh ledger on a fresh database and a [`ledger::ManualClock`]; the
//! invariants (`ledger::invariants::check`) are checked after every batch and at the end.
//! `every_result_code_is_produced` runs the whole suite once more and asserts that every
//! `CreateAccountResult` and `CreateTransferResult` was produced by some scenario.

mod accounts;
mod backends;
mod balancing;
mod chains;
mod fixture;
mod idempotency;
mod limits;
mod queries;
mod transfers;
mod two_phase;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ledger::{CreateAccountResult, CreateTransferResult};

pub use backends::Backend;
pub use fixture::Fix;

/// Transfer results this implementation cannot produce, with the reason.
pub const UNREACHABLE_TRANSFER_RESULTS: &[(CreateTransferResult, &str)] = &[(
    CreateTransferResult::ExistsWithDifferentLedger,
    "a transfer's ledger is validated against its accounts' ledger before the `exists` check, so a \
     resubmission with the same accounts has the same ledger (a post/void takes the pending \
     transfer's ledger, and the same pending_id means the same pending transfer). TigerBeetle up to \
     0.15 checks `exists` at the same point and asserts this in create_transfer_exists; 0.16 moved \
     the `exists` check before validation, which makes the code reachable there",
)];

/// A scenario: what it does to a fresh ledger.
pub type Scenario<B> = fn(&mut Fix<B>);

/// Run one scenario on a fresh backend, then check the invariants. Returns false when the
/// backend is not configured (the test prints `SKIPPED:` and passes).
pub fn run<B: Backend>(name: &str, scenario: Scenario<B>) -> bool {
    let Some(backend) = B::create() else {
        println!("SKIPPED: {} {name}: {}", B::NAME, B::SKIP_REASON);
        return false;
    };
    let mut fix = Fix::new(backend);
    scenario(&mut fix);
    fix.check_invariants("end of scenario");
    true
}

/// Run every scenario (a panicking one does not stop the others: its own test reports it) and
/// assert that, together, they produced every result code.
pub fn assert_every_result_code<B: Backend>(scenarios: &[(&str, Scenario<B>)]) {
    if B::create().is_none() {
        println!("SKIPPED: {} every_result_code_is_produced: {}", B::NAME, B::SKIP_REASON);
        return;
    }
    fixture::take_seen();
    let mut failed = Vec::new();
    for (name, scenario) in scenarios {
        if catch_unwind(AssertUnwindSafe(|| run::<B>(name, *scenario))).is_err() {
            failed.push(*name);
        }
    }
    let (accounts, transfers) = fixture::take_seen();
    let missing_accounts: Vec<&str> =
        CreateAccountResult::ALL.iter().filter(|r| !accounts.contains(r)).map(|r| r.name()).collect();
    let unreachable: HashSet<CreateTransferResult> = UNREACHABLE_TRANSFER_RESULTS.iter().map(|(r, _)| *r).collect();
    let missing_transfers: Vec<&str> = CreateTransferResult::ALL
        .iter()
        .filter(|r| !transfers.contains(r) && !unreachable.contains(r))
        .map(|r| r.name())
        .collect();
    for (result, why) in UNREACHABLE_TRANSFER_RESULTS {
        assert!(!transfers.contains(result), "{result} is listed as unreachable ({why}) but a scenario produced it");
    }
    assert!(
        missing_accounts.is_empty() && missing_transfers.is_empty(),
        "result codes no scenario produced: accounts {missing_accounts:?}, transfers {missing_transfers:?} \
         (scenarios that panicked: {failed:?})"
    );
}

/// The suite: `module::scenario` for every scenario; each becomes a `#[test]` per backend.
macro_rules! suite {
    ($($module:ident :: $scenario:ident),* $(,)?) => {
        backend_tests!(memory, crate::backends::Memory; $($module::$scenario),*);
        backend_tests!(sqlite, crate::backends::Sqlite; $($module::$scenario),*);
        backend_tests!(postgres, crate::backends::Postgres; $($module::$scenario),*);
        backend_tests!(in_database_sqlite, crate::backends::InDatabaseSqlite; $($module::$scenario),*);
        backend_tests!(in_database_postgres, crate::backends::InDatabasePostgres; $($module::$scenario),*);
    };
}

macro_rules! backend_tests {
    ($backend:ident, $type:ty; $($module:ident :: $scenario:ident),*) => {
        mod $backend {
            type B = $type;
            $(
                #[test]
                fn $scenario() {
                    crate::run::<B>(stringify!($scenario), crate::$module::$scenario::<B>);
                }
            )*

            #[test]
            fn every_result_code_is_produced() {
                crate::assert_every_result_code::<B>(&[
                    $((stringify!($scenario), crate::$module::$scenario::<B>)),*
                ]);
            }
        }
    };
}

suite! {
    accounts::account_validation,
    accounts::account_exists,
    accounts::account_chains,
    accounts::account_open_chain_after_failure,
    transfers::transfer_validation,
    transfers::transfer_validation_precedence,
    transfers::overflows,
    transfers::overflow_posted_checked_for_pending,
    transfers::overflows_timeout,
    transfers::timeout_must_fit_sql_timestamps,
    transfers::closed_accounts,
    transfers::batch_limits,
    two_phase::post_and_void,
    two_phase::resolve_validation,
    two_phase::void_amount_over_pending,
    two_phase::post_inherits_user_data,
    two_phase::expiry,
    two_phase::expiry_boundaries,
    two_phase::expiry_sweep_on_history_accounts,
    chains::transfer_chains,
    chains::transfer_chains_roll_back_two_phase,
    chains::transfer_open_chain_after_failure,
    balancing::balancing,
    balancing::balancing_to_zero,
    limits::debits_must_not_exceed_credits,
    limits::credits_must_not_exceed_debits,
    idempotency::resubmission,
    idempotency::resubmission_of_resolutions,
    idempotency::resubmission_after_reopen,
    idempotency::resubmission_naming_another_pending,
    queries::history,
    queries::lookups_and_account_transfers,
    queries::timestamps,
}
