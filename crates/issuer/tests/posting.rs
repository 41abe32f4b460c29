//! Issuer posting of a clearing batch (crate::posting) on SQLite and (when CARDNET_TEST_PG is
//! set) PostgreSQL: authorizations go through the issuer core as the switch sends them, then a
//! clearing batch built in code (as the switch's file would carry it) is posted.

mod common;

use clearing::file::{Header, Trailer};
use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};
use common::{ACQUIRER, Backend, CURRENCY, Harness, SWITCH};
use issuer::{EntryState, PostingOutcome, PostingReport};
use network::codes;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    cleared_holds_are_posted_in_full_or_in_part,
    a_record_without_a_hold_is_force_posted_and_flagged,
    an_expired_hold_is_reported_and_its_late_clearing_forced,
    cancelled_and_follow_ups_are_confirmed_or_flagged,
    the_same_file_posts_once_and_a_reference_twice_is_a_duplicate,
    exceptions_credit_and_debit_the_card,
    a_stopped_file_resumes_and_a_crash_after_the_ledger_is_finished,
    batches_bound_a_large_file,
    records_not_ours_are_rejected,
    a_transmission_time_of_1231_clears_on_01_01,
);

const ISSUER: &str = "20000000455";

fn code(response: &iso8583::Message) -> &str {
    response.get_str(39).unwrap_or("")
}

fn today(h: &Harness) -> BusinessDate {
    BusinessDate::of_utc_ms(h.now_ms())
}

fn header(h: &Harness) -> Header {
    Header { network: SWITCH.into(), member: ISSUER.into(), date: today(h) }
}

fn trailer(records: &[ClearingRecord], checksum: &str) -> Trailer {
    let sum = |direction: i64| records.iter().filter(|r| r.code.direction() == direction).map(|r| r.amount_minor).sum();
    Trailer {
        records: records.len() as u64,
        debit_total_minor: sum(1),
        credit_total_minor: sum(-1),
        settlement_total_minor: records.iter().map(|r| r.settlement_minor).sum(),
        checksum: checksum.into(),
    }
}

/// The record the switch clears for an issuer leg `message` (the request it sent here).
fn record(h: &Harness, message: &iso8583::Message, code: TxnCode, amount: u64, reference: u64) -> ClearingRecord {
    let pan = message.get_str(2).unwrap();
    ClearingRecord {
        date: today(h),
        reference,
        code,
        acquirer: ACQUIRER.parse().unwrap(),
        issuer: ISSUER.parse().unwrap(),
        stan: Some(message.get_str(11).unwrap().parse().unwrap()),
        transmission_time: message.get_str(7).unwrap().into(),
        issuer_stan: Some(message.get_str(11).unwrap().parse().unwrap()),
        issuer_time: message.get_str(7).unwrap().into(),
        pan_masked: iso8583::mask::mask_pan(pan),
        card_hash: "00".repeat(16),
        card_kind: CardKind::Debit,
        amount_minor: amount,
        currency: CURRENCY.parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: Some("TERM0001".parse().unwrap()),
        merchant_id: Some("898440154110001".parse().unwrap()),
        rrn: Some(message.get_str(37).unwrap_or("").parse().unwrap()),
        auth_code: String::new(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: code.direction() * amount as i64,
        stand_in: false,
        late: false,
    }
}

fn post(h: &Harness, records: &[ClearingRecord], checksum: &str) -> PostingReport {
    h.issuer.post_clearing(&header(h), &trailer(records, checksum), records.to_vec()).unwrap()
}

fn approved(h: &Harness, request: iso8583::Message) -> iso8583::Message {
    assert_eq!(code(&h.send(&request)), codes::APPROVED);
    request
}

fn outcome_of(h: &Harness, reference: u64) -> PostingOutcome {
    let results = h.issuer.posting_results(today(h)).unwrap();
    let mut of: Vec<_> = results.iter().filter(|r| r.reference == reference).map(|r| r.outcome).collect();
    assert!(!of.is_empty(), "reference {reference} has an outcome");
    of.remove(0)
}

fn cleared_holds_are_posted_in_full_or_in_part(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let full = approved(&h, h.purchase(&card, 12_500).pin(&h, &card).sign(&h));
    let part = approved(&h, h.purchase(&card, 10_000).pin(&h, &card).sign(&h));
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (100_000, 77_500));
    let records = [record(&h, &full, TxnCode::Purchase, 12_500, 1), record(&h, &part, TxnCode::Purchase, 7_000, 2)];
    let report = post(&h, &records, "c1");
    assert_eq!((report.count(PostingOutcome::Posted), report.moved_minor(PostingOutcome::Posted)), (2, 19_500));
    assert!(!report.already_posted);
    assert_eq!(report.records, 2);
    // The ledger balance goes down by what cleared; available only by the released 3 000.
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (80_500, 80_500));
    for message in [&full, &part] {
        let entry = h.issuer.journal_entry(message).unwrap().unwrap();
        assert_eq!(entry.state, EntryState::Posted);
        let hold = h.issuer.ledger_transfer(entry.transfer_id.unwrap()).unwrap().unwrap();
        assert_eq!(hold.status, ledger::PendingStatus::Posted);
    }
    let results = h.issuer.posting_results(today(&h)).unwrap();
    assert_eq!(results.len(), 2);
    let first = &results[0];
    assert_eq!(
        (first.reference, first.code, first.amount_minor, first.moved_minor),
        (1, TxnCode::Purchase, 12_500, 12_500)
    );
    assert_eq!(
        (first.issuer_stan.as_str(), first.issuer_time.as_str()),
        (full.get_str(11).unwrap(), full.get_str(7).unwrap())
    );
    assert_eq!((first.acquirer.as_str(), first.currency.as_str()), (ACQUIRER, CURRENCY));
    assert_eq!(first.pan_masked, iso8583::mask::mask_pan(card.pan.as_str()));
    assert!(!first.pan_masked.contains(&card.pan.as_str()[6..12]), "masked");
    assert_eq!(first.request_key.as_deref(), Some(h.issuer.request_key(&full).unwrap().as_str()));
    // A later hold expiry finds nothing of them: they are cleared.
    h.clock.advance_seconds(31 * 86_400);
    h.issuer.expire_holds().unwrap();
    assert!(h.issuer.expired_holds().unwrap().is_empty());
    assert_eq!(h.ledger_balance(&card), 80_500);
    h.issuer.check_ledger().unwrap();
}

