//! Exceptions (差错) at the switch, on SQLite and (with CARDNET_TEST_PG) PostgreSQL: the
//! transition table row by row, a chargeback cycle becoming next-date clearing records with the
//! right signs, bulk opening idempotent, the audit trail append-only.

mod eod_support;

use clearing::{BusinessDate, TxnCode};
use eod_support::*;
use sqlstore::Database;
use switch::disputes::{
    self, Action, DISPUTE_REFERENCE_BASE, DisputeError, ExceptionClass, ExceptionRecord, ListFilter, NewException,
    Resolution, Stage, TRANSITIONS,
};
use switch::settlement;

const FOUND: &str = "2026-11-21";

fn new_exception(reference: u64, class: ExceptionClass, amount: u64) -> NewException {
    let d = date(FOUND);
    NewException {
        date: d,
        class,
        record: ExceptionRecord::from_clearing(&record(
            d,
            reference,
            TxnCode::Purchase,
            ACQ1,
            ISS1,
            amount,
            CNY,
            35,
            3,
        )),
        note: format!("reconciliation found {}", class.name()),
    }
}

fn open_one(db: &Database, reference: u64, amount: u64) -> u64 {
    let opened = disputes::open_exceptions(
        db,
        &[new_exception(reference, ExceptionClass::AmountMismatch, amount)],
        "recon",
        NOW_MS,
    );
    opened.unwrap()[0].id
}

fn act(action: Action, amount: Option<u64>) -> Resolution {
    Resolution {
        action,
        by: "operator-li".into(),
        reason: format!("{} per the evidence", action.name()),
        amount_minor: amount,
    }
}

/// The path from a new exception to each stage.
fn path_to(stage: Stage) -> &'static [Action] {
    match stage {
        Stage::Open => &[],
        Stage::ChargedBack => &[Action::Chargeback],
        Stage::Represented => &[Action::Chargeback, Action::Representment],
        Stage::Resolved => &[Action::WriteOff],
    }
}

#[test]
fn the_table_is_the_documented_one() {
    use Action::*;
    use Stage::*;
    assert_eq!(
        TRANSITIONS.to_vec(),
        vec![
            (Open, CreditAdjustment, Resolved),
            (Open, DebitAdjustment, Resolved),
            (Open, Chargeback, ChargedBack),
            (Open, WriteOff, Resolved),
            (ChargedBack, Representment, Represented),
            (ChargedBack, WriteOff, Resolved),
            (Represented, SecondChargeback, Resolved),
            (Represented, WriteOff, Resolved),
        ]
    );
}

#[test]
fn every_stage_and_action_does_what_the_table_says() {
    for place in Place::all("table") {
        let db = place.db();
        let clearing_date = date(FOUND).next();
        let mut reference = 1;
        for stage in Stage::ALL {
            for action in Action::ALL {
                reference += 1;
                let id = open_one(&db, reference, 10_000);
                for step in path_to(stage) {
                    disputes::resolve(&db, id, &act(*step, None), NOW_MS, clearing_date).unwrap();
                }
                let (before, trail_before) = disputes::show(&db, id).unwrap();
                assert_eq!(before.stage, stage);
                let outcome = disputes::resolve(&db, id, &act(action, None), NOW_MS + 1, clearing_date);
                let (after, trail_after) = disputes::show(&db, id).unwrap();
                match disputes::next_stage(stage, action) {
                    Some(to) => {
                        let resolved = outcome.unwrap_or_else(|e| panic!("{stage:?} {action:?}: {e}"));
                        assert_eq!(after.stage, to, "{} {stage:?} {action:?}", place.name());
                        assert_eq!(trail_after.len(), trail_before.len() + 1);
                        assert_eq!(resolved.record.is_some(), action != Action::WriteOff);
                        let entry = trail_after.last().unwrap();
                        assert_eq!((entry.stage_before, entry.stage_after), (Some(stage), to));
                        assert_eq!(entry.action, action.name());
                    }
                    None => {
                        let error = outcome.unwrap_err();
                        assert!(matches!(error, DisputeError::NotAllowed { .. }), "{stage:?} {action:?}: {error}");
                        assert_eq!(after, before, "a refused action changes nothing");
                        assert_eq!(trail_after, trail_before);
                    }
                }
            }
        }
    }
}

