//! End of day at the switch (issue 13), through the core with a `clock::ManualClock`: business
//! dates by the cut-off, closing a date, late items, field 15 on both legs, the clearing records
//! with their fees, and a date larger than the old 100,000-row cap, on SQLite and, with
//! `CARDNET_TEST_PG`, PostgreSQL.

mod common;

use clearing::{BusinessDate, ClearingRecord, FeeSchedule, TxnCode};
use clock::{Clock, ManualClock};
use common::*;
use iso8583::Message;
use switch::clearing_records::no_exceptions;
use switch::{CloseOutcome, Step, Switch};

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::sqlite(concat!("eod-", stringify!($name)))) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(backend) = super::Backend::postgres(concat!("eod_", stringify!($name))) { super::$name(backend) }
            })*
        }
    };
}

scenarios!(
    transactions_before_and_after_the_cut_off_land_on_their_dates,
    a_date_closes_once_and_only_after_its_cut_off,
    a_date_with_a_request_still_at_its_issuer_waits_to_close,
    a_reversal_after_its_date_closed_is_late_on_the_next_date,
    a_date_closed_inside_a_batch_is_closed_for_the_rest_of_it,
    fees_by_card_kind_and_reversals_give_back_exactly_their_fees,
    reversals_of_what_moved_no_money_make_no_record,
    exceptions_are_merged_by_reference,
    a_date_streams_past_the_old_cap,
    older_rows_get_their_business_date,
);

/// 23:00 Beijing time = 15:00 UTC; NOW_MS is 10:00 UTC on 2026-11-21.
const CUTOFF: &str = "23:00 +08:00";
const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

fn net_with_cutoff(backend: Backend) -> Net {
    Net::with(backend, |config| config.cutoff = Some(CUTOFF.to_owned()))
}

fn date(text: &str) -> BusinessDate {
    BusinessDate::parse(text).unwrap()
}

/// Through the core and the fake issuer at the clock's time; the acquirer's response and the
/// issuer-leg request when there was one.
fn send(net: &Net, switch: &Switch, clock: &ManualClock, request: Message) -> (Message, Option<Message>) {
    match switch.on_request(request, clock.now_ms()) {
        Step::Respond(reply) => (reply.response, None),
        Step::Forward(forward) => {
            let answer = net.issuer_answer(&forward.issuer, &forward.request);
            let out = forward.request.clone();
            (switch.on_issuer_response(forward.pending, answer, clock.now_ms() + 50).response, Some(out))
        }
        Step::Ignore => panic!("ignored"),
    }
}

fn records(switch: &Switch, day: BusinessDate) -> Vec<ClearingRecord> {
    switch.clearing_records(day, no_exceptions()).collect::<Result<_, _>>().unwrap()
}

fn exchange_of(switch: &Switch, request: &Message, class: &str) -> switch::journal::Exchange {
    let (stan, time) = (request.get_str(11).unwrap(), request.get_str(7).unwrap());
    switch.journal().find_exchange(ACQUIRER, stan, time, class).unwrap().unwrap()
}

