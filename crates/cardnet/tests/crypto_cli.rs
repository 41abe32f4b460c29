//! `cardnet crypto` driven as a user scripts it, over the 78 reference vectors in
//! crates/hsm/tests/data/payment-crypto-vectors.json: every vector the calculator can express
//! is run through the binary with `--json` and its expected values compared. Where a vector's
//! value is an intermediate the CLI does not print (a TDES DUKPT transaction key, an EMV
//! session key from an arbitrary R), it is checked by composing CLI commands (a one-block
//! `iso9797-1-1` MAC is a DES/TDES encryption) or against the CLI's own output; what no
//! command can reach is listed, with the reason. Then CVV/PVV, random-fill round trips, the
//! human-readable form, and bad input (exit 2, one line on stderr).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use hsm::Secret;
use hsm::cipher::{Cipher, set_odd_parity, xor};
use iso8583::hex;
use serde_json::{Map, Value};

/// Vectors no `cardnet crypto` command can express, with the reason.
const NOT_EXPRESSIBLE: &[(&str, &str)] = &[];

/// Expected values (`vector id prefix`, `name`) the CLI cannot produce, with the reason. The
/// vector itself is covered by its other values.
const VALUES_NOT_EXPRESSIBLE: &[(&str, &str, &str)] = &[
    (
        "dukpt-aes",
        "transaction_derivation_key",
        "an AES DUKPT intermediate: `dukpt` prints the initial key and the working key",
    ),
    (
        "dukpt-aes128-ctr-1",
        "mac_verification_key",
        "`dukpt --usage` offers pin, mac (generation) and data (encryption)",
    ),
    ("dukpt-aes128-ctr-1", "mac_both_key", "`dukpt --usage` offers pin, mac (generation) and data (encryption)"),
    ("dukpt-aes128-ctr-1", "data_decrypt_key", "`dukpt --usage` offers pin, mac (generation) and data (encryption)"),
    ("dukpt-aes128-ctr-1", "data_both_key", "`dukpt --usage` offers pin, mac (generation) and data (encryption)"),
    ("dukpt-aes128-ctr-1", "key_encryption_key", "`dukpt --usage` offers pin, mac (generation) and data (encryption)"),
];

const PIN_VARIANT: &str = "00000000000000FF00000000000000FF";
const MAC_RESPONSE_VARIANT: &str = "00000000FF00000000000000FF000000";

// ---------------------------------------------------------------------------------------------
// Driving the binary

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardnet")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// `cardnet crypto ARGS --json`: succeeds, prints exactly one line holding one JSON object
/// with exactly `keys`, all strings.
fn crypto(args: &[&str], keys: &[&str]) -> Map<String, Value> {
    let mut full = vec!["crypto"];
    full.extend_from_slice(args);
    full.push("--json");
    let output = run(&full);
    assert!(output.status.success(), "{full:?}: {}", text(&output.stderr));
    assert!(output.stderr.is_empty(), "{full:?}: {}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{full:?}: one line: {stdout}");
    assert!(stdout.ends_with('\n'));
    let Value::Object(object) = serde_json::from_str::<Value>(&stdout).unwrap() else {
        panic!("{full:?}: not a JSON object: {stdout}");
    };
    assert_eq!(object.keys().map(String::as_str).collect::<Vec<_>>(), keys, "{full:?}: keys");
    assert!(object.values().all(Value::is_string), "{full:?}: {stdout}");
    object
}

/// The one value of a single-key command.
fn one(args: &[&str], key: &str) -> String {
    crypto(args, &[key])[key].as_str().unwrap().to_owned()
}

fn field(object: &Map<String, Value>, key: &str) -> String {
    object[key].as_str().unwrap().to_owned()
}

fn kcv(key: &str, algorithm: Option<&str>) -> String {
    let mut args = vec!["kcv", "--key", key];
    if let Some(algorithm) = algorithm {
        args.extend(["--algorithm", algorithm]);
    }
    one(&args, "kcv")
}

fn mac(algorithm: &str, key: &str, data: &str, padding: Option<&str>) -> String {
    let mut args = vec!["mac", "--algorithm", algorithm, "--key", key, "--data", data];
    if let Some(padding) = padding {
        args.extend(["--padding", padding]);
    }
    one(&args, "mac")
}

/// DES/TDES encryption of one block, by the CLI: a CBC-MAC of one whole block is `E_K(block)`.
fn cli_encrypt_block(key: &str, block: &str) -> String {
    assert_eq!(block.len(), 16);
    mac("iso9797-1-1", key, block, Some("1"))
}

