//! The terminal core and its TCP shell against a fake cup-pos host (a transport `Server`):
//! sign-on, sale, void, the reversal record's life (written before sending, cleared by the
//! answer, 98 after a timeout sent before the next sale and surviving a restart, A0 on a forged
//! MAC), settlement, operators and failover.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hsm::Secret;
use hsm::cipher::Cipher;
use iso8583::{Envelope, Message};
use terminal::{Card, EntryMode as Entry, Kind, Pos, Terminal, TerminalConfig, TerminalError, TxnRequest};
use transport::{Handler, Server, ServerConfig};

const TMK: [u8; 16] = [0x33; 16];
const PIK: [u8; 8] = [0x13, 0x57, 0x9B, 0xDF, 0x02, 0x46, 0x8A, 0xCE];
const MAK: [u8; 8] = [0x7F, 0x52, 0xE3, 0x20, 0x1F, 0xDF, 0x04, 0x5E];
const HOST_BATCH: u32 = 7;
const PAN: &str = "6224242900000113";
/// A stripe-only card (service code 101): swiped as it should be.
const TRACK2: &str = "6224242900000113=28061010000000000";
/// A chip card's stripe (service code 201).
const CHIP_TRACK2: &str = "6224242900000113=28062010000000000";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Financial requests get no answer (the terminal times out).
    Silent,
    /// Approvals go back with a wrong MAC.
    ForgeMac,
    /// Balance answers: an overdrawn account (available balance a debit of 5.00).
    Overdrawn,
    /// Financial requests are answered 94: the host already holds a transaction with this trace
    /// (a copy of the request the line repeated reached it first).
    Duplicate,
}

#[derive(Clone)]
struct FakeHost {
    mode: Arc<Mutex<Mode>>,
    /// (MTI, 11, 39) of every request seen.
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    /// Every 0320 batch-upload message.
    uploads: Arc<Mutex<Vec<Upload>>>,
}

/// A 0320's 11, 60 and 55.
type Upload = (String, String, Option<Vec<u8>>);

fn mac(message: &mut Message) {
    let mab = Terminal::mab(message).unwrap();
    let mac = hsm::mac::cup_ecb_mac(&MAK, &mab).unwrap();
    message.set(64, &mac).unwrap();
}

fn field62() -> Vec<u8> {
    let tmk = Cipher::tdes(&TMK).unwrap();
    let mut out = Vec::new();
    for key in [PIK, MAK] {
        let mut enc = key;
        tmk.ecb_encrypt(&mut enc).unwrap();
        out.extend_from_slice(&enc);
        out.extend_from_slice(&hsm::signon::sign_on_kcv(&key).unwrap());
    }
    out
}

impl Handler for FakeHost {
    async fn handle(&self, envelope: Envelope, request: Message) -> Option<(Envelope, Message)> {
        let mti = request.mti().to_string();
        self.seen.lock().unwrap().push((
            mti.clone(),
            request.get_str(11).unwrap_or("").to_owned(),
            request.get_str(39).unwrap_or("").to_owned(),
        ));
        let mode = *self.mode.lock().unwrap();
        let mut response = request.response(&[2, 3, 4, 11, 22, 25, 41, 42, 49, 60, 61]).unwrap();
        response.set_str(39, "00").unwrap();
        match mti.as_str() {
            "0800" => {
                response.set_str(60, &format!("00{HOST_BATCH:06}001")).unwrap();
                response.set(62, &field62()).unwrap();
            }
            "0500" => {
                let mut f48 = request.get_str(48).unwrap().to_owned().into_bytes();
                f48[30] = b'1';
                f48[61] = b'1';
                response.set_str(48, std::str::from_utf8(&f48).unwrap()).unwrap();
            }
            "0320" => self.uploads.lock().unwrap().push((
                request.get_str(11).unwrap_or("").to_owned(),
                request.get_str(60).unwrap_or("").to_owned(),
                request.get(55).map(<[u8]>::to_vec),
            )),
            "0820" => {}
            _ => {
                if mode == Mode::Silent && mti != "0400" {
                    return None;
                }
                if let (Some(_), "0200" | "0100") = (request.get(55), mti.as_str()) {
                    // Issuer authentication data for the chip: ARPC ‖ ARC (the scripted chip
                    // decides whether it accepts it).
                    let mut tag91 = Vec::new();
                    iso8583::tlv::write_element(&[0x91], b"ARPC-8B!00", &mut tag91);
                    response.set(55, &tag91).unwrap();
                }
                if request.get_str(3) == Some("310000") {
                    // Ledger 1 200.00, then available 1 000.00: the terminal picks by amount
                    // type, not by position.
                    let field54 = match mode {
                        Mode::Overdrawn => "0001156C0000000000000002156D000000000500",
                        _ => "0001156C0000001200000002156C000000100000",
                    };
                    response.set_str(54, field54).unwrap();
                }
                if mode == Mode::Duplicate && mti != "0400" {
                    response.set_str(39, "94").unwrap();
                }
                if mti != "0400" {
                    response.set_str(37, "123456789012").unwrap();
                    response.set_str(38, "AB1234").unwrap();
                    response.set_str(63, "CUP").unwrap();
                }
                mac(&mut response);
                if mode == Mode::ForgeMac && mti != "0400" {
                    response.set(64, b"00000000").unwrap();
                }
            }
        }
        Some((envelope.response(), response))
    }
}

