//! Reads: balance history (accounts with the `history` flag), an account's transfers, lookups,
//! timestamps.

use ledger::{AccountBalance, AccountFlags, CreateTransferResult as R, Id, PendingStatus, TransferRecord};

use crate::fixture::{Bal, Flagged, acct, bal, pending, post, xfer};
use crate::{Backend, Fix};

fn ids(records: &[TransferRecord]) -> Vec<Id> {
    records.iter().map(|r| r.transfer.id).collect()
}

fn balances_of<B: Backend>(f: &mut Fix<B>, account: Id, limit: usize) -> Vec<AccountBalance> {
    f.ledger.account_balances(account, limit).expect("account_balances")
}

/// After every transfer that touches an account with the `history` flag, its balances as they
/// stand after the transfer, stamped with the transfer's timestamp; failed transfers and failed
/// chains leave none; accounts without the flag have none.
pub fn history<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1).with_flags(AccountFlags::HISTORY), acct(2), acct(3).with_flags(AccountFlags::HISTORY)]);
    f.ok_transfers(&[xfer(10, 2, 1, 100), pending(11, 1, 3, 30, 0), post(12, 11, 20), xfer(13, 1, 2, 5)]);
    assert_eq!(f.transfer(xfer(14, 1, 2, 0)), R::AmountMustNotBeZero);
    assert_eq!(
        f.transfers(&[xfer(15, 2, 1, 1).linked(), xfer(16, 1, 2, 0)]),
        vec![R::LinkedEventFailed, R::AmountMustNotBeZero]
    );
    let stamp = |f: &mut Fix<B>, id| f.get_transfer(id).transfer.timestamp;
    let (t10, t11, t12, t13) = (stamp(f, 10), stamp(f, 11), stamp(f, 12), stamp(f, 13));

    let one = balances_of(f, 1, 100);
    assert!(one.iter().all(|b| b.account_id == 1));
    let got: Vec<(u64, Bal)> = one.iter().map(|b| (b.timestamp, Bal::from(b))).collect();
    assert_eq!(
        got,
        vec![(t10, bal(0, 0, 0, 100)), (t11, bal(30, 0, 0, 100)), (t12, bal(0, 20, 0, 100)), (t13, bal(0, 25, 0, 100)),]
    );
    let three: Vec<(u64, Bal)> = balances_of(f, 3, 100).iter().map(|b| (b.timestamp, Bal::from(b))).collect();
    assert_eq!(three, vec![(t11, bal(0, 0, 30, 0)), (t12, bal(0, 0, 0, 20))]);
    assert_eq!(balances_of(f, 2, 100), vec![]);
    assert_eq!(balances_of(f, 404, 100), vec![]);
    // Oldest first, at most `limit`.
    assert_eq!(balances_of(f, 1, 2), one[..2].to_vec());
    assert_eq!(balances_of(f, 1, 0), vec![]);
}

/// Lookups return what is stored (missing ids are left out); `account_transfers` lists the
/// transfers debiting or crediting an account, oldest first, at most `limit`.
pub fn lookups_and_account_transfers<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2), acct(3)]);
    f.ok_transfers(&[xfer(10, 2, 1, 100), pending(11, 1, 3, 30, 5), post(12, 11, 20), xfer(13, 1, 2, 5)]);
    assert_eq!(f.transfer(xfer(14, 1, 3, 0)), R::AmountMustNotBeZero);

    let mut accounts = f.ledger.lookup_accounts(&[3, 404, 1]).expect("lookup_accounts");
    accounts.sort_by_key(|a| a.id);
    assert_eq!(
        accounts.iter().map(|a| (a.id, Bal::from(a))).collect::<Vec<_>>(),
        vec![(1, bal(0, 25, 0, 100)), (3, bal(0, 0, 0, 20))]
    );
    assert_eq!(f.ledger.lookup_accounts(&[]).expect("lookup_accounts"), vec![]);

    let mut transfers = f.ledger.lookup_transfers(&[13, 999, 11, 14]).expect("lookup_transfers");
    transfers.sort_by_key(|r| r.transfer.id);
    assert_eq!(ids(&transfers), vec![11, 13]);
    let p = transfers[0];
    assert_eq!(p.status, PendingStatus::Posted);
    assert_eq!(p.expires_at, p.transfer.timestamp + 5 * crate::fixture::SECOND);
    assert_eq!(p.transfer, ledger::Transfer { timestamp: p.transfer.timestamp, ..pending(11, 1, 3, 30, 5) });
    assert_eq!(transfers[1].status, PendingStatus::None);
    assert_eq!(f.ledger.lookup_transfers(&[]).expect("lookup_transfers"), vec![]);

    let of =
        |f: &mut Fix<B>, account, limit| ids(&f.ledger.account_transfers(account, limit).expect("account_transfers"));
    assert_eq!(of(f, 1, 100), vec![10, 11, 12, 13]);
    assert_eq!(of(f, 2, 100), vec![10, 13]);
    assert_eq!(of(f, 3, 100), vec![11, 12]);
    assert_eq!(of(f, 1, 2), vec![10, 11]);
    assert_eq!(of(f, 1, 0), Vec::<Id>::new());
    assert_eq!(of(f, 404, 100), Vec::<Id>::new());
    let records = f.ledger.account_transfers(1, 100).expect("account_transfers");
    assert_eq!(records[1], p);
}

/// Every event is stamped by the ledger, strictly increasing, never before the clock, and never
/// going back when the clock does; failed events do not take the place of later ones.
pub fn timestamps<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2)]);
    let a1 = f.get_account(1).timestamp;
    let a2 = f.get_account(2).timestamp;
    assert!(a1 >= crate::fixture::START_NS && a2 > a1);
    f.clock.advance_seconds(1);
    f.ok_transfers(&[xfer(10, 1, 2, 1), xfer(11, 1, 2, 1)]);
    let t10 = f.get_transfer(10).transfer.timestamp;
    let t11 = f.get_transfer(11).transfer.timestamp;
    assert!(t10 >= crate::fixture::START_NS + crate::fixture::SECOND && t11 > t10);
    // The clock goes back: stamps still increase.
    f.clock.set_ns(5);
    assert_eq!(f.transfers(&[xfer(12, 1, 2, 0), xfer(13, 1, 2, 1)]), vec![R::AmountMustNotBeZero, R::Ok]);
    f.ok_accounts(&[acct(3)]);
    let t13 = f.get_transfer(13).transfer.timestamp;
    assert!(t13 > t11);
    assert!(f.get_account(3).timestamp > t13);
}
