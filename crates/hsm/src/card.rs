//! Card and PIN verification values: Visa CVV (also Mastercard CVC: CVV, CVV2, iCVV), the
//! Visa PIN verification value (PVV), IBM 3624 PIN offsets, and the Luhn check.
//!
//! Keys are clear TDES keys; PANs, expiry dates, service codes, decimalization tables and
//! results are ASCII decimal strings; a PIN is a [`Secret`] holding its ASCII digits
//! (`b"1234"`). Errors never contain the PAN or the PIN.

use zeroize::{Zeroize, Zeroizing};

use crate::cipher::{Cipher, Family, xor_in_place};
use crate::error::{Error, Result};
use crate::mac;
use crate::secret::Secret;

/// PAN: 12 to 19 decimal digits (ISO/IEC 7812). The error says which rule failed, never the
/// value.
pub(crate) fn check_pan(pan: &str) -> Result<()> {
    if !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::input("PAN", "must be decimal digits only"));
    }
    if !(12..=19).contains(&pan.len()) {
        return Err(Error::input("PAN", format!("must be 12 to 19 digits, got {}", pan.len())));
    }
    Ok(())
}

fn check_digits(value: &str, what: &'static str, length: usize) -> Result<()> {
    if value.len() != length || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::input(what, format!("must be {length} decimal digits")));
    }
    Ok(())
}

/// The clear PIN's digits, checked to be `min..=max` ASCII decimal digits.
fn pin_digits(pin: &Secret, min: usize, max: usize) -> Result<&[u8]> {
    let digits = pin.expose();
    if !(min..=max).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::input("PIN", format!("must be {min} to {max} decimal digits")));
    }
    Ok(digits)
}

/// Packs decimal or hex digits (ASCII, an even number, already checked) into bytes.
fn pack(digits: &[u8]) -> Vec<u8> {
    let nibble = |c: u8| iso8583::hex::nibble(c).unwrap_or(0);
    digits.chunks_exact(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])).collect()
}

/// The nibbles of `bytes`, high first.
fn nibbles(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|byte| [byte >> 4, byte & 0x0F]).collect()
}

/// Visa decimalization: the block's decimal nibbles left to right, then its nibbles A–F
/// minus 10 left to right; the first `count` as ASCII digits.
fn visa_decimalize(block: &[u8], count: usize) -> Zeroizing<Vec<u8>> {
    let all = Zeroizing::new(nibbles(block));
    let decimal = all.iter().filter(|&&n| n < 10).copied();
    let letters = all.iter().filter(|&&n| n >= 10).map(|n| n - 10);
    Zeroizing::new(decimal.chain(letters).take(count).map(|d| d + b'0').collect())
}

fn ascii(digits: &[u8]) -> String {
    digits.iter().map(|&b| char::from(b)).collect()
}

/// Compare two digit strings in constant time; `Error::Verification(what)` if they differ.
fn verify_digits(expected: &[u8], received: &[u8], what: &'static str) -> Result<()> {
    mac::verify(expected, received).map_err(|_| Error::Verification(what))
}

/// Luhn (mod 10) check of a digit string, e.g. a PAN with its check digit. False for an
/// empty string or any non-digit.
pub fn luhn_valid(pan: &str) -> bool {
    !pan.is_empty() && pan.bytes().all(|b| b.is_ascii_digit()) && luhn_sum(pan.as_bytes(), false).is_multiple_of(10)
}

/// The Luhn check digit to append to `partial` (digits without their check digit), or
/// `None` if `partial` is empty or has a non-digit.
pub fn luhn_check_digit(partial: &str) -> Option<char> {
    if partial.is_empty() || !partial.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum = luhn_sum(partial.as_bytes(), true);
    char::from_digit((10 - sum % 10) % 10, 10)
}