async fn start_host() -> (FakeHost, String) {
    start_host_with(ServerConfig::default()).await
}

async fn start_host_with(server_config: ServerConfig) -> (FakeHost, String) {
    let host = FakeHost {
        mode: Arc::new(Mutex::new(Mode::Normal)),
        seen: Arc::new(Mutex::new(Vec::new())),
        uploads: Arc::new(Mutex::new(Vec::new())),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = Arc::new(Server::new(iso8583::builtin::cup_pos(), host.clone(), server_config));
    tokio::spawn(async move { server.serve(listener).await });
    (host, address)
}

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cardnet-terminal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &std::path::Path, primary: &str, backup: Option<&str>) -> TerminalConfig {
    std::fs::write(dir.join("tmk.hex"), iso8583::hex::encode(&TMK)).unwrap();
    let kcv = terminal::keys::tmk_kcv(&Secret::new(&TMK)).unwrap();
    let backup = backup.map(|b| format!("backup = \"{b}\"\n")).unwrap_or_default();
    let text = format!(
        "terminal_id = \"POS00001\"\nmerchant_id = \"898440158120001\"\nprimary = \"{primary}\"\n{backup}\
         tmk_file = \"tmk.hex\"\ntmk_kcv = \"{kcv}\"\njournal = \"terminal.db\"\nkey_scheme = \"001\"\n\
         timeout_ms = 500\nconnect_timeout_ms = 500\n\
         [[operators]]\nnumber = \"00\"\nrole = \"supervisor\"\npassword = \"123456\"\n\
         [[operators]]\nnumber = \"01\"\nrole = \"cashier\"\npassword = \"0101\"\n"
    );
    let path = dir.join("terminal.toml");
    std::fs::write(&path, text).unwrap();
    TerminalConfig::load(&path).unwrap()
}

fn open(config: &TerminalConfig) -> Pos {
    let mut terminal = Terminal::open(config.clone()).unwrap();
    terminal.log_in("01", &Secret::new(b"0101")).unwrap();
    Pos::new(terminal)
}

fn card() -> Card {
    Card {
        pan: domain::Pan::new(PAN).unwrap(),
        entry: Entry::Swipe,
        track2: Some(TRACK2.into()),
        expiry_yymm: None,
        sequence_number: None,
        icc_data: None,
        chip: None,
        fallback: false,
    }
}

fn sale(amount_minor: u64) -> TxnRequest {
    TxnRequest {
        kind: Some(Kind::Purchase),
        card: Some(card()),
        amount_minor: Some(amount_minor),
        pin: Some(Secret::new(b"123456")),
        ..TxnRequest::default()
    }
}

fn supervisor() -> Secret {
    Secret::new(b"123456")
}

#[tokio::test]
async fn sign_on_sale_void_refund_and_settlement() {
    let (host, address) = start_host().await;
    let dir = dir("day");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    assert!(pos.terminal().self_check().iter().all(|c| c.ok));
    let signed = pos.sign_on().await.unwrap();
    assert!(signed.approved);
    assert_eq!(pos.terminal().batch_no(), HOST_BATCH, "the batch number comes from 60.2");

    // The reversal record is on disk before the request can go out; the answer clears it.
    let out = pos.terminal_mut().begin(&sale(1_234)).unwrap();
    assert_eq!(pos.terminal().pending_reversal().unwrap().map(|r| r.1), Some("98".into()));
    assert_eq!(out.message.get_str(63), Some("001"), "the operator's number in 63");
    assert!(out.message.has(52) && out.message.has(64));
    pos.terminal_mut().abandon(&out).unwrap();

    let outcome = pos.transact(&sale(1_234)).await.unwrap();
    assert!(outcome.approved, "{outcome:?}");
    assert_eq!(outcome.rrn.as_deref(), Some("123456789012"));
    assert_eq!(outcome.auth_code.as_deref(), Some("AB1234"));
    assert!(pos.terminal().pending_reversal().unwrap().is_none());

    // Void needs the supervisor's password; a wrong one is refused before anything is sent.
    let void = |password: &[u8]| TxnRequest {
        kind: Some(Kind::Void),
        original_trace: Some(outcome.trace.clone()),
        supervisor_password: Some(Secret::new(password)),
        ..TxnRequest::default()
    };
    let sent = host.seen.lock().unwrap().len();
    assert!(matches!(pos.transact(&void(b"999999")).await, Err(TerminalError::Input(_))));
    assert_eq!(host.seen.lock().unwrap().len(), sent);
    let voided = pos.transact(&void(b"123456")).await.unwrap();
    assert!(voided.approved);
    assert_eq!(voided.amount_minor, Some(1_234), "a void is for the original amount");
    assert!(pos.transact(&void(b"123456")).await.is_err(), "a voided sale cannot be voided again");

    let second = pos.transact(&sale(500)).await.unwrap();
    let refund = TxnRequest {
        kind: Some(Kind::Refund),
        amount_minor: Some(200),
        original_trace: Some(second.trace.clone()),
        supervisor_password: Some(supervisor()),
        ..TxnRequest::default()
    };
    assert!(pos.transact(&refund).await.unwrap().approved);

    let totals = pos.terminal().totals().unwrap();
    assert_eq!((totals.domestic_debit_minor, totals.domestic_debit_count), (1_734, 2));
    assert_eq!((totals.domestic_credit_minor, totals.domestic_credit_count), (1_434, 2));
    assert!(pos.settle(&Secret::new(b"000000")).await.is_err(), "settlement needs the supervisor");
    let settled = pos.settle(&supervisor()).await.unwrap();
    assert!(settled.domestic_balanced && settled.foreign_balanced);
    assert_eq!(settled.field48, "00000000173400200000000143400200000000000000000000000000000000");
    assert_eq!(settled.next_batch_no, HOST_BATCH + 1);
    assert!(pos.terminal().entries().unwrap().is_empty(), "the new batch is empty");
    let off = pos.sign_off().await.unwrap();
    assert_eq!(off.code_text(), "00");
    assert!(!pos.terminal().signed_on());
}

