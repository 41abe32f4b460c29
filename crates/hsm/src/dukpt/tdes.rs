//! TDES DUKPT, host side (ANSI X9.24-1:2009): the IPEK from the BDK, the transaction key for
//! a KSN by the non-reversible key generation process, and the PIN, MAC and data variants.
//!
//! Keys are double-length TDES (16 bytes). Derived keys are not parity-adjusted.

use std::fmt;
use std::str::FromStr;

use crate::cipher::{Cipher, xor};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// A TDES DUKPT KSN is 10 bytes: 59 bits of initial key ID, 21 bits of counter.
pub const KSN_LEN: usize = 10;
/// The transaction counter is the KSN's low 21 bits.
pub const COUNTER_MASK: u32 = 0x1F_FFFF;
/// X9.24-1: an originating device never uses a counter with more than 10 one-bits.
pub const MAX_COUNTER_ONES: u32 = 10;

/// XORed onto a key to make the "left" half-computation of the NRKGP, and onto the BDK for
/// the right half of the IPEK.
const C0: [u8; 16] = [0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0, 0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0];

/// A key serial number. Always 10 bytes with a counter of at most 10 one-bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ksn([u8; KSN_LEN]);

impl Ksn {
    /// From 10 bytes. Rejects other lengths and counters with more than 10 one-bits.
    pub fn new(bytes: &[u8]) -> Result<Ksn> {
        let array: [u8; KSN_LEN] = bytes.try_into().map_err(|_| {
            Error::input("KSN", format!("a TDES DUKPT KSN is {KSN_LEN} bytes (20 hex digits), got {}", bytes.len()))
        })?;
        let ksn = Ksn(array);
        let ones = ksn.counter().count_ones();
        if ones > MAX_COUNTER_ONES {
            return Err(Error::input(
                "KSN",
                format!(
                    "transaction counter {:06X} has {ones} one-bits; X9.24-1 devices never use more than {MAX_COUNTER_ONES}",
                    ksn.counter()
                ),
            ));
        }
        Ok(ksn)
    }

    /// From 20 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Ksn> {
        let bytes = iso8583::hex::decode(text.trim()).map_err(|e| Error::input("KSN", e.to_string()))?;
        Ksn::new(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KSN_LEN] {
        &self.0
    }

    /// The 21-bit transaction counter.
    pub fn counter(&self) -> u32 {
        u32::from_be_bytes([0, self.0[7], self.0[8], self.0[9]]) & COUNTER_MASK
    }

    /// The initial KSN: this KSN with the counter cleared.
    pub fn initial(&self) -> Ksn {
        let mut bytes = self.0;
        clear_counter(&mut bytes);
        Ksn(bytes)
    }
}

fn clear_counter(ksn: &mut [u8; KSN_LEN]) {
    ksn[7] &= 0xE0;
    ksn[8] = 0;
    ksn[9] = 0;
}

impl FromStr for Ksn {
    type Err = Error;

    fn from_str(text: &str) -> Result<Ksn> {
        Ksn::from_hex(text)
    }
}

impl fmt::Display for Ksn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&iso8583::hex::encode(&self.0))
    }
}

impl fmt::Debug for Ksn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ksn({self})")
    }
}

/// Which working key a transaction key is turned into (X9.24-1:2009 variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    Pin,
    MacRequest,
    MacResponse,
    DataRequest,
    DataResponse,
}

impl Usage {
    /// The 16-byte variant XORed onto the transaction key.
    pub fn variant(self) -> [u8; 16] {
        let position = match self {
            Usage::Pin => 7,
            Usage::MacRequest => 6,
            Usage::DataRequest => 5,
            Usage::MacResponse => 4,
            Usage::DataResponse => 3,
        };
        let mut variant = [0u8; 16];
        variant[position] = 0xFF;
        variant[position + 8] = 0xFF;
        variant
    }

    fn is_data(self) -> bool {
        matches!(self, Usage::DataRequest | Usage::DataResponse)
    }
}

fn check_key(what: &'static str, key: &[u8]) -> Result<()> {
    if key.len() != 16 {
        return Err(Error::key_length(what, "16", key.len()));
    }
    Ok(())
}

