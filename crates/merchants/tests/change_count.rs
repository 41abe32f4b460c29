//! `merchants::change_count`: what lets the POS host keep terminals and merchants in memory.
//! Alone in its binary: the count is the process's, and another test's writes would move it.

mod common;

use merchants::{NewTerminal, TmkExport, TmkSource, change_count};
use sqlstore::Database;

#[test]
fn every_change_moves_the_count_and_the_hosts_lookup_does_not() {
    let f = common::fixture(Database::open("sqlite::memory:").unwrap());
    let r = &f.registry;
    let before = change_count();
    let mid = common::onboard(&f, 1);
    let after_onboarding = change_count();
    assert!(after_onboarding > before, "applied, reviewed, activated");
    let terminal = NewTerminal { terminal_id: "30000001".into(), model: None, serial: None };
    r.add_terminal(&mid, &terminal, &TmkSource::Generate(TmkExport::Components(2))).unwrap();
    let added = change_count();
    assert!(added > after_onboarding);

    let (found, _) = r.terminal_with_merchant("30000001").unwrap().unwrap();
    assert!(r.terminal_with_merchant("39999999").unwrap().is_none());
    assert_eq!(change_count(), added, "the host's lookup only reads");

    r.record_sign_on(&found.terminal_id, common::START_MS).unwrap();
    let signed_on = change_count();
    assert!(signed_on > added);
    r.suspend(&mid, "risk review").unwrap();
    assert!(change_count() > signed_on);
    let suspended = change_count();
    r.disable_terminal("30000001").unwrap();
    assert!(change_count() > suspended);
}
