//! ISO 9564-1 PIN blocks, formats 0 to 4: building and checking the clear block, and
//! enciphering it (TDES for formats 0–3, the AES construction of format 4).
//!
//! | Format | Size | Clear PIN field | Combined with |
//! |---|---|---|---|
//! | 0 | 8 B | `0 N P…P F…F` | XOR with the PAN field [`pan_field`] |
//! | 1 | 8 B | `1 N P…P T…T`, T any nibble (random or a sequence) | nothing |
//! | 2 | 8 B | `2 N P…P F…F` (ICC offline PIN) | nothing |
//! | 3 | 8 B | `3 N P…P R…R`, R random in A–F | XOR with the PAN field [`pan_field`] |
//! | 4 | 16 B | `4 N P…P A…A` to nibble 15, then 8 random bytes | AES with [`pan_field_iso4`] |
//!
//! A clear PIN is a [`Secret`] holding its digits as ASCII (`b"1234"`); a clear PIN block is a
//! [`Secret`] too. Errors never carry a PIN, a PAN or a PIN block, nor the PIN's length.

use zeroize::Zeroizing;

use crate::cipher::{Cipher, Family, xor_in_place};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The fewest and most digits a PIN may have.
pub const PIN_LENGTHS: std::ops::RangeInclusive<usize> = 4..=12;

/// An ISO 9564-1 PIN block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinFormat {
    Iso0,
    Iso1,
    Iso2,
    Iso3,
    Iso4,
}

impl PinFormat {
    pub fn from_number(number: u8) -> Result<PinFormat> {
        Ok(match number {
            0 => PinFormat::Iso0,
            1 => PinFormat::Iso1,
            2 => PinFormat::Iso2,
            3 => PinFormat::Iso3,
            4 => PinFormat::Iso4,
            _ => return Err(Error::input("PIN block format", "must be 0, 1, 2, 3 or 4")),
        })
    }

    /// The format number, which is also the block's control nibble.
    pub fn number(self) -> u8 {
        match self {
            PinFormat::Iso0 => 0,
            PinFormat::Iso1 => 1,
            PinFormat::Iso2 => 2,
            PinFormat::Iso3 => 3,
            PinFormat::Iso4 => 4,
        }
    }

    /// Bytes in a block of this format: 8, or 16 for format 4.
    pub fn block_len(self) -> usize {
        if self == PinFormat::Iso4 { 16 } else { 8 }
    }

    /// Whether the PAN takes part: XORed into the clear block (formats 0 and 3) or into the
    /// AES encipherment (format 4; [`encode`] and [`decode`] of the clear field do not use it).
    pub fn uses_pan(self) -> bool {
        matches!(self, PinFormat::Iso0 | PinFormat::Iso3 | PinFormat::Iso4)
    }

    /// How many fill nibbles [`encode_with_fill`] takes for a PIN of `pin_len` digits: none for
    /// formats 0 and 2 (the fill is F), `14 − pin_len` for formats 1 and 3, and 16 for format 4
    /// (its 8 random bytes; the A fill of its PIN field is fixed).
    pub fn fill_nibbles(self, pin_len: usize) -> usize {
        match self {
            PinFormat::Iso0 | PinFormat::Iso2 => 0,
            PinFormat::Iso1 | PinFormat::Iso3 => 14usize.saturating_sub(pin_len),
            PinFormat::Iso4 => 16,
        }
    }
}

/// The PAN field of formats 0 and 3: `0000` then the rightmost 12 PAN digits excluding the
/// check digit, left-padded with zeros. The PAN must be 12 to 19 digits.
pub fn pan_field(pan: &str) -> Result<[u8; 8]> {
    let digits = pan_digits(pan, 12)?;
    let body = &digits[..digits.len() - 1];
    let take = &body[body.len().saturating_sub(12)..];
    let mut nibbles = [0u8; 16];
    for (slot, digit) in nibbles[16 - take.len()..].iter_mut().zip(take) {
        *slot = digit - b'0';
    }
    let mut field = [0u8; 8];
    pack(&nibbles, &mut field);
    Ok(field)
}

