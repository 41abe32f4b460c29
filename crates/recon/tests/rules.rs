//! The classification rules on hand-made rows, entered through the adapters' string forms.

use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};
use recon::{
    AcquirerRecord, AcquirerRow, Class, ClearingItem, Config, IssuerRecord, IssuerRow, Party, Resolution, Sources,
    State, TerminalRecord, TerminalRow, reconcile,
};

fn date() -> BusinessDate {
    BusinessDate::parse("2026-12-04").unwrap()
}

/// One request as every party holds it: (trace, STAN, switch STAN, kind, amount, original's).
struct Req {
    trace: u32,
    kind: &'static str,
    amount: u64,
    original: Option<u32>,
    state: &'static str,
}

fn stan(trace: u32) -> String {
    format!("{:06}", trace + 100)
}

fn issuer_stan(trace: u32) -> String {
    format!("{:06}", trace + 500)
}

fn time(trace: u32) -> String {
    format!("12041000{:02}", trace)
}

fn rrn(trace: u32) -> String {
    format!("{:012}", 900_000 + trace)
}

fn terminal(r: &Req) -> TerminalRecord {
    let (trace, original) = (format!("{:06}", r.trace), r.original.map(|o| format!("{o:06}")).unwrap_or_default());
    let row = TerminalRow {
        terminal_id: "T0000001",
        batch: "000001",
        trace: &trace,
        original_trace: &original,
        rrn: &rrn(r.trace),
        amount_minor: r.amount,
        currency: "156",
        kind: r.kind,
        date: date(),
    };
    TerminalRecord::try_from(&row).unwrap()
}

fn acquirer(r: &Req) -> AcquirerRecord {
    let trace = format!("{:06}", r.trace);
    let (ostan, otime) = r.original.map(|o| (stan(o), time(o))).unwrap_or_default();
    let row = AcquirerRow {
        terminal_id: "T0000001",
        batch: "000001",
        trace: &trace,
        acquirer: "48020000",
        stan: &stan(r.trace),
        transmission_time: &time(r.trace),
        original_stan: &ostan,
        original_time: &otime,
        rrn: &rrn(r.trace),
        amount_minor: r.amount,
        currency: "156",
        issuer: "63010000",
        kind: r.kind,
        state: r.state,
        date: date(),
    };
    AcquirerRecord::try_from(&row).unwrap()
}

fn clearing(r: &Req, reference: u64) -> ClearingItem {
    let code = recon::source::kind_from_name(r.kind).unwrap();
    let (ostan, otime) = r.original.map(|o| (stan(o), time(o))).unwrap_or_default();
    let record = ClearingRecord {
        date: date(),
        reference,
        code,
        acquirer: "48020000".parse().unwrap(),
        issuer: "63010000".parse().unwrap(),
        stan: Some(stan(r.trace).parse().unwrap()),
        transmission_time: time(r.trace),
        issuer_stan: Some(issuer_stan(r.trace).parse().unwrap()),
        issuer_time: time(r.trace),
        pan_masked: "622202******1234".into(),
        card_hash: String::new(),
        card_kind: CardKind::Debit,
        amount_minor: r.amount,
        currency: "156".parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: Some("T0000001".parse().unwrap()),
        merchant_id: Some("M1".parse().unwrap()),
        rrn: Some(rrn(r.trace).parse().unwrap()),
        auth_code: "123456".into(),
        original_stan: (!ostan.is_empty()).then(|| ostan.parse().unwrap()),
        original_time: otime,
        original_reference: 0,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: code.direction() * r.amount as i64,
        stand_in: false,
        late: false,
    };
    ClearingItem::try_from(&record).unwrap()
}

fn issuer(r: &Req, posted: u64, held: u64) -> IssuerRecord {
    let (ostan, otime) = r.original.map(|o| (issuer_stan(o), time(o))).unwrap_or_default();
    let state = if r.state == "approved" { "posted" } else { r.state };
    let row = IssuerRow {
        issuer: "63010000",
        stan: &issuer_stan(r.trace),
        transmission_time: &time(r.trace),
        original_stan: &ostan,
        original_time: &otime,
        amount_minor: posted,
        held_minor: held,
        currency: "156",
        kind: r.kind,
        state,
        date: date(),
    };
    IssuerRecord::try_from(&row).unwrap()
}