#[tokio::test]
async fn a_timed_out_sale_is_reversed_98_before_the_next_one_even_after_a_restart() {
    let (host, address) = start_host().await;
    let dir = dir("timeout");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    *host.mode.lock().unwrap() = Mode::Silent;
    let outcome = pos.transact(&sale(900)).await.unwrap();
    assert!(!outcome.approved);
    assert_eq!(outcome.reversal_pending.as_deref(), Some("98"));
    let trace = outcome.trace.clone();
    drop(pos);

    // Power off and on: the record is still there, and sent first.
    let mut pos = open(&config);
    assert_eq!(pos.terminal().pending_reversal().unwrap(), Some((trace.clone(), "98".into())));
    let refused = pos.terminal_mut().begin(&sale(100)).map(|out| out.message.get_str(11).map(str::to_owned));
    let owed = format!("a reversal (98, trace {trace}) must be sent first");
    assert!(matches!(&refused, Err(TerminalError::State(m)) if *m == owed), "{refused:?}");
    *host.mode.lock().unwrap() = Mode::Normal;
    let next = pos.transact(&sale(100)).await.unwrap();
    assert!(next.approved);
    assert!(pos.terminal().pending_reversal().unwrap().is_none());
    let seen = host.seen.lock().unwrap().clone();
    let reversal = seen.iter().position(|(mti, t, reason)| mti == "0400" && *t == trace && reason == "98");
    let next_sale = seen.iter().position(|(mti, t, _)| mti == "0200" && *t == next.trace);
    assert!(reversal.is_some() && reversal < next_sale, "{seen:?}");
    assert_eq!(seen.iter().filter(|(mti, _, _)| mti == "0400").count(), 1, "sent exactly once");
}

/// A refund (an advice, 0220) without an answer is never reversed: its record stays on disk and
/// it is sent again — under its own trace — before the next sale, even after a restart, and an
/// answer of 94 (the host still deciding the first copy) keeps it owed. Its approval journals
/// it, so the batch's totals count it (found by the simulation: a refund the acquirer approved,
/// whose answer was lost, left the terminal's batch unbalanced).
#[tokio::test]
async fn a_refund_without_an_answer_is_sent_again_until_answered() {
    let (host, address) = start_host().await;
    let dir = dir("advice");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    let bought = pos.transact(&sale(500)).await.unwrap();
    assert!(bought.approved);
    let refund = TxnRequest {
        kind: Some(Kind::Refund),
        amount_minor: Some(200),
        original_trace: Some(bought.trace.clone()),
        supervisor_password: Some(supervisor()),
        ..TxnRequest::default()
    };
    *host.mode.lock().unwrap() = Mode::Silent;
    let lost = pos.transact(&refund).await.unwrap();
    assert!(!lost.approved && lost.advice_pending && lost.reversal_pending.is_none(), "{lost:?}");
    assert_eq!(pos.terminal().pending_advice().unwrap(), Some((lost.trace.clone(), "refund".into())));
    assert!(
        matches!(pos.terminal_mut().settlement_request(Some(&supervisor())), Err(TerminalError::State(_))),
        "no settlement while an advice is owed"
    );
    drop(pos);

    let mut pos = open(&config);
    let refused = pos.terminal_mut().begin(&sale(100)).map(|out| out.message.get_str(11).map(str::to_owned));
    let owed = format!("the refund advice (trace {}) must be sent first", lost.trace);
    assert!(matches!(&refused, Err(TerminalError::State(m)) if *m == owed), "{refused:?}");
    *host.mode.lock().unwrap() = Mode::Duplicate;
    let again = pos.terminal_mut().advice_request().unwrap().expect("still owed after the restart");
    assert_eq!(again.message.get_str(11), Some(lost.trace.as_str()), "the same trace");
    assert_eq!(again.message.mti().to_string(), "0220");
    assert!(matches!(pos.transact(&sale(100)).await, Err(TerminalError::State(_))), "94 keeps it owed");
    assert!(pos.terminal().pending_advice().unwrap().is_some());

    *host.mode.lock().unwrap() = Mode::Normal;
    let next = pos.transact(&sale(100)).await.unwrap();
    assert!(next.approved);
    assert!(pos.terminal().pending_advice().unwrap().is_none());
    let entries = pos.terminal().entries().unwrap();
    assert!(entries.iter().any(|e| e.trace.to_string() == lost.trace && e.status == "approved"), "journaled");
    let totals = pos.terminal().totals().unwrap();
    assert_eq!((totals.domestic_credit_minor, totals.domestic_credit_count), (200, 1));
    let seen = host.seen.lock().unwrap().clone();
    let advices = seen.iter().filter(|(mti, t, _)| mti == "0220" && *t == lost.trace).count();
    let resent = seen.iter().rposition(|(mti, t, _)| mti == "0220" && *t == lost.trace);
    let next_sale = seen.iter().position(|(mti, t, _)| mti == "0200" && *t == next.trace);
    assert!(advices >= 3 && resent < next_sale, "{seen:?}");
}