/// The PAN field of format 4: M = (PAN length − 12), then the PAN (left-padded with zeros to
/// 12 digits if shorter, M then 0), then `0` nibbles to 16 bytes. The PAN must be 1 to 19
/// digits.
pub fn pan_field_iso4(pan: &str) -> Result<[u8; 16]> {
    let digits = pan_digits(pan, 1)?;
    let mut nibbles = [0u8; 32];
    nibbles[0] = digits.len().saturating_sub(12) as u8;
    let start = 1 + 12usize.saturating_sub(digits.len());
    for (slot, digit) in nibbles[start..].iter_mut().zip(digits) {
        *slot = digit - b'0';
    }
    let mut field = [0u8; 16];
    pack(&nibbles, &mut field);
    Ok(field)
}

/// The clear PIN block for `pin` (ASCII digits), with fresh random fill where the format has
/// it: format 1's transaction field, format 3's A–F fill, format 4's 8 random bytes. `pan` is
/// needed for formats 0 and 3 and ignored otherwise (format 4 uses it when enciphering).
pub fn encode(format: PinFormat, pin: &Secret, pan: Option<&str>) -> Result<Secret> {
    check_pin(pin)?;
    let fill = random_fill(format, format.fill_nibbles(pin.len()))?;
    encode_with_fill(format, pin, pan, &fill)
}

/// [`encode`] with the fill given: `fill` holds nibble values (0–15, one per element), exactly
/// [`PinFormat::fill_nibbles`] of them: none for formats 0 and 2, any nibble for format 1, A–F
/// for format 3, and for format 4 the 16 nibbles of its random half. For tests and the
/// calculator; live PIN blocks come from [`encode`].
pub fn encode_with_fill(format: PinFormat, pin: &Secret, pan: Option<&str>, fill: &[u8]) -> Result<Secret> {
    check_pin(pin)?;
    let digits = pin.expose();
    let length = digits.len();
    if fill.len() != format.fill_nibbles(length) {
        return Err(Error::input("fill", "wrong number of nibbles for this format and PIN length"));
    }
    if fill.iter().any(|&nibble| nibble > 0xF) {
        return Err(Error::input("fill", "each element is one nibble, from zero to F"));
    }
    if format == PinFormat::Iso3 && fill.iter().any(|&nibble| nibble < 0xA) {
        return Err(Error::input("fill", "format three fill nibbles must be A to F"));
    }
    let mut nibbles = Zeroizing::new(vec![0u8; format.block_len() * 2]);
    nibbles[0] = format.number();
    nibbles[1] = length as u8;
    for (slot, digit) in nibbles[2..].iter_mut().zip(digits) {
        *slot = digit - b'0';
    }
    let rest = &mut nibbles[2 + length..];
    match format {
        PinFormat::Iso0 | PinFormat::Iso2 => rest.fill(0xF),
        PinFormat::Iso1 | PinFormat::Iso3 => rest.copy_from_slice(fill),
        PinFormat::Iso4 => {
            let (a_fill, random) = rest.split_at_mut(14 - length);
            a_fill.fill(0xA);
            random.copy_from_slice(fill);
        }
    }
    let mut block = vec![0u8; format.block_len()];
    pack(&nibbles, &mut block);
    if matches!(format, PinFormat::Iso0 | PinFormat::Iso3) {
        xor_in_place(&mut block, &pan_field(need_pan(pan)?)?);
    }
    Ok(Secret::from_vec(block))
}

