//! The core suite, run on SQLite (tests/sqlite.rs) and, when CARDNET_TEST_PG is set, on
//! PostgreSQL (tests/postgres.rs): each scenario takes a fresh, empty database.
#![allow(dead_code)]

use std::sync::Arc;

use clock::ManualClock;
use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SoftHsm};
use merchants::{
    Application, ApplicationStatus, ChangeStatus, Check, Decision, DiscountRate, FeePlan, MerchantError,
    MerchantSettings, MerchantStatus, MerchantTerms, NewTerminal, Registry, SettlementAccount, SettlementCycle, Status,
    TerminalStatus, TmkExport, TmkImport, TmkSource,
};
use sqlstore::Database;

pub const START_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

pub struct Fixture {
    pub registry: Registry,
    pub hsm: Arc<SoftHsm>,
    pub clock: ManualClock,
}

pub fn settings() -> MerchantSettings {
    MerchantSettings {
        merchant_id_prefix: "8984401".into(),
        allowed_mccs: vec!["5411".into(), "5812".into()],
        sanctioned_names: vec!["Evil  Corp".into(), "Zhang San Feng".into()],
        ..MerchantSettings::default()
    }
}

pub fn fixture(db: Database) -> Fixture {
    let hsm = Arc::new(SoftHsm::new(Secret::random(32).unwrap()).unwrap());
    let clock = ManualClock::from_ms(START_MS);
    let registry = Registry::open_with_settings(db, hsm.clone(), Arc::new(clock.clone()), settings()).unwrap();
    Fixture { registry, hsm, clock }
}

/// A valid unified social credit code, distinct for each `n`.
pub fn licence(n: u32) -> String {
    let first17 = format!("91440101{n:09}");
    format!("{first17}{}", merchants::licence::check_character(&first17).unwrap())
}

pub fn application(n: u32) -> Application {
    Application {
        business_name: format!("Cardnet Coffee {n}"),
        licence_no: licence(n),
        legal_representative: format!("Li Si {n}"),
        mcc: "5812".into(),
        city: "Shanghai".into(),
        country: "CN".into(),
        settlement: SettlementAccount { bank_code: "102290000001".into(), account_no: format!("62220210{n:08}") },
        expected_monthly_volume_minor: 50_000_000,
    }
}

pub fn terms() -> MerchantTerms {
    MerchantTerms {
        fee_plan: FeePlan {
            debit: DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
            credit: DiscountRate { rate_bp: 60, cap_minor: None },
        },
        cycle: SettlementCycle::T1,
        single_max_minor: Some(1_000_000),
        daily_max_minor: None,
    }
}

/// Apply, approve, activate: the merchant id.
pub fn onboard(f: &Fixture, n: u32) -> String {
    let applied = f.registry.apply(&application(n)).unwrap();
    assert_eq!(applied.status, ApplicationStatus::Applied, "{:?}", applied.checks);
    f.registry.review(applied.application_id, Decision::Approve, "documents in order", "Wang Wu").unwrap();
    f.registry.activate(applied.application_id, &terms()).unwrap().merchant_id
}

fn terminal(id: &str) -> NewTerminal {
    NewTerminal { terminal_id: id.into(), model: Some("PAX A920".into()), serial: Some("SN-001".into()) }
}

fn xor(components: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0u8; components[0].len()];
    for component in components {
        for (o, c) in out.iter_mut().zip(component) {
            *o ^= c;
        }
    }
    out
}

fn kcv(key: &[u8]) -> String {
    merchants::hex_encode(&hsm::kcv::kcv_tdes(key).unwrap())
}