/// The host closes a link idle past its idle timeout (a cashier's screen stays connected between
/// sales): the next sale opens a new link instead of timing out into a 98 reversal.
/// A 94 answers a copy of the request while the host holds the original under the same trace,
/// its outcome unknown to the terminal: the sale is not approved and its reversal stays pending,
/// sent before the next sale (found by the simulation, seed 10: a purchase the acquirer approved
/// stood at the issuer while its terminal showed "duplicate").
#[tokio::test]
async fn a_sale_answered_duplicate_is_reversed_before_the_next_one() {
    let (host, address) = start_host().await;
    let dir = dir("duplicate");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    *host.mode.lock().unwrap() = Mode::Duplicate;
    let outcome = pos.transact(&sale(900)).await.unwrap();
    assert!(!outcome.approved);
    assert_eq!(outcome.code_text(), "94");
    assert_eq!(outcome.reversal_pending.as_deref(), Some("98"));
    assert!(pos.terminal().entries().unwrap().is_empty(), "not journaled");
    *host.mode.lock().unwrap() = Mode::Normal;
    assert!(pos.transact(&sale(100)).await.unwrap().approved);
    let seen = host.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|(mti, t, reason)| mti == "0400" && *t == outcome.trace && reason == "98"), "{seen:?}");
}

#[tokio::test]
async fn a_link_the_host_closed_while_idle_is_reopened_for_the_next_sale() {
    let (host, address) = start_host_with(ServerConfig { idle_timeout_ms: 100, ..ServerConfig::default() }).await;
    let dir = dir("idle");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    assert!(pos.sign_on().await.unwrap().approved);
    // Past the host's idle timeout: it has closed the link.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let outcome = pos.transact(&sale(300)).await.unwrap();
    assert!(outcome.approved, "{outcome:?}");
    assert!(pos.terminal().pending_reversal().unwrap().is_none());
    let seen = host.seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|(mti, _, _)| mti == "0400"), "nothing to reverse: {seen:?}");
}

#[tokio::test]
async fn a_forged_response_mac_is_reversed_a0() {
    let (host, address) = start_host().await;
    let dir = dir("forged");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    *host.mode.lock().unwrap() = Mode::ForgeMac;
    let outcome = pos.transact(&sale(700)).await.unwrap();
    assert!(!outcome.approved);
    assert_eq!(outcome.code_text(), "A0");
    assert_eq!(outcome.reversal_pending.as_deref(), Some("A0"));
    assert!(pos.terminal().entries().unwrap().is_empty(), "not journaled");
    *host.mode.lock().unwrap() = Mode::Normal;
    assert!(pos.transact(&sale(100)).await.unwrap().approved);
    let seen = host.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|(mti, t, reason)| mti == "0400" && *t == outcome.trace && reason == "A0"), "{seen:?}");
}

