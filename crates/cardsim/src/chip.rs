//! The chip as a reader sees it in an online transaction: GENERATE AC and EXTERNAL
//! AUTHENTICATE, and the EMV arithmetic behind them for a cardnet card (EMV common session
//! key, ARPC method 1; `../shared/reference/payment-crypto.md`).

use hsm::Secret;
use hsm::emv::{self, Scheme};

use crate::{CardError, Result};

/// Terminal verification results of a clean transaction (tag 95).
const TVR_CLEAN: [u8; 5] = [0; 5];
/// Application interchange profile (tag 82): SDA, cardholder verification, terminal risk
/// management, issuer authentication supported.
const AIP: [u8; 2] = [0x7C, 0x00];
/// Issuer application data (tag 9F10) of a PBOC-style card: length, derivation key index,
/// cryptogram version, card verification results.
const IAD: [u8; 7] = [0x07, 0x01, 0x01, 0x03, 0xA0, 0x00, 0x00];
/// Cryptogram information data (tag 9F27): an ARQC.
const CID_ARQC: u8 = 0x80;
/// Cryptogram information data (tag 9F27): a TC (the card approves offline after the issuer).
const CID_TC: u8 = 0x40;
/// Field 55 of a first GENERATE AC stays well under this (13 short elements).
const FIELD55_BYTES_MAX: usize = 128;

/// Transaction type, tag 9C (the first two digits of the processing code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionType {
    /// 00: goods and services (purchase, completion).
    Goods,
    /// 03: pre-authorisation (UnionPay).
    PreAuthorisation,
    /// 20: refund.
    Refund,
    /// 31: balance inquiry.
    Balance,
}

impl TransactionType {
    pub fn code(self) -> u8 {
        match self {
            TransactionType::Goods => 0x00,
            TransactionType::PreAuthorisation => 0x03,
            TransactionType::Refund => 0x20,
            TransactionType::Balance => 0x31,
        }
    }
}

/// What the terminal tells the card for the first GENERATE AC (its CDOL1 data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalData {
    /// Amount authorised (9F02), minor units.
    pub amount_minor: u64,
    /// ISO 4217 numeric currency, 3 digits (5F2A).
    pub currency: String,
    /// ISO 3166 numeric country of the terminal, 3 digits (9F1A).
    pub country: String,
    /// Transaction date `YYMMDD` (9A).
    pub date_yymmdd: String,
    /// 9C.
    pub transaction_type: TransactionType,
    /// 9F37: four random bytes from the terminal.
    pub unpredictable_number: [u8; 4],
}

/// The commands a reader sends a chip in an online transaction.
pub trait ChipCard: Send {
    /// First GENERATE AC asking for an ARQC: field 55 (9F26 ARQC, 9F27, then the values of
    /// [`network::emv::ARQC_DATA_TAGS`]). The card's ATC goes up first, as a card's does.
    fn generate_ac(&mut self, terminal: &TerminalData) -> Result<Vec<u8>>;

    /// EXTERNAL AUTHENTICATE with the issuer authentication data (tag 91: ARPC ‖ ARC):
    /// whether the card accepts that the issuer answered its last ARQC. `false` also when the
    /// card made no ARQC.
    fn external_authenticate(&mut self, issuer_authentication_data: &[u8]) -> Result<bool>;

    /// Second GENERATE AC asking for a TC after the issuer approved (authorisation response
    /// code `arc`, the two characters of field 39): field 55 for the batch upload (9F26 TC,
    /// 9F27 = 40, then the first GENERATE AC's data elements). Only after an accepted
    /// EXTERNAL AUTHENTICATE; the card answers `CardError::Security` otherwise.
    fn complete_transaction(&mut self, arc: [u8; 2]) -> Result<Vec<u8>>;
}

/// An ARQC and what it covered, kept by the chip until the issuer answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cryptogram {
    pub arqc: [u8; 8],
    pub atc: u16,
    /// The ARQC input (the values of [`network::emv::ARQC_DATA_TAGS`]).
    pub data: Vec<u8>,
    /// Field 55 after the cryptogram (9F27 onwards), for the TC's field 55.
    pub elements: Vec<u8>,
}