/// The initial PIN encryption key: `TDES_BDK(KSNL) ‖ TDES_(BDK⊕C0)(KSNL)`, where KSNL is
/// the left 8 bytes of the KSN with the counter cleared.
pub fn ipek(bdk: &[u8], ksn: &Ksn) -> Result<Secret> {
    check_key("TDES DUKPT BDK", bdk)?;
    let initial = ksn.initial();
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&initial.0[..8]);
    out.extend_from_slice(&initial.0[..8]);
    Cipher::tdes(bdk)?.encrypt_block(&mut out[..8]);
    let variant = Secret::from_vec(xor(bdk, &C0));
    Cipher::tdes(variant.expose())?.encrypt_block(&mut out[8..]);
    Ok(Secret::from_vec(out))
}

/// The non-reversible key generation process: `right = DES_KL(R ⊕ KR) ⊕ KR`, `left` the same
/// under `K ⊕ C0`; the new key is `left ‖ right`.
fn nrkgp(key: &[u8], register: &[u8; 8]) -> Result<Secret> {
    let half = |key: &[u8]| -> Result<[u8; 8]> {
        let mut block = *register;
        for (b, k) in block.iter_mut().zip(&key[8..]) {
            *b ^= k;
        }
        Cipher::des(&key[..8])?.encrypt_block(&mut block);
        for (b, k) in block.iter_mut().zip(&key[8..]) {
            *b ^= k;
        }
        Ok(block)
    };
    let mut out = Vec::with_capacity(16);
    let shifted = Secret::from_vec(xor(key, &C0));
    out.extend_from_slice(&half(shifted.expose())?);
    out.extend_from_slice(&half(key)?);
    Ok(Secret::from_vec(out))
}

/// The transaction key ("future key") for `ksn`, computed by the host from the IPEK: for each
/// counter bit from the top, if set, set it in the register and apply the NRKGP.
pub fn transaction_key(ipek: &[u8], ksn: &Ksn) -> Result<Secret> {
    check_key("TDES DUKPT IPEK", ipek)?;
    let counter = ksn.counter();
    let mut register = [0u8; 8];
    register.copy_from_slice(&ksn.initial().0[2..]);
    let mut key = Secret::new(ipek);
    for bit in (0..21).rev() {
        let mask = 1u32 << bit;
        if counter & mask == 0 {
            continue;
        }
        let bytes = mask.to_be_bytes();
        register[5] |= bytes[1];
        register[6] |= bytes[2];
        register[7] |= bytes[3];
        key = nrkgp(key.expose(), &register)?;
    }
    Ok(key)
}

/// The working key of `usage` from a transaction key. Data keys take the extra step
/// `TDES_V(V_L) ‖ TDES_V(V_R)` over the variant key V.
pub fn working_key(transaction_key: &[u8], usage: Usage) -> Result<Secret> {
    check_key("TDES DUKPT transaction key", transaction_key)?;
    let variant = Secret::from_vec(xor(transaction_key, &usage.variant()));
    if !usage.is_data() {
        return Ok(variant);
    }
    let mut out = variant.expose().to_vec();
    Cipher::tdes(variant.expose())?.ecb_encrypt(&mut out)?;
    Ok(Secret::from_vec(out))
}

pub fn pin_key(transaction_key: &[u8]) -> Result<Secret> {
    working_key(transaction_key, Usage::Pin)
}

pub fn mac_request_key(transaction_key: &[u8]) -> Result<Secret> {
    working_key(transaction_key, Usage::MacRequest)
}

pub fn mac_response_key(transaction_key: &[u8]) -> Result<Secret> {
    working_key(transaction_key, Usage::MacResponse)
}

pub fn data_request_key(transaction_key: &[u8]) -> Result<Secret> {
    working_key(transaction_key, Usage::DataRequest)
}

pub fn data_response_key(transaction_key: &[u8]) -> Result<Secret> {
    working_key(transaction_key, Usage::DataResponse)
}