/// Every party holds every request; the issuer posts `posted[i]` with hold `held[i]`.
fn everywhere(requests: &[Req], posted: &[u64], held: &[u64]) -> Sources {
    let mut s = Sources::default();
    for (i, r) in requests.iter().enumerate() {
        s.terminal.push(terminal(r));
        s.acquirer.push(acquirer(r));
        s.clearing.push(clearing(r, i as u64 + 1));
        s.issuer.push(issuer(r, posted[i], held[i]));
    }
    s
}

fn config() -> Config {
    Config { date: date(), window_days: 1, network_member: 99_990_000 }
}

fn req(trace: u32, kind: &'static str, amount: u64, original: Option<u32>, state: &'static str) -> Req {
    Req { trace, kind, amount, original, state }
}

#[test]
fn a_partial_reversal_and_a_partial_completion_are_tolerated() {
    let requests = [
        req(1, "purchase", 10_000, None, "approved"),
        req(2, "reversal", 3_000, Some(1), "approved"),
        req(3, "completion", 8_000, None, "approved"),
    ];
    // The issuer posts the purchase net of the reversal; the completion against a larger hold.
    let s = everywhere(&requests, &[7_000, 3_000, 8_000], &[10_000, 3_000, 9_500]);
    let outcome = reconcile(&s, &config()).unwrap();
    assert_eq!(outcome.summary.unmatched, 0, "{:?}", outcome.exceptions);
    assert_eq!(outcome.summary.matched, 2);
}

#[test]
fn a_completion_above_its_hold_is_an_amount_mismatch_at_the_issuer() {
    let requests = [req(3, "completion", 8_000, None, "approved")];
    let s = everywhere(&requests, &[8_000], &[7_999]);
    let outcome = reconcile(&s, &config()).unwrap();
    let e = &outcome.exceptions[0];
    assert_eq!((e.class, e.party), (Class::AmountMismatch, Some(Party::Issuer)));
}

#[test]
fn a_voided_purchase_live_at_the_issuer_is_a_state_mismatch() {
    let requests = [req(1, "purchase", 5_000, None, "voided"), req(2, "void", 5_000, Some(1), "approved")];
    let mut s = everywhere(&requests, &[0, 5_000], &[5_000, 5_000]);
    s.issuer[0].state = State::Live;
    let outcome = reconcile(&s, &config()).unwrap();
    assert_eq!(outcome.exceptions.len(), 1);
    let e = &outcome.exceptions[0];
    assert_eq!(
        (e.class, e.party, e.resolution),
        (Class::StateMismatch, Some(Party::Issuer), Resolution::Correct { party: Party::Issuer })
    );
    assert_eq!(e.records, 8, "the whole transaction: two requests at four parties");
}

#[test]
fn late_within_the_window_is_accepted_and_beyond_it_charged_back() {
    let requests = [req(1, "purchase", 5_000, None, "approved"), req(2, "purchase", 6_000, None, "approved")];
    let mut s = everywhere(&requests, &[5_000, 6_000], &[5_000, 6_000]);
    s.clearing[0].date = date().next();
    s.clearing[0].late = true;
    s.clearing[1].date = date().next().next();
    s.clearing[1].late = true;
    let outcome = reconcile(&s, &config()).unwrap();
    let resolutions: Vec<_> = outcome.exceptions.iter().map(|e| (e.class, e.resolution)).collect();
    assert_eq!(
        resolutions,
        vec![
            (Class::LatePresentment, Resolution::AcceptLate),
            (Class::LatePresentment, Resolution::Chargeback { amount_minor: 6_000 }),
        ]
    );
}

#[test]
fn duplicates_at_any_party_are_the_copy_alone() {
    let requests = [req(1, "purchase", 5_000, None, "approved"), req(2, "refund", 1_000, Some(1), "approved")];
    let mut s = everywhere(&requests, &[5_000, 1_000], &[5_000, 1_000]);
    s.acquirer[0].state = State::Refunded;
    s.issuer[0].state = State::Refunded;
    s.terminal.push(s.terminal[0]);
    let mut copy = s.clearing[1];
    copy.reference = 99;
    s.clearing.insert(0, copy);
    let outcome = reconcile(&s, &config()).unwrap();
    assert_eq!(outcome.summary.matched, 1);
    let got: Vec<_> = outcome.exceptions.iter().map(|e| (e.class, e.party, e.resolution, e.reference)).collect();
    assert_eq!(
        got,
        vec![
            (Class::Duplicate, Some(Party::Terminal), Resolution::Correct { party: Party::Terminal }, None),
            // A refund cleared twice: the issuer is owed it back.
            (Class::Duplicate, Some(Party::Clearing), Resolution::DebitAdjustment { amount_minor: 1_000 }, Some(99)),
        ]
    );
}

