//! EMV issuer cryptography (EMV 4.3 Book 2, Annex A1 and §8): ICC master key derivation
//! (options A and B), the common session key derivation, application cryptograms
//! (ARQC/TC/AAC) and the issuer's response cryptogram (ARPC, methods 1 and 2).
//!
//! Keys are clear double-length TDES keys (16 bytes). Derived keys are [`Secret`]s with odd
//! parity. PANs and PSNs are decimal digit strings; ATC (tag 9F36) and unpredictable number
//! (tag 9F37) are 2 and 4 bytes.
//!
//! | [`Scheme`] | Session key | AC padding | ARPC key ([`Scheme::arpc_key`]) |
//! |---|---|---|---|
//! | `Common` (EMV CSK; Mastercard CVN 20/21) | CSK, `R = ATC ‖ 000000000000` | method 2 | SK_AC |
//! | `Mastercard` (M/Chip SKD, CVN 16/17) | CSK split, `R = ATC ‖ 0000 ‖ UN` | method 2 | ICC MK |
//! | `VisaCvn10` | none: the ICC MK itself | method 1 | ICC MK |
//! | `VisaCvn18` (and 22) | CSK, `R = ATC ‖ 000000000000` | method 2 | SK_AC |
//!
//! Visa CVN 10 and Mastercard answer with ARPC method 1, Visa CVN 18 with method 2; the EMV
//! CSK allows either. The caller picks the method and passes the key from
//! [`Scheme::arpc_key`].

use sha1::{Digest, Sha1};
use zeroize::{Zeroize, Zeroizing};

use crate::card::check_pan;
use crate::cipher::{Cipher, set_odd_parity, xor_in_place};
use crate::error::{Error, Result};
use crate::mac::{self, Padding};
use crate::secret::Secret;

/// A double-length TDES key, or a key-length error naming `what`.
fn double_length(key: &[u8], what: &'static str) -> Result<Cipher> {
    if key.len() != 16 {
        return Err(Error::key_length(what, "16", key.len()));
    }
    Cipher::tdes(key)
}

fn check_psn(psn: &str) -> Result<()> {
    if psn.len() != 2 || !psn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::input("PAN sequence number", "must be 2 decimal digits (00 when the card has none)"));
    }
    Ok(())
}

fn check_atc(atc: &[u8]) -> Result<[u8; 2]> {
    atc.try_into().map_err(|_| Error::input("ATC", format!("must be 2 bytes, got {}", atc.len())))
}

fn check_un(un: &[u8]) -> Result<[u8; 4]> {
    un.try_into().map_err(|_| Error::input("unpredictable number", format!("must be 4 bytes, got {}", un.len())))
}

/// Packs 16 decimal digits (ASCII) into 8 BCD bytes.
fn bcd16(digits: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    out
}

/// `TDES_IMK(Y) ‖ TDES_IMK(Y XOR FF…FF)`, odd parity: the last step of options A and B.
fn master_key_from_y(imk: &[u8], y: [u8; 8]) -> Result<Secret> {
    let cipher = double_length(imk, "EMV issuer master key")?;
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(&y);
    key.extend(y.iter().map(|b| !b));
    // Cannot fail: 16 bytes, block size 8.
    cipher.ecb_encrypt(&mut key)?;
    set_odd_parity(&mut key);
    Ok(Secret::from_vec(key))
}

/// ICC master key, option A (EMV Book 2 A1.4.1): Y is the rightmost 16 digits of PAN ‖ PSN,
/// left-padded with zeros. Meant for PANs of up to 16 digits; longer ones are accepted and
/// truncated on the left as the option defines, but EMV requires [`option_b`] for them.
/// `psn` is the 2-digit PAN sequence number, `"00"` when the card has none.
pub fn option_a(imk: &[u8], pan: &str, psn: &str) -> Result<Secret> {
    check_pan(pan)?;
    check_psn(psn)?;
    let joined: Vec<u8> = pan.bytes().chain(psn.bytes()).collect();
    let mut y = [b'0'; 16];
    let take = joined.len().min(16);
    y[16 - take..].copy_from_slice(&joined[joined.len() - take..]);
    master_key_from_y(imk, bcd16(&y))
}

