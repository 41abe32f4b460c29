//! `pin-*` vectors: ISO 9564-1 PIN blocks (formats 0–3 clear blocks, format 4 PAN fields and
//! AES encipherment). Every intermediate a vector gives is checked; an unknown one fails.

use hsm::Secret;
use hsm::cipher::{Cipher, xor};
use hsm::pinblock::{self, PinFormat};
use iso8583::hex;
use serde_json::Value;

use crate::{hex_at, opt_str, str_at};

pub fn check(vector: &Value) {
    let id = str_at(vector, "/id");
    let number = id.strip_prefix("pin-iso").and_then(|rest| rest.bytes().next()).map(|c| c - b'0');
    let format = PinFormat::from_number(number.unwrap_or(u8::MAX)).unwrap_or_else(|_| panic!("{id}: no format in id"));
    if id.starts_with("pin-iso4-panfield-") {
        check_pan_field_iso4(vector);
    } else if format == PinFormat::Iso4 {
        check_iso4(vector);
    } else {
        check_clear_block(vector, format);
    }
}

/// Nibble values of a hex string (`"EDC"` → `[0xE, 0xD, 0xC]`).
fn nibbles(text: &str) -> Vec<u8> {
    text.bytes().map(|c| hex::nibble(c).unwrap_or_else(|| panic!("{text:?} is not hex"))).collect()
}

fn intermediates(vector: &Value) -> Vec<(&str, &str)> {
    match vector.pointer("/intermediates") {
        None => Vec::new(),
        Some(map) => map
            .as_object()
            .expect("intermediates is an object")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().expect("intermediate values are strings")))
            .collect(),
    }
}

fn check_clear_block(vector: &Value, format: PinFormat) {
    let pin = Secret::new(str_at(vector, "/inputs/pin").as_bytes());
    let pan = opt_str(vector, "/inputs/pan");
    assert_eq!(pan.is_some(), format.uses_pan(), "PAN given exactly when the format uses one");
    let fill = opt_str(vector, "/inputs/fill_digits").map(nibbles).unwrap_or_default();
    let expected = str_at(vector, "/expected");

    let block = pinblock::encode_with_fill(format, &pin, pan, &fill).unwrap();
    assert_eq!(hex::encode(block.expose()), expected, "clear PIN block");
    if fill.is_empty() {
        // No random part: encode gives the same block.
        assert_eq!(pinblock::encode(format, &pin, pan).unwrap(), block, "encode");
    } else {
        let random = pinblock::encode(format, &pin, pan).unwrap();
        assert_eq!(pinblock::decode(format, random.expose(), pan).unwrap(), pin, "random fill decodes");
    }
    assert_eq!(pinblock::decode(format, &hex_at(vector, "/expected"), pan).unwrap(), pin, "decode");

    for (name, value) in intermediates(vector) {
        let actual = match name {
            "pan_field" => hex::encode(&pinblock::pan_field(pan.expect("PAN")).unwrap()),
            "pin_field" => match pan {
                Some(pan) => hex::encode(&xor(block.expose(), &pinblock::pan_field(pan).unwrap())),
                None => hex::encode(block.expose()),
            },
            other => panic!("unchecked intermediate {other}"),
        };
        assert_eq!(actual, value, "intermediate {name}");
    }
}

fn check_pan_field_iso4(vector: &Value) {
    let field = pinblock::pan_field_iso4(str_at(vector, "/inputs/pan")).unwrap();
    assert_eq!(hex::encode(&field), str_at(vector, "/expected"));
    assert!(intermediates(vector).is_empty(), "unchecked intermediates");
}

fn check_iso4(vector: &Value) {
    let key = hex_at(vector, "/inputs/key");
    let pan = str_at(vector, "/inputs/pan");
    let aes = Cipher::aes(&key).unwrap();
    let pan_field = pinblock::pan_field_iso4(pan).unwrap();

    if let Some(pin_field_hex) = opt_str(vector, "/inputs/pin_field") {
        // Encipherment: PIN and the PIN field's random half given; expected is the block.
        let pin = Secret::new(str_at(vector, "/inputs/pin").as_bytes());
        let field = pinblock::encode_with_fill(PinFormat::Iso4, &pin, None, &nibbles(&pin_field_hex[16..])).unwrap();
        assert_eq!(hex::encode(field.expose()), pin_field_hex, "PIN field");
        let block = pinblock::encipher_iso4(&key, &field, pan).unwrap();
        assert_eq!(hex::encode(&block), str_at(vector, "/expected"), "enciphered block");
        assert_eq!(pinblock::decipher_iso4_field(&key, &block, pan).unwrap(), field, "deciphered field");
        assert_eq!(pinblock::decipher_iso4(&key, &block, pan).unwrap(), pin, "deciphered PIN");
        assert_eq!(pinblock::decrypt_pin(PinFormat::Iso4, &key, &block, Some(pan)).unwrap(), pin);
        let again = pinblock::encrypt_pin(PinFormat::Iso4, &key, &pin, Some(pan)).unwrap();
        assert_eq!(pinblock::decrypt_pin(PinFormat::Iso4, &key, &again, Some(pan)).unwrap(), pin, "random fill");

        let mut a = field.expose().to_vec();
        aes.encrypt_block(&mut a);
        let b = xor(&a, &pan_field);
        let mut c = b.clone();
        aes.encrypt_block(&mut c);
        for (name, value) in intermediates(vector) {
            let actual = match name {
                "pan_field" => &pan_field[..],
                "A" | "A=AES(K,pin_field)" => &a,
                "B" | "B=A xor pan_field" => &b,
                "C=AES(K,B)" => &c,
                other => panic!("unchecked intermediate {other}"),
            };
            assert_eq!(hex::encode(actual), value, "intermediate {name}");
        }
    } else {
        // Decipherment: the block given; expected are the PIN and the recovered PIN field.
        let block = hex_at(vector, "/inputs/pin_block");
        let pin = Secret::new(str_at(vector, "/expected/pin").as_bytes());
        let field = pinblock::decipher_iso4_field(&key, &block, pan).unwrap();
        assert_eq!(hex::encode(field.expose()), str_at(vector, "/expected/recovered_pin_field"), "recovered field");
        assert_eq!(pinblock::decipher_iso4(&key, &block, pan).unwrap(), pin, "PIN");
        assert_eq!(pinblock::decode(PinFormat::Iso4, field.expose(), None).unwrap(), pin, "decode");
        assert_eq!(pinblock::encipher_iso4(&key, &field, pan).unwrap()[..], block[..], "re-encipherment");

        let mut b = block.clone();
        aes.decrypt_block(&mut b);
        let a = xor(&b, &pan_field);
        for (name, value) in intermediates(vector) {
            let actual = match name {
                "pan_field" => &pan_field[..],
                "B=AES^-1(K,block)" => &b,
                "A=B xor pan_field" => &a,
                other => panic!("unchecked intermediate {other}"),
            };
            assert_eq!(hex::encode(actual), value, "intermediate {name}");
        }
    }
}