pub fn onboarding_path(db: Database) {
    let f = fixture(db);
    let applied = f.registry.apply(&application(1)).unwrap();
    assert_eq!(applied.status, ApplicationStatus::Applied);
    assert_eq!(applied.checks.len(), 6);
    assert!(applied.checks.iter().all(|c| c.passed && !c.reason.is_empty()), "{:?}", applied.checks);
    f.clock.advance_ms(1_000);
    let approved = f.registry.review(applied.application_id, Decision::Approve, "site visit done", "Wang Wu").unwrap();
    assert_eq!(approved.status, ApplicationStatus::Approved);
    let review = approved.review.unwrap();
    assert!(review.approved && review.reviewer == "Wang Wu" && review.reason == "site visit done");
    // Approving twice, or activating something not approved, is refused.
    assert!(matches!(
        f.registry.review(applied.application_id, Decision::Reject, "x", "y"),
        Err(MerchantError::State(_))
    ));
    let merchant = f.registry.activate(applied.application_id, &terms()).unwrap();
    assert_eq!(merchant.merchant_id, "898440158120001");
    assert_eq!(merchant.status, MerchantStatus::Active);
    assert_eq!(merchant.fee_plan, terms().fee_plan);
    assert_eq!(merchant.limits.single_max_minor, 1_000_000);
    assert_eq!(merchant.limits.daily_max_minor, settings().daily_max_minor_default);
    assert_eq!(merchant.settlement, application(1).settlement);
    assert!(matches!(f.registry.activate(applied.application_id, &terms()), Err(MerchantError::State(_))));
    let activated = f.registry.application(applied.application_id).unwrap().unwrap();
    assert_eq!(activated.status, ApplicationStatus::Activated);
    assert_eq!(activated.merchant_id.as_deref(), Some("898440158120001"));
    // The next merchant of the same MCC gets the next sequence.
    assert_eq!(onboard(&f, 2), "898440158120002");

    // A terminal with a generated TMK in 3 components: they XOR to the stored key's KCV.
    let source = TmkSource::Generate(TmkExport::Components(3));
    let (record, delivery) = f.registry.add_terminal(&merchant.merchant_id, &terminal("10000001"), &source).unwrap();
    assert_eq!(record.status, TerminalStatus::Installed);
    assert_eq!(record.last_sign_on_ms, None);
    assert_eq!(record.tmk.key_type(), KeyType::Tmk);
    assert_eq!(delivery.components.len(), 3);
    let clear: Vec<Vec<u8>> = delivery.components.iter().map(|c| c.component.expose().to_vec()).collect();
    assert_eq!(kcv(&xor(&clear)), record.tmk.kcv());
    assert_eq!(delivery.kcv, record.tmk.kcv());
    for component in &delivery.components {
        assert_eq!(component.kcv, kcv(component.component.expose()));
    }
    // Debug output never shows a component.
    let shown = format!("{delivery:?}");
    assert!(!clear.iter().any(|c| shown.contains(&merchants::hex_encode(c))));

    // A known TMK injected from two components: the KCV matches the components'.
    let c1 = Secret::random(16).unwrap();
    let c2 = Secret::random(16).unwrap();
    let expected = kcv(&xor(&[c1.expose().to_vec(), c2.expose().to_vec()]));
    let source = TmkSource::Import(TmkImport::Components(vec![c1, c2]));
    let (record, delivery) = f.registry.add_terminal(&merchant.merchant_id, &terminal("10000002"), &source).unwrap();
    assert_eq!(record.tmk.kcv(), expected);
    assert_eq!(delivery.kcv, expected);
    assert!(delivery.components.is_empty());

    // Generated under a KEK, then the same key imported under that KEK into another terminal.
    let kek = f.hsm.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2).unwrap();
    let source = TmkSource::Generate(TmkExport::UnderKek(kek.clone()));
    let (record, delivery) = f.registry.add_terminal(&merchant.merchant_id, &terminal("10000003"), &source).unwrap();
    let under = delivery.under_kek.unwrap();
    assert_eq!(under.kek_kcv, kek.kcv());
    assert!(under.key_block.starts_with('B'));
    let encrypted = under.encrypted.unwrap();
    let (again, _) = f
        .registry
        .import_tmk("10000002", &TmkImport::UnderKek { kek: kek.clone(), encrypted: encrypted.clone() })
        .unwrap();
    assert_eq!(again.tmk.kcv(), record.tmk.kcv());
    // A working key is no KEK.
    let zpk = f.hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    let refused = f.registry.add_terminal(
        &merchant.merchant_id,
        &terminal("10000004"),
        &TmkSource::Generate(TmkExport::UnderKek(zpk)),
    );
    assert!(matches!(refused, Err(MerchantError::Input(_))));

    // Stored: only key blocks under the LMK.
    let stored = f
        .registry
        .database()
        .transaction(|tx| tx.query("SELECT tmk_block FROM merchants_terminals ORDER BY terminal_id", &[]))
        .unwrap();
    assert_eq!(stored.len(), 3);
    for row in &stored {
        assert!(row.text(0).unwrap().starts_with('D'), "a TR-31 version D block under the LMK");
    }

    // The whole record in one place, trail included.
    let details = f.registry.merchant_details(&merchant.merchant_id).unwrap().unwrap();
    assert_eq!(details.terminals.len(), 3);
    assert_eq!(details.account_history.len(), 1);
    let events: Vec<&str> = details.trail.iter().map(|e| e.event.as_str()).collect();
    for event in ["submitted", "checks-passed", "approved", "activated", "terminal-added", "tmk-imported"] {
        assert!(events.contains(&event), "{event} in {events:?}");
    }
    assert_eq!(f.registry.list(Some(Status::Active)).unwrap().len(), 2);
    assert_eq!(f.registry.list_merchants(Some(MerchantStatus::Active)).unwrap().len(), 2);
    assert_eq!(f.registry.list_terminals(Some(&merchant.merchant_id)).unwrap().len(), 3);
}