/// ICC master key, option B (EMV Book 2 A1.4.2), for PANs longer than 16 digits: SHA-1 over
/// the BCD of PAN ‖ PSN (left-padded with a zero nibble to whole bytes); Y is the first 16
/// decimal digits of the digest's hex, continued if needed with its letters `A`–`F` as
/// `0`–`5`; then as option A. A PAN of 16 digits or fewer uses option A, as EMV says (and as
/// pyemv's `derive_icc_mk_b` does).
pub fn option_b(imk: &[u8], pan: &str, psn: &str) -> Result<Secret> {
    check_pan(pan)?;
    check_psn(psn)?;
    if pan.len() <= 16 {
        return option_a(imk, pan, psn);
    }
    let mut digits: Vec<u8> = Vec::with_capacity(22);
    if (pan.len() + psn.len()) % 2 == 1 {
        digits.push(0);
    }
    digits.extend(pan.bytes().chain(psn.bytes()).map(|b| b - b'0'));
    let bcd: Vec<u8> = digits.chunks_exact(2).map(|pair| (pair[0] << 4) | pair[1]).collect();
    let digest = Sha1::digest(&bcd);
    let nibbles: Vec<u8> = digest.iter().flat_map(|byte| [byte >> 4, byte & 0x0F]).collect();
    let decimal = nibbles.iter().filter(|&&n| n < 10).copied();
    let letters = nibbles.iter().filter(|&&n| n >= 10).map(|n| n - 10);
    // 40 nibbles always yield 16 digits.
    let y: Vec<u8> = decimal.chain(letters).take(16).map(|d| d + b'0').collect();
    master_key_from_y(imk, bcd16(&y))
}

/// ICC master key by PAN length: option A up to 16 digits, option B beyond.
pub fn icc_master_key(imk: &[u8], pan: &str, psn: &str) -> Result<Secret> {
    check_pan(pan)?;
    if pan.len() > 16 { option_b(imk, pan, psn) } else { option_a(imk, pan, psn) }
}

/// Common session key derivation (EMV Book 2 A1.3.1):
/// `SK = TDES_MK(R with byte 2 := F0) ‖ TDES_MK(R with byte 2 := 0F)`, odd parity.
pub fn session_key(mk: &[u8], r: [u8; 8]) -> Result<Secret> {
    let cipher = double_length(mk, "EMV ICC master key")?;
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(&r);
    key.extend_from_slice(&r);
    key[2] = 0xF0;
    key[8 + 2] = 0x0F;
    cipher.ecb_encrypt(&mut key)?;
    set_odd_parity(&mut key);
    Ok(Secret::from_vec(key))
}

/// `R = ATC ‖ 000000000000`: the EMV CSK diversification (Visa CVN 18/22, Mastercard CVN 20/21).
pub fn common_r(atc: &[u8]) -> Result<[u8; 8]> {
    let atc = check_atc(atc)?;
    let mut r = [0u8; 8];
    r[..2].copy_from_slice(&atc);
    Ok(r)
}

/// `R = ATC ‖ 0000 ‖ UN`: Mastercard's proprietary session key derivation (M/Chip CVN 16/17).
pub fn mastercard_r(atc: &[u8], un: &[u8]) -> Result<[u8; 8]> {
    let atc = check_atc(atc)?;
    let un = check_un(un)?;
    let mut r = [0u8; 8];
    r[..2].copy_from_slice(&atc);
    r[4..].copy_from_slice(&un);
    Ok(r)
}