fn transactions_before_and_after_the_cut_off_land_on_their_dates(backend: Backend) {
    let net = net_with_cutoff(backend);
    let switch = net.switch();
    // 14:59 UTC = 22:59 in Beijing: still the 21st.
    let clock = ManualClock::from_ms(NOW_MS + 4 * HOUR_MS + 59 * MINUTE_MS);
    let before = net.purchase(PAN, 10_000, 1);
    let (response, out) = send(&net, &switch, &clock, before.clone());
    assert_eq!(code(&response), "00");
    assert_eq!(response.get_str(15), Some("1121"), "field 15 to the acquirer");
    assert_eq!(out.unwrap().get_str(15), Some("1121"), "field 15 to the issuer");
    // 15:01 UTC = 23:01 in Beijing: the 22nd's.
    clock.advance_ms(2 * MINUTE_MS);
    let after = net.purchase(PAN, 20_000, 2);
    let (response, out) = send(&net, &switch, &clock, after.clone());
    assert_eq!(code(&response), "00");
    assert_eq!(response.get_str(15), Some("1122"));
    assert_eq!(out.unwrap().get_str(15), Some("1122"));
    // A refusal without an exchange carries the natural date too.
    let refused = send(&net, &switch, &clock, net.purchase(NO_BIN_PAN, 100, 3)).0;
    assert_eq!((code(&refused), refused.get_str(15)), ("15", Some("1122")));

    assert_eq!(exchange_of(&switch, &before, "02").business_date, "2026-11-21");
    assert_eq!(exchange_of(&switch, &after, "02").business_date, "2026-11-22");
    assert!(!exchange_of(&switch, &after, "02").late);
    let amounts = |day| records(&switch, date(day)).iter().map(|r| r.amount_minor).collect::<Vec<_>>();
    assert_eq!(amounts("2026-11-21"), [10_000]);
    assert_eq!(amounts("2026-11-22"), [20_000]);
    assert!(amounts("2026-11-20").is_empty());
}

fn a_date_closes_once_and_only_after_its_cut_off(backend: Backend) {
    let net = net_with_cutoff(backend);
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS);
    let day = date("2026-11-21");
    let status = switch.business_date_status(day).unwrap();
    assert!(!status.closed);
    assert_eq!(status.cutoff_ms, NOW_MS + 5 * HOUR_MS, "15:00 UTC");
    match switch.close_business_date(day, clock.now_ms()).unwrap() {
        CloseOutcome::Refused { date, reason } => {
            assert_eq!(date, day);
            assert!(reason.contains("cut-off (23:00 +08:00)") && reason.contains("15:00 UTC"), "{reason}");
        }
        other => panic!("closed before the cut-off: {other:?}"),
    }
    assert!(!switch.business_date_status(day).unwrap().closed);
    clock.set_ms(NOW_MS + 5 * HOUR_MS);
    let closed_ms = clock.now_ms();
    assert_eq!(switch.close_business_date(day, closed_ms).unwrap(), CloseOutcome::Closed { date: day, closed_ms });
    clock.advance_ms(MINUTE_MS);
    assert_eq!(
        switch.close_business_date(day, clock.now_ms()).unwrap(),
        CloseOutcome::AlreadyClosed { date: day, closed_ms },
        "closing twice changes nothing"
    );
    let status = switch.business_date_status(day).unwrap();
    assert!(status.closed);
    assert_eq!(status.closed_ms, Some(closed_ms));
    assert_eq!(switch.cutovers_due().unwrap(), [day], "the cut-over is owed");
    let cutover = switch.cutover_request(day, clock.now_ms()).unwrap();
    assert_eq!(cutover.mti().as_str(), "0800");
    assert_eq!(cutover.get_str(70), Some("201"));
    assert_eq!(cutover.get_str(15), Some("1122"), "the new date");
    assert_eq!(cutover.get_str(32), Some(switch::dev::SWITCH_ID));
    switch.cutover_sent(day, clock.now_ms()).unwrap();
    assert!(switch.cutovers_due().unwrap().is_empty());
    // A member's own 0800/201 to the switch is answered 0810 00.
    match switch.on_request(cutover, clock.now_ms()) {
        Step::Respond(reply) => {
            assert_eq!(reply.response.mti().as_str(), "0810");
            assert_eq!(code(&reply.response), "00");
        }
        other => panic!("cut-over not answered: {other:?}"),
    }
    // The next date cannot close before its own cut-off.
    assert!(matches!(switch.close_business_date(day.next(), clock.now_ms()).unwrap(), CloseOutcome::Refused { .. }));
}