fn failed(record: &merchants::ApplicationRecord) -> Vec<Check> {
    record.checks.iter().filter(|c| !c.passed).map(|c| c.check).collect()
}

fn reason(record: &merchants::ApplicationRecord, check: Check) -> String {
    record.checks.iter().find(|c| c.check == check).map(|c| c.reason.clone()).unwrap()
}

pub fn every_check_failing(db: Database) {
    let f = fixture(db);
    let r = &f.registry;
    let first = onboard(&f, 1);

    // Licence check character.
    let mut bad = application(10);
    let mut licence = bad.licence_no.clone();
    let last = licence.pop().unwrap();
    licence.push(if last == '0' { '1' } else { '0' });
    bad.licence_no = licence;
    let record = r.apply(&bad).unwrap();
    assert_eq!(record.status, ApplicationStatus::Rejected);
    assert_eq!(failed(&record), [Check::LicenceFormat]);
    assert!(
        reason(&record, Check::LicenceFormat).contains("check character"),
        "{}",
        reason(&record, Check::LicenceFormat)
    );
    assert!(record.review.is_none(), "rejected by the checks, not by a reviewer");

    // MCC not allowed.
    let mut bad = application(11);
    bad.mcc = "7995".into();
    let record = r.apply(&bad).unwrap();
    assert_eq!(failed(&record), [Check::MccAllowed]);
    assert_eq!(reason(&record, Check::MccAllowed), "MCC 7995 is not in the allowed list");

    // Duplicate licence: the live merchant's.
    let mut bad = application(12);
    bad.licence_no = licence_of(r, &first);
    let record = r.apply(&bad).unwrap();
    assert_eq!(failed(&record), [Check::DuplicateLicence]);
    assert!(reason(&record, Check::DuplicateLicence).contains(&first));

    // Duplicate account: the live merchant's.
    let mut bad = application(13);
    bad.settlement = application(1).settlement;
    let record = r.apply(&bad).unwrap();
    assert_eq!(failed(&record), [Check::DuplicateAccount]);
    assert!(reason(&record, Check::DuplicateAccount).contains(&first));

    // Duplicate of an open application (not yet a merchant).
    let open = r.apply(&application(14)).unwrap();
    let record = r.apply(&application(14)).unwrap();
    assert_eq!(failed(&record), [Check::DuplicateLicence, Check::DuplicateAccount]);
    assert!(reason(&record, Check::DuplicateLicence).contains(&format!("application {}", open.application_id)));

    // Sanctioned name, ignoring case and spaces; the legal representative too.
    let mut bad = application(15);
    bad.business_name = "  EVIL corp ".into();
    bad.legal_representative = "zhangsanfeng".into();
    let record = r.apply(&bad).unwrap();
    assert_eq!(failed(&record), [Check::SanctionedName]);
    assert_eq!(
        reason(&record, Check::SanctionedName),
        "business name and legal representative on the sanctioned names list"
    );

    // Missing fields: every one named; the checks that need them fail too.
    let empty = merchants::Application { expected_monthly_volume_minor: 0, ..merchants::Application::default() };
    let record = r.apply(&empty).unwrap();
    assert_eq!(record.status, ApplicationStatus::Rejected);
    let why = reason(&record, Check::RequiredFields);
    for missing in [
        "business name missing",
        "licence number missing",
        "legal representative missing",
        "MCC missing",
        "city missing",
        "country missing",
        "bank code missing",
        "account number missing",
    ] {
        assert!(why.contains(missing), "{missing} in {why}");
    }
    assert_eq!(record.checks.len(), 6, "every check is recorded even when the input is empty");

    // Malformed fields.
    let mut bad = application(16);
    bad.country = "China".into();
    bad.settlement.account_no = "12AB".into();
    let record = r.apply(&bad).unwrap();
    assert_eq!(failed(&record), [Check::RequiredFields]);
    let why = reason(&record, Check::RequiredFields);
    assert!(why.contains("country must be 2 letters") && why.contains("account number must be"), "{why}");

    // A rejected application cannot be approved, and the trail says why it was rejected.
    assert!(matches!(
        r.review(record.application_id, Decision::Approve, "ok", "Wang Wu"),
        Err(MerchantError::State(_))
    ));
    let trail = r.application_trail(record.application_id).unwrap();
    let rejected = trail.iter().find(|e| e.event == "rejected").unwrap();
    assert_eq!(rejected.actor, "system");
    assert_eq!(rejected.reason, "automatic checks failed: required-fields");

    // Input the registry will not store at all.
    let mut huge = application(17);
    huge.business_name = "x".repeat(merchants::limits::TEXT_CHARS_MAX + 1);
    assert!(matches!(r.apply(&huge), Err(MerchantError::Input(_))));
    let mut control = application(17);
    control.city = "Shang\nhai".into();
    assert!(matches!(r.apply(&control), Err(MerchantError::Input(_))));
    assert_eq!(r.list(Some(Status::Rejected)).unwrap().len(), 8);
}

