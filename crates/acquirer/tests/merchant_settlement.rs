//! Merchant settlement end to end inside the acquirer: merchants onboarded through the merchants
//! registry, transactions through the acquirer core (a scripted terminal, the test playing the
//! switch), then settlement runs — a D0 cycle and the day's last run — against the registry's fee
//! plans, the acquirer's ledger, the files, the tie to a clearing file built in code, and the
//! funds-arrival webhook on a tiny HTTP server. SQLite, and PostgreSQL when CARDNET_TEST_PG is set.

#[path = "../../testnet/src/pos.rs"]
#[allow(dead_code)]
mod pos;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use acquirer::{Acquirer, AcquirerLedger, CycleTime, SettleOptions, SettlementConfig, SettlementRun, Step, Webhook};
use clearing::{BusinessDate, CardKind, ClearingRecord, FeeSchedule, TxnCode};
use hmac::{Hmac, KeyInit, Mac};
use hsm::{Secret, SecurityModule, SignOnScheme, SoftHsm};
use iso8583::Message;
use merchants::{
    Application, Decision, DiscountRate, FeePlan, MerchantSettings, MerchantTerms, NewTerminal, Registry,
    SettlementAccount, SettlementCycle, TmkExport, TmkSource,
};
use pos::{PosCard, PosOriginal, PosTerminal};

const ACQUIRER_ID: &str = "10000000344";
const ISSUER_ID: &str = "20000000455";
/// 2026-03-02T02:30:00Z: 10:30 in Beijing, business date 2026-03-02.
const NOW_MS: u64 = 1_772_418_600_000;
const HOUR_MS: u64 = 3_600_000;
const SECRET: &str = "a-webhook-secret-of-some-length";