fn a_date_with_a_request_still_at_its_issuer_waits_to_close(backend: Backend) {
    let net = net_with_cutoff(backend);
    let switch = net.switch();
    // One second before the cut-off: forwarded, not yet answered.
    let clock = ManualClock::from_ms(NOW_MS + 5 * HOUR_MS - 1_000);
    let request = net.purchase(PAN, 4_200, 60);
    let forward = match switch.on_request(request, clock.now_ms()) {
        Step::Forward(forward) => *forward,
        other => panic!("not forwarded: {other:?}"),
    };
    clock.advance_ms(2_000);
    let day = date("2026-11-21");
    match switch.close_business_date(day, clock.now_ms()).unwrap() {
        CloseOutcome::Refused { reason, .. } => assert!(reason.contains("wait for their issuer"), "{reason}"),
        other => panic!("closed with a request in flight: {other:?}"),
    }
    let answer = net.issuer_answer(&forward.issuer, &forward.request);
    let response = switch.on_issuer_response(forward.pending, answer, clock.now_ms()).response;
    assert_eq!((code(&response), response.get_str(15)), ("00", Some("1121")), "the date it arrived on");
    assert!(matches!(switch.close_business_date(day, clock.now_ms()).unwrap(), CloseOutcome::Closed { .. }));
    let amounts: Vec<u64> = records(&switch, day).iter().map(|r| r.amount_minor).collect();
    assert_eq!(amounts, [4_200]);
}

fn a_reversal_after_its_date_closed_is_late_on_the_next_date(backend: Backend) {
    let net = net_with_cutoff(backend);
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS + 4 * HOUR_MS);
    let purchase = net.purchase(PAN, 12_500, 10);
    assert_eq!(code(&send(&net, &switch, &clock, purchase.clone()).0), "00");
    let day = date("2026-11-21");
    let before_close = records(&switch, day);
    clock.set_ms(NOW_MS + 5 * HOUR_MS + 30 * MINUTE_MS);
    assert!(matches!(switch.close_business_date(day, clock.now_ms()).unwrap(), CloseOutcome::Closed { .. }));

    let reversal = net.referring("0420", "000000", &purchase, 11);
    let (response, _) = send(&net, &switch, &clock, reversal.clone());
    assert_eq!(code(&response), "00");
    assert_eq!(response.get_str(15), Some("1122"));
    let exchange = exchange_of(&switch, &reversal, "04");
    assert_eq!((exchange.business_date.as_str(), exchange.late), ("2026-11-22", true));
    // A new purchase after the cut-off is on its natural date, not late.
    let fresh = net.purchase(PAN2, 700, 12);
    assert_eq!(code(&send(&net, &switch, &clock, fresh.clone()).0), "00");
    assert!(!exchange_of(&switch, &fresh, "02").late);
    // A clock that steps back into the closed date: the exchange goes to the first open date.
    clock.set_ms(NOW_MS + 4 * HOUR_MS + 30 * MINUTE_MS);
    let skewed = net.purchase(PAN2, 800, 13);
    let (response, _) = send(&net, &switch, &clock, skewed.clone());
    assert_eq!(response.get_str(15), Some("1122"));
    let exchange = exchange_of(&switch, &skewed, "02");
    assert_eq!((exchange.business_date.as_str(), exchange.late), ("2026-11-22", true));

    assert_eq!(records(&switch, day), before_close, "a closed date never changes");
    let next = records(&switch, day.next());
    let codes: Vec<(TxnCode, u64, bool)> = next.iter().map(|r| (r.code, r.amount_minor, r.late)).collect();
    assert_eq!(
        codes,
        [(TxnCode::Reversal, 12_500, true), (TxnCode::Purchase, 700, false), (TxnCode::Purchase, 800, true)]
    );
    let (original, reversed) = (&before_close[0], &next[0]);
    assert_eq!(reversed.original_reference, original.reference);
    assert_eq!(
        (reversed.original_stan, reversed.original_time.as_str()),
        (original.stan, original.transmission_time.as_str())
    );
    assert_eq!(reversed.interchange_fee_minor, -original.interchange_fee_minor);
    assert_eq!(reversed.network_fee_minor, -original.network_fee_minor);
    assert_eq!(reversed.settlement_minor, -original.settlement_minor);
}