fn licence_of(r: &Registry, merchant_id: &str) -> String {
    r.merchant(merchant_id).unwrap().unwrap().licence_no
}

pub fn reviewer_rejection(db: Database) {
    let f = fixture(db);
    let applied = f.registry.apply(&application(1)).unwrap();
    assert!(matches!(
        f.registry.review(applied.application_id, Decision::Reject, "  ", "Wang Wu"),
        Err(MerchantError::Input(_))
    ));
    let rejected = f
        .registry
        .review(applied.application_id, Decision::Reject, "business address does not exist", "Wang Wu")
        .unwrap();
    assert_eq!(rejected.status, ApplicationStatus::Rejected);
    let review = rejected.review.unwrap();
    assert!(!review.approved);
    assert_eq!(review.reason, "business address does not exist");
    assert!(matches!(f.registry.activate(applied.application_id, &terms()), Err(MerchantError::State(_))));
    let trail = f.registry.application_trail(applied.application_id).unwrap();
    assert_eq!(trail.last().unwrap().event, "rejected");
    assert_eq!(trail.last().unwrap().actor, "Wang Wu");
    // The licence is free again once its application is rejected.
    assert_eq!(f.registry.apply(&application(1)).unwrap().status, ApplicationStatus::Applied);
    assert!(matches!(f.registry.review(999, Decision::Approve, "x", "y"), Err(MerchantError::NotFound(_))));
}

pub fn account_change(db: Database) {
    let f = fixture(db);
    let r = &f.registry;
    let mid = onboard(&f, 1);
    let other = onboard(&f, 2);
    let old = application(1).settlement;
    let new = SettlementAccount { bank_code: "103100000026".into(), account_no: "6228480012345678".into() };

    // Same account, or another merchant's: rejected by the checks.
    let same = r.request_account_change(&mid, &old).unwrap();
    assert_eq!(same.status, ChangeStatus::Rejected);
    assert!(same.checks.iter().any(|c| c.check == Check::AccountDiffers && !c.passed));
    let taken = r.request_account_change(&mid, &application(2).settlement).unwrap();
    assert_eq!(taken.status, ChangeStatus::Rejected);
    let duplicate = taken.checks.iter().find(|c| c.check == Check::DuplicateAccount).unwrap();
    assert!(!duplicate.passed && duplicate.reason.contains(&other), "{}", duplicate.reason);

    f.clock.advance_ms(60_000);
    let change = r.request_account_change(&mid, &new).unwrap();
    assert_eq!(change.status, ChangeStatus::Pending);
    assert_eq!(change.old, old);
    // Pending: payouts still go to the old account; a second change waits.
    assert_eq!(r.payout_account(&mid).unwrap().unwrap(), old);
    assert!(matches!(r.request_account_change(&mid, &new), Err(MerchantError::State(_))));
    // Nobody else may take the account meanwhile.
    let mut rival = application(3);
    rival.settlement = new.clone();
    assert_eq!(r.apply(&rival).unwrap().status, ApplicationStatus::Rejected);

    f.clock.advance_ms(60_000);
    let approved =
        r.review_account_change(change.change_id, Decision::Approve, "bank letter checked", "Zhao Liu").unwrap();
    assert_eq!(approved.status, ChangeStatus::Approved);
    assert_eq!(r.payout_account(&mid).unwrap().unwrap(), new);
    let details = r.merchant_details(&mid).unwrap().unwrap();
    assert_eq!(details.account_history.len(), 2);
    assert_eq!(details.account_history[0].account, old);
    assert_eq!(details.account_history[1].account, new);
    assert_eq!(details.account_history[1].change_id, Some(change.change_id));
    assert_eq!(details.account_history[1].from_ms, START_MS + 120_000);
    assert_eq!(details.account_changes.len(), 3);
    assert!(details.trail.iter().any(|e| e.event == "account-changed" && e.actor == "Zhao Liu"));
    assert!(matches!(
        r.review_account_change(change.change_id, Decision::Reject, "x", "y"),
        Err(MerchantError::State(_))
    ));

    // A rejected change leaves the account as it was.
    let back = r.request_account_change(&mid, &old).unwrap();
    assert_eq!(back.status, ChangeStatus::Pending);
    r.review_account_change(back.change_id, Decision::Reject, "no bank letter", "Zhao Liu").unwrap();
    assert_eq!(r.payout_account(&mid).unwrap().unwrap(), new);
}