fn a_record_without_a_hold_is_force_posted_and_flagged(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(1_000);
    // Never sent here: the issuer knows the card (by its masked PAN) but no authorization.
    let unknown = h.purchase(&card, 5_000).msg;
    // Sent, and more cleared than held: the hold posted, the excess forced.
    let held = approved(&h, h.purchase(&card, 600).pin(&h, &card).sign(&h));
    let records = [record(&h, &unknown, TxnCode::Purchase, 300, 1), record(&h, &held, TxnCode::Completion, 900, 2)];
    let report = post(&h, &records, "force");
    assert_eq!(report.count(PostingOutcome::ForcePosted), 2);
    assert_eq!(report.moved_minor(PostingOutcome::ForcePosted), 1_200);
    // 1 000 on the card, 1 200 taken: the overdraft lent the 200 the card lacked.
    assert_eq!(h.ledger_balance(&card), 0);
    assert_eq!(h.available(&card), 0);
    let results = h.issuer.posting_results(today(&h)).unwrap();
    assert!(results.iter().all(|r| r.outcome == PostingOutcome::ForcePosted && !r.detail.is_empty()), "{results:?}");
    assert_eq!(results[0].card_id, Some(card.card_id));
    h.issuer.check_ledger().unwrap();
}

fn an_expired_hold_is_reported_and_its_late_clearing_forced(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let preauth = approved(&h, h.preauth(&card, 20_000).pin(&h, &card).sign(&h));
    let purchase = approved(&h, h.purchase(&card, 3_000).pin(&h, &card).sign(&h));
    assert_eq!(h.issuer.holds().unwrap().len(), 2);
    h.clock.advance_seconds(7 * 86_400 + 1);
    assert_eq!(h.issuer.expire_holds().unwrap(), 1);
    let expired = h.issuer.expired_holds().unwrap();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].request_key, h.issuer.request_key(&preauth).unwrap());
    assert_eq!((expired[0].amount_minor, expired[0].card_id), (20_000, Some(card.card_id)));
    assert_eq!(expired[0].pan_masked, iso8583::mask::mask_pan(card.pan.as_str()));
    assert_eq!(expired[0].expired_ms, h.now_ms());
    assert_eq!(h.issuer.journal_entry(&preauth).unwrap().unwrap().state, EntryState::Expired);
    assert_eq!(h.issuer.holds().unwrap().len(), 1, "the purchase still holds");
    // Recorded once, however many sweeps.
    h.issuer.expire_holds().unwrap();
    assert_eq!(h.issuer.expired_holds().unwrap().len(), 1);
    assert_eq!(h.available(&card), 47_000);
    // Cleared late anyway (its completion under its key): forced, the journal says posted.
    let records =
        [record(&h, &preauth, TxnCode::Purchase, 20_000, 7), record(&h, &purchase, TxnCode::Purchase, 3_000, 8)];
    let report = post(&h, &records, "late");
    assert_eq!((report.count(PostingOutcome::ForcePosted), report.count(PostingOutcome::Posted)), (1, 1));
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (27_000, 27_000));
    assert_eq!(h.issuer.journal_entry(&preauth).unwrap().unwrap().state, EntryState::Posted);
    assert!(h.issuer.holds().unwrap().is_empty());
    h.issuer.check_ledger().unwrap();
}

