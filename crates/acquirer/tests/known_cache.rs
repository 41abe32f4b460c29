//! The host keeps each terminal it has seen, with its merchant and state, in memory
//! (`acquirer::known_cache`): every way those rows change must reach a host that kept them.

mod common;

use acquirer::TerminalStatus;
use common::pos::PosTerminal;
use common::*;
use hsm::SignOnScheme;

/// A purchase the switch approves, approved at the terminal.
fn approve(rig: &Rig, terminal: &mut PosTerminal) {
    let reply = rig.exchange(terminal.envelope, terminal.purchase(&card(), 1_000, None).unwrap(), "00");
    assert_eq!(code(&reply), "00");
}

/// A terminal that
/// signs on again at another host on the same database — another connection, so only the
/// database's data version tells — is served with its new keys, not the copy kept here.
#[test]
fn another_hosts_sign_on_is_seen_by_a_host_that_kept_the_terminal() {
    let rig = rig_shared("kept");
    let other = rig.second_host();
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    approve(&rig, &mut terminal);
    for round in 0..3 {
        let request = terminal.sign_on_request(SignOnScheme::Double).unwrap();
        let reply = respond(other.on_terminal_request(terminal.envelope, request, NOW_MS));
        assert_eq!(code(&reply), "00", "round {round}: sign-on at the other host");
        terminal.accept_sign_on(SignOnScheme::Double, &reply.response).unwrap();
        // MAC'd under the new MAK: answered, not A0 as under the kept one.
        approve(&rig, &mut terminal);
        // Disabled in the directory (no database write): 58 at once, then back.
        rig.directory.set_terminal_status(TERMINAL, TerminalStatus::Disabled);
        let refused = respond(rig.send(terminal.envelope, terminal.purchase(&card(), 1_000, None).unwrap()));
        assert_eq!(code(&refused), "58", "round {round}");
        rig.directory.set_terminal_status(TERMINAL, TerminalStatus::Active);
    }
    // Kept again, then signed off by another process (a bare connection: nothing of this
    // process counts it): the next request is answered 77.
    approve(&rig, &mut terminal);
    let bare = sqlstore::Database::open(&rig.url).unwrap();
    bare.transaction(|tx| tx.execute("UPDATE acquirer_terminals SET signed_on = 0", &[])).unwrap();
    let refused = respond(rig.send(terminal.envelope, terminal.purchase(&card(), 1_000, None).unwrap()));
    assert_eq!(code(&refused), "77", "signed off elsewhere");
}
