//! The alerts store on `sqlite::memory:`, on a SQLite file, and on PostgreSQL when
//! CARDNET_TEST_PG is set: the transition table row by row through the store, the audit
//! trail, the refusals, and bounded retention.

use super::*;
use crate::cases::{ACTIONS, STATUSES, TRANSITIONS};

fn new_alert(created_ms: u64) -> NewAlert {
    NewAlert {
        created_ms,
        party: Party::Acquirer,
        entity_kind: EntityKind::Card,
        entity: "key-00ab00cd00ef0012".into(),
        pan_masked: Some("622424******0113".into()),
        reference: "rrn=632510000123 terminal=T0000001 trace=000123".into(),
        verdict: "decline".into(),
        response_code: Some("65".into()),
        fired_json: r#"[{"rule":"card_burst","observed":5,"bound":5,"score":60,"reason":"velocity","decline":"65"}]"#
            .into(),
        score: 60,
    }
}

fn memory() -> Cases {
    Cases::open("sqlite::memory:").unwrap()
}

/// Put a fresh alert in `status` by the shortest way the table allows.
fn alert_in(cases: &Cases, status: Status) -> u64 {
    let id = cases.record_alert(&new_alert(1_000)).unwrap();
    match status {
        Status::Open => {}
        Status::Investigating => {
            cases.assign(id, "lead", "ana", None, 2_000).unwrap();
        }
        Status::ClosedFraud => {
            cases.close(id, "ana", true, None, 2_000).unwrap();
        }
        Status::ClosedNotFraud => {
            cases.close(id, "ana", false, None, 2_000).unwrap();
        }
    }
    assert_eq!(cases.show(id).unwrap().alert.status, status);
    id
}

fn apply(cases: &Cases, id: u64, action: Action) -> Result<Alert, CaseError> {
    match action {
        Action::Assign => cases.assign(id, "lead", "bo", Some("take it"), 3_000),
        Action::Note => cases.note(id, "bo", "looked at it", 3_000),
        Action::CloseFraud => cases.close(id, "bo", true, None, 3_000),
        Action::CloseNotFraud => cases.close(id, "bo", false, None, 3_000),
    }
}

/// Every (status, action) pair through the store: the table's rows succeed and lead where
/// the row says, with one more trail entry; every other pair is refused and changes nothing.
fn walk_the_table(cases: &Cases) {
    for from in STATUSES {
        for action in ACTIONS {
            let id = alert_in(cases, from);
            let before = cases.show(id).unwrap();
            let row = TRANSITIONS.iter().find(|(f, a, _)| *f == from && *a == action);
            match (row, apply(cases, id, action)) {
                (Some((_, _, to)), Ok(alert)) => {
                    assert_eq!(alert.status, *to);
                    let after = cases.show(id).unwrap();
                    assert_eq!(after.audit.len(), before.audit.len() + 1);
                    let last = after.audit.last().unwrap();
                    assert_eq!(
                        (last.action.as_str(), last.from_status, last.to_status),
                        (action.name(), Some(from), *to)
                    );
                }
                (None, Err(CaseError::Refused { status, .. })) => {
                    assert_eq!(status, from);
                    assert_eq!(cases.show(id).unwrap(), before, "a refused action changed the alert");
                }
                (row, result) => panic!("{from} {}: table {row:?}, store {result:?}", action.name()),
            }
        }
    }
}

#[test]
fn the_transition_table_through_the_store_in_memory() {
    walk_the_table(&memory());
}