/// Luhn sum from the right; `double_first` says whether the rightmost digit is doubled.
fn luhn_sum(digits: &[u8], double_first: bool) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &c)| {
            let digit = u32::from(c - b'0');
            if (index % 2 == 0) == double_first {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum()
}

/// Visa CVV (Mastercard CVC) under the 16-byte CVK `A ‖ B`: PAN ‖ expiry ‖ service code,
/// right-padded with zeros to 32 digits, is two blocks; `TDES_{A,B}(DES_A(block 1) XOR
/// block 2)`, Visa-decimalized, and the first 3 digits. `expiry` is 4 digits, in the order
/// the issuer encodes on the track (usually YYMM); `service_code` is 3 digits (`000` for
/// CVV2, `999` for iCVV, see [`cvv2`] and [`icvv`]).
pub fn cvv(cvk: &[u8], pan: &str, expiry: &str, service_code: &str) -> Result<String> {
    if cvk.len() != 16 {
        return Err(Error::key_length("Visa CVV (CVK A‖B)", "16", cvk.len()));
    }
    check_pan(pan)?;
    check_digits(expiry, "expiry date", 4)?;
    check_digits(service_code, "service code", 3)?;
    let mut digits = Vec::with_capacity(32);
    digits.extend_from_slice(pan.as_bytes());
    digits.extend_from_slice(expiry.as_bytes());
    digits.extend_from_slice(service_code.as_bytes());
    digits.resize(32, b'0');
    let blocks = pack(&digits);
    let mut block = [0u8; 8];
    block.copy_from_slice(&blocks[..8]);
    Cipher::des(&cvk[..8])?.encrypt_block(&mut block);
    xor_in_place(&mut block, &blocks[8..]);
    Cipher::tdes(cvk)?.encrypt_block(&mut block);
    let value = visa_decimalize(&block, 3);
    block.zeroize();
    Ok(ascii(&value))
}

/// CVV2 (printed on the card): [`cvv`] with service code `000`.
pub fn cvv2(cvk: &[u8], pan: &str, expiry: &str) -> Result<String> {
    cvv(cvk, pan, expiry, "000")
}

/// iCVV (chip track 2 equivalent data): [`cvv`] with service code `999`.
pub fn icvv(cvk: &[u8], pan: &str, expiry: &str) -> Result<String> {
    cvv(cvk, pan, expiry, "999")
}

/// Recompute the CVV and compare it with the 3 `received` digits in constant time.
pub fn verify_cvv(cvk: &[u8], pan: &str, expiry: &str, service_code: &str, received: &str) -> Result<()> {
    check_digits(received, "CVV", 3)?;
    let expected = cvv(cvk, pan, expiry, service_code)?;
    verify_digits(expected.as_bytes(), received.as_bytes(), "CVV")
}

/// Digits of a PVV.
const PVV_DIGITS: usize = 4;

/// Visa PVV: the transformed security parameter TSP = the 11 rightmost PAN digits excluding
/// the check digit ‖ PVKI (0–9) ‖ the leftmost 4 PIN digits, TDES-encrypted under the PVK
/// (8, 16 or 24 bytes; Visa uses 16), Visa-decimalized to 4 digits. The PIN has 4 to 12
/// digits.
pub fn pvv(pvk: &[u8], pan: &str, pin: &Secret, pvki: u8) -> Result<String> {
    pvv_with(&Cipher::tdes(pvk)?, pan, pin, pvki)
}

/// [`pvv`] under the PVK's cipher made already: the HSM keeps it with the cached key, so a
/// PIN verification costs no TDES key schedule (1–1.5 % of the issuer's CPU per the profiles).
pub fn pvv_with(pvk: &Cipher, pan: &str, pin: &Secret, pvki: u8) -> Result<String> {
    pvk.check_family(Family::Tdes)?;
    check_pan(pan)?;
    if pvki > 9 {
        return Err(Error::input("PVKI", "must be a single digit, 0 to 9"));
    }
    let pin = pin_digits(pin, 4, 12)?;
    let account = &pan.as_bytes()[pan.len() - 12..pan.len() - 1];
    let mut tsp = Zeroizing::new(Vec::with_capacity(16));
    tsp.extend_from_slice(account);
    tsp.push(b'0' + pvki);
    tsp.extend_from_slice(&pin[..4]);
    let mut block = Zeroizing::new(pack(&tsp));
    pvk.encrypt_block(&mut block);
    Ok(ascii(&visa_decimalize(&block, PVV_DIGITS)))
}

/// Recompute the PVV for `pin` and compare it with the 4 `received` digits in constant time;
/// `Error::Verification("PVV")` if they differ. The received PVV is checked before the key.
pub fn verify_pvv(pvk: &[u8], pan: &str, pin: &Secret, pvki: u8, received: &str) -> Result<()> {
    check_pvv_digits(received)?;
    verify_pvv_with(&Cipher::tdes(pvk)?, pan, pin, pvki, received)
}

/// [`verify_pvv`] under the PVK's cipher made already.
pub fn verify_pvv_with(pvk: &Cipher, pan: &str, pin: &Secret, pvki: u8, received: &str) -> Result<()> {
    check_pvv_digits(received)?;
    let expected = pvv_with(pvk, pan, pin, pvki)?;
    verify_digits(expected.as_bytes(), received.as_bytes(), "PVV")
}

fn check_pvv_digits(received: &str) -> Result<()> {
    check_digits(received, "PVV", PVV_DIGITS)
}

/// Shortest and longest PIN [`random_pin`] issues (ISO 9564-1: 4 to 12 digits).
pub const PIN_LENGTH_MIN: usize = 4;
pub const PIN_LENGTH_MAX: usize = 12;
/// Draws before [`random_pin`] gives up finding a PIN that is not trivially guessable; the
/// chance of a 4-digit draw being trivial is 40 in 10,000, so this is never reached in practice.
const PIN_DRAWS_MAX: usize = 64;
/// Random bytes at or above this are redrawn, so that `byte % 10` is uniform (250 = 25 × 10).
const UNBIASED_BYTE_LIMIT: u8 = 250;

/// A random PIN of `length` decimal digits from the operating system's generator, uniform over
/// the PINs that are not trivially guessable: every digit the same (`0000`) or a run up or
/// down (`1234`, `9876`, `8901`) are redrawn.
pub fn random_pin(length: usize) -> Result<Secret> {
    if !(PIN_LENGTH_MIN..=PIN_LENGTH_MAX).contains(&length) {
        return Err(Error::input("PIN length", format!("must be {PIN_LENGTH_MIN} to {PIN_LENGTH_MAX}")));
    }
    for _ in 0..PIN_DRAWS_MAX {
        let mut digits = Zeroizing::new(Vec::with_capacity(length));
        let mut bytes = Zeroizing::new([0u8; 32]);
        while digits.len() < length {
            crate::entropy::fill(&mut bytes[..])?;
            for &byte in bytes.iter().filter(|&&byte| byte < UNBIASED_BYTE_LIMIT) {
                if digits.len() < length {
                    digits.push(b'0' + byte % 10);
                }
            }
        }
        if !is_trivial_pin(&digits) {
            return Ok(Secret::new(&digits));
        }
    }
    Err(Error::Unsupported("the random generator keeps giving trivial PINs"))
}

/// Every digit the same, or each digit one more (or one less) than the one before, mod 10.
fn is_trivial_pin(digits: &[u8]) -> bool {
    let steps = |step: u8| digits.windows(2).all(|pair| (pair[0] - b'0' + step) % 10 == pair[1] - b'0');
    steps(0) || steps(1) || steps(9)
}

/// IBM 3624 validation data from a PAN, psec-style: `length` digits of the PAN from
/// `start`, right-padded to 16 with the hex character `pad`.
pub fn validation_data(pan: &str, start: usize, length: usize, pad: char) -> Result<String> {
    check_pan(pan)?;
    if !pad.is_ascii_hexdigit() {
        return Err(Error::input("validation data pad", "must be one hex character"));
    }
    if length == 0 || length > 16 || start.checked_add(length).is_none_or(|end| end > pan.len()) {
        return Err(Error::input("validation data", "start and length must select 1 to 16 digits inside the PAN"));
    }
    let mut data = pan[start..start + length].to_string();
    while data.len() < 16 {
        data.push(pad.to_ascii_uppercase());
    }
    Ok(data)
}

/// The validation data this crate uses by default: the 12 rightmost PAN digits excluding
/// the check digit (the account number of ISO 9564 PIN blocks), padded with `FFFF`.
pub fn account_validation_data(pan: &str) -> Result<String> {
    check_pan(pan)?;
    validation_data(pan, pan.len() - 13, 12, 'F')
}

/// The IBM 3624 intermediate PIN: the validation data (16 hex digits) TDES-encrypted under
/// the PVK, each nibble mapped through the decimalization table (16 decimal digits). Its
/// leftmost digits are the natural PIN.
fn intermediate_pin(pvk: &[u8], validation_data: &str, table: &str) -> Result<Zeroizing<Vec<u8>>> {
    let cipher = Cipher::tdes(pvk)?;
    if validation_data.len() != 16 || !validation_data.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::input("validation data", "must be 16 hex digits"));
    }
    check_digits(table, "decimalization table", 16)?;
    let mut block = Zeroizing::new(pack(validation_data.as_bytes()));
    cipher.encrypt_block(&mut block);
    Ok(decimalize_with_table(&block, table))
}