/// An application cryptogram (ARQC, TC or AAC): ISO 9797-1 MAC algorithm 3 over the
/// CDOL-selected `data` with `padding`, under a 16-byte session key (or, for Visa CVN 10,
/// the ICC master key).
pub fn application_cryptogram(key: &[u8], data: &[u8], padding: Padding) -> Result<[u8; 8]> {
    if key.len() != 16 {
        return Err(Error::key_length("EMV application cryptogram", "16", key.len()));
    }
    mac::retail_mac(key, data, padding)
}

/// How a card scheme (cryptogram version) derives its AC key and pads the data. See the
/// module documentation for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// EMV common session key, `R = ATC ‖ 000000000000`, padding method 2.
    Common,
    /// Mastercard M/Chip SKD, `R = ATC ‖ 0000 ‖ UN`, padding method 2.
    Mastercard,
    /// Visa CVN 10: the ICC master key directly, padding method 1.
    VisaCvn10,
    /// Visa CVN 18: EMV CSK, padding method 2.
    VisaCvn18,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [Scheme::Common, Scheme::Mastercard, Scheme::VisaCvn10, Scheme::VisaCvn18];

    /// A short name for command lines: `common`, `mastercard`, `visa-cvn10`, `visa-cvn18`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Common => "common",
            Scheme::Mastercard => "mastercard",
            Scheme::VisaCvn10 => "visa-cvn10",
            Scheme::VisaCvn18 => "visa-cvn18",
        }
    }

    /// The scheme named by [`Scheme::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Result<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::input("EMV scheme", "must be one of common, mastercard, visa-cvn10, visa-cvn18"))
    }

    /// The ISO 9797-1 padding of the cryptogram data.
    pub fn padding(self) -> Padding {
        match self {
            Scheme::VisaCvn10 => Padding::Method1,
            Scheme::Common | Scheme::Mastercard | Scheme::VisaCvn18 => Padding::Method2,
        }
    }

    /// Whether the scheme's session key takes the unpredictable number (tag 9F37).
    pub fn uses_un(self) -> bool {
        self == Scheme::Mastercard
    }

    /// The AC key under the ICC master key `mk`: the session key for the ATC (and the UN,
    /// for Mastercard, which requires it and the others refuse), or a copy of `mk` for Visa
    /// CVN 10. The ATC must be 2 bytes for every scheme.
    pub fn ac_key(self, mk: &Secret, atc: &[u8], un: Option<&[u8]>) -> Result<Secret> {
        check_atc(atc)?;
        match (self, un) {
            (Scheme::Mastercard, None) => {
                Err(Error::input("unpredictable number", "the Mastercard scheme derives its session key from it"))
            }
            (Scheme::Mastercard, Some(un)) => session_key(mk.expose(), mastercard_r(atc, un)?),
            (_, Some(_)) => Err(Error::input("unpredictable number", "only the Mastercard scheme uses it")),
            (Scheme::VisaCvn10, None) => Ok(mk.clone()),
            (Scheme::Common | Scheme::VisaCvn18, None) => session_key(mk.expose(), common_r(atc)?),
        }
    }

    /// The key the issuer's ARPC is computed under: the session key for the EMV CSK and
    /// Visa CVN 18, the ICC master key for Visa CVN 10 and Mastercard (CVN 16/17).
    pub fn arpc_key(self, result: &ArqcResult) -> &Secret {
        match self {
            Scheme::Common | Scheme::VisaCvn18 => &result.session_key,
            Scheme::Mastercard | Scheme::VisaCvn10 => &result.icc_master_key,
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scheme {
    type Err = Error;

    fn from_str(name: &str) -> Result<Scheme> {
        Scheme::from_name(name)
    }
}

/// An ARQC with the keys it was computed under (the issuer needs them for the ARPC).
/// `Debug` shows the cryptogram, never the keys.
#[derive(Debug, Clone)]
pub struct ArqcResult {
    pub icc_master_key: Secret,
    /// The AC key: the session key, or a copy of the ICC master key for Visa CVN 10.
    pub session_key: Secret,
    pub arqc: [u8; 8],
}

/// The application cryptogram a card of `scheme` computes over `data`, from the issuer
/// master key for AC: ICC MK ([`icc_master_key`]), then the scheme's AC key
/// ([`Scheme::ac_key`]), then [`application_cryptogram`] with the scheme's padding. `un` is
/// required for [`Scheme::Mastercard`] and refused otherwise.
pub fn arqc(
    scheme: Scheme,
    imk: &[u8],
    pan: &str,
    psn: &str,
    atc: &[u8],
    un: Option<&[u8]>,
    data: &[u8],
) -> Result<ArqcResult> {
    card_arqc(scheme, icc_master_key(imk, pan, psn)?, atc, un, data)
}

/// The application cryptogram as the card computes it, from its own ICC master key (what
/// personalisation put on the chip): the scheme's AC key ([`Scheme::ac_key`]), then
/// [`application_cryptogram`]. [`arqc`] is this after deriving the ICC master key.
pub fn card_arqc(
    scheme: Scheme,
    icc_master_key: Secret,
    atc: &[u8],
    un: Option<&[u8]>,
    data: &[u8],
) -> Result<ArqcResult> {
    let session_key = scheme.ac_key(&icc_master_key, atc, un)?;
    let arqc = application_cryptogram(session_key.expose(), data, scheme.padding())?;
    Ok(ArqcResult { icc_master_key, session_key, arqc })
}

/// Recomputes the cryptogram as [`arqc`] does and compares it with `received` in constant
/// time; `Error::Verification("ARQC")` if they differ. On success the keys are returned for
/// the ARPC.
#[allow(clippy::too_many_arguments)]
pub fn verify_arqc(
    scheme: Scheme,
    imk: &[u8],
    pan: &str,
    psn: &str,
    atc: &[u8],
    un: Option<&[u8]>,
    data: &[u8],
    received: &[u8],
) -> Result<ArqcResult> {
    let result = arqc(scheme, imk, pan, psn, atc, un, data)?;
    mac::verify(&result.arqc, received).map_err(|_| Error::Verification("ARQC"))?;
    Ok(result)
}

/// ARPC method 1 (EMV Book 2 §8.2.1): `TDES_K(ARQC XOR (ARC ‖ 000000000000))`. Tag 91 is
/// `ARPC ‖ ARC`. `key` is 16 bytes, see [`Scheme::arpc_key`].
pub fn arpc_method1(key: &[u8], arqc: &[u8; 8], arc: [u8; 2]) -> Result<[u8; 8]> {
    let cipher = double_length(key, "EMV ARPC method 1")?;
    let mut block = *arqc;
    xor_in_place(&mut block, &arc);
    cipher.encrypt_block(&mut block);
    Ok(block)
}

/// ARPC method 2 (EMV Book 2 §8.2.2): the leftmost 4 bytes of ISO 9797-1 algorithm 3 with
/// padding 2 over `ARQC ‖ CSU ‖ proprietary authentication data` (0 to 8 bytes). Tag 91 is
/// `ARPC ‖ CSU ‖ proprietary data`.
pub fn arpc_method2(key: &[u8], arqc: &[u8; 8], csu: [u8; 4], proprietary: &[u8]) -> Result<[u8; 4]> {
    if key.len() != 16 {
        return Err(Error::key_length("EMV ARPC method 2", "16", key.len()));
    }
    if proprietary.len() > 8 {
        return Err(Error::input(
            "proprietary authentication data",
            format!("must be 0 to 8 bytes, got {}", proprietary.len()),
        ));
    }
    let mut data = Zeroizing::new(Vec::with_capacity(20));
    data.extend_from_slice(arqc);
    data.extend_from_slice(&csu);
    data.extend_from_slice(proprietary);
    let mut mac = mac::retail_mac(key, &data, Padding::Method2)?;
    let mut arpc = [0u8; 4];
    arpc.copy_from_slice(&mac[..4]);
    mac.zeroize();
    Ok(arpc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    const IMK: &str = "0123456789ABCDEFFEDCBA9876543210";

    #[test]
    fn pyemv_docstring_examples() {
        // pyemv 1.5.0 kd.py docstrings (derive_icc_mk_a / derive_icc_mk_b / derive_common_sk).
        let imk = h(IMK);
        assert_eq!(
            hex::encode(option_a(&imk, "12345678901234567", "01").unwrap().expose()),
            "73AD54688CEF2934B0979857E3C719F1"
        );
        assert_eq!(
            hex::encode(option_b(&imk, "12345678901234567", "01").unwrap().expose()),
            "AD406D7F6D7570916D75E5DCAB8CF737"
        );
        assert_eq!(
            hex::encode(session_key(&imk, h("001C000000000000").try_into().unwrap()).unwrap().expose()),
            "E9FB384AF807B940FEDCEA613461B0C4"
        );
    }

    #[test]
    fn option_b_falls_back_to_a_for_short_pans() {
        let imk = h(IMK);
        assert_eq!(
            option_b(&imk, "1234567890123456", "00").unwrap(),
            option_a(&imk, "1234567890123456", "00").unwrap()
        );
    }

    #[test]
    fn inputs_are_checked_without_echoing_the_pan() {
        let imk = h(IMK);
        let pan = "41234567890123X5";
        let error = icc_master_key(&imk, pan, "00").unwrap_err();
        assert!(error.is_bad_input());
        assert!(!error.to_string().contains("4123456789"), "{error}");
        assert!(icc_master_key(&imk, "41234567890", "00").is_err());
        assert!(icc_master_key(&imk, "41234567890123456789", "00").is_err());
        assert!(icc_master_key(&imk, "4123456789012345", "1").is_err());
        assert!(icc_master_key(&imk, "4123456789012345", "0A").is_err());
        assert!(icc_master_key(&imk[..8], "4123456789012345", "00").is_err());
        assert!(common_r(&[0; 3]).is_err());
        assert!(mastercard_r(&[0; 2], &[0; 3]).is_err());
        let data = [0u8; 8];
        assert!(arqc(Scheme::Mastercard, &imk, "4123456789012345", "00", &[0, 1], None, &data).is_err());
        assert!(arqc(Scheme::Common, &imk, "4123456789012345", "00", &[0, 1], Some(&[0; 4]), &data).is_err());
        assert!(arqc(Scheme::VisaCvn10, &imk, "4123456789012345", "00", &[0], None, &data).is_err());
        assert!(arpc_method2(&imk, &[0; 8], [0; 4], &[0; 9]).is_err());
    }

    #[test]
    fn verify_arqc_accepts_the_right_cryptogram_only() {
        let imk = h(IMK);
        let data = h("0000000010000000000000000840000000000008409912310000000001");
        for scheme in Scheme::ALL {
            let un = scheme.uses_un().then_some(&[1u8, 2, 3, 4][..]);
            let result = arqc(scheme, &imk, "4123456789012345", "01", &[0, 7], un, &data).unwrap();
            verify_arqc(scheme, &imk, "4123456789012345", "01", &[0, 7], un, &data, &result.arqc).unwrap();
            let mut wrong = result.arqc;
            wrong[7] ^= 1;
            assert_eq!(
                verify_arqc(scheme, &imk, "4123456789012345", "01", &[0, 7], un, &data, &wrong).unwrap_err(),
                Error::Verification("ARQC")
            );
            assert_eq!(scheme.name().parse::<Scheme>().unwrap(), scheme);
            assert!(!format!("{result:?}").contains(&hex::encode(result.session_key.expose())));
        }
        assert!(Scheme::from_name("visa").is_err());
    }
}