/// A batch reads whether a date is closed once and keeps it: a close inside the same batch (the
/// switch's own end of day runs on its core's thread) must leave the later exchanges late.
fn a_date_closed_inside_a_batch_is_closed_for_the_rest_of_it(backend: Backend) {
    let net = net_with_cutoff(backend);
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS + 4 * HOUR_MS);
    let day = date("2026-11-21");
    let (before, after) = (net.purchase(PAN, 12_500, 10), net.purchase(PAN2, 700, 11));
    switch
        .database()
        .clone()
        .batch(|| {
            assert_eq!(code(&send(&net, &switch, &clock, before.clone()).0), "00");
            let closed = switch.close_business_date_early(day, clock.now_ms()).unwrap();
            assert!(matches!(closed, CloseOutcome::Closed { .. }), "{closed:?}");
            assert_eq!(code(&send(&net, &switch, &clock, after.clone()).0), "00");
        })
        .unwrap();
    let first = exchange_of(&switch, &before, "02");
    assert_eq!((first.business_date.as_str(), first.late), ("2026-11-21", false));
    let second = exchange_of(&switch, &after, "02");
    assert_eq!((second.business_date.as_str(), second.late), ("2026-11-22", true));
}

fn fees_by_card_kind_and_reversals_give_back_exactly_their_fees(backend: Backend) {
    // Issuer 2's cards are credit cards; issuer 1's debit (the default).
    let net = Net::with(backend, |config| {
        for bin in &mut config.bins {
            if bin.issuer == ISSUER2 {
                bin.card_kind = switch::eod_config::CardKindConfig::Credit;
            }
        }
    });
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS);
    let fees = FeeSchedule::china_2016();
    let debit = net.purchase(PAN, 12_500, 20);
    let credit = net.purchase(ISSUER2_PAN, 12_500, 21);
    let big = net.purchase(PAN, 5_000_000, 22);
    let partial = net.purchase(PAN2, 10_000, 23);
    for request in [&debit, &credit, &big, &partial] {
        assert_eq!(code(&send(&net, &switch, &clock, request.clone()).0), "00");
    }
    // The big purchase voided (all of it), the last one reversed down to 40.00 (field 95).
    let void = net.referring("0200", "020000", &big, 24);
    assert_eq!(code(&send(&net, &switch, &clock, void).0), "00");
    let mut reversal = net.referring("0420", "000000", &partial, 25);
    reversal.set_str(95, &format!("{:012}{}", 4_000, "0".repeat(30))).unwrap();
    net.sign(ACQUIRER, &mut reversal);
    assert_eq!(code(&send(&net, &switch, &clock, reversal).0), "00");

    let all = records(&switch, switch.natural_business_date(NOW_MS));
    let summary: Vec<(TxnCode, u64, char, i64, i64, i64)> = all
        .iter()
        .map(|r| {
            (
                r.code,
                r.amount_minor,
                r.card_kind.letter(),
                r.interchange_fee_minor,
                r.network_fee_minor,
                r.settlement_minor,
            )
        })
        .collect();
    // 0.35 % of 125.00 = 43.75 → 44; credit 0.45 % = 56.25 → 56; network 0.0325 % = 4.06 → 4;
    // 50,000.00: debit capped at 13.00, network at 3.25. The partial reversal gives back
    // fee(100.00) − fee(40.00): 35 − 14 and 3 − 1.
    assert_eq!(
        summary,
        [
            (TxnCode::Purchase, 12_500, 'D', 44, 4, 12_456),
            (TxnCode::Purchase, 12_500, 'C', 56, 4, 12_444),
            (TxnCode::Purchase, 5_000_000, 'D', 1_300, 325, 4_998_700),
            (TxnCode::Purchase, 10_000, 'D', 35, 3, 9_965),
            (TxnCode::Void, 5_000_000, 'D', -1_300, -325, -4_998_700),
            (TxnCode::Reversal, 6_000, 'D', -21, -2, -5_979),
        ]
    );
    // What stays of the partly reversed purchase pays exactly a 40.00 purchase's fees.
    let kept = fees.fees(clearing::CardKind::Debit, 4_000);
    assert_eq!(all[3].interchange_fee_minor + all[5].interchange_fee_minor, kept.interchange_minor as i64);
    assert_eq!(all[3].network_fee_minor + all[5].network_fee_minor, kept.network_minor as i64);
    for record in &all {
        let direction = record.code.direction();
        assert_eq!(record.settlement_minor, direction * record.amount_minor as i64 - record.interchange_fee_minor);
        assert!(record.pan_masked.contains("******") && record.card_hash.len() == 32);
        assert_eq!(record.mcc, "5411");
    }
    // Net positions of the date sum to zero.
    let mut net_positions = clearing::NetPositions::new(switch::dev::SWITCH_ID.parse().unwrap());
    all.iter().for_each(|r| net_positions.add(r));
    assert!(!net_positions.finish().is_empty());
}