fn cancelled_and_follow_ups_are_confirmed_or_flagged(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    // A purchase voided here, cleared with its void: nothing moves, both agree.
    let voided = approved(&h, h.purchase(&card, 5_000).pin(&h, &card).sign(&h));
    let void = approved(&h, h.follow_up("0200", "020000", "00", &card, 5_000, &voided).sign(&h));
    // A refund and a completion (pre-auth completed at authorization).
    let bought = approved(&h, h.purchase(&card, 4_000).pin(&h, &card).sign(&h));
    let refund = approved(&h, h.follow_up("0200", "200000", "00", &card, 1_000, &bought).sign(&h));
    let preauth = approved(&h, h.preauth(&card, 8_000).pin(&h, &card).sign(&h));
    let completion = approved(&h, h.follow_up("0200", "000000", "06", &card, 6_000, &preauth).sign(&h));
    // A void the switch cleared but never sent here: its original is still held.
    let held = approved(&h, h.purchase(&card, 2_000).pin(&h, &card).sign(&h));
    let unsent_void = h.follow_up("0200", "020000", "00", &card, 2_000, &held).msg;
    // A purchase reversed here (the terminal never saw its answer), cleared with its reversal.
    let lost = approved(&h, h.purchase(&card, 700).pin(&h, &card).sign(&h));
    let reversal = approved(&h, h.reversal(&card, &lost).sign(&h));
    let balance = h.ledger_balance(&card);
    let records = [
        record(&h, &voided, TxnCode::Purchase, 5_000, 1),
        record(&h, &void, TxnCode::Void, 5_000, 2),
        record(&h, &refund, TxnCode::Refund, 1_000, 3),
        record(&h, &completion, TxnCode::Completion, 6_000, 4),
        record(&h, &unsent_void, TxnCode::Void, 2_000, 5),
        // The refund cleared at a different amount than it was authorized.
        record(&h, &refund, TxnCode::Refund, 1_500, 6),
        record(&h, &lost, TxnCode::Purchase, 700, 7),
        record(&h, &reversal, TxnCode::Reversal, 700, 8),
    ];
    let report = post(&h, &records, "follow-ups");
    assert_eq!(outcome_of(&h, 1), PostingOutcome::Cancelled);
    assert_eq!(outcome_of(&h, 2), PostingOutcome::Confirmed);
    assert_eq!(outcome_of(&h, 3), PostingOutcome::Confirmed);
    assert_eq!(outcome_of(&h, 4), PostingOutcome::Confirmed);
    assert_eq!(outcome_of(&h, 5), PostingOutcome::StateMismatch);
    assert_eq!(outcome_of(&h, 6), PostingOutcome::StateMismatch);
    assert_eq!(outcome_of(&h, 7), PostingOutcome::Cancelled);
    assert_eq!(outcome_of(&h, 8), PostingOutcome::Confirmed);
    assert_eq!((report.count(PostingOutcome::Confirmed), report.count(PostingOutcome::StateMismatch)), (4, 2));
    assert_eq!(report.count(PostingOutcome::Cancelled), 2);
    assert_eq!(h.ledger_balance(&card), balance, "confirmations move nothing");
    assert_eq!(h.issuer.journal_entry(&held).unwrap().unwrap().state, EntryState::Held);
    h.issuer.check_ledger().unwrap();
}