#[test]
fn a_lone_reversal_has_no_original() {
    let mut s = Sources::default();
    let r = req(2, "reversal", 5_000, Some(1), "approved");
    s.terminal.push(terminal(&r));
    s.acquirer.push(acquirer(&r));
    let outcome = reconcile(&s, &config()).unwrap();
    let e = &outcome.exceptions[0];
    assert_eq!(
        (e.class, e.resolution, e.kind),
        (Class::ReversalWithoutOriginal, Resolution::WriteOff, TxnCode::Reversal)
    );
}

#[test]
fn the_string_forms_refuse_bad_fields_and_say_where() {
    let bad = TerminalRow {
        terminal_id: "T0000001",
        batch: "000001",
        trace: "00000x",
        original_trace: "",
        rrn: "1",
        amount_minor: 1,
        currency: "156",
        kind: "purchase",
        date: date(),
    };
    let error = TerminalRecord::try_from(&bad).unwrap_err().to_string();
    assert!(error.contains("trace") && error.contains("00000x"), "{error}");
    let mut row = bad;
    row.trace = "000001";
    row.kind = "balance_inquiry";
    assert!(TerminalRecord::try_from(&row).unwrap_err().to_string().contains("balance_inquiry"));
    assert!(State::from_name("maybe").is_err());
}

/// A purchase, its void approved everywhere, and the terminal's reversal of the void (it never
/// saw the void's answer). The switch clears the reversal as the purchase it restores, under the
/// reversal's key, naming the void; the issuer posts the purchase once.
fn reversed_void() -> Sources {
    let requests = [
        req(1, "purchase", 712, None, "approved"),
        req(2, "void", 712, Some(1), "reversed"),
        req(3, "reversal", 712, Some(2), "approved"),
    ];
    let mut s = everywhere(&requests, &[712, 712, 712], &[712, 712, 712]);
    s.clearing[2].code = TxnCode::Purchase;
    s
}

#[test]
fn a_reversed_void_matches_as_one_transaction_when_every_party_agrees() {
    let outcome = reconcile(&reversed_void(), &config()).unwrap();
    assert_eq!(outcome.summary.unmatched, 0, "{:?}", outcome.exceptions);
    assert_eq!(outcome.summary.matched, 1, "purchase, void and the void's reversal: one transaction");
}

#[test]
fn a_void_reversal_that_stopped_at_the_acquirer_is_not_reversed_and_owed() {
    let mut s = reversed_void();
    // The acquirer's reversal of the void never reached the switch (nor the issuer).
    s.clearing.pop();
    s.issuer.pop();
    let outcome = reconcile(&s, &config()).unwrap();
    assert_eq!(outcome.exceptions.len(), 1, "{:?}", outcome.exceptions);
    let e = &outcome.exceptions[0];
    assert_eq!((e.class, e.party, e.kind), (Class::NotReversedAfterTimeout, Some(Party::Clearing), TxnCode::Reversal));
    // The purchase stands at the terminal but the clearing took it back with the void: the
    // issuer owes it.
    assert_eq!(e.resolution, Resolution::DebitAdjustment { amount_minor: 712 });
    assert_eq!(e.records, 10, "the whole transaction: three requests, the last at two parties");
}

#[test]
fn a_reversed_void_the_issuer_kept_as_a_void_is_a_mismatch_at_the_issuer() {
    let mut s = reversed_void();
    // The issuer took the void but not its reversal: it posted nothing for the purchase.
    s.issuer[0].amount_minor = 0;
    let outcome = reconcile(&s, &config()).unwrap();
    assert_eq!(outcome.exceptions.len(), 1, "{:?}", outcome.exceptions);
    let e = &outcome.exceptions[0];
    assert_eq!((e.class, e.party, e.kind), (Class::AmountMismatch, Some(Party::Issuer), TxnCode::Purchase));
}