#[test]
fn a_chargeback_cycle_clears_on_the_next_dates_with_the_right_signs() {
    for place in Place::all("cycle") {
        let db = place.db();
        let mut ledger = place.ledger();
        let found = date(FOUND);
        let id = open_one(&db, 42, 10_000);
        let (d1, d2, d3) = (found.next(), found.next().next(), found.next().next().next());
        let cb = disputes::resolve(&db, id, &act(Action::Chargeback, Some(6_000)), NOW_MS, d1).unwrap();
        assert_eq!(cb.exception.stage.status(), "chargeback_cycle");
        // A representment claims at most what was charged back.
        let too_much = disputes::resolve(&db, id, &act(Action::Representment, Some(6_001)), NOW_MS, d2).unwrap_err();
        assert!(matches!(too_much, DisputeError::Input(_)), "{too_much}");
        disputes::resolve(&db, id, &act(Action::Representment, None), NOW_MS, d2).unwrap();
        let second = disputes::resolve(&db, id, &act(Action::SecondChargeback, Some(4_000)), NOW_MS, d3).unwrap();
        assert_eq!(second.exception.stage, Stage::Resolved);
        assert_eq!(second.exception.stage.status(), "resolved");
        let expected = [
            (d1, TxnCode::Chargeback, 6_000, -6_000),
            (d2, TxnCode::Representment, 6_000, 6_000),
            (d3, TxnCode::SecondChargeback, 4_000, -4_000),
        ];
        for (on, code, amount, settlement_minor) in expected {
            let records = disputes::clearing_records(&db, on).unwrap();
            assert_eq!(records.len(), 1, "{} {on}", place.name());
            let r = &records[0];
            assert_eq!((r.code, r.amount_minor, r.settlement_minor), (code, amount, settlement_minor));
            assert_eq!((r.interchange_fee_minor, r.network_fee_minor), (0, 0), "exception records carry no fees");
            assert_eq!((r.date, r.original_reference, r.acquirer.as_str(), r.issuer.as_str()), (on, 42, ACQ1, ISS1));
            assert!(r.reference > DISPUTE_REFERENCE_BASE);
            assert_eq!(r.pan_masked, "622424******0113");
            // Settled on its date: the chargeback takes money from the acquirer to the issuer.
            let report = settlement::settle(&db, &mut ledger, on, NETWORK, records.clone()).unwrap();
            let acquirer = report.members.iter().find(|m| m.member == ACQ1).unwrap();
            let issuer = report.members.iter().find(|m| m.member == ISS1).unwrap();
            assert_eq!((acquirer.net_minor, issuer.net_minor), (settlement_minor, -settlement_minor));
        }
        assert!(disputes::clearing_records(&db, found).unwrap().is_empty());
        // A settled date takes no more records; the found date itself never does.
        let other = open_one(&db, 43, 500);
        let refused = disputes::resolve(&db, other, &act(Action::CreditAdjustment, None), NOW_MS, d1).unwrap_err();
        assert!(refused.to_string().contains("is settled"), "{refused}");
        let refused = disputes::resolve(&db, other, &act(Action::CreditAdjustment, None), NOW_MS, found).unwrap_err();
        assert!(refused.to_string().contains("later date"), "{refused}");
        let credit = disputes::resolve(&db, other, &act(Action::CreditAdjustment, None), NOW_MS, d3.next()).unwrap();
        let r = credit.record.unwrap();
        assert_eq!((r.code, r.settlement_minor), (TxnCode::CreditAdjustment, -500));
        let debit_id = open_one(&db, 44, 700);
        let debit = disputes::resolve(&db, debit_id, &act(Action::DebitAdjustment, None), NOW_MS, d3.next()).unwrap();
        assert_eq!(debit.record.unwrap().settlement_minor, 700);
        let refs: Vec<u64> = disputes::clearing_records(&db, d3.next()).unwrap().iter().map(|r| r.reference).collect();
        assert_eq!(refs.len(), 2);
        assert!(refs[0] < refs[1], "unique and ordered");
    }
}