#[tokio::test]
async fn operators_passwords_are_checked_and_stored_hashed() {
    let dir = dir("operators");
    let config = config(&dir, "127.0.0.1:9", None);
    let mut terminal = Terminal::open(config.clone()).unwrap();
    assert!(terminal.log_in("01", &Secret::new(b"9999")).is_err());
    assert!(terminal.log_in("02", &Secret::new(b"0101")).is_err());
    assert_eq!(terminal.log_in("01", &Secret::new(b"0101")).unwrap(), terminal::Role::Cashier);
    assert!(terminal.authorise_supervisor(Some(&Secret::new(b"0101"))).is_err());
    terminal.authorise_supervisor(Some(&supervisor())).unwrap();
    terminal.set_operator(&supervisor(), "02", terminal::Role::Cashier, &Secret::new(b"2222")).unwrap();
    assert!(
        terminal.set_operator(&Secret::new(b"0101"), "03", terminal::Role::Cashier, &Secret::new(b"3333")).is_err()
    );
    assert!(terminal.log_in("02", &Secret::new(b"2222")).is_ok());
    drop(terminal);
    let bytes = std::fs::read(dir.join("terminal.db")).unwrap();
    let wal = std::fs::read(dir.join("terminal.db-wal")).unwrap_or_default();
    for password in [&b"123456"[..], b"2222"] {
        assert!(!bytes.windows(password.len()).any(|w| w == password), "no clear password on disk");
        assert!(!wal.windows(password.len()).any(|w| w == password), "no clear password in the WAL");
    }
}

#[tokio::test]
async fn self_check_reports_a_wrong_tmk_and_the_backup_host_is_used() {
    let (_host, address) = start_host().await;
    let dir = dir("selfcheck");
    let mut config = config(&dir, "127.0.0.1:1", Some(&address));
    let mut pos = open(&config);
    assert!(pos.sign_on().await.unwrap().approved);
    assert_eq!(pos.host(), Some((address.as_str(), true)));
    assert!(pos.notices().iter().any(|n| n.contains("backup")), "{:?}", pos.notices());
    drop(pos);
    config.tmk_kcv = "000000".into();
    match Terminal::open(config) {
        Err(TerminalError::SelfCheck(items)) => {
            assert!(items.iter().any(|i| i.item == "tmk" && !i.ok && !i.remedy.is_empty()));
        }
        other => panic!("expected a self-check failure, got {other:?}"),
    }
}

/// A chip that answers GENERATE AC with a fixed field 55 and accepts or refuses the issuer,
/// recording what the terminal gave it.
struct ScriptedChip {
    accepts_issuer: bool,
    generated: Vec<cardsim::TerminalData>,
    authenticated: Vec<Vec<u8>>,
}

impl cardsim::ChipCard for ScriptedChip {
    fn generate_ac(&mut self, terminal: &cardsim::TerminalData) -> cardsim::Result<Vec<u8>> {
        self.generated.push(terminal.clone());
        let mut field55 = Vec::new();
        iso8583::tlv::write_element(&[0x9F, 0x26], &[0xA5; 8], &mut field55);
        Ok(field55)
    }

    fn external_authenticate(&mut self, issuer_authentication_data: &[u8]) -> cardsim::Result<bool> {
        self.authenticated.push(issuer_authentication_data.to_vec());
        Ok(self.accepts_issuer)
    }

    fn complete_transaction(&mut self, arc: [u8; 2]) -> cardsim::Result<Vec<u8>> {
        assert_eq!(&arc, b"00", "the approval's response code");
        let mut field55 = Vec::new();
        iso8583::tlv::write_element(&[0x9F, 0x26], &[0x7C; 8], &mut field55);
        iso8583::tlv::write_element(&[0x9F, 0x27], &[0x40], &mut field55);
        Ok(field55)
    }
}

fn chip_card(entry: Entry, accepts_issuer: bool) -> (Card, Arc<Mutex<ScriptedChip>>) {
    let chip = Arc::new(Mutex::new(ScriptedChip { accepts_issuer, generated: Vec::new(), authenticated: Vec::new() }));
    let shared: terminal::SharedChip = chip.clone();
    let card = Card { entry, sequence_number: Some("001".into()), chip: Some(shared), ..card() };
    (card, chip)
}

