//! The terminal keeps its working keys as ciphers made at sign-on (`keys::WorkingKeys`): a
//! purchase's PIN block (52), enciphered track (35) and MAC (64) are exactly what `hsm`'s
//! byte-key functions give under the clear PIK, TDK and MAK — after a sign-on, and after a
//! restart that installs the keys again from the sealed copy on disk.

use hsm::Secret;
use hsm::cipher::Cipher;
use hsm::pinblock::PinFormat;
use iso8583::Message;
use terminal::install::{Installation, install};
use terminal::{Card, EntryMode, Kind, Terminal, TerminalConfig, TxnRequest};

/// The TMK the two components below make (0x11 ⊕ 0x22).
const TMK: [u8; 16] = [0x33; 16];
const PIK: [u8; 16] = *b"\x13\x57\x9B\xDF\x02\x46\x8A\xCE\xFE\xDC\xBA\x98\x76\x54\x32\x10";
const MAK: [u8; 8] = [0x7F, 0x52, 0xE3, 0x20, 0x1F, 0xDF, 0x04, 0x5E];
const TDK: [u8; 16] = *b"\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10";
/// Sign-on scheme 004: a double-length PIK, the MAK, and a TDK.
const SCHEME_WITH_TDK: &str = "004";
const PAN: &str = "6224242900000113";
const TRACK2: &str = "6224242900000113=28061010000000000";
const HOST_BATCH: u32 = 7;

/// A terminal installed in a fresh folder: the folder and its configuration.
fn installed(name: &str) -> (std::path::PathBuf, TerminalConfig) {
    let dir = std::env::temp_dir().join(format!("cardnet-terminal-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let installation = Installation {
        terminal_id: "POS00011".into(),
        merchant_id: "898440158120001".into(),
        merchant_name: None,
        primary: "127.0.0.1:9".into(),
        backup: None,
        key_scheme: SCHEME_WITH_TDK.into(),
        operators: vec![
            ("00".into(), "supervisor".into(), "123456".into()),
            ("01".into(), "cashier".into(), "0101".into()),
        ],
    };
    let components = [Secret::new(&[0x11; 16]), Secret::new(&[0x22; 16])];
    let done = install(&dir, &installation, &components).unwrap();
    let config = TerminalConfig::load(&done.config_path).unwrap();
    (dir, config)
}

/// Field 62 of scheme 004: each key under the TMK with its check value; the MAK's slot is 16
/// bytes, its second half zero.
fn field62() -> Vec<u8> {
    let tmk = Cipher::tdes(&TMK).unwrap();
    let mut out = Vec::new();
    for (key, slot) in [(&PIK[..], 16), (&MAK[..], 16), (&TDK[..], 16)] {
        let mut encrypted = key.to_vec();
        tmk.ecb_encrypt(&mut encrypted).unwrap();
        encrypted.resize(slot, 0);
        out.extend_from_slice(&encrypted);
        out.extend_from_slice(&hsm::signon::sign_on_kcv(key).unwrap());
    }
    out
}

fn sign_on(terminal: &mut Terminal) {
    let request = terminal.sign_on_request().unwrap();
    let mut response = request.message.response(&[11, 41, 42]).unwrap();
    response.set_str(39, "00").unwrap();
    response.set_str(60, &format!("00{HOST_BATCH:06}{SCHEME_WITH_TDK}")).unwrap();
    response.set(62, &field62()).unwrap();
    assert!(terminal.on_sign_on_response(&response).unwrap().approved);
}

fn purchase(pin: &Secret) -> TxnRequest {
    TxnRequest {
        kind: Some(Kind::Purchase),
        card: Some(Card {
            entry: EntryMode::Swipe,
            track2: Some(TRACK2.into()),
            ..Card::keyed(domain::Pan::new(PAN).unwrap())
        }),
        amount_minor: Some(1_234),
        pin: Some(pin.clone()),
        ..TxnRequest::default()
    }
}

/// 52, 35 and 64 of `message` against the byte-key functions over the clear keys.
fn assert_as_the_byte_key_functions(message: &Message, pin: &Secret) {
    let block = hsm::pinblock::encrypt_pin(PinFormat::Iso0, &PIK, pin, Some(PAN)).unwrap();
    assert_eq!(message.get(52), Some(&block[..]), "PIN block");
    let track = hsm::track::encrypt(&TDK, TRACK2).unwrap();
    assert_eq!(message.get_str(35), Some(track.as_str()), "track 2");
    let mac = hsm::mac::cup_ecb_mac(&MAK, &Terminal::mab(message).unwrap()).unwrap();
    assert_eq!(message.get(64), Some(&mac[..]), "MAC");
}

#[test]
fn a_purchase_is_enciphered_and_maced_as_the_byte_key_functions_do() {
    let (dir, config) = installed("purchase");
    let mut terminal = Terminal::open(config.clone()).unwrap();
    terminal.log_in("01", &Secret::new(b"0101")).unwrap();
    sign_on(&mut terminal);
    for pin in [Secret::new(b"123456"), Secret::new(b"0000"), Secret::new(b"987654321012")] {
        let out = terminal.begin(&purchase(&pin)).unwrap();
        assert_as_the_byte_key_functions(&out.message, &pin);
        terminal.abandon(&out).unwrap();
    }
    assert!(!format!("{terminal:?}").contains("13579B"), "no key in Debug");

    // Power-on again: the keys come back from the sealed copy, their ciphers made again.
    drop(terminal);
    let mut terminal = Terminal::open(config).unwrap();
    terminal.log_in("01", &Secret::new(b"0101")).unwrap();
    assert!(terminal.signed_on());
    let pin = Secret::new(b"4321");
    let out = terminal.begin(&purchase(&pin)).unwrap();
    assert_as_the_byte_key_functions(&out.message, &pin);
    drop(terminal);
    std::fs::remove_dir_all(&dir).unwrap();
}