#[test]
fn the_transition_table_through_a_sqlite_file_and_alerts_survive_reopening() {
    let dir = std::env::temp_dir().join(format!("cardnet-risk-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("risk.db").display());
    let cases = Cases::open(&url).unwrap();
    walk_the_table(&cases);
    let id = cases.record_alert(&new_alert(5_000)).unwrap();
    cases.assign(id, "lead", "ana", None, 6_000).unwrap();
    drop(cases);
    let reopened = Cases::open(&url).unwrap();
    let detail = reopened.show(id).unwrap();
    assert_eq!(detail.alert.status, Status::Investigating);
    assert_eq!(detail.alert.assignee.as_deref(), Some("ana"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("risk.db")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the alerts database is readable by others: {mode:o}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_transition_table_on_postgres() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; the risk alerts store not tested on PostgreSQL");
        return;
    };
    let schema = format!("risk_cases_{}", std::process::id());
    let cases = Cases::new(sqlstore::Database::connect_postgres(&url, &schema).unwrap()).unwrap();
    walk_the_table(&cases);
    drop(cases);
    sqlstore::drop_postgres_schema(&url, &schema).unwrap();
}

#[test]
fn the_trail_records_who_did_what_when_in_order() {
    let cases = memory();
    let id = cases.record_alert(&new_alert(1_000)).unwrap();
    cases.assign(id, "lead", "ana", Some("card burst"), 2_000).unwrap();
    cases.note(id, "ana", "cardholder called", 3_000).unwrap();
    cases.assign(id, "lead", "bo", None, 4_000).unwrap();
    let closed = cases.close(id, "bo", true, Some("confirmed"), 5_000).unwrap();
    assert_eq!(
        (closed.status, closed.assignee.as_deref(), closed.updated_ms),
        (Status::ClosedFraud, Some("bo"), 5_000)
    );
    let trail: Vec<(u64, u64, String, String, Option<String>)> =
        cases.show(id).unwrap().audit.into_iter().map(|e| (e.seq, e.at_ms, e.who, e.action, e.note)).collect();
    let expected = [
        (1, 1_000, RECORDED_BY, "created", None),
        (2, 2_000, "lead", "assign", Some("to ana: card burst")),
        (3, 3_000, "ana", "note", Some("cardholder called")),
        (4, 4_000, "lead", "assign", Some("to bo")),
        (5, 5_000, "bo", "close_fraud", Some("confirmed")),
    ];
    let expected: Vec<_> =
        expected.iter().map(|(s, t, w, a, n)| (*s, *t, w.to_string(), a.to_string(), n.map(str::to_string))).collect();
    assert_eq!(trail, expected);
    assert!(matches!(cases.close(id, "bo", true, None, 6_000), Err(CaseError::Refused { .. })), "closed twice");
}

#[test]
fn a_full_trail_takes_only_a_close_and_shows_whole() {
    let cases = memory();
    let id = cases.record_alert(&new_alert(1_000)).unwrap();
    for n in 1..AUDIT_PER_ALERT_MAX - 1 {
        cases.note(id, "ana", "still looking", 1_000 + n as u64).unwrap();
    }
    assert!(matches!(cases.note(id, "ana", "one more", 5_000), Err(CaseError::BadInput(_))));
    assert!(matches!(cases.assign(id, "lead", "bo", None, 5_000), Err(CaseError::BadInput(_))));
    cases.close(id, "ana", false, None, 5_000).unwrap();
    let detail = cases.show(id).unwrap();
    assert_eq!(detail.audit.len(), AUDIT_PER_ALERT_MAX);
    assert_eq!(detail.audit.last().unwrap().action, "close_not_fraud");
}

#[test]
fn list_filters_by_status_and_assignee_newest_first_within_the_limit() {
    let cases = memory();
    let ids: Vec<u64> = (0..5).map(|i| cases.record_alert(&new_alert(1_000 + i)).unwrap()).collect();
    cases.assign(ids[1], "lead", "ana", None, 2_000).unwrap();
    cases.assign(ids[3], "lead", "ana", None, 2_000).unwrap();
    cases.close(ids[4], "bo", false, None, 2_000).unwrap();
    let id_list = |f: Filter| cases.list(&f).unwrap().into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(id_list(Filter::default()), vec![ids[4], ids[3], ids[2], ids[1], ids[0]]);
    assert_eq!(id_list(Filter { status: Some(Status::Open), ..Filter::default() }), vec![ids[2], ids[0]]);
    assert_eq!(id_list(Filter { assignee: Some("ana".into()), ..Filter::default() }), vec![ids[3], ids[1]]);
    assert_eq!(id_list(Filter { limit: 2, ..Filter::default() }), vec![ids[4], ids[3]]);
    assert!(matches!(cases.list(&Filter { limit: 0, ..Filter::default() }), Err(CaseError::BadInput(_))));
    assert!(cases.list(&Filter { limit: LIST_LIMIT_MAX + 1, ..Filter::default() }).is_err());
}

#[test]
fn unknown_alerts_and_bad_input_are_refused() {
    let cases = memory();
    assert!(matches!(cases.show(42), Err(CaseError::NotFound(42))));
    assert!(matches!(cases.assign(42, "lead", "ana", None, 1), Err(CaseError::NotFound(42))));
    let id = cases.record_alert(&new_alert(1_000)).unwrap();
    assert!(matches!(cases.assign(id, "lead", " ", None, 1), Err(CaseError::BadInput(_))));
    assert!(matches!(cases.close(id, "", true, None, 1), Err(CaseError::BadInput(_))));
    let pan_note = cases.note(id, "ana", "pan 6224240000000113", 1);
    assert!(matches!(pan_note, Err(CaseError::BadInput(_))), "a clear PAN in a note was stored");
    let clear = NewAlert { pan_masked: Some("6224240000000113".into()), ..new_alert(1) };
    assert!(matches!(cases.record_alert(&clear), Err(CaseError::BadInput(_))));
    let not_hash = NewAlert { entity: "6224240000000113".into(), ..new_alert(1) };
    assert!(matches!(cases.record_alert(&not_hash), Err(CaseError::BadInput(_))));
    let bad_json = NewAlert { fired_json: "{".into(), ..new_alert(1) };
    assert!(matches!(cases.record_alert(&bad_json), Err(CaseError::BadInput(_))));
    assert_eq!(cases.show(id).unwrap().audit.len(), 1, "a refused input reached the trail");
}

#[test]
fn purge_removes_only_closed_alerts_older_than_the_cut_within_the_limit() {
    let cases = memory();
    let old_closed: Vec<u64> = (0..3)
        .map(|i| {
            let id = cases.record_alert(&new_alert(1_000)).unwrap();
            cases.close(id, "ana", i % 2 == 0, None, 2_000 + i).unwrap();
            id
        })
        .collect();
    let old_open = cases.record_alert(&new_alert(1_000)).unwrap();
    let old_investigating = cases.record_alert(&new_alert(1_000)).unwrap();
    cases.assign(old_investigating, "lead", "ana", None, 1_500).unwrap();
    let recent_closed = cases.record_alert(&new_alert(9_000)).unwrap();
    cases.close(recent_closed, "ana", true, None, 10_000).unwrap();

    assert_eq!(cases.purge_closed_before(10_000, 2).unwrap(), 2, "the limit bounds one call");
    assert!(matches!(cases.show(old_closed[0]), Err(CaseError::NotFound(_))), "oldest first");
    assert!(matches!(cases.show(old_closed[1]), Err(CaseError::NotFound(_))));
    assert!(cases.show(old_closed[2]).is_ok());
    assert_eq!(cases.purge_closed_before(10_000, PURGE_PER_CALL_MAX).unwrap(), 1);
    assert_eq!(cases.purge_closed_before(10_000, PURGE_PER_CALL_MAX).unwrap(), 0);
    for kept in [old_open, old_investigating, recent_closed] {
        assert!(cases.show(kept).is_ok(), "alert {kept} purged");
    }
    assert!(cases.purge_closed_before(10_000, 0).is_err());
    // The newest alert purged: its id is not given again.
    assert_eq!(cases.purge_closed_before(20_000, PURGE_PER_CALL_MAX).unwrap(), 1);
    let next = cases.record_alert(&new_alert(30_000)).unwrap();
    assert!(next > recent_closed, "id {next} reused after a purge");
    assert!(cases.purge_closed_before(10_000, PURGE_PER_CALL_MAX + 1).is_err());
}

#[test]
fn an_alert_from_an_engine_decision_is_stored_with_its_fired_rules() {
    let (verdict, code, fired, score) = NewAlert::decision_fields(&crate::Decision::default());
    assert_eq!((verdict.as_str(), code, fired.as_str(), score), ("approve", None, "[]", 0));
    let key = crate::KeyHasher::new(*b"cardnet-test-key").card(&domain::Pan::new("6224240000000113").unwrap());
    let alert = NewAlert { entity: NewAlert::card_entity(&key), fired_json: fired, ..new_alert(1) };
    let cases = memory();
    let id = cases.record_alert(&alert).unwrap();
    assert_eq!(cases.show(id).unwrap().alert.entity, format!("key-{:016x}", key.hash));
}