/// BDK and KSN to `(IPEK, working key of usage)`.
pub fn derive(bdk: &[u8], ksn: &Ksn, usage: Usage) -> Result<(Secret, Secret)> {
    let ipek = ipek(bdk, ksn)?;
    let transaction = transaction_key(ipek.expose(), ksn)?;
    let working = working_key(transaction.expose(), usage)?;
    Ok((ipek, working))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    const BDK: &str = "0123456789ABCDEFFEDCBA9876543210";

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    #[test]
    fn x9_24_annex_a_known_answers() {
        let ksn = Ksn::from_hex("FFFF9876543210E00001").unwrap();
        let ipek = ipek(&h(BDK), &ksn).unwrap();
        assert_eq!(hex::encode(ipek.expose()), "6AC292FAA1315B4D858AB3A3D7D5933A");
        let txn = transaction_key(ipek.expose(), &ksn).unwrap();
        assert_eq!(hex::encode(txn.expose()), "042666B49184CFA368DE9628D0397BC9");
        let (_, pin) = derive(&h(BDK), &ksn, Usage::Pin).unwrap();
        assert_eq!(hex::encode(pin.expose()), "042666B49184CF5C68DE9628D0397B36");
        let mut block = h("041274EDCBA9876F");
        Cipher::tdes(pin.expose()).unwrap().encrypt_block(&mut block);
        assert_eq!(hex::encode(&block), "1B9C1845EB993A7A");
    }

    #[test]
    fn counter_zero_gives_the_ipek() {
        let ksn = Ksn::from_hex("FFFF9876543210E00000").unwrap();
        let ipek = ipek(&h(BDK), &ksn).unwrap();
        assert_eq!(transaction_key(ipek.expose(), &ksn).unwrap(), ipek);
    }

    #[test]
    fn ksn_parsing() {
        let ksn: Ksn = "ffff9876543210e00015".parse().unwrap();
        assert_eq!(ksn.counter(), 0x15);
        assert_eq!(ksn.to_string(), "FFFF9876543210E00015");
        assert_eq!(ksn.initial().to_string(), "FFFF9876543210E00000");
        assert_eq!(format!("{ksn:?}"), "Ksn(FFFF9876543210E00015)");
        // The counter is the low 21 bits: E0 is initial key ID.
        assert_eq!(Ksn::from_hex("FFFF9876543210F00000").unwrap().counter(), 0x10_0000);
    }

    #[test]
    fn bad_ksn_lengths_and_hex_are_rejected() {
        for text in ["", "FFFF9876543210E000", "FFFF9876543210E0000100", "FFFF9876543210E0000"] {
            let error = Ksn::from_hex(text).unwrap_err();
            assert!(error.is_bad_input(), "{text}: {error}");
        }
        assert!(Ksn::from_hex("FFFF9876543210E0000G").unwrap_err().to_string().contains("not a hex digit"));
        assert!(Ksn::new(&[0; 8]).unwrap_err().to_string().contains("10 bytes"));
    }

    #[test]
    fn counters_with_more_than_ten_ones_are_rejected() {
        // 0FFC00 has 10 one-bits (accepted); 0FFE00 has 11 and 1FFFFF has 21.
        assert!(Ksn::from_hex("FFFF9876543210EFFC00").is_ok());
        let error = Ksn::from_hex("FFFF9876543210EFFE00").unwrap_err();
        assert!(error.to_string().contains("11 one-bits"), "{error}");
        assert!(Ksn::from_hex("FFFF9876543210FFFFFF").is_err());
        // The initial key ID bits above the counter do not count.
        assert!(Ksn::from_hex("FFFFFFFFFFFFFFE00001").is_ok());
    }

    #[test]
    fn key_lengths_are_checked() {
        let ksn = Ksn::from_hex("FFFF9876543210E00001").unwrap();
        assert!(ipek(&[0; 24], &ksn).is_err());
        assert!(transaction_key(&[0; 8], &ksn).is_err());
        assert!(pin_key(&[0; 15]).is_err());
    }

    #[test]
    fn variants() {
        assert_eq!(hex::encode(&Usage::Pin.variant()), "00000000000000FF00000000000000FF");
        assert_eq!(hex::encode(&Usage::MacRequest.variant()), "000000000000FF00000000000000FF00");
        assert_eq!(hex::encode(&Usage::MacResponse.variant()), "00000000FF00000000000000FF000000");
        assert_eq!(hex::encode(&Usage::DataRequest.variant()), "0000000000FF00000000000000FF0000");
        assert_eq!(hex::encode(&Usage::DataResponse.variant()), "000000FF00000000000000FF00000000");
        let txn = [0x11; 16];
        assert_eq!(mac_request_key(&txn).unwrap().expose(), xor(&txn, &Usage::MacRequest.variant()));
        assert_ne!(data_request_key(&txn).unwrap().expose(), xor(&txn, &Usage::DataRequest.variant()));
    }
}
