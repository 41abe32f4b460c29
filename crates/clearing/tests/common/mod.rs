//! Records and files the clearing-file tests share.
#![allow(dead_code)]

use clearing::file::{Form, Header, Writer};
use clearing::{BusinessDate, CardKind, ClearingRecord, FeeSchedule, TxnCode};
use domain::{Currency, InstitutionId, MerchantId, Rrn, Stan, TerminalId};
use proptest::prelude::*;

pub fn date() -> BusinessDate {
    BusinessDate::from_ymd(2026, 12, 4).unwrap()
}

pub fn header() -> Header {
    Header { network: "10000000000".into(), member: "48000000001".into(), date: date() }
}

/// `count` synthetic records of [`date`].
pub fn records(count: u64) -> Vec<ClearingRecord> {
    clearing::synthetic::records(11, count, 4, date(), &FeeSchedule::china_2016()).collect()
}

/// The bytes of a file of `records` in `form`.
pub fn file(form: Form, records: &[ClearingRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = Writer::new(&mut out, form, &header()).unwrap();
    for record in records {
        writer.write(record).unwrap();
    }
    writer.finish().unwrap();
    out
}

fn digits(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9]{{0,{max}}}")).unwrap()
}

/// Printable ASCII without commas or quotes, not ending in a space.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("([ !#-+\\--~]{{0,{}}}[!#-+\\--~])?", max - 1)).unwrap()
}

fn institution() -> impl Strategy<Value = InstitutionId> {
    proptest::string::string_regex("[0-9]{1,11}").unwrap().prop_map(|t| InstitutionId::new(&t).unwrap())
}

fn stan() -> impl Strategy<Value = Stan> {
    (0u32..=999_999).prop_map(|n| Stan::new(n).unwrap())
}

fn signed(digits: u32) -> impl Strategy<Value = i64> {
    let bound = 10i64.pow(digits) - 1;
    -bound..=bound
}

/// Any record that fits the layout, of [`date`].
pub fn any_record() -> impl Strategy<Value = ClearingRecord> {
    let keys = (
        any::<u64>(),
        proptest::sample::select(TxnCode::ALL.to_vec()),
        institution(),
        institution(),
        proptest::option::of(stan()),
        digits(10),
        proptest::option::of(stan()),
        digits(10),
        text(19),
        text(64),
        any::<bool>(),
    );
    let rest = (
        0u64..1_000_000_000_000,
        proptest::sample::select(Currency::ALL.to_vec()),
        digits(4),
        text(8).prop_map(|t| TerminalId::new(&t).ok()),
        text(15).prop_map(|t| MerchantId::new(&t).ok()),
        proptest::option::of(
            proptest::string::string_regex("[0-9A-Za-z]{1,12}").unwrap().prop_map(|t| Rrn::new(&t).unwrap()),
        ),
        text(6),
        proptest::option::of(stan()),
        digits(10),
        any::<u64>(),
        (signed(12), signed(12), signed(12)),
        (any::<bool>(), any::<bool>()),
    );
    (keys, rest).prop_map(|(k, r)| ClearingRecord {
        date: date(),
        reference: k.0,
        code: k.1,
        acquirer: k.2,
        issuer: k.3,
        stan: k.4,
        transmission_time: k.5,
        issuer_stan: k.6,
        issuer_time: k.7,
        pan_masked: k.8,
        card_hash: k.9,
        card_kind: if k.10 { CardKind::Credit } else { CardKind::Debit },
        amount_minor: r.0,
        currency: r.1,
        mcc: r.2,
        terminal_id: r.3,
        merchant_id: r.4,
        rrn: r.5,
        auth_code: r.6,
        original_stan: r.7,
        original_time: r.8,
        original_reference: r.9,
        interchange_fee_minor: r.10.0,
        network_fee_minor: r.10.1,
        settlement_minor: r.10.2,
        stand_in: r.11.0,
        late: r.11.1,
    })
}