#[tokio::test]
async fn an_inserted_card_computes_the_arqc_and_its_refusal_of_the_issuer_reverses_06() {
    let (host, address) = start_host().await;
    let dir = dir("chip");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);

    // Inserted, accepted: the chip got this sale's amount and type; its ARPC check passed.
    let (card, chip) = chip_card(Entry::Chip, true);
    let outcome = pos.transact(&TxnRequest { card: Some(card), ..sale(1_234) }).await.unwrap();
    assert!(outcome.approved, "{outcome:?}");
    {
        let chip = chip.lock().unwrap();
        assert_eq!(chip.generated.len(), 1);
        assert_eq!(chip.generated[0].amount_minor, 1_234);
        assert_eq!(chip.generated[0].transaction_type, cardsim::TransactionType::Goods);
        assert_eq!((chip.generated[0].currency.as_str(), chip.generated[0].date_yymmdd.len()), ("156", 6));
        assert_eq!(chip.authenticated, vec![b"ARPC-8B!00".to_vec()]);
    }
    // Its void prints the original's entry mode (I), though the card is not read again.
    let void = pos
        .transact(&TxnRequest {
            kind: Some(Kind::Void),
            original_trace: Some(outcome.trace.clone()),
            supervisor_password: Some(supervisor()),
            ..TxnRequest::default()
        })
        .await
        .unwrap();
    assert!(void.approved);
    let slip = void.receipt_text(receipt::Lang::En).unwrap();
    assert!(slip.contains("/I"), "{slip}");

    // Inserted, refusing the issuer: not approved, reversed with 06 before the next sale.
    let (card, chip) = chip_card(Entry::Chip, false);
    let refused = pos.transact(&TxnRequest { card: Some(card), ..sale(2_000) }).await.unwrap();
    assert!(!refused.approved);
    assert_eq!((refused.code_text(), refused.reversal_pending.as_deref()), ("06", Some("06")));
    assert!(refused.receipt.is_none());
    assert_eq!(chip.lock().unwrap().authenticated.len(), 1);

    // Tapped: the card is gone after the ARQC; nothing asks it about the issuer.
    let (card, chip) = chip_card(Entry::Contactless, false);
    let tapped = pos.transact(&TxnRequest { card: Some(card), ..sale(300) }).await.unwrap();
    assert!(tapped.approved, "{tapped:?}");
    assert_eq!(chip.lock().unwrap().generated.len(), 1);
    assert!(chip.lock().unwrap().authenticated.is_empty());
    let seen = host.seen.lock().unwrap().clone();
    let reversal = seen.iter().position(|(mti, t, reason)| mti == "0400" && *t == refused.trace && reason == "06");
    let next = seen.iter().position(|(mti, t, _)| mti == "0200" && *t == tapped.trace);
    assert!(reversal.is_some() && reversal < next, "{seen:?}");

    // A swiped sale too, then settlement (the fake host says balanced): each chip approval is
    // uploaded with its TC (inserted) or its ARQC (tapped) in 0320/203 under its own trace,
    // then the 207 end; the stripe sale and the void are not uploaded one by one.
    let swiped = pos.transact(&sale(400)).await.unwrap();
    assert!(swiped.approved);
    let settled = pos.settle(&supervisor()).await.unwrap();
    assert!(settled.domestic_balanced, "{settled:?}");
    let uploads = host.uploads.lock().unwrap().clone();
    let tc = |trace: &str| uploads.iter().find(|(t, _, _)| t == trace).cloned();
    let (_, f60, f55) = tc(&outcome.trace).expect("the inserted sale is uploaded");
    assert!(f60.ends_with("203"), "{f60}");
    let f55 = f55.unwrap();
    assert_eq!(iso8583::tlv::find(&f55, &[0x9F, 0x27]).unwrap(), Some(&[0x40][..]), "a TC");
    assert_eq!(iso8583::tlv::find(&f55, &[0x9F, 0x26]).unwrap(), Some(&[0x7C; 8][..]));
    let (_, f60, f55) = tc(&tapped.trace).expect("the tapped sale is uploaded");
    assert!(f60.ends_with("203"));
    assert_eq!(iso8583::tlv::find(&f55.unwrap(), &[0x9F, 0x27]).unwrap(), None, "the scripted ARQC as sent");
    assert!(tc(&swiped.trace).is_none() && tc(&void.trace).is_none(), "{uploads:?}");
    assert!(uploads.last().unwrap().1.ends_with("207"));
    assert_eq!(uploads.len(), 3);
}

/// Hostile or broken host answers never panic the terminal core, and its reversal record
/// always says what happened: a financial answer leaves the sale approved (journaled, no
/// reversal pending), declined (nothing pending), or not approved with a reason pending; the
/// sign-on and settlement readers take any answer without panicking.
mod hostile_host {
    use super::*;
    use proptest::prelude::*;

    fn signed_on(dir: &std::path::Path) -> Terminal {
        let mut terminal = Terminal::open(config(dir, "127.0.0.1:9", None)).unwrap();
        terminal.log_in("01", &Secret::new(b"0101")).unwrap();
        let out = terminal.sign_on_request().unwrap();
        let mut response = out.message.response(&[11, 41, 42]).unwrap();
        response.set_str(39, "00").unwrap();
        response.set_str(60, &format!("00{HOST_BATCH:06}001")).unwrap();
        response.set(62, &field62()).unwrap();
        assert!(terminal.on_sign_on_response(&response).unwrap().approved);
        terminal
    }