#[test]
fn opening_in_bulk_is_idempotent_and_lists_by_status_and_date() {
    for place in Place::all("bulk") {
        let db = place.db();
        let batch: Vec<NewException> = ExceptionClass::ALL
            .iter()
            .enumerate()
            .map(|(i, class)| new_exception(100 + i as u64, *class, 1_000 + i as u64))
            .collect();
        let first = disputes::open_exceptions(&db, &batch, "recon", NOW_MS).unwrap();
        assert!(first.iter().all(|o| o.created));
        let again = disputes::open_exceptions(&db, &batch, "recon", NOW_MS + 5).unwrap();
        assert_eq!(again.iter().map(|o| o.id).collect::<Vec<_>>(), first.iter().map(|o| o.id).collect::<Vec<_>>());
        assert!(again.iter().all(|o| !o.created), "{}", place.name());
        // The same reference in another class, or found on another date, is another exception.
        let mut other_date = batch[0].clone();
        other_date.date = other_date.date.next();
        let mut other_class = batch[0].clone();
        other_class.class = ExceptionClass::Duplicate;
        let more = disputes::open_exceptions(&db, &[other_date, other_class], "recon", NOW_MS).unwrap();
        assert!(more.iter().all(|o| o.created));
        // Without a switch reference (missing at host), the acquirer's key tells them apart.
        let mut no_ref = [batch[1].clone(), batch[1].clone()];
        for (i, new) in no_ref.iter_mut().enumerate() {
            new.record.reference = 0;
            new.record.stan = Some(format!("00077{i}").parse().unwrap());
        }
        let keyed = disputes::open_exceptions(&db, &no_ref, "recon", NOW_MS).unwrap();
        assert!(keyed.iter().all(|o| o.created) && keyed[0].id != keyed[1].id);
        let keyed_again = disputes::open_exceptions(&db, &no_ref, "recon", NOW_MS).unwrap();
        assert!(keyed_again.iter().all(|o| !o.created));
        assert_eq!(keyed_again[1].id, keyed[1].id);
        let all = disputes::list(&db, ListFilter::default()).unwrap();
        assert_eq!(all.len(), ExceptionClass::ALL.len() + 4);
        let (shown, trail) = disputes::show(&db, first[0].id).unwrap();
        assert_eq!(trail.len(), 1, "one opening entry, not two");
        assert_eq!((trail[0].action.as_str(), trail[0].by.as_str()), ("opened", "recon"));
        assert_eq!(shown.class, ExceptionClass::MissingAtHost);
        disputes::resolve(&db, first[0].id, &act(Action::WriteOff, None), NOW_MS, date(FOUND).next()).unwrap();
        let resolved = disputes::list(&db, ListFilter { resolved: Some(true), date: None }).unwrap();
        assert_eq!(resolved.iter().map(|e| e.id).collect::<Vec<_>>(), vec![first[0].id]);
        let open = disputes::list(&db, ListFilter { resolved: Some(false), date: Some(date(FOUND)) }).unwrap();
        assert_eq!(open.len(), ExceptionClass::ALL.len() - 1 + 1 + 2);
        assert!(matches!(disputes::show(&db, 999_999), Err(DisputeError::NotFound(999_999))));
    }
}

#[test]
fn bad_input_is_refused_with_what_is_wrong() {
    let place = Place::sqlite("badinput");
    let db = place.db();
    let mut full_pan = new_exception(1, ExceptionClass::Duplicate, 100);
    full_pan.record.pan_masked = "6224242900000113".into();
    let error = disputes::open_exceptions(&db, &[full_pan], "recon", NOW_MS).unwrap_err();
    assert!(error.to_string().contains("masked"), "{error}");
    let error = disputes::open_exceptions(&db, &[new_exception(1, ExceptionClass::Duplicate, 0)], "recon", NOW_MS);
    assert!(error.unwrap_err().to_string().contains("amount"));
    assert!(disputes::list(&db, ListFilter::default()).unwrap().is_empty(), "nothing opened");
    let id = open_one(&db, 2, 100);
    let next = date(FOUND).next();
    let no_reason = Resolution { reason: " ".into(), ..act(Action::WriteOff, None) };
    assert!(disputes::resolve(&db, id, &no_reason, NOW_MS, next).unwrap_err().to_string().contains("reason"));
    let no_by = Resolution { by: String::new(), ..act(Action::WriteOff, None) };
    assert!(disputes::resolve(&db, id, &no_by, NOW_MS, next).unwrap_err().to_string().contains("by"));
    let write_off_amount = disputes::resolve(&db, id, &act(Action::WriteOff, Some(5)), NOW_MS, next).unwrap_err();
    assert!(write_off_amount.to_string().contains("no --amount"), "{write_off_amount}");
    let zero = disputes::resolve(&db, id, &act(Action::Chargeback, Some(0)), NOW_MS, next).unwrap_err();
    assert!(zero.to_string().contains("1 to 100"), "{zero}");
    assert!(matches!(
        disputes::resolve(&db, 77, &act(Action::WriteOff, None), NOW_MS, next),
        Err(DisputeError::NotFound(77))
    ));
    assert_eq!(disputes::show(&db, id).unwrap().1.len(), 1, "refusals leave no trace in the trail");
}

#[test]
fn the_audit_trail_only_grows() {
    for place in Place::all("audit") {
        let db = place.db();
        let id = open_one(&db, 7, 10_000);
        let next = date(FOUND).next();
        let mut seen = disputes::show(&db, id).unwrap().1;
        for action in [Action::Chargeback, Action::Representment, Action::WriteOff] {
            disputes::resolve(&db, id, &act(action, None), NOW_MS + seen.len() as u64, next).unwrap();
            let now = disputes::show(&db, id).unwrap().1;
            assert_eq!(now.len(), seen.len() + 1);
            assert_eq!(&now[..seen.len()], &seen[..], "earlier entries unchanged");
            seen = now;
        }
        assert_eq!(
            seen.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["opened", "chargeback", "representment", "write_off"]
        );
        assert!(seen.iter().all(|e| !e.by.is_empty() && !e.reason.is_empty() && e.at_ms >= NOW_MS));
        // The database itself refuses to change or remove an entry.
        let update = db.transaction(|tx| tx.execute("UPDATE switch_exception_audit SET reason = 'edited'", &[]));
        let update = update.expect_err("an UPDATE of the audit trail went through");
        assert!(update.to_string().contains("append-only"), "{}: {update}", place.name());
        let delete = db.transaction(|tx| tx.execute("DELETE FROM switch_exception_audit", &[]));
        let delete = delete.expect_err("a DELETE of the audit trail went through");
        assert!(delete.to_string().contains("append-only"), "{}: {delete}", place.name());
        assert_eq!(disputes::show(&db, id).unwrap().1, seen);
    }
}