fn decimalize_with_table(block: &[u8], table: &str) -> Zeroizing<Vec<u8>> {
    let table = table.as_bytes();
    let all = Zeroizing::new(nibbles(block));
    Zeroizing::new(all.iter().map(|&n| table[usize::from(n)]).collect())
}

/// The IBM 3624 PIN offset for a customer-selected PIN (4 to 16 digits): the PIN minus the
/// natural PIN (its length's leftmost intermediate PIN digits), digit by digit mod 10; the
/// offset is the rightmost `check_length` digits (4 up to the PIN's length; usually the
/// PIN's length). IBM ICSF "PIN Offset Generation algorithm".
pub fn ibm3624_offset(
    pvk: &[u8],
    validation_data: &str,
    decimalization_table: &str,
    pin: &Secret,
    check_length: usize,
) -> Result<String> {
    let pin = pin_digits(pin, 4, 16)?;
    if !(4..=pin.len()).contains(&check_length) {
        return Err(Error::input("PIN check length", "must be 4 up to the PIN's length"));
    }
    let natural = intermediate_pin(pvk, validation_data, decimalization_table)?;
    let offset: Vec<u8> = pin
        .iter()
        .zip(natural.iter())
        .skip(pin.len() - check_length)
        .map(|(&p, &n)| (10 + p - n) % 10 + b'0')
        .collect();
    Ok(ascii(&offset))
}