fn bcd(digits: &str, bytes: usize, what: &'static str) -> Result<Vec<u8>> {
    let padded = format!("{digits:0>width$}", width = bytes * 2);
    if padded.len() != bytes * 2 || !padded.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::Input(what));
    }
    Ok(padded.as_bytes().chunks(2).map(|pair| ((pair[0] - b'0') << 4) | (pair[1] - b'0')).collect())
}

/// The first GENERATE AC of a card with ICC master key `icc_master_key` and transaction
/// counter `atc` (already advanced): field 55, and the cryptogram to check the ARPC against.
pub fn generate_ac(icc_master_key: &Secret, atc: u16, terminal: &TerminalData) -> Result<(Vec<u8>, Cryptogram)> {
    if terminal.currency.len() != 3 {
        return Err(CardError::Input("5F2A currency"));
    }
    if terminal.country.len() != 3 {
        return Err(CardError::Input("9F1A country"));
    }
    if terminal.date_yymmdd.len() != 6 {
        return Err(CardError::Input("9A date"));
    }
    let atc_bytes = atc.to_be_bytes();
    // In the order of network::emv::ARQC_DATA_TAGS, which the issuer concatenates.
    let values: [(&[u8], Vec<u8>); 11] = [
        (&[0x9F, 0x02], bcd(&terminal.amount_minor.to_string(), 6, "9F02 amount")?),
        (&[0x9F, 0x03], vec![0; 6]),
        (&[0x9F, 0x1A], bcd(&terminal.country, 2, "9F1A country")?),
        (&[0x95], TVR_CLEAN.to_vec()),
        (&[0x5F, 0x2A], bcd(&terminal.currency, 2, "5F2A currency")?),
        (&[0x9A], bcd(&terminal.date_yymmdd, 3, "9A date")?),
        (&[0x9C], vec![terminal.transaction_type.code()]),
        (&[0x9F, 0x37], terminal.unpredictable_number.to_vec()),
        (&[0x82], AIP.to_vec()),
        (&[0x9F, 0x36], atc_bytes.to_vec()),
        (&[0x9F, 0x10], IAD.to_vec()),
    ];
    debug_assert_eq!(values.len(), network::emv::ARQC_DATA_TAGS.len());
    let data: Vec<u8> = values.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let result = emv::card_arqc(Scheme::Common, icc_master_key.clone(), &atc_bytes, None, &data)?;
    let mut elements = Vec::with_capacity(FIELD55_BYTES_MAX);
    for (tag, value) in &values {
        iso8583::tlv::write_element(tag, value, &mut elements);
    }
    let field55 = field55(&result.arqc, CID_ARQC, &elements);
    Ok((field55, Cryptogram { arqc: result.arqc, atc, data, elements }))
}

fn field55(cryptogram: &[u8; 8], cid: u8, elements: &[u8]) -> Vec<u8> {
    let mut field55 = Vec::with_capacity(FIELD55_BYTES_MAX);
    iso8583::tlv::write_element(&[0x9F, 0x26], cryptogram, &mut field55);
    iso8583::tlv::write_element(&[0x9F, 0x27], &[cid], &mut field55);
    field55.extend_from_slice(elements);
    debug_assert!(field55.len() <= FIELD55_BYTES_MAX);
    field55
}

/// The second GENERATE AC's TC: the AC under the same session key over the first
/// cryptogram's data followed by the authorisation response code (a PBOC card's CDOL2 adds the
/// ARC), field 55 as the batch upload carries it.
pub fn transaction_certificate(icc_master_key: &Secret, cryptogram: &Cryptogram, arc: [u8; 2]) -> Result<Vec<u8>> {
    let mut data = cryptogram.data.clone();
    data.extend_from_slice(&arc);
    let result = emv::card_arqc(Scheme::Common, icc_master_key.clone(), &cryptogram.atc.to_be_bytes(), None, &data)?;
    Ok(field55(&result.arqc, CID_TC, &cryptogram.elements))
}