pub fn suspension_and_closing(db: Database) {
    let f = fixture(db);
    let r = &f.registry;
    let mid = onboard(&f, 1);
    let source = || TmkSource::Generate(TmkExport::Components(2));
    r.add_terminal(&mid, &terminal("20000001"), &source()).unwrap();
    assert!(matches!(r.suspend(&mid, ""), Err(MerchantError::Input(_))));
    let suspended = r.suspend(&mid, "chargeback ratio above 1 %").unwrap();
    assert_eq!(suspended.status, MerchantStatus::Suspended);
    assert_eq!(suspended.status_reason.as_deref(), Some("chargeback ratio above 1 %"));
    let refused = r.add_terminal(&mid, &terminal("20000002"), &source());
    match refused {
        Err(MerchantError::State(message)) => assert!(message.contains("suspended"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(r.list(Some(Status::Suspended)).unwrap().len(), 1);
    r.reinstate(&mid, "ratio back to normal").unwrap();
    r.add_terminal(&mid, &terminal("20000002"), &source()).unwrap();
    // A terminal id is unique across the acquirer.
    let other = onboard(&f, 2);
    assert!(matches!(r.add_terminal(&other, &terminal("20000002"), &source()), Err(MerchantError::State(_))));
    assert!(matches!(
        r.add_terminal("898440199990001", &terminal("20000003"), &source()),
        Err(MerchantError::NotFound(_))
    ));

    let closed = r.close(&mid, "contract ended").unwrap();
    assert_eq!(closed.status, MerchantStatus::Closed);
    assert!(r.list_terminals(Some(&mid)).unwrap().iter().all(|t| t.status == TerminalStatus::Disabled));
    assert!(matches!(r.reinstate(&mid, "no"), Err(MerchantError::State(_))));
    // Closed: the licence and account may apply again.
    assert_eq!(r.apply(&application(1)).unwrap().status, ApplicationStatus::Applied);
    let events: Vec<String> = r.merchant_details(&mid).unwrap().unwrap().trail.into_iter().map(|e| e.event).collect();
    for event in ["suspended", "reinstated", "closed", "terminal-disabled"] {
        assert!(events.iter().any(|e| e == event), "{event} in {events:?}");
    }
}

pub fn pos_host_api(db: Database) {
    let f = fixture(db);
    let r = &f.registry;
    let mid = onboard(&f, 1);
    let (added, _) =
        r.add_terminal(&mid, &terminal("30000001"), &TmkSource::Generate(TmkExport::Components(2))).unwrap();
    let (found, merchant) = r.terminal_with_merchant("30000001").unwrap().unwrap();
    assert_eq!(found, added);
    assert_eq!(merchant.merchant_id, mid);
    assert_eq!(merchant.mcc, "5812");
    assert_eq!(merchant.city, "Shanghai");
    assert!(r.terminal_with_merchant("39999999").unwrap().is_none());
    assert!(r.terminal("bad id").unwrap().is_none());

    let signed = r.record_sign_on("30000001", START_MS + 5_000).unwrap();
    assert_eq!(signed.status, TerminalStatus::Active);
    assert_eq!(signed.last_sign_on_ms, Some(START_MS + 5_000));
    assert!(matches!(r.record_sign_on("39999999", START_MS), Err(MerchantError::NotFound(_))));

    let disabled = r.disable_terminal("30000001").unwrap();
    assert_eq!(disabled.status, TerminalStatus::Disabled);
    assert!(matches!(r.record_sign_on("30000001", START_MS), Err(MerchantError::State(_))));
    assert!(matches!(r.generate_tmk("30000001", &TmkExport::Components(2)), Err(MerchantError::State(_))));

    // Terminal id validation at registration.
    for bad in ["3000001", "300000011", "3000 001", "３0000001"] {
        let refused = r.add_terminal(
            &mid,
            &NewTerminal { terminal_id: bad.into(), ..NewTerminal::default() },
            &TmkSource::Generate(TmkExport::Components(2)),
        );
        assert!(matches!(refused, Err(MerchantError::Input(_))), "{bad:?}");
    }
    // Component counts and lengths.
    let refused = r.add_terminal(&mid, &terminal("30000002"), &TmkSource::Generate(TmkExport::Components(4)));
    assert!(matches!(refused, Err(MerchantError::Input(_))));
    let one = TmkImport::Components(vec![Secret::random(16).unwrap()]);
    assert!(matches!(
        r.add_terminal(&mid, &terminal("30000002"), &TmkSource::Import(one)),
        Err(MerchantError::Input(_))
    ));
    let uneven = TmkImport::Components(vec![Secret::random(16).unwrap(), Secret::random(24).unwrap()]);
    assert!(matches!(
        r.add_terminal(&mid, &terminal("30000002"), &TmkSource::Import(uneven)),
        Err(MerchantError::Input(_))
    ));
    let single_des = TmkImport::Components(vec![Secret::random(8).unwrap(), Secret::random(8).unwrap()]);
    assert!(matches!(
        r.add_terminal(&mid, &terminal("30000002"), &TmkSource::Import(single_des)),
        Err(MerchantError::Input(_))
    ));
    assert!(r.terminal("30000002").unwrap().is_none(), "nothing stored by a refused add");
}

pub fn activation_terms(db: Database) {
    let f = fixture(db);
    let r = &f.registry;
    let applied = r.apply(&application(1)).unwrap();
    r.review(applied.application_id, Decision::Approve, "ok", "Wang Wu").unwrap();
    let mut bad = terms();
    bad.fee_plan.credit.rate_bp = 10_001;
    assert!(matches!(r.activate(applied.application_id, &bad), Err(MerchantError::Input(_))));
    let mut bad = terms();
    bad.single_max_minor = Some(10);
    bad.daily_max_minor = Some(5);
    assert!(matches!(r.activate(applied.application_id, &bad), Err(MerchantError::Input(_))));
    let mut d0 = terms();
    d0.cycle = SettlementCycle::D0;
    let merchant = r.activate(applied.application_id, &d0).unwrap();
    assert_eq!(merchant.cycle, SettlementCycle::D0);
    // The fee plan as stored computes fees: debit 0.50 % capped at 20.00, credit 0.60 %.
    let plan = merchant.fee_plan;
    assert_eq!(plan.fee_minor(merchants::CardKind::Debit, 10_000), 50);
    assert_eq!(plan.fee_minor(merchants::CardKind::Debit, 1_000_000), 2_000);
    assert_eq!(plan.fee_minor(merchants::CardKind::Credit, 1_000_000), 6_000);
    assert_eq!(plan.fee_minor(merchants::CardKind::Credit, 125), 1); // 0.75 → 1
    assert_eq!(plan.fee_minor(merchants::CardKind::Credit, 83), 0); // 0.498 → 0
}

/// A scenario: it gets a fresh, empty database.
pub type Scenario = fn(Database);

/// Every scenario, for a runner that gives each a fresh database.
pub const SUITE: [(&str, Scenario); 7] = [
    ("onboarding_path", onboarding_path),
    ("every_check_failing", every_check_failing),
    ("reviewer_rejection", reviewer_rejection),
    ("account_change", account_change),
    ("suspension_and_closing", suspension_and_closing),
    ("pos_host_api", pos_host_api),
    ("activation_terms", activation_terms),
];