fn reversals_of_what_moved_no_money_make_no_record(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS);
    let declined = net.purchase_with_pin(PAN, 3_000, 30, "9999");
    assert_eq!(code(&send(&net, &switch, &clock, declined.clone()).0), "55");
    assert_eq!(code(&send(&net, &switch, &clock, net.referring("0420", "000000", &declined, 31)).0), "00");
    let unknown = net.purchase(PAN, 4_000, 32); // never sent
    assert_eq!(code(&send(&net, &switch, &clock, net.referring("0420", "000000", &unknown, 33)).0), "00");
    // Twice reversed (the acquirer's repeat under a new STAN): one record.
    let approved = net.purchase(PAN, 5_000, 34);
    assert_eq!(code(&send(&net, &switch, &clock, approved.clone()).0), "00");
    for stan in [35, 36] {
        assert_eq!(code(&send(&net, &switch, &clock, net.referring("0420", "000000", &approved, stan)).0), "00");
    }
    // A balance inquiry and a pre-authorization move no money.
    assert_eq!(code(&send(&net, &switch, &clock, net.request("0200", "310000", PAN, 0, 37)).0), "00");
    let codes: Vec<(TxnCode, u64)> =
        records(&switch, switch.natural_business_date(NOW_MS)).iter().map(|r| (r.code, r.amount_minor)).collect();
    assert_eq!(codes, [(TxnCode::Purchase, 5_000), (TxnCode::Reversal, 5_000)]);
}

fn exception(day: BusinessDate, reference: u64) -> ClearingRecord {
    let mut record = records_template(day);
    record.reference = reference;
    record
}

fn records_template(day: BusinessDate) -> ClearingRecord {
    ClearingRecord {
        date: day,
        reference: 0,
        code: TxnCode::CreditAdjustment,
        acquirer: ACQUIRER.parse().unwrap(),
        issuer: ISSUER.parse().unwrap(),
        stan: None,
        transmission_time: String::new(),
        issuer_stan: None,
        issuer_time: String::new(),
        pan_masked: "622424******0113".into(),
        card_hash: String::new(),
        card_kind: clearing::CardKind::Debit,
        amount_minor: 100,
        currency: CNY.parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: None,
        merchant_id: None,
        rrn: None,
        auth_code: String::new(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: -100,
        stand_in: false,
        late: false,
    }
}

fn exceptions_are_merged_by_reference(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS);
    for stan in 40..43 {
        assert_eq!(code(&send(&net, &switch, &clock, net.purchase(PAN, 1_000, stan)).0), "00");
    }
    let day = switch.natural_business_date(NOW_MS);
    let journal = records(&switch, day);
    let (first, last) = (journal[0].reference, journal[2].reference);
    let extra = vec![Ok(exception(day, first)), Ok(exception(day, first + 1)), Ok(exception(day, last + 5))];
    let merged: Vec<(u64, TxnCode)> =
        switch.clearing_records(day, extra).map(|r| r.map(|r| (r.reference, r.code)).unwrap()).collect();
    assert_eq!(merged.len(), 6);
    assert_eq!(merged[0], (first, TxnCode::Purchase), "the journal's record first on a tie");
    assert_eq!(merged[1], (first, TxnCode::CreditAdjustment));
    assert_eq!(merged[5], (last + 5, TxnCode::CreditAdjustment));
    assert!(merged.windows(2).all(|w| w[0].0 <= w[1].0));
    // Out of order, or of another date: the stream ends with an error naming it.
    let unordered = vec![Ok(exception(day, 9)), Ok(exception(day, 3))];
    let results: Vec<_> = switch.clearing_records(day, unordered).collect();
    let error = results.iter().find_map(|r| r.as_ref().err()).unwrap().to_string();
    assert!(error.contains("reference order"), "{error}");
    let other_day = vec![Ok(exception(day.next(), 1))];
    let error = switch.clearing_records(day, other_day).find_map(|r| r.err()).unwrap().to_string();
    assert!(error.contains("not"), "{error}");
}