fn the_same_file_posts_once_and_a_reference_twice_is_a_duplicate(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let a = approved(&h, h.purchase(&card, 1_000).pin(&h, &card).sign(&h));
    let b = approved(&h, h.purchase(&card, 2_000).pin(&h, &card).sign(&h));
    let unknown = h.purchase(&card, 400).msg;
    let records = [
        record(&h, &a, TxnCode::Purchase, 1_000, 1),
        record(&h, &unknown, TxnCode::Purchase, 400, 2),
        // The same reference twice in one file.
        record(&h, &b, TxnCode::Purchase, 2_000, 3),
        record(&h, &b, TxnCode::Purchase, 2_000, 3),
    ];
    let first = post(&h, &records, "twice");
    assert_eq!((first.count(PostingOutcome::Posted), first.count(PostingOutcome::ForcePosted)), (2, 1));
    assert_eq!(first.count(PostingOutcome::Duplicate), 1);
    assert_eq!(h.ledger_balance(&card), 46_600);
    let again = post(&h, &records, "twice");
    assert!(again.already_posted);
    assert_eq!(again.outcomes, first.outcomes, "the same report");
    assert_eq!(h.ledger_balance(&card), 46_600, "posted once");
    assert_eq!(h.issuer.posting_results(today(&h)).unwrap().len(), 4);
    // Another file of the date repeating a reference, and the same authorization under a new
    // reference: duplicates, nothing moved.
    let other = [record(&h, &a, TxnCode::Purchase, 1_000, 1), record(&h, &b, TxnCode::Purchase, 2_000, 9)];
    let report = post(&h, &other, "other");
    assert_eq!(report.count(PostingOutcome::Duplicate), 2);
    assert_eq!(h.ledger_balance(&card), 46_600);
    h.issuer.check_ledger().unwrap();
}

fn exceptions_credit_and_debit_the_card(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let purchase = approved(&h, h.purchase(&card, 6_000).pin(&h, &card).sign(&h));
    post(&h, &[record(&h, &purchase, TxnCode::Purchase, 6_000, 1)], "day1");
    assert_eq!(h.ledger_balance(&card), 4_000);
    let records = [
        record(&h, &purchase, TxnCode::Chargeback, 6_000, 101),
        record(&h, &purchase, TxnCode::Representment, 6_000, 102),
        record(&h, &purchase, TxnCode::SecondChargeback, 6_000, 103),
        record(&h, &purchase, TxnCode::CreditAdjustment, 500, 104),
        // More than the card has: forced, the overdraft covering it.
        record(&h, &purchase, TxnCode::DebitAdjustment, 20_000, 105),
    ];
    // No card of ours: neither an authorization nor a masked PAN names one.
    let mut stranger = record(&h, &h.purchase(&card, 1).msg, TxnCode::Chargeback, 300, 106);
    stranger.pan_masked = "999999******0000".into();
    let mut records = records.to_vec();
    records.push(stranger);
    let report = post(&h, &records, "disputes");
    assert_eq!(report.count(PostingOutcome::Unmatched), 1);
    assert_eq!((report.count(PostingOutcome::Credited), report.moved_minor(PostingOutcome::Credited)), (3, 12_500));
    assert_eq!((report.count(PostingOutcome::Debited), report.moved_minor(PostingOutcome::Debited)), (2, 26_000));
    // 4 000 + 12 500 − 6 000 = 10 500, then 20 000 debited with 9 500 lent: 0.
    assert_eq!(h.ledger_balance(&card), 0);
    h.issuer.check_ledger().unwrap();
}

/// A file whose records stop short is not finished (its trailer counts more); given whole,
/// it resumes after what was committed. A crash after a batch's ledger transfers and before
/// its journal commit (the transfer written under the record's derived id, as the crashed
/// run left it) is finished without moving money again.
fn a_stopped_file_resumes_and_a_crash_after_the_ledger_is_finished(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let a = approved(&h, h.purchase(&card, 1_000).pin(&h, &card).sign(&h));
    let b = approved(&h, h.purchase(&card, 2_000).pin(&h, &card).sign(&h));
    let c = approved(&h, h.purchase(&card, 3_000).pin(&h, &card).sign(&h));
    let records = [
        record(&h, &a, TxnCode::Purchase, 1_000, 1),
        record(&h, &b, TxnCode::Purchase, 2_000, 2),
        record(&h, &c, TxnCode::Purchase, 3_000, 3),
    ];
    let whole = trailer(&records, "resume");
    let short = h.issuer.post_clearing(&header(&h), &whole, records[..2].to_vec());
    assert!(short.unwrap_err().is_bad_input(), "the trailer counts 3");
    assert_eq!(h.ledger_balance(&card), 47_000);
    // The crashed run's ledger write for record 3: its hold posted under the derived id.
    let hold = h.issuer.journal_entry(&c).unwrap().unwrap().transfer_id.unwrap();
    let post_id = issuer::posting::posting_transfer_id(today(&h).days(), 3, issuer::posting::PostingRole::Post);
    let posting = ledger::Transfer { pending_id: hold, ..ledger::Transfer::new(post_id, 0, 0, 3_000, 0, 0) }
        .with_flags(ledger::TransferFlags::POST_PENDING_TRANSFER);
    h.write_ledger(posting);
    assert_eq!(h.ledger_balance(&card), 44_000);
    let report = h.issuer.post_clearing(&header(&h), &whole, records.to_vec()).unwrap();
    assert_eq!((report.records, report.count(PostingOutcome::Posted)), (3, 3));
    assert_eq!(report.moved_minor(PostingOutcome::Posted), 6_000);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (44_000, 44_000), "each moved once");
    assert_eq!(h.issuer.journal_entry(&c).unwrap().unwrap().state, EntryState::Posted);
    h.issuer.check_ledger().unwrap();
}