/// EXTERNAL AUTHENTICATE: whether `issuer_authentication_data` (ARPC ‖ ARC, method 1) answers
/// `cryptogram`. Compared in constant time.
pub fn external_authenticate(
    icc_master_key: &Secret,
    cryptogram: &Cryptogram,
    issuer_authentication_data: &[u8],
) -> Result<bool> {
    let [arpc @ .., arc0, arc1] = issuer_authentication_data else { return Ok(false) };
    if arpc.len() != 8 {
        return Ok(false);
    }
    let result =
        emv::card_arqc(Scheme::Common, icc_master_key.clone(), &cryptogram.atc.to_be_bytes(), None, &cryptogram.data)?;
    if result.arqc != cryptogram.arqc {
        return Err(CardError::Security("the kept cryptogram does not recompute".into()));
    }
    let expected = emv::arpc_method1(Scheme::Common.arpc_key(&result).expose(), &cryptogram.arqc, [*arc0, *arc1])?;
    Ok(hsm::mac::verify(&expected, arpc).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal() -> TerminalData {
        TerminalData {
            amount_minor: 12_345,
            currency: "156".into(),
            country: "156".into(),
            date_yymmdd: "261122".into(),
            transaction_type: TransactionType::Goods,
            unpredictable_number: [1, 2, 3, 4],
        }
    }

    /// The issuer's side, as `hsm` computes it from the IMK: the ARQC verifies and its ARPC
    /// is accepted; a flipped ARPC bit or another ARC is refused.
    #[test]
    fn arqc_verifies_from_the_imk_and_the_arpc_authenticates() {
        let imk = Secret::new(&[0x5Bu8; 16]);
        let pan = "6224240000000001";
        let mk = emv::icc_master_key(imk.expose(), pan, "01").unwrap();
        let (field55, cryptogram) = generate_ac(&mk, 7, &terminal()).unwrap();
        assert_eq!(iso8583::tlv::find(&field55, &[0x9F, 0x26]).unwrap(), Some(&cryptogram.arqc[..]));
        assert_eq!(iso8583::tlv::find(&field55, &[0x9F, 0x36]).unwrap(), Some(&[0u8, 7][..]));
        let issuer = emv::verify_arqc(
            Scheme::Common,
            imk.expose(),
            pan,
            "01",
            &[0, 7],
            None,
            &cryptogram.data,
            &cryptogram.arqc,
        )
        .unwrap();
        let arpc = emv::arpc_method1(issuer.session_key.expose(), &cryptogram.arqc, *b"00").unwrap();
        let mut tag91 = arpc.to_vec();
        tag91.extend_from_slice(b"00");
        assert!(external_authenticate(&mk, &cryptogram, &tag91).unwrap());
        let mut forged = tag91.clone();
        forged[0] ^= 1;
        assert!(!external_authenticate(&mk, &cryptogram, &forged).unwrap());
        let mut other_arc = tag91.clone();
        other_arc[9] = b'5';
        assert!(!external_authenticate(&mk, &cryptogram, &other_arc).unwrap());
        assert!(!external_authenticate(&mk, &cryptogram, &tag91[..9]).unwrap());
    }

    #[test]
    fn terminal_data_that_does_not_fit_is_refused() {
        let mk = Secret::new(&[0x11u8; 16]);
        let mut bad = terminal();
        bad.currency = "1560".into();
        assert!(matches!(generate_ac(&mk, 1, &bad), Err(CardError::Input("5F2A currency"))));
        let mut bad = terminal();
        bad.date_yymmdd = "26-11-".into();
        assert!(matches!(generate_ac(&mk, 1, &bad), Err(CardError::Input("9A date"))));
        let mut bad = terminal();
        bad.amount_minor = 1_000_000_000_000;
        assert!(matches!(generate_ac(&mk, 1, &bad), Err(CardError::Input("9F02 amount"))));
    }
}
