//! `emv-*` vectors: ICC master key (options A and B), session keys (EMV CSK, Mastercard SKD),
//! ARQC with both paddings, ARPC methods 1 and 2. Every expected value a vector carries is
//! asserted; an expected field this module does not know fails the vector.

use hsm::Secret;
use hsm::cipher::Cipher;
use hsm::emv::{self, Scheme};
use hsm::mac::Padding;
use iso8583::hex;
use serde_json::Value;

use super::{hex_at, opt_str, str_at};

pub fn check(vector: &Value) {
    let id = str_at(vector, "/id");
    let imk = hex_at(vector, "/inputs/issuer_master_key_ac");
    let pan = str_at(vector, "/inputs/pan");
    let psn = str_at(vector, "/inputs/psn");
    let data = hex_at(vector, "/inputs/ac_data");
    let mut checked = Checked::new(vector);

    let icc_mk = emv::icc_master_key(&imk, pan, psn).unwrap();
    checked.key("icc_mk", &icc_mk);
    checked.kcv2("icc_mk_kcv2", &icc_mk);
    match id {
        "emv-1" | "emv-2" => {
            // The options are chosen by PAN length; call the one the vector names explicitly.
            let explicit = if id == "emv-1" { emv::option_a(&imk, pan, psn) } else { emv::option_b(&imk, pan, psn) };
            assert_eq!(explicit.unwrap(), icc_mk, "explicit option");
            let r: [u8; 8] = hex_at(vector, "/inputs/r").try_into().unwrap();
            let sk = emv::session_key(icc_mk.expose(), r).unwrap();
            checked.key("sk_ac", &sk);
            checked.kcv2("sk_ac_kcv2", &sk);
            let arqc = emv::application_cryptogram(sk.expose(), &data, Padding::Method2).unwrap();
            checked.bytes("arqc", &arqc);
            let csu = csu(vector);
            let proprietary = hex_at(vector, "/inputs/proprietary_auth_data");
            if id == "emv-1" {
                let arc = arc(vector, "/inputs/arpc_rc");
                checked.bytes("arpc_method1_with_icc_mk", &emv::arpc_method1(icc_mk.expose(), &arqc, arc).unwrap());
                checked
                    .bytes("arpc_method2_with_sk", &emv::arpc_method2(sk.expose(), &arqc, csu, &proprietary).unwrap());
                checked
                    .bytes("arpc_method2_without_prop_data", &emv::arpc_method2(sk.expose(), &arqc, csu, &[]).unwrap());
            } else {
                // R is ATC ‖ 000000000000 (ATC 001C, as in the data's 9F36): the Common scheme.
                assert_eq!(r, emv::common_r(&r[..2]).unwrap());
                let result = emv::arqc(Scheme::Common, &imk, pan, psn, &r[..2], None, &data).unwrap();
                assert_eq!((&result.session_key, result.arqc), (&sk, arqc), "arqc() for the Common scheme");
                let key = Scheme::Common.arpc_key(&result);
                checked.bytes("arpc_method2", &emv::arpc_method2(key.expose(), &arqc, csu, &proprietary).unwrap());
            }
        }
        "emv-3-csk" | "emv-4-mastercard-skd" => {
            let atc = hex_at(vector, "/inputs/atc");
            let un = opt_str(vector, "/inputs/un").map(|un| hex::decode(un).unwrap());
            let scheme = if un.is_some() { Scheme::Mastercard } else { Scheme::Common };
            let r = match &un {
                Some(un) => emv::mastercard_r(&atc, un).unwrap(),
                None => emv::common_r(&atc).unwrap(),
            };
            let sk = emv::session_key(icc_mk.expose(), r).unwrap();
            checked.key("sk_ac", &sk);
            let result = emv::arqc(scheme, &imk, pan, psn, &atc, un.as_deref(), &data).unwrap();
            assert_eq!((&result.icc_master_key, &result.session_key), (&icc_mk, &sk), "arqc() keys");
            emv::verify_arqc(scheme, &imk, pan, psn, &atc, un.as_deref(), &data, &result.arqc).unwrap();
            let arpc_key = scheme.arpc_key(&result);
            let arc = arc(vector, "/inputs/arc");
            let csu = opt_str(vector, "/inputs/csu").map(|_| csu(vector));
            for (padding, suffix, name) in [(Padding::Method1, "pad1", "zeros"), (Padding::Method2, "pad2", "80")] {
                let arqc = emv::application_cryptogram(sk.expose(), &data, padding).unwrap();
                checked.bytes(&format!("arqc_{suffix}_{name}"), &arqc);
                if padding == scheme.padding() {
                    assert_eq!(result.arqc, arqc, "arqc() uses the scheme's padding");
                }
                let method1 = emv::arpc_method1(arpc_key.expose(), &arqc, arc).unwrap();
                if scheme == Scheme::Common {
                    checked.bytes(&format!("arpc_method1_for_arqc_{suffix}"), &method1);
                    let csu = csu.expect("emv-3 has a CSU");
                    let method2 = emv::arpc_method2(arpc_key.expose(), &arqc, csu, &[]).unwrap();
                    checked.bytes(&format!("arpc_method2_for_arqc_{suffix}"), &method2);
                } else {
                    checked.bytes(&format!("arpc_method1_icc_mk_for_arqc_{suffix}"), &method1);
                }
            }
        }
        "emv-5-visa-cvn10-style" => {
            // No session key: the ICC MK is the AC key. The ATC is in the data (9F36 = 3456).
            let atc = [0x34, 0x56];
            let result = emv::arqc(Scheme::VisaCvn10, &imk, pan, psn, &atc, None, &data).unwrap();
            assert_eq!(result.session_key, icc_mk, "CVN 10 uses the ICC MK directly");
            let arpc_key = Scheme::VisaCvn10.arpc_key(&result);
            assert_eq!(arpc_key, &icc_mk);
            let arc = arc(vector, "/inputs/arc");
            for (padding, suffix, name) in [(Padding::Method1, "pad1", "zeros"), (Padding::Method2, "pad2", "80")] {
                let arqc = emv::application_cryptogram(icc_mk.expose(), &data, padding).unwrap();
                checked.bytes(&format!("arqc_{suffix}_{name}"), &arqc);
                if padding == Scheme::VisaCvn10.padding() {
                    assert_eq!(result.arqc, arqc, "arqc() uses padding 1");
                }
                let method1 = emv::arpc_method1(arpc_key.expose(), &arqc, arc).unwrap();
                checked.bytes(&format!("arpc_method1_for_arqc_{suffix}"), &method1);
            }
        }
        "emv-6-visa-cvn18" => {
            let atc = hex_at(vector, "/inputs/atc");
            let result = emv::arqc(Scheme::VisaCvn18, &imk, pan, psn, &atc, None, &data).unwrap();
            assert_eq!(result.icc_master_key, icc_mk);
            checked.key("sk_ac", &result.session_key);
            checked.bytes("arqc", &result.arqc);
            emv::verify_arqc(Scheme::VisaCvn18, &imk, pan, psn, &atc, None, &data, &result.arqc).unwrap();
            let key = Scheme::VisaCvn18.arpc_key(&result);
            checked.bytes("arpc_method2", &emv::arpc_method2(key.expose(), &result.arqc, csu(vector), &[]).unwrap());
        }
        other => panic!("{other}: unknown EMV vector"),
    }
    checked.all_used();
}