/// More records than a batch: every one gets its outcome and the sums agree.
fn batches_bound_a_large_file(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(1_000_000);
    let template = h.purchase(&card, 1).msg;
    let count = 2 * issuer::limits::POSTING_BATCH_RECORDS + 3;
    let records: Vec<ClearingRecord> = (0..count)
        .map(|n| {
            let mut r = record(&h, &template, TxnCode::Purchase, 10 + n as u64 % 7, n as u64 + 1);
            r.issuer_stan = Some(format!("{:06}", 500_000 + n).parse().unwrap());
            r
        })
        .collect();
    let expected: u64 = records.iter().map(|r| r.amount_minor).sum();
    let started = std::time::Instant::now();
    let report = post(&h, &records, "large");
    eprintln!("posted {count} forced records in {:?} on {backend:?}", started.elapsed());
    assert_eq!(report.count(PostingOutcome::ForcePosted), count as u64);
    assert_eq!(report.moved_minor(PostingOutcome::ForcePosted), expected);
    assert_eq!(h.ledger_balance(&card), 1_000_000 - expected as i64);
    assert_eq!(h.issuer.posting_results(today(&h)).unwrap().len(), count);
    h.issuer.check_ledger().unwrap();
}

fn records_not_ours_are_rejected(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let purchase = approved(&h, h.purchase(&card, 1_000).pin(&h, &card).sign(&h));
    let mut other_issuer = record(&h, &purchase, TxnCode::Purchase, 1_000, 1);
    other_issuer.issuer = "20000000999".parse().unwrap();
    let mut other_currency = record(&h, &purchase, TxnCode::Purchase, 1_000, 2);
    other_currency.currency = "840".parse().unwrap();
    let mut bad_key = record(&h, &purchase, TxnCode::Purchase, 1_000, 3);
    bad_key.issuer_time = "1399999999".into();
    let mut other_date = record(&h, &purchase, TxnCode::Purchase, 1_000, 4);
    other_date.date = today(&h).next();
    // Zero would be the ledger's "post the whole hold".
    let zero = record(&h, &purchase, TxnCode::Purchase, 0, 5);
    let report = post(&h, &[other_issuer, other_currency, bad_key, other_date, zero], "rejects");
    assert_eq!(report.count(PostingOutcome::Rejected), 5);
    assert_eq!(h.ledger_balance(&card), 10_000);
    assert_eq!(h.issuer.journal_entry(&purchase).unwrap().unwrap().state, EntryState::Held);
    // A file for another member is refused whole.
    let mut wrong = header(&h);
    wrong.member = "20000000999".into();
    let records = [record(&h, &purchase, TxnCode::Purchase, 1_000, 1)];
    let refused = h.issuer.post_clearing(&wrong, &trailer(&records, "x"), records.to_vec());
    assert!(refused.unwrap_err().is_bad_input());
    assert!(h.issuer.posting_results(today(&h)).unwrap().iter().all(|r| r.outcome == PostingOutcome::Rejected));
}

/// Field 7 has no year: a purchase sent at 23:59 on 31 December and cleared on the business
/// date 1 January names last year's authorization.
fn a_transmission_time_of_1231_clears_on_01_01(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let eve_ms = (clock::utc::days_from_civil(2025, 12, 31) * 86_400 + 23 * 3_600 + 59 * 60) as u64 * 1_000;
    h.clock.advance_ms(eve_ms - h.now_ms());
    let purchase = approved(&h, h.purchase(&card, 1_234).pin(&h, &card).sign(&h));
    assert_eq!(purchase.get_str(7).map(|t| &t[..4]), Some("1231"));
    h.clock.advance_seconds(120);
    assert_eq!(today(&h).to_string(), "2026-01-01");
    let report = post(&h, &[record(&h, &purchase, TxnCode::Purchase, 1_234, 1)], "new-year");
    assert_eq!(report.count(PostingOutcome::Posted), 1, "{report:?}");
    let result = &h.issuer.posting_results(today(&h)).unwrap()[0];
    assert!(result.request_key.as_deref().unwrap().starts_with("2025:"));
    assert_eq!(h.ledger_balance(&card), 10_000 - 1_234);
    h.issuer.check_ledger().unwrap();
}
