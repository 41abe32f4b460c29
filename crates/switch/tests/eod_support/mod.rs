//! What the end-of-day tests share: the switch's database and settlement ledger on SQLite (a
//! fresh folder) or PostgreSQL (fresh schemas, with CARDNET_TEST_PG), and clearing records
//! built in code.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};
use sqlstore::Database;
use switch::settlement::{self, SettlementLedger};

pub const NETWORK: &str = "00000000001";
pub const ACQ1: &str = "00000000101";
pub const ACQ2: &str = "00000000102";
pub const ISS1: &str = "00000000201";
pub const ISS2: &str = "00000000202";
pub const CNY: &str = "156";
pub const USD: &str = "840";
/// 2026-11-21 10:00:00 UTC.
pub const NOW_MS: u64 = 1_795_255_200_000;

pub fn date(text: &str) -> BusinessDate {
    BusinessDate::parse(text).unwrap()
}

/// Where a test keeps the switch's books.
pub enum Place {
    Sqlite(PathBuf),
    Postgres { url: String, db_schema: String, ledger_schema: String },
}

impl Place {
    pub fn sqlite(name: &str) -> Place {
        let dir = std::env::temp_dir().join(format!("cardnet-switch-eod-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Place::Sqlite(dir)
    }

    /// `None` (and a loud line) without CARDNET_TEST_PG.
    pub fn postgres(name: &str) -> Option<Place> {
        let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
            eprintln!(
                "SKIPPED: CARDNET_TEST_PG not set; end of day at the switch was not tested on PostgreSQL ({name})"
            );
            return None;
        };
        let db_schema = format!("switch_eod_{name}_{}", std::process::id());
        let ledger_schema = format!("switch_eod_ledger_{name}_{}", std::process::id());
        let _ = sqlstore::drop_postgres_schema(&url, &db_schema);
        let _ = sqlstore::drop_postgres_schema(&url, &ledger_schema);
        Some(Place::Postgres { url, db_schema, ledger_schema })
    }

    /// Both backends the environment offers.
    pub fn all(name: &str) -> Vec<Place> {
        let mut places = vec![Place::sqlite(name)];
        places.extend(Place::postgres(name));
        places
    }

    pub fn db_url(&self) -> String {
        match self {
            Place::Sqlite(dir) => format!("sqlite:{}", dir.join("switch.db").display()),
            Place::Postgres { url, db_schema, .. } => format!("{url}#{db_schema}"),
        }
    }

    pub fn ledger_url(&self) -> String {
        match self {
            Place::Sqlite(dir) => format!("sqlite:{}", dir.join("switch-ledger.db").display()),
            Place::Postgres { url, ledger_schema, .. } => format!("{url}#{ledger_schema}"),
        }
    }

    pub fn dir(&self) -> PathBuf {
        match self {
            Place::Sqlite(dir) => dir.clone(),
            Place::Postgres { db_schema, .. } => {
                let dir = std::env::temp_dir().join(format!("cardnet-{db_schema}"));
                std::fs::create_dir_all(&dir).unwrap();
                dir
            }
        }
    }

    pub fn db(&self) -> Database {
        settlement::open_database(&self.db_url()).unwrap()
    }

    pub fn ledger(&self) -> SettlementLedger {
        let clock: Arc<dyn clock::Clock> = Arc::new(clock::ManualClock::from_ms(NOW_MS));
        settlement::open_ledger_with_clock(&self.ledger_url(), clock).unwrap()
    }

    pub fn name(&self) -> &'static str {
        match self {
            Place::Sqlite(_) => "sqlite",
            Place::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        match self {
            Place::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Postgres { url, db_schema, ledger_schema } => {
                let _ = sqlstore::drop_postgres_schema(url, db_schema);
                let _ = sqlstore::drop_postgres_schema(url, ledger_schema);
                let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("cardnet-{db_schema}")));
            }
        }
    }
}

/// A record with explicit fees (positive numbers; the direction of `code` signs them).
#[allow(clippy::too_many_arguments)]
pub fn record(
    on: BusinessDate,
    reference: u64,
    code: TxnCode,
    acquirer: &str,
    issuer: &str,
    amount_minor: u64,
    currency: &str,
    interchange: i64,
    network_fee: i64,
) -> ClearingRecord {
    let direction = code.direction();
    let interchange_fee_minor = direction * interchange;
    ClearingRecord {
        date: on,
        reference,
        code,
        acquirer: acquirer.to_owned().parse().unwrap(),
        issuer: issuer.to_owned().parse().unwrap(),
        stan: Some(format!("{:06}", reference % 1_000_000).parse().unwrap()),
        transmission_time: "1121100000".to_owned(),
        issuer_stan: Some(format!("{:06}", (reference + 500) % 1_000_000).parse().unwrap()),
        issuer_time: "1121100001".to_owned(),
        pan_masked: "622424******0113".to_owned(),
        card_hash: "ab".repeat(16),
        card_kind: CardKind::Debit,
        amount_minor,
        currency: currency.to_owned().parse().unwrap(),
        mcc: "5411".to_owned(),
        terminal_id: Some("T0000001".to_owned().parse().unwrap()),
        merchant_id: Some("M00000000000001".to_owned().parse().unwrap()),
        rrn: Some(format!("{reference:012}").parse().unwrap()),
        auth_code: "123456".to_owned(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor,
        network_fee_minor: direction * network_fee,
        settlement_minor: direction * amount_minor as i64 - interchange_fee_minor,
        stand_in: false,
        late: false,
    }
}

/// A small deterministic generator (the tests need no randomness crate).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `count` records of every kind between two acquirers and two issuers in two currencies, with
/// the China 2016 fees, on `on`, references from `first`.
pub fn day(on: BusinessDate, first: u64, count: u64, seed: u64) -> Vec<ClearingRecord> {
    let schedule = clearing::FeeSchedule::china_2016();
    let mut rng = Lcg(seed);
    let codes =
        [TxnCode::Purchase, TxnCode::Purchase, TxnCode::Completion, TxnCode::Void, TxnCode::Refund, TxnCode::Reversal];
    (0..count)
        .map(|i| {
            let code = codes[rng.below(codes.len() as u64) as usize];
            let acquirer = if rng.below(2) == 0 { ACQ1 } else { ACQ2 };
            let issuer = if rng.below(2) == 0 { ISS1 } else { ISS2 };
            let currency = if rng.below(5) == 0 { USD } else { CNY };
            let kind = if rng.below(3) == 0 { CardKind::Credit } else { CardKind::Debit };
            let amount = 1 + rng.below(5_000_000);
            let fees = schedule.fees(kind, amount);
            let mut r = record(
                on,
                first + i,
                code,
                acquirer,
                issuer,
                amount,
                currency,
                fees.interchange_minor as i64,
                fees.network_minor as i64,
            );
            r.card_kind = kind;
            r
        })
        .collect()
}