/// `(initial key, working key)` from `cardnet crypto dukpt`.
fn dukpt(bdk: &str, ksn: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["dukpt", "--bdk", bdk, "--ksn", ksn];
    args.extend_from_slice(extra);
    let object = crypto(&args, &["initial_key", "working_key"]);
    (field(&object, "initial_key"), field(&object, "working_key"))
}

fn pin_encode(format: &str, pin: &str, pan: Option<&str>, key: Option<&str>, fill: Option<&str>) -> String {
    let mut args = vec!["pinblock", "encode", "--format", format, "--pin", pin];
    for (flag, value) in [("--pan", pan), ("--key", key), ("--fill", fill)] {
        if let Some(value) = value {
            args.extend([flag, value]);
        }
    }
    one(&args, "pin_block")
}

fn pin_decode(format: &str, block: &str, pan: Option<&str>, key: Option<&str>) -> String {
    let mut args = vec!["pinblock", "decode", "--format", format, "--pin-block", block];
    for (flag, value) in [("--pan", pan), ("--key", key)] {
        if let Some(value) = value {
            args.extend([flag, value]);
        }
    }
    one(&args, "pin")
}

fn xor_hex(a: &str, b: &str) -> String {
    hex::encode(&xor(&hex::decode(a).unwrap(), &hex::decode(b).unwrap()))
}

// ---------------------------------------------------------------------------------------------
// A vector and the expected values checked so far

struct Vector<'a> {
    value: &'a Value,
    id: &'a str,
    checked: BTreeSet<String>,
}

impl<'a> Vector<'a> {
    fn new(value: &'a Value) -> Vector<'a> {
        Vector { value, id: value["id"].as_str().unwrap(), checked: BTreeSet::new() }
    }

    fn input(&self, name: &str) -> &'a str {
        self.opt_input(name).unwrap_or_else(|| panic!("{}: no input {name}", self.id))
    }