/// The PIN (ASCII digits) in a clear PIN block, after checking the control nibble, that the
/// length is 4–12, that the PIN digits are decimal, and the fill: F for formats 0 and 2, A–F
/// for format 3, A for format 4's PIN field (format 1's fill is free). `pan` is needed for
/// formats 0 and 3 and ignored otherwise; for format 4 `block` is the deciphered PIN field.
pub fn decode(format: PinFormat, block: &[u8], pan: Option<&str>) -> Result<Secret> {
    if block.len() != format.block_len() {
        let why = if format == PinFormat::Iso4 { "must be sixteen bytes" } else { "must be eight bytes" };
        return Err(Error::input("PIN block", why));
    }
    let mut clear = Zeroizing::new(block.to_vec());
    if matches!(format, PinFormat::Iso0 | PinFormat::Iso3) {
        xor_in_place(&mut clear, &pan_field(need_pan(pan)?)?);
    }
    let nibbles = unpack(&clear);
    let bad = |why: &'static str| Err(Error::input("PIN block", why));
    if nibbles[0] != format.number() {
        return bad("the control nibble does not match the format");
    }
    let length = usize::from(nibbles[1]);
    if !PIN_LENGTHS.contains(&length) {
        return bad("the PIN length nibble is out of range");
    }
    if nibbles[2..2 + length].iter().any(|&nibble| nibble > 9) {
        return bad("the PIN digits are not all decimal");
    }
    let fill = &nibbles[2 + length..16];
    let fill_ok = match format {
        PinFormat::Iso0 | PinFormat::Iso2 => fill.iter().all(|&nibble| nibble == 0xF),
        PinFormat::Iso1 => true,
        PinFormat::Iso3 => fill.iter().all(|&nibble| nibble >= 0xA),
        PinFormat::Iso4 => fill.iter().all(|&nibble| nibble == 0xA),
    };
    if !fill_ok {
        return bad(match format {
            PinFormat::Iso3 => "the fill nibbles are not all A to F",
            PinFormat::Iso4 => "the fill nibbles are not all A",
            _ => "the fill nibbles are not all F",
        });
    }
    Ok(Secret::from_vec(nibbles[2..2 + length].iter().map(|digit| digit + b'0').collect()))
}

/// Encipher a clear format 0–3 PIN block (8 bytes) under a DES or TDES PIN key, ECB.
pub fn encipher(key: &[u8], clear_block: &Secret) -> Result<[u8; 8]> {
    encipher_with(&Cipher::tdes(key)?, clear_block)
}

/// [`encipher`] under a DES or TDES cipher made already: a cached key's kept schedules (a TDES
/// key schedule per PIN block was 1–1.5 % of the acquirer's and the issuer's CPU), or a
/// terminal's PIK.
pub fn encipher_with(cipher: &Cipher, clear_block: &Secret) -> Result<[u8; 8]> {
    cipher.check_family(Family::Tdes)?;
    if clear_block.len() != 8 {
        return Err(Error::input("PIN block", "must be eight bytes"));
    }
    let mut block = [0u8; 8];
    block.copy_from_slice(clear_block.expose());
    cipher.encrypt_block(&mut block);
    Ok(block)
}

/// Decipher a format 0–3 PIN block (8 bytes) under a DES or TDES PIN key: the clear block,
/// still to be [`decode`]d.
pub fn decipher(key: &[u8], block: &[u8]) -> Result<Secret> {
    decipher_with(&Cipher::tdes(key)?, block)
}

/// [`decipher`] under a DES or TDES cipher made already.
pub fn decipher_with(cipher: &Cipher, block: &[u8]) -> Result<Secret> {
    cipher.check_family(Family::Tdes)?;
    if block.len() != 8 {
        return Err(Error::input("PIN block", "must be eight bytes"));
    }
    let mut clear = block.to_vec();
    cipher.decrypt_block(&mut clear);
    Ok(Secret::from_vec(clear))
}

/// Format 4 encipherment of a clear PIN field P (16 bytes, from [`encode`]) under an AES key:
/// `C = AES_K(AES_K(P) XOR A)` with A the [`pan_field_iso4`].
pub fn encipher_iso4(key: &[u8], pin_field: &Secret, pan: &str) -> Result<[u8; 16]> {
    encipher_iso4_with(&Cipher::aes(key)?, pin_field, pan)
}

/// [`encipher_iso4`] under an AES cipher made already.
pub fn encipher_iso4_with(cipher: &Cipher, pin_field: &Secret, pan: &str) -> Result<[u8; 16]> {
    cipher.check_family(Family::Aes)?;
    if pin_field.len() != 16 {
        return Err(Error::input("PIN field", "must be sixteen bytes"));
    }
    let pan_field = pan_field_iso4(pan)?;
    let mut block = [0u8; 16];
    block.copy_from_slice(pin_field.expose());
    cipher.encrypt_block(&mut block);
    xor_in_place(&mut block, &pan_field);
    cipher.encrypt_block(&mut block);
    Ok(block)
}

