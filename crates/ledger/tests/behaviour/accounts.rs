//! create_accounts: validation (every account result code), resubmission, linked chains.

use ledger::{Account, AccountFlags, CreateAccountResult as R};

use crate::fixture::{CODE, Flagged, L, L2, acct};
use crate::{Backend, Fix};

const DMNEC: AccountFlags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
const CMNED: AccountFlags = AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS;

/// Each invalid field gets its own code, in TigerBeetle's order of checks; nothing is created.
pub fn account_validation<B: Backend>(f: &mut Fix<B>) {
    let cases: Vec<(Account, R)> = vec![
        (Account { timestamp: 1, ..acct(101) }, R::TimestampMustBeZero),
        // Bit 4 is TigerBeetle's `imported`, not offered here; bit 6 and up are padding.
        (acct(102).with_flags(AccountFlags(1 << 4)), R::ReservedFlag),
        (acct(103).with_flags(AccountFlags(1 << 6)), R::ReservedFlag),
        (acct(0), R::IdMustNotBeZero),
        (acct(u128::MAX), R::IdMustNotBeIntMax),
        (acct(104).with_flags(DMNEC.union(CMNED)), R::FlagsAreMutuallyExclusive),
        (Account { debits_pending: 1, ..acct(105) }, R::DebitsPendingMustBeZero),
        (Account { debits_posted: 1, ..acct(106) }, R::DebitsPostedMustBeZero),
        (Account { credits_pending: 1, ..acct(107) }, R::CreditsPendingMustBeZero),
        (Account { credits_posted: 1, ..acct(108) }, R::CreditsPostedMustBeZero),
        (Account::new(109, 0, CODE), R::LedgerMustNotBeZero),
        (Account::new(110, L, 0), R::CodeMustNotBeZero),
    ];
    let (events, expected): (Vec<Account>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.accounts(&events), expected);
    f.assert_no_accounts(&[0, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, u128::MAX]);

    // Several faults at once: the first check in TigerBeetle's order decides.
    let zero = Account::new(0, 0, 0);
    let precedence = [
        (Account { timestamp: 1, debits_posted: 5, ..zero.with_flags(AccountFlags(1 << 6)) }, R::TimestampMustBeZero),
        (Account { debits_posted: 5, ..zero.with_flags(AccountFlags(1 << 6)) }, R::ReservedFlag),
        (Account { debits_posted: 5, ..zero.with_flags(DMNEC.union(CMNED)) }, R::IdMustNotBeZero),
        (
            Account { debits_posted: 5, ..Account::new(111, 0, 0).with_flags(DMNEC.union(CMNED)) },
            R::FlagsAreMutuallyExclusive,
        ),
        (Account { credits_posted: 5, ..Account::new(112, 0, 0) }, R::CreditsPostedMustBeZero),
        (Account::new(113, 0, 0), R::LedgerMustNotBeZero),
    ];
    let (events, expected): (Vec<Account>, Vec<R>) = precedence.into_iter().unzip();
    assert_eq!(f.accounts(&events), expected);
    f.assert_no_accounts(&[111, 112, 113]);

    // Valid accounts: stored as submitted, with zero balances and a ledger timestamp.
    let valid = [
        Account { user_data_128: 1 << 100, user_data_64: 64, user_data_32: 32, ..Account::new(120, L, 7) },
        acct(121).with_flags(DMNEC.union(AccountFlags::HISTORY)),
        Account::new(122, L2, 9).with_flags(CMNED),
        acct(123).with_flags(AccountFlags::CLOSED),
    ];
    f.ok_accounts(&valid);
    let mut last = 0;
    for event in valid {
        let stored = f.get_account(event.id);
        assert!(stored.timestamp > last, "timestamps increase: {stored:?}");
        last = stored.timestamp;
        assert_eq!(stored, Account { timestamp: stored.timestamp, ..event });
    }
}

/// Resubmitting an account id: `exists` when identical, otherwise the first field that differs
/// (TigerBeetle's order: flags, user data 128/64/32, ledger, code); the account is unchanged.
pub fn account_exists<B: Backend>(f: &mut Fix<B>) {
    let original = Account {
        user_data_128: 7,
        user_data_64: 8,
        user_data_32: 9,
        ..Account::new(200, L, 10).with_flags(AccountFlags::HISTORY)
    };
    assert_eq!(f.account(original), R::Ok);
    let stored = f.get_account(200);

    let cases = [
        (original, R::Exists),
        (original.with_flags(AccountFlags::HISTORY.union(DMNEC)), R::ExistsWithDifferentFlags),
        (original.with_flags(AccountFlags::default()), R::ExistsWithDifferentFlags),
        (Account { user_data_128: 70, ..original }, R::ExistsWithDifferentUserData128),
        (Account { user_data_64: 80, ..original }, R::ExistsWithDifferentUserData64),
        (Account { user_data_32: 90, ..original }, R::ExistsWithDifferentUserData32),
        (Account { ledger: L2, ..original }, R::ExistsWithDifferentLedger),
        (Account { code: 11, ..original }, R::ExistsWithDifferentCode),
        // Several differences: flags first, then user data before ledger and code.
        (Account { code: 11, ledger: L2, ..original.with_flags(AccountFlags::default()) }, R::ExistsWithDifferentFlags),
        (Account { code: 11, ledger: L2, user_data_32: 1, ..original }, R::ExistsWithDifferentUserData32),
        (Account { code: 11, ledger: L2, ..original }, R::ExistsWithDifferentLedger),
    ];
    let (events, expected): (Vec<Account>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.accounts(&events), expected);
    // Validation precedes the existence check.
    assert_eq!(f.account(Account { code: 0, ..original }), R::CodeMustNotBeZero);
    assert_eq!(f.account(Account { timestamp: 5, ..original }), R::TimestampMustBeZero);
    // Twice in one batch: the second is a resubmission of the first.
    assert_eq!(f.accounts(&[acct(201), acct(201)]), vec![R::Ok, R::Exists]);
    // Nothing changed the stored account.
    assert_eq!(f.get_account(200), stored);
}