    fn opt_input(&self, name: &str) -> Option<&'a str> {
        self.value["inputs"][name].as_str()
    }

    /// The expected value `name` (`"expected"` when `expected` is a single string).
    fn expected(&self, name: &str) -> Option<&'a str> {
        match &self.value["expected"] {
            Value::String(text) if name == "expected" => Some(text),
            Value::Object(map) => map.get(name).map(|value| value.as_str().unwrap()),
            _ => None,
        }
    }

    /// Asserts `actual` against the expected value `name`, which must exist.
    fn check(&mut self, name: &str, actual: &str) {
        let expected = self.expected(name).unwrap_or_else(|| panic!("{}: no expected {name}", self.id));
        assert_eq!(actual, expected, "{}: {name}", self.id);
        self.checked.insert(name.to_owned());
    }

    /// As [`Vector::check`], if the vector has the value.
    fn check_if(&mut self, name: &str, actual: impl FnOnce() -> String) {
        if self.expected(name).is_some() {
            let actual = actual();
            self.check(name, &actual);
        }
    }

    /// Every expected value was checked or is listed in [`VALUES_NOT_EXPRESSIBLE`].
    fn finish(self) {
        let names: Vec<String> = match &self.value["expected"] {
            Value::String(_) => vec!["expected".into()],
            Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("{}: unexpected `expected` {other}", self.id),
        };
        for name in names {
            let listed =
                VALUES_NOT_EXPRESSIBLE.iter().any(|(prefix, value, _)| self.id.starts_with(prefix) && *value == name);
            assert!(
                self.checked.contains(&name) || listed,
                "{}: expected value {name} is neither checked nor listed as not expressible",
                self.id
            );
            assert!(!(self.checked.contains(&name) && listed), "{}: {name} is checked but listed", self.id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The vectors

#[test]
fn the_cli_reproduces_every_expressible_reference_vector() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hsm/tests/data/payment-crypto-vectors.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 78);
    assert_eq!(file["meta"]["count"], 78);

    // The families run on threads: each spawns the binary a few dozen times.
    let families = ["pin-", "mac-", "kcv-", "dukpt-", "emv-", "tr31-", "cup-ecb-mac-"];
    let covered: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = families
            .iter()
            .map(|family| {
                let members: Vec<&Value> =
                    vectors.iter().filter(|v| v["id"].as_str().unwrap().starts_with(family)).collect();
                scope.spawn(move || {
                    let mut covered = Vec::new();
                    for value in members {
                        let mut vector = Vector::new(value);
                        if NOT_EXPRESSIBLE.iter().any(|(id, _)| *id == vector.id) {
                            continue;
                        }
                        match *family {
                            "pin-" => pin_vector(&mut vector),
                            "mac-" => mac_vector(&mut vector),
                            "kcv-" => kcv_vector(&mut vector),
                            "dukpt-" => dukpt_vector(&mut vector),
                            "emv-" => emv_vector(&mut vector),
                            "tr31-" => tr31_vector(&mut vector),
                            _ => cup_vector(&mut vector),
                        }
                        covered.push(vector.id.to_owned());
                        vector.finish();
                    }
                    covered
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect()
    });

    let all: BTreeSet<&str> = vectors.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(all.len(), 78, "ids are unique");
    for (id, _) in NOT_EXPRESSIBLE {
        assert!(all.contains(id), "{id} is not a vector");
        assert!(!covered.iter().any(|c| c == id));
    }
    assert_eq!(covered.len(), 78 - NOT_EXPRESSIBLE.len(), "every vector is covered or listed: {covered:?}");
    assert_eq!(covered.len(), 78, "the CLI reproduces every reference vector");
    // No stale entry in the list of values the CLI cannot produce.
    for (prefix, name, _) in VALUES_NOT_EXPRESSIBLE {
        let used = vectors.iter().any(|v| {
            v["id"].as_str().unwrap().starts_with(prefix) && v["expected"].get(name).is_some_and(Value::is_string)
        });
        assert!(used, "{prefix} {name} matches no expected value");
    }
}

fn pin_vector(v: &mut Vector) {
    let id = v.id;
    if let Some(pan) = id.strip_prefix("pin-iso4-panfield-").map(|_| v.input("pan")) {
        // The PAN field is not printed; check it through the format 4 encipherment the CLI
        // does with it: C = AES_K(AES_K(P) XOR A).
        let key = "000102030405060708090A0B0C0D0E0F";
        let fill = "0123456789ABCDEF";
        let field = pin_encode("4", "1234", None, None, Some(fill));
        assert_eq!(field, format!("441234AAAAAAAAAA{fill}"));
        let block = pin_encode("4", "1234", Some(pan), Some(key), Some(fill));
        let cipher = Cipher::aes(&hex::decode(key).unwrap()).unwrap();
        let expected_pan_field = v.expected("expected").unwrap();
        let mut a = hex::decode(&field).unwrap();
        cipher.encrypt_block(&mut a);
        let mut c = xor(&a, &hex::decode(expected_pan_field).unwrap());
        cipher.encrypt_block(&mut c);
        assert_eq!(block, hex::encode(&c), "{id}: the CLI enciphers with the expected PAN field");
        v.checked.insert("expected".into());
        assert_eq!(pin_decode("4", &block, Some(pan), Some(key)), "1234");
        return;
    }
    match id {
        "pin-iso4-enc-1" | "pin-iso4-enc-3" => {
            let (key, pin, pan, field) = (v.input("key"), v.input("pin"), v.input("pan"), v.input("pin_field"));
            let fill = &field[16..];
            assert_eq!(pin_encode("4", pin, None, None, Some(fill)), field, "{id}: clear PIN field");
            let block = pin_encode("4", pin, Some(pan), Some(key), Some(fill));
            v.check("expected", &block);
            assert_eq!(pin_decode("4", &block, Some(pan), Some(key)), pin);
            assert_eq!(pin_decode("4", field, None, None), pin, "{id}: decode of the clear field");
        }
        "pin-iso4-enc-2" => {
            let (key, block, pan) = (v.input("key"), v.input("pin_block"), v.input("pan"));
            let pin = pin_decode("4", block, Some(pan), Some(key));
            v.check("pin", &pin);
            // The recovered field, enciphered again by the CLI, gives the block back.
            let recovered = v.expected("recovered_pin_field").unwrap();
            assert_eq!(pin_encode("4", &pin, None, None, Some(&recovered[16..])), recovered);
            let again = pin_encode("4", &pin, Some(pan), Some(key), Some(&recovered[16..]));
            assert_eq!(again, block, "{id}: re-encipherment");
            v.check("recovered_pin_field", recovered);
        }
        _ => {
            // pin-iso0-*, pin-iso1-*, pin-iso2-*, pin-iso3-*: the clear block.
            let format = &id[7..8];
            let (pin, pan, fill) = (v.input("pin"), v.opt_input("pan"), v.opt_input("fill_digits"));
            let block = pin_encode(format, pin, pan, None, fill);
            v.check("expected", &block);
            assert_eq!(pin_decode(format, &block, pan, None), pin, "{id}: decode");
            // Enciphered under a TDES key and back.
            let key = "0123456789ABCDEFFEDCBA9876543210";
            let enciphered = pin_encode(format, pin, pan, Some(key), fill);
            assert_eq!(enciphered, cli_encrypt_block(key, &block), "{id}: TDES ECB of the clear block");
            assert_eq!(pin_decode(format, &enciphered, pan, Some(key)), pin);
        }
    }
}

fn mac_vector(v: &mut Vector) {
    let id = v.id;
    let (key, data) = (v.input("key"), v.input("data"));
    let padding = if id.contains("pad2") { "2" } else { "1" };
    let algorithms: &[&str] = if id.starts_with("mac-alg3-") {
        &["x9.19", "iso9797-1-3"]
    } else if id.starts_with("mac-alg1-des-") {
        &["x9.9", "iso9797-1-1"]
    } else if id.starts_with("mac-alg1-tdes-") {
        &["iso9797-1-1"]
    } else if id.starts_with("mac-aes") {
        &["aes-cmac"]
    } else if id.starts_with("mac-tdes3-cmac") {
        &["tdes-cmac"]
    } else {
        panic!("{id}: unknown MAC vector")
    };
    for algorithm in algorithms {
        let padding = (!algorithm.ends_with("cmac")).then_some(padding);
        v.check("expected", &mac(algorithm, key, data, padding));
        if padding == Some("1") {
            assert_eq!(mac(algorithm, key, data, None), v.expected("expected").unwrap(), "{id}: default padding 1");
        }
    }
}

fn kcv_vector(v: &mut Vector) {
    let id = v.id;
    let key = v.input("key");
    if id == "kcv-tdes2-cmac" {
        // The TDES-CMAC KCV is the CMAC of one zero block, leftmost 5 bytes.
        let full = mac("tdes-cmac", key, "0000000000000000", None);
        v.check("expected", &full[..10]);
        assert_eq!(kcv(key, Some("tdes-cmac")), v.expected("expected").unwrap());
    } else if id == "kcv-aes128-legacy-ecb" {
        v.check("expected", &kcv(key, Some("aes-ecb-legacy")));
    } else if id.starts_with("kcv-aes") {
        v.check("expected", &kcv(key, Some("aes")));
        if key.len() == 64 {
            assert_eq!(kcv(key, None), v.expected("expected").unwrap(), "{id}: a 32-byte key defaults to aes");
        }
    } else {
        v.check("expected", &kcv(key, None));
        assert_eq!(kcv(key, Some("tdes")), v.expected("expected").unwrap());
    }
}

fn dukpt_vector(v: &mut Vector) {
    let id = v.id;
    let bdk = v.input("bdk");
    if id == "dukpt-tdes-ipek" {
        let (ipek, _) = dukpt(bdk, v.input("ksn"), &[]);
        v.check("expected", &ipek);
        let ipek_kcv = v.value["intermediates"]["ipek_kcv"].as_str().unwrap();
        assert_eq!(kcv(&ipek, None), ipek_kcv);
    } else if id.starts_with("dukpt-tdes-") {
        let ksn = v.input("ksn");
        let (ipek, pin_key) = dukpt(bdk, ksn, &[]);
        assert_eq!(dukpt(bdk, ksn, &["--usage", "pin"]), (ipek.clone(), pin_key.clone()), "default usage");
        v.check("pin_key", &pin_key);
        // The transaction key is the PIN key without its variant.
        let transaction_key = xor_hex(&pin_key, PIN_VARIANT);
        v.check("transaction_key", &transaction_key);
        let (pin, pan) = (v.opt_input("pin").unwrap_or("1234"), v.opt_input("pan").unwrap_or("4012345678909"));
        assert_eq!(pin_encode("0", pin, Some(pan), None, None), v.input("clear_pin_block"), "{id}: clear block");
        v.check("encrypted_pin_block", &pin_encode("0", pin, Some(pan), Some(&pin_key), None));
        if let Some(data) = v.opt_input("mac_data") {
            let (_, mac_key) = dukpt(bdk, ksn, &["--usage", "mac"]);
            v.check_if("request_mac_x919_pad1", || mac("x9.19", &mac_key, data, Some("1")));
            // The response MAC key is not a `--usage`: the transaction key (checked above
            // against the CLI's PIN key) with the response variant.
            let response_key = xor_hex(&transaction_key, MAC_RESPONSE_VARIANT);
            v.check_if("response_mac_x919_pad1", || mac("x9.19", &response_key, data, Some("1")));
            v.check_if("request_data_tdes_cbc_iv0_zero_padded", || {
                // TDES CBC, IV 0: ciphertext block i is the CBC-MAC of the first i blocks.
                let (_, data_key) = dukpt(bdk, ksn, &["--usage", "data"]);
                let padded = format!("{data:0<width$}", width = data.len().div_ceil(16) * 16);
                (1..=padded.len() / 16).map(|i| mac("iso9797-1-1", &data_key, &padded[..16 * i], Some("1"))).collect()
            });
        }
    } else if id == "dukpt-aes128-ik" {
        // The initial key depends on the KSN's initial key ID only: any counter will do.
        let ksn = format!("{}00000001", v.input("initial_key_id"));
        v.check("expected", &dukpt(bdk, &ksn, &[]).0);
    } else {
        let ksn = v.input("ksn");
        let (initial, pin_key) = dukpt(bdk, ksn, &[]);
        v.check_if("initial_key", || initial.clone());
        v.check_if("pin_encryption_key", || pin_key.clone());
        v.check_if("pin_encryption_key_aes256", || pin_key.clone());
        v.check_if("pin_encryption_key_aes128", || dukpt(bdk, ksn, &["--working-key", "aes128"]).1);
        v.check_if("mac_generation_key", || dukpt(bdk, ksn, &["--usage", "mac"]).1);
        v.check_if("data_encryption_encrypt_key", || dukpt(bdk, ksn, &["--usage", "data"]).1);
        let (field, pan) = (v.opt_input("pin_field"), v.opt_input("pan"));
        v.check_if("encrypted_iso4_pin_block", || {
            let field = field.unwrap();
            let pin_len = usize::from_str_radix(&field[1..2], 16).unwrap();
            let pin = &field[2..2 + pin_len];
            pin_encode("4", pin, pan, Some(&pin_key), Some(&field[16..]))
        });
    }
}

/// `cardnet crypto emv arqc`: (ICC MK, session key, ARQC).
fn arqc(imk: &str, pan: &str, psn: &str, atc: &str, scheme: &str, un: Option<&str>, data: &str) -> [String; 3] {
    let mut args = vec!["emv", "arqc", "--imk", imk, "--pan", pan, "--psn", psn, "--atc", atc, "--scheme", scheme];
    if let Some(un) = un {
        args.extend(["--un", un]);
    }
    args.extend(["--data", data]);
    let object = crypto(&args, &["icc_master_key", "session_key", "arqc"]);
    [field(&object, "icc_master_key"), field(&object, "session_key"), field(&object, "arqc")]
}

/// `cardnet crypto emv arpc`; `answer` is `["--arc", X]` or `["--csu", X, ...]`.
#[allow(clippy::too_many_arguments)]
fn arpc(
    imk: &str,
    pan: &str,
    psn: &str,
    atc: &str,
    scheme: &str,
    un: Option<&str>,
    method: &str,
    arqc: &str,
    answer: &[&str],
) -> String {
    let mut args = vec!["emv", "arpc", "--imk", imk, "--pan", pan, "--psn", psn, "--atc", atc, "--scheme", scheme];
    if let Some(un) = un {
        args.extend(["--un", un]);
    }
    args.extend(["--method", method, "--arqc", arqc]);
    args.extend_from_slice(answer);
    one(&args, "arpc")
}

fn emv_vector(v: &mut Vector) {
    let id = v.id;
    let (imk, pan, psn, data) = (v.input("issuer_master_key_ac"), v.input("pan"), v.input("psn"), v.input("ac_data"));
    match id {
        "emv-1" => {
            // R = 1234567890123456 is no scheme's R (ATC ‖ 0…0 or ATC ‖ 0000 ‖ UN): the ICC MK
            // and the ARPC with it come from `emv`, the rest from the primitives the CLI has.
            let [icc_mk, ..] = arqc(imk, pan, psn, "0000", "common", None, data);
            v.check("icc_mk", &icc_mk);
            v.check("icc_mk_kcv2", &kcv(&icc_mk, None)[..4]);
            let r = v.input("r");
            let left = cli_encrypt_block(&icc_mk, &format!("{}F0{}", &r[..4], &r[6..]));
            let right = cli_encrypt_block(&icc_mk, &format!("{}0F{}", &r[..4], &r[6..]));
            let mut sk = hex::decode(&(left + &right)).unwrap();
            set_odd_parity(&mut sk);
            let sk = hex::encode(&sk);
            v.check("sk_ac", &sk);
            v.check("sk_ac_kcv2", &kcv(&sk, None)[..4]);
            let ac = mac("x9.19", &sk, data, Some("2"));
            v.check("arqc", &ac);
            let arc = v.input("arpc_rc");
            let method1 = arpc(imk, pan, psn, "0000", "visa-cvn10", None, "1", &ac, &["--arc", arc]);
            v.check("arpc_method1_with_icc_mk", &method1);
            // ARPC method 2 is the left 4 bytes of the retail MAC, padding 2, over ARQC ‖ CSU ‖ data.
            let (csu, proprietary) = (v.input("csu"), v.input("proprietary_auth_data"));
            v.check("arpc_method2_with_sk", &mac("x9.19", &sk, &format!("{ac}{csu}{proprietary}"), Some("2"))[..8]);
            v.check("arpc_method2_without_prop_data", &mac("x9.19", &sk, &format!("{ac}{csu}"), Some("2"))[..8]);
        }
        "emv-2" => {
            let r = v.input("r");
            let atc = &r[..4];
            assert_eq!(&r[4..], "000000000000", "R = ATC ‖ 0…0: the common scheme");
            let [icc_mk, sk, ac] = arqc(imk, pan, psn, atc, "common", None, data);
            v.check("icc_mk", &icc_mk);
            v.check("sk_ac", &sk);
            v.check("arqc", &ac);
            let answer = ["--csu", v.input("csu"), "--proprietary", v.input("proprietary_auth_data")];
            v.check("arpc_method2", &arpc(imk, pan, psn, atc, "common", None, "2", &ac, &answer));
        }
        "emv-3-csk" | "emv-4-mastercard-skd" | "emv-5-visa-cvn10-style" => {
            let (scheme, un) = match id {
                "emv-3-csk" => ("common", None),
                "emv-4-mastercard-skd" => ("mastercard", Some(v.input("un"))),
                _ => ("visa-cvn10", None),
            };
            // emv-5 has no ATC input: CVN 10 does not use it; the data's 9F36 is 3456.
            let atc = v.opt_input("atc").unwrap_or("3456");
            let [icc_mk, sk, ac] = arqc(imk, pan, psn, atc, scheme, un, data);
            v.check_if("icc_mk", || icc_mk.clone());
            if scheme == "visa-cvn10" {
                assert_eq!(sk, icc_mk, "{id}: CVN 10 has no session key");
            } else {
                v.check("sk_ac", &sk);
            }
            // The scheme's padding gives one ARQC; the other padding comes from `mac x9.19`.
            let (pad1, pad2) = if scheme == "visa-cvn10" {
                (ac.clone(), mac("x9.19", &sk, data, Some("2")))
            } else {
                (mac("x9.19", &sk, data, Some("1")), ac.clone())
            };
            assert_eq!(mac("x9.19", &sk, data, Some(if scheme == "visa-cvn10" { "1" } else { "2" })), ac);
            v.check("arqc_pad1_zeros", &pad1);
            v.check("arqc_pad2_80", &pad2);
            let arc = v.input("arc");
            for (suffix, cryptogram) in [("pad1", &pad1), ("pad2", &pad2)] {
                let method1 = arpc(imk, pan, psn, atc, scheme, un, "1", cryptogram, &["--arc", arc]);
                if scheme == "mastercard" {
                    v.check(&format!("arpc_method1_icc_mk_for_arqc_{suffix}"), &method1);
                } else {
                    v.check(&format!("arpc_method1_for_arqc_{suffix}"), &method1);
                }
                if let Some(csu) = v.opt_input("csu") {
                    let method2 = arpc(imk, pan, psn, atc, scheme, un, "2", cryptogram, &["--csu", csu]);
                    v.check(&format!("arpc_method2_for_arqc_{suffix}"), &method2);
                }
            }
        }
        "emv-6-visa-cvn18" => {
            let atc = v.input("atc");
            let [icc_mk, sk, ac] = arqc(imk, pan, psn, atc, "visa-cvn18", None, data);
            v.check("icc_mk", &icc_mk);
            v.check("sk_ac", &sk);
            v.check("arqc", &ac);
            let method2 = arpc(imk, pan, psn, atc, "visa-cvn18", None, "2", &ac, &["--csu", v.input("csu")]);
            v.check("arpc_method2", &method2);
        }
        other => panic!("{other}: unknown EMV vector"),
    }
}

fn tr31_vector(v: &mut Vector) {
    let (kbpk, block) = (v.input("kbpk"), v.input("key_block"));
    let object = crypto(&["tr31", "unwrap", "--kbpk", kbpk, "--key-block", block], &["key", "header"]);
    let (key, header) = (field(&object, "key"), field(&object, "header"));
    v.check("wrapped_key", &key);
    // The header as in the block: 16 characters, then the optional blocks its count announces.
    let mut length = 16;
    for _ in 0..block[12..14].parse::<usize>().unwrap() {
        length += usize::from_str_radix(&block[length + 2..length + 4], 16).unwrap();
    }
    assert_eq!(header, &block[..length], "{}: header", v.id);
    // Wrap it again with that header and open the new block.
    let wrapped = one(&["tr31", "wrap", "--kbpk", kbpk, "--key", &key, "--header", &header], "key_block");
    assert_ne!(wrapped, block, "random padding");
    let again = crypto(&["tr31", "unwrap", "--kbpk", kbpk, "--key-block", &wrapped], &["key", "header"]);
    assert_eq!(field(&again, "key"), key);
    let (new_header, old_header) = (field(&again, "header"), header);
    assert_eq!((&new_header[..1], &new_header[5..]), (&old_header[..1], &old_header[5..]), "all but the length");
}

fn cup_vector(v: &mut Vector) {
    let value = mac("cup-ecb", v.input("mak"), v.input("mab"), None);
    v.check("mac_ascii", &value);
    v.check("mac_field_bytes", &hex::encode(value.as_bytes()));
}

// ---------------------------------------------------------------------------------------------
// Beyond the vector file

#[test]
fn cvv_and_pvv() {
    let cvk = "0123456789ABCDEFFEDCBA9876543210";
    let cvv =
        one(&["cvv", "--cvk", cvk, "--pan", "4123456789012345", "--expiry", "8701", "--service-code", "101"], "cvv");
    assert_eq!(cvv, "561");
    // The CVK may be written in two halves.
    let halves = "0123456789ABCDEF FEDCBA9876543210";
    let again =
        one(&["cvv", "--cvk", halves, "--pan", "4123456789012345", "--expiry", "8701", "--service-code", "101"], "cvv");
    assert_eq!(again, "561");
    for (pan, pin, pvki) in
        [("4012345678909", "1234", 1u8), ("5555555551234567", "987654", 0), ("4123456789012345", "0000", 9)]
    {
        let library = hsm::card::pvv(&hex::decode(cvk).unwrap(), pan, &Secret::new(pin.as_bytes()), pvki).unwrap();
        let pvki = pvki.to_string();
        let cli = one(&["pvv", "--pvk", cvk, "--pan", pan, "--pin", pin, "--pvki", &pvki], "pvv");
        assert_eq!(cli, library, "{pan} {pin} {pvki}");
        assert_eq!(cli.len(), 4);
    }
}

#[test]
fn random_fill_formats_round_trip() {
    let tdes = "0123456789ABCDEFFEDCBA9876543210";
    let aes = "00112233445566778899AABBCCDDEEFF";
    let pan = "5555555551234567";
    for format in ["1", "3", "4"] {
        let key = if format == "4" { aes } else { tdes };
        let a = pin_encode(format, "12345", Some(pan), None, None);
        let b = pin_encode(format, "12345", Some(pan), None, None);
        assert_ne!(a, b, "format {format}: random fill");
        assert_eq!(pin_decode(format, &a, Some(pan), None), "12345");
        let enciphered = pin_encode(format, "12345", Some(pan), Some(key), None);
        assert_eq!(enciphered.len(), if format == "4" { 32 } else { 16 });
        assert_eq!(pin_decode(format, &enciphered, Some(pan), Some(key)), "12345");
    }
}

#[test]
fn without_json_the_output_is_label_value_lines() {
    let output = run(&["crypto", "kcv", "--key", "0123456789ABCDEFFEDCBA9876543210"]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "KCV: 08D7B4\n");
    let output =
        run(&["crypto", "dukpt", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn", "FFFF9876543210E00001"]);
    assert_eq!(
        text(&output.stdout),
        "initial key: 6AC292FAA1315B4D858AB3A3D7D5933A\nworking key: 042666B49184CF5C68DE9628D0397B36\n"
    );
    // Lowercase hex in, uppercase out.
    assert_eq!(kcv("0123456789abcdeffedcba9876543210", None), "08D7B4");
}

/// Exit status 2, nothing on stdout, one line on stderr that contains none of `secrets`.
fn assert_bad_input(args: &[&str], secrets: &[&str]) -> String {
    let mut full = vec!["crypto"];
    full.extend_from_slice(args);
    full.push("--json");
    let output = run(&full);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{full:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{full:?}");
    assert_eq!(stderr.lines().count(), 1, "{full:?}: {stderr}");
    assert!(stderr.starts_with("cardnet: "), "{stderr}");
    for secret in secrets {
        assert!(!stderr.contains(secret), "{full:?}: the error shows {secret}: {stderr}");
    }
    stderr
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let tdes = "0123456789ABCDEFFEDCBA9876543210";
    // Odd hex, not hex.
    assert!(assert_bad_input(&["kcv", "--key", "0123456789ABCDEFFEDCBA987654321"], &[]).contains("odd"));
    assert_bad_input(&["mac", "--algorithm", "aes-cmac", "--key", tdes, "--data", "0G"], &[]);
    assert_bad_input(
        &["pinblock", "decode", "--format", "0", "--pin-block", "041274EDCBA9876", "--pan", "4012345678909"],
        &[],
    );
    // Wrong key lengths.
    assert!(assert_bad_input(&["kcv", "--key", "0123456789ABCDEF01"], &[]).contains("got 9"));
    assert_bad_input(&["kcv", "--key", "0123456789ABCDEF", "--algorithm", "aes"], &[]);
    assert_bad_input(&["mac", "--algorithm", "x9.9", "--key", tdes, "--data", "00"], &[]);
    assert_bad_input(&["mac", "--algorithm", "x9.19", "--key", "0123456789ABCDEF", "--data", "00"], &[]);
    assert_bad_input(&["dukpt", "--bdk", "0123456789ABCDEF", "--ksn", "FFFF9876543210E00001"], &[]);
    assert_bad_input(&["dukpt", "--bdk", tdes, "--ksn", "FFFF9876543210E000"], &[]);
    assert_bad_input(
        &["cvv", "--cvk", "0123456789ABCDEF", "--pan", "4123456789012345", "--expiry", "8701", "--service-code", "101"],
        &[],
    );
    // A PIN of 3 digits, a PAN with a non-digit: named, never shown.
    let error = assert_bad_input(
        &["pinblock", "encode", "--format", "0", "--pin", "987", "--pan", "4012345678909"],
        &["987", "4012345678909"],
    );
    assert!(error.contains("PIN"), "{error}");
    assert_bad_input(&["pvv", "--pvk", tdes, "--pan", "4012345678909", "--pin", "987", "--pvki", "1"], &["987"]);
    let error = assert_bad_input(
        &["pinblock", "encode", "--format", "3", "--pin", "1234", "--pan", "40123456X8909"],
        &["40123456X8909"],
    );
    assert!(error.contains("PAN"), "{error}");
    assert_bad_input(
        &["cvv", "--cvk", tdes, "--pan", "41234567890X2345", "--expiry", "8701", "--service-code", "101"],
        &["41234567890X2345"],
    );
    assert_bad_input(
        &[
            "emv",
            "arqc",
            "--imk",
            tdes,
            "--pan",
            "12345678901A3456",
            "--psn",
            "00",
            "--atc",
            "0001",
            "--scheme",
            "common",
            "--data",
            "00",
        ],
        &[],
    );
    // Missing PAN, fill for a format without fill, padding for an algorithm without it.
    assert_bad_input(&["pinblock", "encode", "--format", "0", "--pin", "1234"], &[]);
    assert_bad_input(&["pinblock", "encode", "--format", "4", "--pin", "1234", "--key", tdes], &[]);
    assert_bad_input(
        &["pinblock", "encode", "--format", "0", "--pin", "1234", "--pan", "4012345678909", "--fill", "A"],
        &[],
    );
    for algorithm in ["cup-ecb", "aes-cmac", "tdes-cmac"] {
        assert_bad_input(&["mac", "--algorithm", algorithm, "--key", tdes, "--data", "00", "--padding", "1"], &[]);
    }
    // EMV: the Mastercard scheme needs the UN, the others refuse it; ARPC method and answer match.
    let card = ["--imk", tdes, "--pan", "1234567890123456", "--psn", "00", "--atc", "0001"];
    let mut args = vec!["emv", "arqc", "--scheme", "mastercard", "--data", "00"];
    args.extend(card);
    assert_bad_input(&args, &[]);
    let mut args =
        vec!["emv", "arpc", "--scheme", "common", "--method", "1", "--arqc", "0000000000000000", "--csu", "00000000"];
    args.extend(card);
    assert_bad_input(&args, &[]);
    let mut args =
        vec!["emv", "arpc", "--scheme", "common", "--method", "2", "--arqc", "00000000000000", "--csu", "00000000"];
    args.extend(card);
    assert_bad_input(&args, &[]);
    // TR-31: the wrong KBPK, a damaged block, a variant version to wrap in, a bad header.
    let block = "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E";
    assert_bad_input(&["tr31", "unwrap", "--kbpk", tdes, "--key-block", block], &[]);
    assert_bad_input(&["tr31", "unwrap", "--kbpk", tdes, "--key-block", &block[..70]], &[]);
    assert_bad_input(&["tr31", "wrap", "--kbpk", tdes, "--key", tdes, "--header", "A0000P0TE00E0000"], &[]);
    assert_bad_input(&["tr31", "wrap", "--kbpk", tdes, "--key", tdes, "--header", "B0000P0TE00E0100"], &[]);
    assert_bad_input(&["tr31", "wrap", "--kbpk", tdes, "--key", tdes, "--header", "B0000P0TE00E0000XY"], &[]);
}