/// Format 4 decipherment to the clear PIN field: `P = AES⁻¹_K(AES⁻¹_K(C) XOR A)`.
pub fn decipher_iso4_field(key: &[u8], block: &[u8], pan: &str) -> Result<Secret> {
    decipher_iso4_field_with(&Cipher::aes(key)?, block, pan)
}

/// [`decipher_iso4_field`] under an AES cipher made already.
pub fn decipher_iso4_field_with(cipher: &Cipher, block: &[u8], pan: &str) -> Result<Secret> {
    cipher.check_family(Family::Aes)?;
    if block.len() != 16 {
        return Err(Error::input("PIN block", "must be sixteen bytes"));
    }
    let pan_field = pan_field_iso4(pan)?;
    let mut clear = block.to_vec();
    cipher.decrypt_block(&mut clear);
    xor_in_place(&mut clear, &pan_field);
    cipher.decrypt_block(&mut clear);
    Ok(Secret::from_vec(clear))
}

/// Format 4 decipherment to the PIN, checking the recovered PIN field as [`decode`] does.
pub fn decipher_iso4(key: &[u8], block: &[u8], pan: &str) -> Result<Secret> {
    decipher_iso4_with(&Cipher::aes(key)?, block, pan)
}

/// [`decipher_iso4`] under an AES cipher made already.
pub fn decipher_iso4_with(cipher: &Cipher, block: &[u8], pan: &str) -> Result<Secret> {
    let field = decipher_iso4_field_with(cipher, block, pan)?;
    decode(PinFormat::Iso4, field.expose(), None)
}

/// The family `format` is enciphered with, AES (format 4) or DES/TDES (formats 0–3): the
/// cipher [`encrypt_pin`] and [`decrypt_pin`] build from key bytes, and so the family a kept
/// cipher must be of to stand in for the bytes.
pub fn cipher_family(format: PinFormat) -> Family {
    if format == PinFormat::Iso4 { Family::Aes } else { Family::Tdes }
}

/// The cipher [`encrypt_pin`] and [`decrypt_pin`] build from `key` for `format`: AES for
/// format 4 (whose PAN is checked first, as it always was), DES or TDES for formats 0–3.
fn format_cipher(format: PinFormat, key: &[u8], pan: Option<&str>) -> Result<Cipher> {
    match cipher_family(format) {
        Family::Aes => {
            need_pan(pan)?;
            Cipher::aes(key)
        }
        Family::Tdes => Cipher::tdes(key),
    }
}

/// Build and encipher a PIN block in one step: TDES for formats 0–3, AES for format 4 (which
/// needs the PAN). The PIN and PAN are checked before the key.
pub fn encrypt_pin(format: PinFormat, key: &[u8], pin: &Secret, pan: Option<&str>) -> Result<Vec<u8>> {
    let clear = encode(format, pin, pan)?;
    encipher_for(format, &format_cipher(format, key, pan)?, &clear, pan)
}

/// [`encrypt_pin`] under a cipher made already: DES/TDES for formats 0–3, AES for format 4
/// ([`cipher_family`]); a cipher of the other family is refused.
pub fn encrypt_pin_with(format: PinFormat, cipher: &Cipher, pin: &Secret, pan: Option<&str>) -> Result<Vec<u8>> {
    let clear = encode(format, pin, pan)?;
    encipher_for(format, cipher, &clear, pan)
}

/// The enciphering half of [`encrypt_pin`] and [`encrypt_pin_with`].
fn encipher_for(format: PinFormat, cipher: &Cipher, clear: &Secret, pan: Option<&str>) -> Result<Vec<u8>> {
    Ok(match format {
        PinFormat::Iso4 => encipher_iso4_with(cipher, clear, need_pan(pan)?)?.to_vec(),
        _ => encipher_with(cipher, clear)?.to_vec(),
    })
}