/// Linked chains of accounts succeed or fail as one.
pub fn account_chains<B: Backend>(f: &mut Fix<B>) {
    // A chain that succeeds: all created.
    f.ok_accounts(&[acct(1).linked(), acct(2).linked(), acct(3)]);
    // The linked flag belongs to the batch: it is not stored.
    assert_eq!(f.get_account(1).flags, AccountFlags::default());

    // A failure in the middle: it gets its own code, the rest of the chain `linked_event_failed`,
    // and nothing of the chain is created; the event after the chain is independent.
    assert_eq!(
        f.accounts(&[acct(10).linked(), Account::new(11, 0, CODE).linked(), acct(12), acct(13)]),
        vec![R::LinkedEventFailed, R::LedgerMustNotBeZero, R::LinkedEventFailed, R::Ok]
    );
    f.assert_no_accounts(&[10, 11, 12]);
    f.get_account(13);

    // `exists` is a failure too: an account created earlier in the chain is rolled back.
    assert_eq!(f.accounts(&[acct(20).linked(), acct(20)]), vec![R::LinkedEventFailed, R::Exists]);
    f.assert_no_accounts(&[20]);
    // An existing account in a chain fails the chain.
    assert_eq!(f.accounts(&[acct(21).linked(), acct(1)]), vec![R::LinkedEventFailed, R::Exists]);
    f.assert_no_accounts(&[21]);

    // Failure at the start and at the end of a chain.
    assert_eq!(
        f.accounts(&[acct(0).linked(), acct(30).linked(), acct(31)]),
        vec![R::IdMustNotBeZero, R::LinkedEventFailed, R::LinkedEventFailed]
    );
    assert_eq!(
        f.accounts(&[acct(32).linked(), acct(33).linked(), Account::new(34, L, 0)]),
        vec![R::LinkedEventFailed, R::LinkedEventFailed, R::CodeMustNotBeZero]
    );
    f.assert_no_accounts(&[30, 31, 32, 33, 34]);

    // Chains back to back, one failing, with independent events around them.
    assert_eq!(
        f.accounts(&[
            acct(40),
            acct(41).linked(),
            acct(42),
            acct(43).linked(),
            Account { timestamp: 9, ..acct(44) }.linked(),
            acct(45),
            acct(46),
        ]),
        vec![R::Ok, R::Ok, R::Ok, R::LinkedEventFailed, R::TimestampMustBeZero, R::LinkedEventFailed, R::Ok]
    );
    f.assert_no_accounts(&[43, 44, 45]);
    for id in [40, 41, 42, 46] {
        f.get_account(id);
    }

    // A chain left open at the end of the batch: its last event is `linked_event_chain_open`, the
    // others `linked_event_failed`; events before the chain stand.
    assert_eq!(
        f.accounts(&[acct(50), acct(51).linked(), acct(52).linked()]),
        vec![R::Ok, R::LinkedEventFailed, R::LinkedEventChainOpen]
    );
    assert_eq!(f.accounts(&[acct(53).linked()]), vec![R::LinkedEventChainOpen]);
    f.get_account(50);
    f.assert_no_accounts(&[51, 52, 53]);
    // The ids of failed events are free to use.
    f.ok_accounts(&[acct(10), acct(11), acct(20), acct(51), acct(53)]);
}

/// An open chain whose earlier event failed: TigerBeetle still answers the last event with
/// `linked_event_chain_open` (state_machine.zig `execute`: the chain-open check comes before the
/// `chain_broken` check), and the events between with `linked_event_failed`.
pub fn account_open_chain_after_failure<B: Backend>(f: &mut Fix<B>) {
    assert_eq!(
        f.accounts(&[Account::new(60, L, 0).linked(), acct(61).linked(), acct(62).linked()]),
        vec![R::CodeMustNotBeZero, R::LinkedEventFailed, R::LinkedEventChainOpen]
    );
    f.assert_no_accounts(&[60, 61, 62]);
}