    /// Set what the spec takes; a value it refuses stays unset (the codec decides, not us).
    fn try_set(message: &mut Message, field: u8, value: &[u8]) {
        let _ = message.set(field, value);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn any_answer_to_a_sale_is_decided_and_recorded(
            code in prop_oneof![Just("00".to_owned()), Just("51".to_owned()), Just("A0".to_owned()),
                                Just("77".to_owned()), "[ -~]{2}"],
            field55 in proptest::collection::vec(any::<u8>(), 0..40),
            field63 in proptest::collection::vec(any::<u8>(), 0..12),
            field54 in "[ -~]{0,40}",
            field37 in "[ -~]{0,12}",
            field38 in "[ -~]{0,6}",
            other_trace in any::<bool>(),
            good_mac in any::<bool>(),
            inserted in any::<bool>(),
        ) {
            let dir = dir("hostile-sale");
            let mut terminal = signed_on(&dir);
            let (card, _chip) = chip_card(if inserted { Entry::Chip } else { Entry::Contactless }, true);
            let out = terminal.begin(&TxnRequest { card: Some(card), ..sale(1_000) }).unwrap();
            prop_assert_eq!(terminal.pending_reversal().unwrap().map(|r| r.1), Some("98".to_owned()));
            let mut response = out.message.response(&[2, 3, 4, 11, 22, 25, 41, 42, 49, 60]).unwrap();
            try_set(&mut response, 39, code.as_bytes());
            try_set(&mut response, 55, &field55);
            try_set(&mut response, 63, &field63);
            try_set(&mut response, 54, field54.as_bytes());
            try_set(&mut response, 37, field37.as_bytes());
            try_set(&mut response, 38, field38.as_bytes());
            if other_trace {
                response.set_str(11, "999999").unwrap();
            }
            if good_mac {
                mac(&mut response);
            } else {
                response.set(64, &[0u8; 8]).unwrap();
            }
            let decided = terminal.on_response(&out, &response);
            let pending = terminal.pending_reversal().unwrap().map(|r| r.1);
            match decided {
                Ok(outcome) if outcome.approved => {
                    prop_assert!(pending.is_none(), "approved, yet {:?} pending", pending);
                    prop_assert!(outcome.receipt.is_some());
                    prop_assert_eq!(terminal.entries().unwrap().len(), 1);
                }
                Ok(outcome) => {
                    prop_assert_eq!(pending, outcome.reversal_pending.clone(), "{:?}", outcome);
                    prop_assert!(outcome.receipt.is_none());
                    prop_assert!(terminal.entries().unwrap().is_empty());
                }
                // Not decided (the journal failed): the record must still reverse it.
                Err(_) => prop_assert!(pending.is_some()),
            }
            drop(terminal);
            let _ = std::fs::remove_dir_all(&dir);
        }

        #[test]
        fn any_sign_on_or_settlement_answer_is_read_without_panicking(
            code in "[ -~]{2}",
            field62 in proptest::collection::vec(any::<u8>(), 0..70),
            field60 in "[0-9]{0,14}",
            field48 in "[0-9]{0,62}",
        ) {
            let dir = dir("hostile-admin");
            let mut terminal = signed_on(&dir);
            let out = terminal.sign_on_request().unwrap();
            let mut response = out.message.response(&[11, 41, 42]).unwrap();
            try_set(&mut response, 39, code.as_bytes());
            try_set(&mut response, 62, &field62);
            try_set(&mut response, 60, field60.as_bytes());
            let _ = terminal.on_sign_on_response(&response);
            let _ = terminal.on_settlement_response(&{
                let mut settlement = out.message.response(&[11, 41, 42]).unwrap();
                try_set(&mut settlement, 39, code.as_bytes());
                try_set(&mut settlement, 48, field48.as_bytes());
                settlement
            });
            drop(terminal);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Issue 12 point 5: the balance answer's field 54 has the ledger and the available balance;
/// the cashier is shown the available one, as amounts, not the raw field.
#[tokio::test]
async fn a_balance_inquiry_shows_the_available_balance() {
    let (host, address) = start_host().await;
    let dir = dir("balance");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    let request = TxnRequest {
        kind: Some(Kind::Balance),
        card: Some(card()),
        pin: Some(Secret::new(b"123456")),
        ..TxnRequest::default()
    };
    let outcome = pos.transact(&request).await.unwrap();
    assert!(outcome.approved, "{outcome:?}");
    let balance = outcome.balance.clone().expect("a balance");
    assert_eq!(
        (balance.available_minor, balance.ledger_minor, balance.currency.as_str()),
        (100_000, Some(120_000), "CNY")
    );
    assert_eq!(balance.to_string(), "available 1,000.00 CNY (ledger 1,200.00 CNY)");
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["balance"]["available_minor"], 100_000);
    assert_eq!(json["balance"]["ledger_minor"], 120_000);
    assert_eq!(json["balance"]["currency"], "CNY");
    // The slip prints the available balance too.
    let slip = outcome.receipt_text(receipt::Lang::En).unwrap();
    assert!(slip.contains("1000.00") && !slip.contains("1200.00"), "{slip}");
    // An overdrawn account: the debit keeps its sign on the screen and on the slip.
    *host.mode.lock().unwrap() = Mode::Overdrawn;
    let outcome = pos.transact(&request).await.unwrap();
    assert_eq!(
        outcome.balance.as_ref().map(ToString::to_string).as_deref(),
        Some("available -5.00 CNY (ledger 0.00 CNY)")
    );
    let slip = outcome.receipt_text(receipt::Lang::En).unwrap();
    assert!(slip.contains("RMB -5.00"), "{slip}");
}

/// Issue 12 point 7: a chip card (service code 2xx) is not swiped while its chip reads; after
/// a failed chip read the swipe goes out as a fallback (22 = 02x, 60.5 = 2, reference §2).
#[tokio::test]
async fn a_chip_card_is_swiped_only_as_a_fallback_after_its_chip_fails() {
    let (host, address) = start_host().await;
    let dir = dir("fallback");
    let config = config(&dir, &address, None);
    let mut pos = open(&config);
    assert!(pos.sign_on().await.unwrap().approved);
    // A chip card's stripe handed to the terminal as a plain swipe: refused, nothing sent.
    let swiped = Card { track2: Some(CHIP_TRACK2.into()), ..card() };
    let sent = host.seen.lock().unwrap().len();
    let refused = pos.transact(&TxnRequest { card: Some(swiped), ..sale(100) }).await;
    assert!(matches!(&refused, Err(TerminalError::Card(m)) if m.contains("insert the chip")), "{refused:?}");
    assert_eq!(host.seen.lock().unwrap().len(), sent, "nothing went out");
    assert!(pos.terminal().pending_reversal().unwrap().is_none());

    // The reader asks for the chip first: a card whose chip reads is not taken by its stripe.
    let sim = terminal::SimCard::stripe(PAN, "2806", CHIP_TRACK2, None)
        .unwrap()
        .with_chip(CHIP_TRACK2, "01", Secret::new(&[0x11; 16]), 0)
        .unwrap();
    let sim = Arc::new(Mutex::new(sim));
    let read = Card::read(&sim, Entry::Swipe);
    assert!(matches!(&read, Err(TerminalError::Card(m)) if m.contains("insert the chip")), "{read:?}");
    // Its chip fails to read: inserting it says so, and then the swipe is a fallback.
    sim.lock().unwrap().set_chip_fails(true);
    let inserted = Card::read(&sim, Entry::Chip);
    assert!(matches!(&inserted, Err(TerminalError::Card(m)) if m.contains("cannot be read")), "{inserted:?}");
    let card = Card::read(&sim, Entry::Swipe).unwrap();
    assert!(card.fallback);
    let request = TxnRequest { card: Some(card), ..sale(100) };
    let out = pos.terminal_mut().begin(&request).unwrap();
    assert_eq!(out.message.get_str(22), Some("021"));
    assert_eq!(out.message.get_path("60.5").unwrap(), Some(&b"2"[..]), "the fallback indicator");
    pos.terminal_mut().abandon(&out).unwrap();
    let outcome = pos.transact(&request).await.unwrap();
    assert!(outcome.approved, "{outcome:?}");
    // A stripe-only card swipes without any of this.
    assert!(pos.transact(&sale(100)).await.unwrap().approved);
}

/// Issue 12 point 4: at `batch_limit` records the terminal refuses new transactions ("batch
/// full: settle now") until the batch is settled; the limit is validated (1 to 999, what field
/// 48's three-digit counts carry; default 500).
#[tokio::test]
async fn a_full_batch_is_refused_until_it_is_settled() {
    let (host, address) = start_host().await;
    let dir = dir("batch-limit");
    let mut config = config(&dir, &address, None);
    assert_eq!(config.batch_limit, 500, "the default");
    for bad in [0, 1_000] {
        config.batch_limit = bad;
        assert!(matches!(config.check(), Err(TerminalError::Config(m)) if m.contains("batch_limit")), "{bad}");
    }
    config.batch_limit = 3;
    config.check().unwrap();
    let mut pos = open(&config);
    // The count the terminal keeps, and the journal's.
    let counts = |pos: &Pos| (pos.terminal().batch_count().unwrap(), pos.terminal().entries().unwrap().len() as u64);
    for _ in 0..3 {
        assert!(pos.transact(&sale(100)).await.unwrap().approved);
    }
    assert_eq!(counts(&pos), (3, 3));
    assert!(pos.terminal().batch_full());
    let sent = host.seen.lock().unwrap().len();
    let full = pos.transact(&sale(100)).await;
    assert!(
        matches!(&full, Err(TerminalError::State(m)) if m.contains("batch full: settle now") && m.contains("3 of 3")),
        "{full:?}"
    );
    assert_eq!(host.seen.lock().unwrap().len(), sent, "nothing went out");
    assert!(pos.terminal().pending_reversal().unwrap().is_none(), "no reversal owed");
    // A balance inquiry adds nothing to the batch: still allowed.
    let balance = TxnRequest { kind: Some(Kind::Balance), card: Some(card()), pin: Some(supervisor()), ..sale(0) };
    assert!(pos.transact(&TxnRequest { amount_minor: None, ..balance }).await.unwrap().approved);
    let settled = pos.settle(&supervisor()).await.unwrap();
    assert_eq!(settled.totals.domestic_debit_count, 3);
    assert_eq!(counts(&pos), (0, 0));
    assert!(pos.transact(&sale(100)).await.unwrap().approved, "a new batch takes transactions again");
    drop(pos);
    assert_eq!(counts(&open(&config)), (1, 1), "counted again at power-on");
}