fn arc(vector: &Value, pointer: &str) -> [u8; 2] {
    hex_at(vector, pointer).try_into().unwrap_or_else(|_| panic!("{pointer} is not 2 bytes"))
}

fn csu(vector: &Value) -> [u8; 4] {
    hex_at(vector, "/inputs/csu").try_into().expect("CSU is 4 bytes")
}

/// Asserts expected values by name and remembers which were asserted, so that a vector with
/// an expected value nobody checks fails.
struct Checked<'a> {
    vector: &'a Value,
    used: Vec<String>,
}

impl<'a> Checked<'a> {
    fn new(vector: &'a Value) -> Self {
        Checked { vector, used: Vec::new() }
    }

    fn expected(&mut self, name: &str) -> Option<&'a str> {
        let value = opt_str(self.vector, &format!("/expected/{name}"))?;
        self.used.push(name.to_string());
        Some(value)
    }

    /// Asserts `actual` if the vector has an expected value of this name.
    fn bytes(&mut self, name: &str, actual: &[u8]) {
        if let Some(expected) = self.expected(name) {
            assert_eq!(hex::encode(actual), expected, "{name}");
        }
    }

    fn key(&mut self, name: &str, key: &Secret) {
        self.bytes(name, key.expose());
    }

    /// The 2-byte check value (TDES of a zero block, leftmost 2 bytes).
    fn kcv2(&mut self, name: &str, key: &Secret) {
        let mut block = [0u8; 8];
        Cipher::tdes(key.expose()).unwrap().encrypt_block(&mut block);
        self.bytes(name, &block[..2]);
    }

    fn all_used(&self) {
        let expected = self.vector["expected"].as_object().expect("expected values");
        let unchecked: Vec<&String> = expected.keys().filter(|name| !self.used.contains(name)).collect();
        assert!(unchecked.is_empty(), "expected values not checked: {unchecked:?}");
    }
}