/// The PIN a card with this IBM 3624 `offset` has when the offset is as long as the PIN:
/// natural PIN plus offset, digit by digit mod 10 (an all-zero offset gives the natural PIN).
pub fn ibm3624_pin(pvk: &[u8], validation_data: &str, decimalization_table: &str, offset: &str) -> Result<Secret> {
    if !(4..=16).contains(&offset.len()) || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::input("PIN offset", "must be 4 to 16 decimal digits"));
    }
    let natural = intermediate_pin(pvk, validation_data, decimalization_table)?;
    let pin = offset.bytes().zip(natural.iter()).map(|(o, &n)| (o - b'0' + n - b'0') % 10 + b'0').collect();
    Ok(Secret::from_vec(pin))
}

/// IBM 3624 PIN verification: the natural PIN for the entered PIN's length plus the offset
/// (aligned on the right; its length is the check length), whose rightmost digits must
/// equal the PIN's rightmost digits. Compared in constant time;
/// `Error::Verification("PIN")` if they differ.
pub fn ibm3624_verify(
    pvk: &[u8],
    validation_data: &str,
    decimalization_table: &str,
    pin: &Secret,
    offset: &str,
) -> Result<()> {
    let pin = pin_digits(pin, 4, 16)?;
    if !(4..=pin.len()).contains(&offset.len()) || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::input("PIN offset", "must be 4 decimal digits up to the PIN's length"));
    }
    let natural = intermediate_pin(pvk, validation_data, decimalization_table)?;
    let skip = pin.len() - offset.len();
    let expected: Zeroizing<Vec<u8>> = Zeroizing::new(
        natural[skip..pin.len()].iter().zip(offset.bytes()).map(|(&n, o)| (n - b'0' + o - b'0') % 10 + b'0').collect(),
    );
    verify_digits(&expected, &pin[skip..], "PIN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibm_cca_decimalization_example() {
        // IBM 4758 CCA Basic Services 2.54, appendix E, "IBM 3624 PIN-Calculation Method".
        let block = iso8583::hex::decode("E5C1BD67B66AE7C6").unwrap();
        assert_eq!(&decimalize_with_table(&block, "8351296477461538")[..], b"3913656466643416");
    }

    #[test]
    fn visa_decimalization_takes_letters_after_digits() {
        let block = iso8583::hex::decode("ADCCECCAAE1CBCEE").unwrap();
        assert_eq!(&visa_decimalize(&block, 3)[..], b"103");
    }

    #[test]
    fn random_pins_have_the_length_asked_and_are_not_trivial() {
        for length in [4, 6, 12] {
            let pin = random_pin(length).unwrap();
            assert_eq!(pin.len(), length);
            assert!(pin.expose().iter().all(u8::is_ascii_digit));
            assert!(!is_trivial_pin(pin.expose()));
        }
        assert!(random_pin(3).unwrap_err().is_bad_input());
        assert!(random_pin(13).is_err());
        assert!(is_trivial_pin(b"0000") && is_trivial_pin(b"1234") && is_trivial_pin(b"8901"));
        assert!(is_trivial_pin(b"9876") && is_trivial_pin(b"2109"));
        assert!(!is_trivial_pin(b"1243") && !is_trivial_pin(b"1357"));
        // Over many draws every digit appears in every position (no stuck digit).
        let mut seen = [[false; 10]; 4];
        for _ in 0..400 {
            let pin = random_pin(4).unwrap();
            for (position, &digit) in pin.expose().iter().enumerate() {
                seen[position][usize::from(digit - b'0')] = true;
            }
        }
        assert!(seen.iter().all(|position| position.iter().all(|&s| s)));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111 1111"));
        assert_eq!(luhn_check_digit("7992739871"), Some('3'));
        assert_eq!(luhn_check_digit("411111111111111"), Some('1'));
        assert_eq!(luhn_check_digit("x"), None);
    }
}