/// More than the old 100,000-row cap: rows inserted straight into the journal (the engine
/// would take minutes), read back as one stream.
const STREAM_ROWS: u64 = 150_000;
const INSERT_ROWS_PER_STATEMENT: u64 = 500;

fn a_date_streams_past_the_old_cap(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let day = switch.natural_business_date(NOW_MS);
    let started = std::time::Instant::now();
    switch
        .database()
        .transaction(|tx| {
            let mut id = 1_000_000u64;
            while id < 1_000_000 + STREAM_ROWS {
                let end = (id + INSERT_ROWS_PER_STATEMENT).min(1_000_000 + STREAM_ROWS);
                let values: Vec<String> = (id..end)
                    .map(|i| {
                        format!(
                            "({i}, '{ACQUIRER}', '0200', '02', '{:06}', '1121100000', 'purchase', '622424******0113', \
                             {}, '156', '{ISSUER}', 'answered', '00', 0, '1121', {NOW_MS}, '{day}', 0, 'debit')",
                            i % 1_000_000,
                            1 + i % 10_000
                        )
                    })
                    .collect();
                tx.execute(
                    &format!(
                        "INSERT INTO switch_exchanges (id, acquirer, acq_mti, acq_class, acq_stan, acq_time, kind, \
                         pan_masked, amount_minor, currency, issuer, status, response_code, stip, settlement_date, \
                         received_ms, business_date, late, card_kind) VALUES {}",
                        values.join(", ")
                    ),
                    &[],
                )?;
                id = end;
            }
            Ok(())
        })
        .unwrap();
    let inserted_ms = started.elapsed().as_millis();
    let started = std::time::Instant::now();
    let (mut count, mut last, mut total) = (0u64, 0u64, 0u64);
    for record in switch.clearing_records(day, no_exceptions()) {
        let record = record.unwrap();
        assert!(record.reference > last, "reference order");
        assert_eq!(record.mcc, "0000", "no field 18 stored");
        last = record.reference;
        total += record.amount_minor;
        count += 1;
    }
    let expected: u64 = (1_000_000..1_000_000 + STREAM_ROWS).map(|i| 1 + i % 10_000).sum();
    assert_eq!((count, total), (STREAM_ROWS, expected));
    eprintln!(
        "streamed {count} clearing records in {} ms (insert {inserted_ms} ms), pages of {}",
        started.elapsed().as_millis(),
        switch::limits::CLEARING_PAGE_ROWS_MAX
    );
}

fn older_rows_get_their_business_date(backend: Backend) {
    let net = net_with_cutoff(backend);
    let switch = net.switch();
    let clock = ManualClock::from_ms(NOW_MS + 6 * HOUR_MS); // 16:00 UTC: the 22nd in Beijing
    let purchase = net.purchase(PAN, 900, 50);
    assert_eq!(code(&send(&net, &switch, &clock, purchase.clone()).0), "00");
    // As a database from before business dates: the column empty. Opening fills it in.
    switch.database().transaction(|tx| tx.execute("UPDATE switch_exchanges SET business_date = NULL", &[])).unwrap();
    assert_eq!(exchange_of(&switch, &purchase, "02").business_date, "");
    let reopened = net.switch();
    assert_eq!(exchange_of(&reopened, &purchase, "02").business_date, "2026-11-22");
}