/// Decipher and decode a PIN block in one step: the inverse of [`encrypt_pin`].
pub fn decrypt_pin(format: PinFormat, key: &[u8], block: &[u8], pan: Option<&str>) -> Result<Secret> {
    decrypt_pin_with(format, &format_cipher(format, key, pan)?, block, pan)
}

/// [`decrypt_pin`] under a cipher made already (the family as for [`encrypt_pin_with`]).
pub fn decrypt_pin_with(format: PinFormat, cipher: &Cipher, block: &[u8], pan: Option<&str>) -> Result<Secret> {
    match format {
        PinFormat::Iso4 => decipher_iso4_with(cipher, block, need_pan(pan)?),
        _ => decode(format, decipher_with(cipher, block)?.expose(), pan),
    }
}

fn check_pin(pin: &Secret) -> Result<()> {
    let digits = pin.expose();
    if !PIN_LENGTHS.contains(&digits.len()) {
        return Err(Error::input("PIN", "must be four to twelve digits"));
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::input("PIN", "must be decimal digits only"));
    }
    Ok(())
}

fn pan_digits(pan: &str, min: usize) -> Result<&[u8]> {
    let digits = pan.as_bytes();
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::input("PAN", "must be decimal digits only"));
    }
    if digits.len() < min || digits.len() > 19 {
        let why = if min == 12 { "must be twelve to nineteen digits" } else { "must be one to nineteen digits" };
        return Err(Error::input("PAN", why));
    }
    Ok(digits)
}

fn need_pan(pan: Option<&str>) -> Result<&str> {
    pan.ok_or_else(|| Error::input("PAN", "this PIN block format needs the PAN"))
}

/// `count` random fill nibbles as the format wants them.
fn random_fill(format: PinFormat, count: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut fill = Zeroizing::new(Vec::with_capacity(count));
    while fill.len() < count {
        let random = Secret::random(count)?;
        for &byte in random.expose() {
            match format {
                // Uniform over A–F: reject the top 4 byte values (256 = 6 × 42 + 4).
                PinFormat::Iso3 if byte < 252 => fill.push(0xA + byte % 6),
                PinFormat::Iso3 => {}
                _ => fill.push(byte & 0x0F),
            }
        }
        fill.truncate(count);
    }
    Ok(fill)
}

fn pack(nibbles: &[u8], out: &mut [u8]) {
    for (byte, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
        *byte = (pair[0] << 4) | pair[1];
    }
}

