//! The UnionPay POS MAC/PIN vector V4 (shared/reference/unionpay-pos-8583.md §5): working keys
//! delivered under the TMK, their 4-byte sign-on check values, the format 0 PIN block in field
//! 52, and the "ECB" MAC in field 64.

use hsm::Secret;
use hsm::cipher::Cipher;
use hsm::kcv::{KcvMethod, kcv_full, verify_kcv};
use hsm::mac;
use hsm::pinblock::{self, PinFormat};
use iso8583::hex;

const TMK: &str = "44444444444444444444444444444444";
const MAK_UNDER_TMK: &str = "C9E3E3B489B520FE";
const MAK: &str = "7F52E3201FDF045E";
const PIK_UNDER_TMK: &str = "84C5491C3834928E7B26B5409A942BCF";
const PIK: &str = "4567C298FB0B045DAB54BF499E10EFCD";
const PAN: &str = "9001100000000027";
const MAB: &str = "0200302004C020C0981100000000000000000101386702100006379001100000000027D00000000000000000000031313131353030373132333435363738393131313131353135363D87C8B8FA17C67C26000000000000000011220014370000";

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// A working key delivered under the TMK, ECB.
fn unwrap_under_tmk(wrapped: &str) -> Vec<u8> {
    let mut key = h(wrapped);
    Cipher::tdes(&h(TMK)).unwrap().ecb_decrypt(&mut key).unwrap();
    key
}

#[test]
fn working_keys_decrypt_under_the_tmk() {
    assert_eq!(hex::encode(&unwrap_under_tmk(MAK_UNDER_TMK)), MAK);
    assert_eq!(hex::encode(&unwrap_under_tmk(PIK_UNDER_TMK)), PIK);
    // And back.
    let mut key = h(PIK);
    Cipher::tdes(&h(TMK)).unwrap().ecb_encrypt(&mut key).unwrap();
    assert_eq!(hex::encode(&key), PIK_UNDER_TMK);
}

#[test]
fn sign_on_check_values_are_the_first_four_bytes_of_e_k_zero() {
    for (key, check) in [(MAK, "666CB203"), (PIK, "6EB8E4EE")] {
        let full = kcv_full(&h(key), KcvMethod::Tdes).unwrap();
        assert_eq!(hex::encode(&full[..4]), check, "KCV of {key}");
        verify_kcv(&h(key), KcvMethod::Tdes, &h(check)).unwrap();
    }
    // The MAK travels padded with 00×8 in the 003 layout; its check value uses the 8 real bytes.
    let padded = [h(MAK), vec![0; 8]].concat();
    assert_ne!(hex::encode(&kcv_full(&padded, KcvMethod::Tdes).unwrap()[..4]), "666CB203");
}

#[test]
fn pin_block_in_field_52() {
    let pin = Secret::new(b"123456");
    assert_eq!(hex::encode(&pinblock::pan_field(PAN).unwrap()), "0000110000000002");
    let clear = pinblock::encode(PinFormat::Iso0, &pin, Some(PAN)).unwrap();
    assert_eq!(hex::encode(clear.expose()), "06122556FFFFFFFD");
    let encrypted = pinblock::encipher(&h(PIK), &clear).unwrap();
    assert_eq!(hex::encode(&encrypted), "3D87C8B8FA17C67C");
    assert_eq!(pinblock::encrypt_pin(PinFormat::Iso0, &h(PIK), &pin, Some(PAN)).unwrap(), encrypted);
    assert_eq!(pinblock::decipher(&h(PIK), &encrypted).unwrap(), clear);
    assert_eq!(pinblock::decrypt_pin(PinFormat::Iso0, &h(PIK), &encrypted, Some(PAN)).unwrap(), pin);
    // The MAB carries this block as field 52.
    assert!(MAB.contains("3D87C8B8FA17C67C"));
}

#[test]
fn mac_in_field_64() {
    let mab = h(MAB);
    let mak = unwrap_under_tmk(MAK_UNDER_TMK);
    let field = mac::cup_ecb_mac(&mak, &mab).unwrap();
    assert_eq!(&field, b"28C7AFB5");
    assert_eq!(hex::encode(&field), "3238433741464235");
    mac::verify(&h("3238433741464235"), &field).unwrap();

    // The published intermediates.
    let mut folded = [0u8; 8];
    for block in mab.chunks(8) {
        for (f, b) in folded.iter_mut().zip(block) {
            *f ^= b;
        }
    }
    assert_eq!(hex::encode(&folded), "B2B5FAEEE1A9E8A8");
    let text = hex::encode(&folded).into_bytes();
    let cipher = Cipher::des(&mak).unwrap();
    let mut e = text[..8].to_vec();
    cipher.encrypt_block(&mut e);
    assert_eq!(hex::encode(&e), "7AF65CE289184F53");
    for (x, y) in e.iter_mut().zip(&text[8..]) {
        *x ^= y;
    }
    assert_eq!(hex::encode(&e), "3FC71DDBCC200E6B");
    cipher.encrypt_block(&mut e);
    assert_eq!(hex::encode(&e), "28C7AFB533AEE74D");

    // A changed byte in the MAB changes the MAC.
    let mut tampered = mab.clone();
    tampered[20] ^= 1;
    assert!(mac::verify(&field, &mac::cup_ecb_mac(&mak, &tampered).unwrap()).is_err());
}