struct Rig {
    acquirer: Acquirer,
    registry: Arc<Registry>,
    hsm: Arc<SoftHsm>,
    keys: acquirer::dev::SwitchKeys,
    ledger: AcquirerLedger,
    dir: std::path::PathBuf,
    schemas: Vec<(String, String)>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for (url, schema) in &self.schemas {
            let _ = sqlstore::drop_postgres_schema(url, schema);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn date() -> BusinessDate {
    BusinessDate::parse("2026-03-02").unwrap()
}

fn plan() -> FeePlan {
    FeePlan {
        debit: DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
        credit: DiscountRate { rate_bp: 60, cap_minor: None },
    }
}

/// Luhn-valid 16-digit PAN from a 15-digit body.
fn pan(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn card(body: &str) -> PosCard {
    let pan = pan(body);
    PosCard { track2: Some(format!("{pan}=28062011234567890000")), pan, expiry_yymm: None }
}

fn debit() -> PosCard {
    card("622424000000001")
}

fn credit() -> PosCard {
    card("622588000000002")
}

fn rig(name: &str) -> Rig {
    let dir = std::env::temp_dir().join(format!("cardnet-msettle-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut schemas = Vec::new();
    let (db_url, ledger_url) = match std::env::var("CARDNET_TEST_PG") {
        Ok(url) if !url.is_empty() => {
            let (db, ledger) =
                (format!("msettle_{}_{name}", std::process::id()), format!("mledger_{}_{name}", std::process::id()));
            for schema in [&db, &ledger] {
                let _ = sqlstore::drop_postgres_schema(&url, schema);
                schemas.push((url.clone(), schema.clone()));
            }
            (format!("{url}#{db}"), format!("{url}#{ledger}"))
        }
        _ => {
            eprintln!("SKIPPED merchant settlement {name} on PostgreSQL: CARDNET_TEST_PG is not set (ran on SQLite)");
            (
                format!("sqlite:{}", dir.join("acquirer.db").display()),
                format!("sqlite:{}", dir.join("ledger.db").display()),
            )
        }
    };
    let hsm = Arc::new(SoftHsm::generate().unwrap());
    let keys = acquirer::dev::SwitchKeys::generate(hsm.as_ref()).unwrap();
    let mut config = acquirer::dev::config_with_switch_keys(
        hsm.as_ref(),
        &keys,
        ACQUIRER_ID,
        "127.0.0.1:0",
        "127.0.0.1:9100",
        &db_url,
        std::path::Path::new("lmk.hex"),
    )
    .unwrap();
    config.pos.card_kinds.insert("622588".into(), "credit".into());
    config.validate().unwrap();
    let db = sqlstore::Database::open(&db_url).unwrap();
    let clock = Arc::new(clock::ManualClock::from_ms(NOW_MS));
    let settings = MerchantSettings { merchant_id_prefix: "8984401".into(), ..MerchantSettings::default() };
    let registry = Arc::new(
        Registry::open_with_settings(db.clone(), Arc::clone(&hsm) as Arc<dyn SecurityModule>, clock.clone(), settings)
            .unwrap(),
    );
    let directory = Arc::clone(&registry) as Arc<dyn acquirer::TerminalDirectory>;
    let acquirer =
        Acquirer::with_database(&config, Arc::clone(&hsm) as Arc<dyn SecurityModule>, db, directory).unwrap();
    let ledger = AcquirerLedger::open(&ledger_url, clock).unwrap();
    Rig { acquirer, registry, hsm, keys, ledger, dir, schemas }
}

impl Rig {
    /// Apply, approve, activate; a terminal with a generated TMK: the merchant id and the
    /// terminal, signed on.
    fn onboard(&self, n: u32, cycle: SettlementCycle) -> (String, PosTerminal) {
        let first17 = format!("91440101{n:09}");
        let application = Application {
            business_name: format!("Cardnet Store {n}"),
            licence_no: format!("{first17}{}", merchants::licence::check_character(&first17).unwrap()),
            legal_representative: format!("Li Si {n}"),
            mcc: "5411".into(),
            city: "Shanghai".into(),
            country: "CN".into(),
            settlement: SettlementAccount { bank_code: "102290000001".into(), account_no: format!("62220210{n:08}") },
            expected_monthly_volume_minor: 50_000_000,
        };
        let applied = self.registry.apply(&application).unwrap();
        self.registry.review(applied.application_id, Decision::Approve, "documents in order", "Wang Wu").unwrap();
        let terms =
            MerchantTerms { fee_plan: plan(), cycle, single_max_minor: Some(10_000_000), daily_max_minor: None };
        let merchant = self.registry.activate(applied.application_id, &terms).unwrap().merchant_id;
        let terminal_id = format!("5000000{n}");
        let new = NewTerminal { terminal_id: terminal_id.clone(), model: None, serial: None };
        let (_, delivery) =
            self.registry.add_terminal(&merchant, &new, &TmkSource::Generate(TmkExport::Components(2))).unwrap();
        let mut tmk = vec![0u8; 16];
        for component in &delivery.components {
            for (t, c) in tmk.iter_mut().zip(component.component.expose()) {
                *t ^= c;
            }
        }
        let mut terminal = PosTerminal::new(&terminal_id, &merchant, Secret::new(&tmk));
        let request = terminal.sign_on_request(SignOnScheme::Double).unwrap();
        let Step::Respond(reply) = self.acquirer.on_terminal_request(terminal.envelope, request, NOW_MS) else {
            panic!("sign-on forwarded")
        };
        terminal.accept_sign_on(SignOnScheme::Double, &reply.response).unwrap();
        (merchant, terminal)
    }

    /// Send a terminal request; the switch approves it (field 15: the date, 100: the issuer).
    fn approve(&self, terminal: &PosTerminal, request: Message, at_ms: u64) -> Message {
        match self.acquirer.on_terminal_request(terminal.envelope, request, at_ms) {
            Step::Forward(forward) => {
                let forward = *forward;
                let network = &forward.network_request;
                assert_eq!(network.get_str(18), Some("5411"), "field 18: the merchant's MCC from the registry");
                let mut response = network.response(&network::request::RESPONSE_ECHO_FIELDS).unwrap();
                response.set_str(7, network.get_str(7).unwrap()).unwrap();
                response.set_str(39, "00").unwrap();
                response.set_str(38, "A12345").unwrap();
                response.set_str(15, &date().mmdd()).unwrap();
                response.set_str(100, ISSUER_ID).unwrap();
                network::mac::sign(self.hsm.as_ref(), &self.keys.zak, &mut response).unwrap();
                let reply = self.acquirer.on_network_response(forward.pending, response, at_ms + 100);
                assert_eq!(reply.response.get_str(39), Some("00"));
                reply.response
            }
            Step::Respond(reply) => {
                assert_eq!(reply.response.get_str(39), Some("00"), "answered by the host");
                reply.response
            }
            Step::Ignore => panic!("ignored"),
        }
    }

    fn settle(
        &self,
        cycle: Option<&str>,
        clearing: Option<&[ClearingRecord]>,
        config: &SettlementConfig,
    ) -> SettlementRun {
        let options = SettleOptions {
            date: date(),
            cycle: cycle.map(|c| CycleTime::parse(c).unwrap()),
            clearing,
            output_dir: Some(self.dir.join("settlement").join(date().to_string())),
            now_ms: NOW_MS + 20 * HOUR_MS,
        };
        let registry = Arc::clone(&self.registry);
        let plans = move |ids: &[String]| acquirer::plans_from_registry(&registry, ids);
        self.acquirer.settle_merchants(&options, &plans, &self.ledger, config).unwrap()
    }
}

/// What the switch's clearing file would say for an acquirer item (fees by the 2016 schedule).
fn record(reference: u64, code: TxnCode, merchant: &str, amount: u64, kind: CardKind) -> ClearingRecord {
    let fees = FeeSchedule::china_2016().fees(kind, amount);
    let direction = code.direction();
    let (interchange, network) = if code.is_exception() {
        (0, 0)
    } else {
        (direction * fees.interchange_minor as i64, direction * fees.network_minor as i64)
    };
    ClearingRecord {
        date: date(),
        reference,
        code,
        acquirer: ACQUIRER_ID.parse().unwrap(),
        issuer: ISSUER_ID.parse().unwrap(),
        stan: None,
        transmission_time: String::new(),
        issuer_stan: None,
        issuer_time: String::new(),
        pan_masked: String::new(),
        card_hash: String::new(),
        card_kind: kind,
        amount_minor: amount,
        currency: "156".parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: None,
        merchant_id: Some(merchant.parse().unwrap()),
        rrn: None,
        auth_code: String::new(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: interchange,
        network_fee_minor: network,
        settlement_minor: direction * amount as i64 - interchange,
        stand_in: false,
        late: false,
    }
}

/// A webhook receiver on port 0: answers each request with the next status of `statuses`
/// (200 once they run out) and keeps (headers, body) of every request.
/// What the webhook received: each request's header lines and body.
type Received = Arc<Mutex<Vec<(Vec<String>, String)>>>;

fn webhook_server(statuses: Vec<u16>) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/notices", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                headers.push(line.trim_end().to_owned());
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock().unwrap().push((headers, String::from_utf8(body).unwrap()));
            let status = statuses.next().unwrap_or(200);
            let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

fn header<'a>(headers: &'a [String], name: &str) -> &'a str {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let line = headers.iter().find(|h| h.to_ascii_lowercase().starts_with(&prefix)).expect(name);
    line[prefix.len()..].trim()
}

#[test]
fn a_day_settles_by_plan_cycle_ties_to_clearing_and_notifies() {
    let rig = rig("day");
    let (t1, mut shop) = rig.onboard(1, SettlementCycle::T1);
    let (d0, mut cafe) = rig.onboard(2, SettlementCycle::D0);

    // T+1 merchant: debit 10,000.00 (0.5 % = 50.00 → capped 20.00), credit 10,000.00 (60.00,
    // uncapped), a debit 100.99 voided (50.495 → 0.50, given back), a refund of 50.00 on the
    // credit sale (no fee back), a debit 20.00 reversed by the terminal.
    let big_debit = shop.purchase(&debit(), 1_000_000, None).unwrap();
    rig.approve(&shop, big_debit, NOW_MS);
    let big_credit = shop.purchase(&credit(), 1_000_000, None).unwrap();
    let answer = rig.approve(&shop, big_credit.clone(), NOW_MS);
    let credit_original = PosOriginal::of(&big_credit, &answer, shop.batch_no);
    let small = shop.purchase(&debit(), 10_099, None).unwrap();
    let answer = rig.approve(&shop, small.clone(), NOW_MS);
    let void = shop.void(&debit(), 10_099, &PosOriginal::of(&small, &answer, shop.batch_no)).unwrap();
    rig.approve(&shop, void, NOW_MS);
    let refund = shop.refund(&credit(), 5_000, &credit_original).unwrap();
    rig.approve(&shop, refund, NOW_MS);
    let reversed = shop.purchase(&debit(), 2_000, None).unwrap();
    rig.approve(&shop, reversed.clone(), NOW_MS);
    let reversal = shop.reversal(&reversed, "98").unwrap();
    rig.approve(&shop, reversal, NOW_MS);

    // D0 merchant: 300.00 debit at 10:30 (before the 11:00 cycle), 200.00 credit at 11:30.
    let early_sale = cafe.purchase(&debit(), 30_000, None).unwrap();
    rig.approve(&cafe, early_sale, NOW_MS);
    let late_sale = cafe.purchase(&credit(), 20_000, None).unwrap();
    rig.approve(&cafe, late_sale, NOW_MS + HOUR_MS);

    let (url, seen) = webhook_server(vec![500]);
    let config = SettlementConfig {
        d0_cycles: vec!["11:00".into(), "15:00".into()],
        webhooks: vec![Webhook { merchant_id: d0.clone(), url, secret: SECRET.into() }],
        ..SettlementConfig::default()
    };
    config.check().unwrap();

    // The 11:00 cycle pays the D0 merchant what was approved before it, the same day.
    let cycle = rig.settle(Some("11:00"), None, &config);
    assert!(!cycle.already_settled);
    assert_eq!(cycle.payouts.len(), 1, "{:?}", cycle.payouts);
    let early = &cycle.payouts[0];
    assert_eq!((early.merchant_id.as_str(), early.gross_minor, early.fee_minor), (d0.as_str(), 30_000, 150));
    assert_eq!((early.net_minor, early.payout_date), (29_850, date()));

    // The day's last run, with the clearing file: a chargeback of 10.00 adjusts the T+1 merchant.
    let mut records = vec![
        record(1, TxnCode::Purchase, &t1, 1_000_000, CardKind::Debit),
        record(2, TxnCode::Purchase, &t1, 1_000_000, CardKind::Credit),
        record(3, TxnCode::Purchase, &t1, 10_099, CardKind::Debit),
        record(4, TxnCode::Void, &t1, 10_099, CardKind::Debit),
        record(6, TxnCode::Purchase, &t1, 2_000, CardKind::Debit),
        record(7, TxnCode::Reversal, &t1, 2_000, CardKind::Debit),
        record(8, TxnCode::Purchase, &d0, 30_000, CardKind::Debit),
        record(9, TxnCode::Purchase, &d0, 20_000, CardKind::Credit),
        record(10, TxnCode::Chargeback, &t1, 1_000, CardKind::Debit),
    ];
    let mut refund_record = record(5, TxnCode::Refund, &t1, 5_000, CardKind::Credit);
    refund_record.network_fee_minor = 0;
    records.push(refund_record);
    let run = rig.settle(None, Some(&records), &config);
    assert!(!run.already_settled);
    let shop_line = run.payouts.iter().find(|p| p.merchant_id == t1).unwrap();
    assert_eq!(shop_line.gross_minor, 1_000_000 + 1_000_000 + 10_099 + 2_000);
    assert_eq!(shop_line.voids_minor, 10_099 + 2_000);
    assert_eq!(shop_line.refunds_minor, 5_000);
    assert_eq!(shop_line.fee_minor, 2_000 + 6_000, "debit capped, credit uncapped, voids give back");
    assert_eq!(shop_line.adjustments_minor, -1_000);
    assert_eq!(shop_line.net_minor, 2_012_099 - 12_099 - 5_000 - 8_000 - 1_000);
    assert_eq!(shop_line.payout_date, date().next(), "T+1");
    let cafe_line = run.payouts.iter().find(|p| p.merchant_id == d0).unwrap();
    assert_eq!((cafe_line.gross_minor, cafe_line.fee_minor, cafe_line.payout_date), (20_000, 120, date()));
    assert_eq!(run.ties.len(), 1);
    assert!(run.ties[0].tie_ok, "{:?}", run.ties);

    // A rerun changes nothing.
    let again = rig.settle(None, Some(&records), &config);
    assert!(again.already_settled);
    assert_eq!((again.payouts.clone(), again.transfers_made), (run.payouts.clone(), 0));
    let files_before: Vec<Vec<u8>> = run.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let files_after: Vec<Vec<u8>> = again.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(files_before, files_after);

    // The ledger agrees with the statements.
    use acquirer::acquirer_ledger::{CODE_MDR_INCOME, CODE_MERCHANT_PAYABLE, CODE_PAYING_BANK, account_id};
    let payable = rig.ledger.account(account_id(CODE_MERCHANT_PAYABLE, "156", &t1)).unwrap().unwrap();
    assert_eq!(payable.credits_posted, 2_012_099 - 12_099 - 5_000);
    assert_eq!(payable.debits_posted, 8_000 + 1_000 + shop_line.net_minor as u64);
    let income = rig.ledger.account(account_id(CODE_MDR_INCOME, "156", "")).unwrap().unwrap();
    assert_eq!(income.credit_balance(), 8_000 + 150 + 120);
    let bank = rig.ledger.account(account_id(CODE_PAYING_BANK, "156", "")).unwrap().unwrap();
    assert_eq!(bank.credits_posted as i64, shop_line.net_minor + cafe_line.net_minor + early.net_minor);
    let csv_path =
        run.files.iter().find(|f| f.to_string_lossy().contains(&format!("statement-{t1}-final-156.csv"))).unwrap();
    let csv = std::fs::read_to_string(csv_path).unwrap();
    let (mut amount, mut fee, mut settled) = (0i64, 0i64, 0i64);
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 14, "{line}");
        assert!(!line.contains("622424000000001"), "never a full PAN: {line}");
        amount += fields[10].parse::<i64>().unwrap();
        fee += fields[11].parse::<i64>().unwrap();
        settled += fields[12].parse::<i64>().unwrap();
    }
    // Sales and the chargeback's adjustment, the MDR, and what is paid.
    assert_eq!((amount, fee, settled), (2_012_099 - 12_099 - 5_000 - 1_000, 8_000, shop_line.net_minor));
    assert!(csv.contains(&format!(",{ISSUER_ID},")) && csv.contains(",credit,"), "{csv}");
    let payout_file = run.files.iter().find(|f| f.to_string_lossy().contains("payouts-final-156")).unwrap();
    let trailer = acquirer::payout::verify(&std::fs::read_to_string(payout_file).unwrap()).unwrap();
    assert_eq!((trailer.lines, trailer.total_minor), (2, (shop_line.net_minor + cafe_line.net_minor) as u64));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(payout_file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Notices: the D0 merchant's webhook refuses the first (500), takes the retry.
    let db = rig.acquirer.database();
    let first = acquirer::notice::deliver_due(db, &config, NOW_MS + 21 * HOUR_MS, false).unwrap();
    // The cycle's notice is refused; the final run's is taken; the T+1 merchant has no webhook.
    assert_eq!((first.attempted, first.failed, first.delivered, first.stored), (2, 1, 1, 1), "{first:?}");
    let too_soon = acquirer::notice::deliver_due(db, &config, NOW_MS + 21 * HOUR_MS, false).unwrap();
    assert_eq!(too_soon.attempted, 0, "backoff: not before the retry delay");
    let retry = acquirer::notice::deliver_due(db, &config, NOW_MS + 22 * HOUR_MS, false).unwrap();
    assert_eq!((retry.attempted, retry.delivered), (1, 1), "{retry:?}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    for (headers, body) in &requests {
        let timestamp = header(headers, "X-Cardnet-Timestamp");
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{body}").as_bytes());
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(header(headers, "X-Cardnet-Signature"), format!("v1={expected}"));
        let notice: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(notice["merchant_id"], d0.as_str());
    }
    let notices = acquirer::notice::list(db, 100).unwrap();
    assert_eq!(notices.len(), 3);
    assert!(notices.iter().all(|n| n.state == "delivered" || (n.merchant_id == t1 && n.state == "stored")));
}

#[test]
fn card_kinds_and_the_settlement_section_are_checked() {
    let hsm = SoftHsm::generate().unwrap();
    let mut config = acquirer::dev::config(&hsm, "sqlite::memory:", std::path::Path::new("lmk.hex")).unwrap();
    config.pos.card_kinds.insert("622588".into(), "credit".into());
    config.pos.card_kinds.insert("62258899".into(), "debit".into());
    let settings = acquirer::Settings::new(&config).unwrap();
    assert_eq!(settings.card_kind_of(&pan("622588000000002")), CardKind::Credit);
    assert_eq!(settings.card_kind_of("6225889900000001"), CardKind::Debit, "the longest prefix wins");
    assert_eq!(settings.card_kind_of("4111111111111111"), CardKind::Debit, "debit by default");
    // The table is written out by `acquirer init` and read back.
    let text = config.to_toml();
    assert!(text.contains("[pos.card_kinds]") && text.contains("\"622588\" = \"credit\""), "{text}");
    assert_eq!(acquirer::AcquirerConfig::parse(&text).unwrap().pos.card_kinds, config.pos.card_kinds);
    for (prefix, kind, what) in [("62x", "credit", "BIN prefix"), ("622588", "prepaid", "debit or credit")] {
        let mut bad = config.clone();
        bad.pos.card_kinds.insert(prefix.into(), kind.into());
        let error = bad.validate().unwrap_err().to_string();
        assert!(error.contains("pos.card_kinds") && error.contains(what), "{error}");
    }
    let checks = [
        (SettlementConfig { zone: "08:00".into(), ..SettlementConfig::default() }, "zone"),
        (
            SettlementConfig { d0_cycles: vec!["15:00".into(), "11:00".into()], ..SettlementConfig::default() },
            "ascending",
        ),
        (SettlementConfig { d0_cycles: vec!["25:00".into()], ..SettlementConfig::default() }, "cycle time"),
        (
            SettlementConfig {
                webhooks: vec![Webhook {
                    merchant_id: "898440154110001".into(),
                    url: "http://x:1/".into(),
                    secret: "short".into(),
                }],
                ..SettlementConfig::default()
            },
            "secret",
        ),
        (
            SettlementConfig {
                webhooks: vec![Webhook {
                    merchant_id: "898440154110001".into(),
                    url: "https://x/".into(),
                    secret: SECRET.into(),
                }],
                ..SettlementConfig::default()
            },
            "url",
        ),
    ];
    for (settlement, what) in checks {
        let error = settlement.check().unwrap_err().to_string();
        assert!(error.contains(what), "{what}: {error}");
        let hook = format!("{:?}", settlement.webhooks);
        assert!(!hook.contains(SECRET) && !hook.contains("short"), "no secret in Debug: {hook}");
    }
}

#[test]
fn a_reversal_after_the_payout_is_taken_back_in_the_next_run() {
    let rig = rig("late");
    let (d0, mut cafe) = rig.onboard(3, SettlementCycle::D0);
    let config = SettlementConfig { d0_cycles: vec!["11:00".into()], ..SettlementConfig::default() };
    let early = cafe.purchase(&debit(), 30_000, None).unwrap();
    rig.approve(&cafe, early.clone(), NOW_MS);
    let cycle = rig.settle(Some("11:00"), None, &config);
    assert_eq!((cycle.payouts.len(), cycle.payouts[0].net_minor), (1, 29_850));
    // Reversed by the terminal after it was paid; a new sale after the cycle.
    let reversal = cafe.reversal(&early, "98").unwrap();
    rig.approve(&cafe, reversal, NOW_MS + HOUR_MS);
    let late = cafe.purchase(&debit(), 50_000, None).unwrap();
    rig.approve(&cafe, late, NOW_MS + HOUR_MS);
    let run = rig.settle(None, None, &config);
    assert_eq!(run.payouts.len(), 1);
    let line = &run.payouts[0];
    assert_eq!(line.merchant_id, d0);
    // The reversal gives back the 30,000 and exactly the 150 the sale was charged.
    assert_eq!((line.gross_minor, line.voids_minor, line.fee_minor), (50_000, 30_000, 250 - 150));
    assert_eq!(line.net_minor, 50_000 - 30_000 - 100);
    let again = rig.settle(None, None, &config);
    assert!(again.already_settled && again.payouts == run.payouts);
}

#[test]
fn a_void_the_terminal_reversed_takes_nothing_from_the_merchant() {
    let rig = rig("revvoid");
    let (t1, mut shop) = rig.onboard(4, SettlementCycle::T1);
    let sale = shop.purchase(&debit(), 7_120, None).unwrap();
    let answer = rig.approve(&shop, sale.clone(), NOW_MS);
    let void = shop.void(&debit(), 7_120, &PosOriginal::of(&sale, &answer, shop.batch_no)).unwrap();
    rig.approve(&shop, void.clone(), NOW_MS + 1_000);
    // The terminal never saw the void's answer: it reverses the void, and the sale stands.
    let reversal = shop.reversal(&void, "98").unwrap();
    rig.approve(&shop, reversal, NOW_MS + 2_000);
    let run = rig.settle(None, None, &SettlementConfig::default());
    assert_eq!(run.payouts.len(), 1);
    let line = &run.payouts[0];
    assert_eq!(line.merchant_id, t1);
    // 0.5 % of 71.20 = 0.356, rounded to 0.36: the sale paid in full, nothing voided.
    assert_eq!((line.gross_minor, line.voids_minor, line.fee_minor), (7_120, 0, 36));
    assert_eq!(line.net_minor, 7_120 - 36);
}