fn unpack(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(bytes.iter().flat_map(|byte| [byte >> 4, byte & 0x0F]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    fn pin(digits: &str) -> Secret {
        Secret::new(digits.as_bytes())
    }

    fn nibbles(text: &str) -> Vec<u8> {
        text.bytes().map(|c| hex::nibble(c).unwrap()).collect()
    }

    /// The error's text (Display and Debug) holds none of the characters of `secrets`.
    fn assert_reveals_none(error: &Error, secrets: &[&str]) {
        for shown in [error.to_string(), format!("{error:?}")] {
            for secret in secrets {
                for c in secret.chars().filter(char::is_ascii_digit) {
                    assert!(!shown.contains(c), "error {shown:?} contains the digit {c}");
                }
            }
        }
    }

    #[test]
    fn formats_by_number() {
        for number in 0..=4 {
            assert_eq!(PinFormat::from_number(number).unwrap().number(), number);
        }
        assert!(PinFormat::from_number(5).is_err());
        assert_eq!(PinFormat::Iso4.block_len(), 16);
        assert_eq!(PinFormat::Iso3.fill_nibbles(4), 10);
        assert!(PinFormat::Iso0.uses_pan() && !PinFormat::Iso2.uses_pan());
    }

    #[test]
    fn pan_fields() {
        assert_eq!(hex::encode(&pan_field("4012345678909").unwrap()), "0000401234567890");
        assert_eq!(hex::encode(&pan_field("43219876543210987").unwrap()), "0000987654321098");
        assert_eq!(hex::encode(&pan_field("123456789012").unwrap()), "0000012345678901");
        assert_eq!(hex::encode(&pan_field("1234567890123456789").unwrap()), "0000789012345678");
        assert_eq!(hex::encode(&pan_field_iso4("4111111111111111").unwrap()), "44111111111111111000000000000000");
        assert_eq!(hex::encode(&pan_field_iso4("123456789").unwrap()), "00001234567890000000000000000000");
        assert_eq!(hex::encode(&pan_field_iso4("1234567890123456789").unwrap()), "71234567890123456789000000000000");
    }

    #[test]
    fn format_0_known_answer_and_round_trip() {
        let block = encode(PinFormat::Iso0, &pin("1234"), Some("4012345678909")).unwrap();
        assert_eq!(hex::encode(block.expose()), "041274EDCBA9876F");
        assert_eq!(decode(PinFormat::Iso0, block.expose(), Some("4012345678909")).unwrap(), pin("1234"));
    }

    #[test]
    fn every_format_round_trips_with_random_fill() {
        let tdes = h("0123456789ABCDEFFEDCBA9876543210");
        let aes = h("00112233445566778899AABBCCDDEEFF");
        let pan = Some("5555555551234567");
        for number in 0..=4 {
            let format = PinFormat::from_number(number).unwrap();
            for digits in ["0000", "12345", "987654321098"] {
                let block = encode(format, &pin(digits), pan).unwrap();
                assert_eq!(block.len(), format.block_len());
                assert_eq!(decode(format, block.expose(), pan).unwrap(), pin(digits), "format {number}");
                let key = if format == PinFormat::Iso4 { &aes } else { &tdes };
                let encrypted = encrypt_pin(format, key, &pin(digits), pan).unwrap();
                assert_eq!(decrypt_pin(format, key, &encrypted, pan).unwrap(), pin(digits), "format {number}");
            }
        }
    }

    #[test]
    fn random_fill_stays_in_range_and_varies() {
        for _ in 0..50 {
            let block = encode(PinFormat::Iso3, &pin("1234"), Some("4012345678909")).unwrap();
            let clear = xor_with(block.expose(), &pan_field("4012345678909").unwrap());
            assert!(unpack(&clear)[6..].iter().all(|&n| (0xA..=0xF).contains(&n)));
        }
        let a = encode(PinFormat::Iso4, &pin("1234"), None).unwrap();
        let b = encode(PinFormat::Iso4, &pin("1234"), None).unwrap();
        assert_eq!(a.expose()[..8], b.expose()[..8]);
        assert_ne!(a.expose()[8..], b.expose()[8..]);
        assert_eq!(hex::encode(&a.expose()[..8]), "441234AAAAAAAAAA");
        let a = encode(PinFormat::Iso1, &pin("1234"), None).unwrap();
        let b = encode(PinFormat::Iso1, &pin("1234"), None).unwrap();
        assert_ne!(a, b);
    }

    fn xor_with(a: &[u8], b: &[u8]) -> Vec<u8> {
        crate::cipher::xor(a, b)
    }

    #[test]
    fn deterministic_fill() {
        let block = encode_with_fill(PinFormat::Iso1, &pin("12345"), None, &nibbles("EDCBA9876")).unwrap();
        assert_eq!(hex::encode(block.expose()), "1512345EDCBA9876");
        let field = encode_with_fill(PinFormat::Iso4, &pin("1234"), None, &nibbles("2F69ADDE2E9E7ACE")).unwrap();
        assert_eq!(hex::encode(field.expose()), "441234AAAAAAAAAA2F69ADDE2E9E7ACE");
        // Wrong count, out-of-range values, and digits as format 3 fill are refused.
        assert!(encode_with_fill(PinFormat::Iso1, &pin("12345"), None, &nibbles("EDCBA987")).is_err());
        assert!(encode_with_fill(PinFormat::Iso0, &pin("1234"), Some("4012345678909"), &[0xF]).is_err());
        assert!(encode_with_fill(PinFormat::Iso1, &pin("1234"), None, &[0x10; 10]).is_err());
        assert!(encode_with_fill(PinFormat::Iso3, &pin("1234"), Some("4012345678909"), &[9; 10]).is_err());
    }

    #[test]
    fn bad_pins_are_refused_without_revealing_them() {
        for digits in ["777", "7777777777777", "77a7", "", "７７７７"] {
            for number in 0..=4 {
                let format = PinFormat::from_number(number).unwrap();
                let error = encode(format, &pin(digits), Some("4012345678909")).unwrap_err();
                assert!(matches!(error, Error::Input { what: "PIN", .. }), "{error}");
                assert_reveals_none(&error, &[digits]);
            }
        }
    }

    #[test]
    fn bad_pans_are_refused_without_revealing_them() {
        let the_pin = pin("1234");
        for pan in ["55555X5555555", "5555 55555555", "55555555555", "55555555555555555555", ""] {
            let error = encode(PinFormat::Iso0, &the_pin, Some(pan)).unwrap_err();
            assert!(matches!(error, Error::Input { what: "PAN", .. }), "{error}");
            assert_reveals_none(&error, &[pan, "1234"]);
            assert!(pan_field(pan).is_err());
        }
        for pan in ["", "5555X", "55555555555555555555"] {
            let error = pan_field_iso4(pan).unwrap_err();
            assert_reveals_none(&error, &[pan]);
        }
        let error = encode(PinFormat::Iso3, &the_pin, None).unwrap_err();
        assert!(matches!(error, Error::Input { what: "PAN", .. }));
        assert!(decode(PinFormat::Iso0, &[0; 8], None).is_err());
    }

    #[test]
    fn decode_checks_control_length_digits_and_fill() {
        let pan = Some("4012345678909");
        let field = pan_field("4012345678909").unwrap();
        let cases: [(PinFormat, &str); 12] = [
            (PinFormat::Iso0, "141234FFFFFFFFFF"),                 // control nibble
            (PinFormat::Iso0, "031234FFFFFFFFFF"),                 // length below 4
            (PinFormat::Iso0, "0D1234FFFFFFFFFF"),                 // length above 12
            (PinFormat::Iso0, "04123AFFFFFFFFFF"),                 // non-decimal PIN digit
            (PinFormat::Iso0, "041234FFFFFFFFFE"),                 // fill not F
            (PinFormat::Iso0, "041234AAAAAAAAAA"),                 // format 3 fill in a format 0 block
            (PinFormat::Iso2, "241234FFFFFFFF0F"),                 // fill not F
            (PinFormat::Iso3, "341234ABCDEF9ABC"),                 // fill not A-F
            (PinFormat::Iso3, "341234FFFFFFFFF0"),                 // fill not A-F
            (PinFormat::Iso1, "241234FFFFFFFFFF"),                 // control nibble
            (PinFormat::Iso4, "441234AAAAAAAAAB0000000000000000"), // fill not A
            (PinFormat::Iso4, "44123AAAAAAAAAAA0000000000000000"), // PIN digit
        ];
        for (format, clear) in cases {
            let mut block = h(clear);
            if matches!(format, PinFormat::Iso0 | PinFormat::Iso3) {
                xor_in_place(&mut block, &field);
            }
            let error = decode(format, &block, pan).unwrap_err();
            assert!(matches!(error, Error::Input { what: "PIN block", .. }), "{clear}: {error}");
            assert_reveals_none(&error, &["1234", "4012345678909"]);
        }
        // Format 1's fill is free, format 3's may be F.
        assert_eq!(decode(PinFormat::Iso1, &h("1412340123456789"), None).unwrap(), pin("1234"));
        let mut block = h("341234FFFFFFFFFF");
        xor_in_place(&mut block, &field);
        assert_eq!(decode(PinFormat::Iso3, &block, pan).unwrap(), pin("1234"));
        // Wrong sizes.
        assert!(decode(PinFormat::Iso0, &[0; 16], pan).is_err());
        assert!(decode(PinFormat::Iso4, &[0; 8], None).is_err());
    }

    #[test]
    fn a_wrong_pan_or_key_does_not_decode() {
        let key = h("0123456789ABCDEFFEDCBA9876543210");
        let block = encrypt_pin(PinFormat::Iso0, &key, &pin("1234"), Some("4012345678909")).unwrap();
        assert!(decrypt_pin(PinFormat::Iso0, &key, &block, Some("4012345678917")).is_err());
        let aes = h("00112233445566778899AABBCCDDEEFF");
        let block = encrypt_pin(PinFormat::Iso4, &aes, &pin("1234"), Some("4111111111111111")).unwrap();
        assert!(decrypt_pin(PinFormat::Iso4, &aes, &block, Some("4111111111111112")).is_err());
        assert!(decrypt_pin(PinFormat::Iso4, &aes, &block, None).is_err());
        assert!(matches!(
            encrypt_pin(PinFormat::Iso4, &key[..8], &pin("1234"), Some("4111111111111111")),
            Err(Error::KeyLength { .. })
        ));
        assert!(matches!(encipher(&[0; 32], &pin("12345678")), Err(Error::KeyLength { .. })));
        assert!(encipher(&key, &pin("1234")).is_err());
    }

    /// The `_with` forms under a cipher made once answer as the byte-key forms, and refuse a
    /// cipher of the other family instead of panicking on its block size.
    #[test]
    fn with_a_cipher_made_once() {
        let (tdes_key, aes_key) = (h("0123456789ABCDEFFEDCBA9876543210"), h("00112233445566778899AABBCCDDEEFF"));
        let (tdes, aes) = (Cipher::tdes(&tdes_key).unwrap(), Cipher::aes(&aes_key).unwrap());
        let pan = Some("4012345678909");
        let block = encrypt_pin_with(PinFormat::Iso0, &tdes, &pin("1234"), pan).unwrap();
        assert_eq!(block, encrypt_pin(PinFormat::Iso0, &tdes_key, &pin("1234"), pan).unwrap());
        assert_eq!(decrypt_pin_with(PinFormat::Iso0, &tdes, &block, pan).unwrap(), pin("1234"));
        let iso4 = encrypt_pin_with(PinFormat::Iso4, &aes, &pin("1234"), pan).unwrap();
        assert_eq!(decrypt_pin(PinFormat::Iso4, &aes_key, &iso4, pan).unwrap(), pin("1234"));
        let unsupported = |result: Result<Vec<u8>>| matches!(result, Err(Error::Unsupported(_)));
        assert!(unsupported(encrypt_pin_with(PinFormat::Iso0, &aes, &pin("1234"), pan)));
        assert!(unsupported(encrypt_pin_with(PinFormat::Iso4, &tdes, &pin("1234"), pan)));
        assert!(matches!(decrypt_pin_with(PinFormat::Iso3, &aes, &block, pan), Err(Error::Unsupported(_))));
        assert!(matches!(decrypt_pin_with(PinFormat::Iso4, &tdes, &iso4, pan), Err(Error::Unsupported(_))));
        // The byte-key forms still check the PIN and the PAN before the key, as they always did.
        let bad_pin = encrypt_pin(PinFormat::Iso0, &[0; 5], &pin("12"), pan).unwrap_err();
        assert!(matches!(bad_pin, Error::Input { what: "PIN", .. }), "{bad_pin}");
        let no_pan = decrypt_pin(PinFormat::Iso4, &[0; 5], &iso4, None).unwrap_err();
        assert!(matches!(no_pan, Error::Input { what: "PAN", .. }), "{no_pan}");
    }

    #[test]
    fn format_4_known_answer() {
        let key = h("00112233445566778899AABBCCDDEEFF");
        let field = encode_with_fill(PinFormat::Iso4, &pin("1234"), None, &[0xF; 16]).unwrap();
        let block = encipher_iso4(&key, &field, "1234567890123456789").unwrap();
        assert_eq!(hex::encode(&block), "28B41FDDD29B743E93124BD8E32D921E");
        assert_eq!(decipher_iso4_field(&key, &block, "1234567890123456789").unwrap(), field);
        assert_eq!(decipher_iso4(&key, &block, "1234567890123456789").unwrap(), pin("1234"));
    }
}