/// No statement in the switch's code changes or removes audit rows (the trigger is the second
/// line; this is the first).
#[test]
fn no_code_updates_or_deletes_the_audit_trail() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut folders = vec![src];
    let mut files = 0;
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for forbidden in ["update switch_exception_audit set", "delete from switch_exception_audit"] {
                assert!(!flat.contains(forbidden), "{} holds {forbidden:?}", path.display());
            }
            files += 1;
        }
    }
    assert!(files > 10);
}

#[test]
fn exception_records_never_reuse_an_exchange_reference() {
    let place = Place::sqlite("refs");
    let db = place.db();
    let on: BusinessDate = date(FOUND).next();
    for reference in 1..=20 {
        let id = open_one(&db, reference, 1_000);
        disputes::resolve(&db, id, &act(Action::Chargeback, None), NOW_MS, on).unwrap();
    }
    let records = disputes::clearing_records(&db, on).unwrap();
    assert_eq!(records.len(), 20);
    let mut refs: Vec<u64> = records.iter().map(|r| r.reference).collect();
    refs.dedup();
    assert_eq!(refs.len(), 20);
    assert!(refs.iter().all(|&r| r > DISPUTE_REFERENCE_BASE && r < 1_000_000_000_000), "12 digits, above the base");
}

/// An amount cleared too high on one date is put right by a credit adjustment on the next: over
/// the two dates the members' settlement accounts hold what the true amount gives.
#[test]
fn a_credit_adjustment_brings_the_next_date_back_to_the_true_amount() {
    for place in Place::all("adjust") {
        let db = place.db();
        let mut ledger = place.ledger();
        let d = date(FOUND);
        // Cleared at 10,000 (fees 35 and 3); the cardholder really paid 9,000.
        let cleared = record(d, 1, TxnCode::Purchase, ACQ1, ISS1, 10_000, CNY, 35, 3);
        settlement::settle(&db, &mut ledger, d, NETWORK, vec![cleared.clone()]).unwrap();
        let mut new = new_exception(1, ExceptionClass::AmountMismatch, 10_000);
        new.record = ExceptionRecord::from_clearing(&cleared);
        let id = disputes::open_exceptions(&db, &[new], "recon", NOW_MS).unwrap()[0].id;
        disputes::resolve(&db, id, &act(Action::CreditAdjustment, Some(1_000)), NOW_MS, d.next()).unwrap();
        let next = disputes::clearing_records(&db, d.next()).unwrap();
        let report = settlement::settle(&db, &mut ledger, d.next(), NETWORK, next).unwrap();
        let acquirer = report.members.iter().find(|m| m.member == ACQ1).unwrap();
        let issuer = report.members.iter().find(|m| m.member == ISS1).unwrap();
        // Fees stay as first cleared (exception records carry none): 9,000 − 35 − 3 to the acquirer.
        assert_eq!(acquirer.closing_minor, 9_000 - 35 - 3, "{}", place.name());
        assert_eq!(issuer.closing_minor, -(9_000 - 35) - 3);
        assert_eq!(acquirer.opening_minor + acquirer.net_minor, acquirer.closing_minor);
        let (_, trail) = disputes::show(&db, id).unwrap();
        assert_eq!(trail.last().unwrap().clearing_date, Some(d.next()));
    }
}

#[test]
fn a_resolution_clears_on_an_open_date_after_the_one_found_without_opening_the_switch() {
    let place = Place::sqlite("clearing-date");
    let db = place.db();
    let cutoff = clearing::CutOff::new(0, 0).unwrap();
    let found = date(FOUND);
    // Long before the date found: the day after it.
    assert_eq!(disputes::clearing_date(&db, cutoff, found, 0).unwrap(), found.next());
    // A week after: the date an exchange made then gets, no date being closed.
    let later = cutoff.closes_at_ms(found) + 7 * 86_400_000;
    let on = disputes::clearing_date(&db, cutoff, found, later).unwrap();
    assert_eq!(on, cutoff.business_date(later));
    assert!(on > found.next(), "{on}");
}
