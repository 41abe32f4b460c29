//! A simulated card: magnetic stripe, contact chip and contactless, with a cardholder who
//! types a PIN. It builds the card part of a network request ([`network::request::CardInput`]):
//! track 2, field 55 with an ARQC over [`network::emv::ARQC_DATA_TAGS`], and a format-0 PIN
//! block under the acquirer link's ZPK.

use hsm::emv::{self, Scheme};
use hsm::pinblock::PinFormat;
use hsm::{Secret, SecurityModule, WrappedKey};
use network::request::{CardInput, EntryMode};

/// Terminal verification results a clean transaction reports (tag 95).
const TVR_CLEAN: [u8; 5] = [0; 5];
/// Application interchange profile (tag 82): SDA, cardholder verification, terminal risk
/// management, issuer authentication supported.
const AIP: [u8; 2] = [0x7C, 0x00];
/// Issuer application data (tag 9F10) of a PBOC-style card: length, derivation key index,
/// cryptogram version, card verification results.
const IAD: [u8; 7] = [0x07, 0x01, 0x01, 0x03, 0xA0, 0x00, 0x00];

/// A card as the cardholder carries it. Its chip keys are in clear: a card is its own secure
/// element, and this one is simulated.
pub struct SimCard {
    pub pan: String,
    pub expiry_yymm: String,
    /// The magnetic stripe's track 2 (with the CVV).
    pub track2: String,
    /// The chip's track 2 equivalent (with the iCVV), if the card has a chip.
    pub chip_track2: Option<String>,
    /// Card sequence number, 3 digits (field 23).
    pub sequence_number: String,
    /// The issuer master key for AC this card was personalised from (derives the ICC MK).
    pub imk_ac: Option<Secret>,
    /// The PIN the cardholder knows.
    pub pin: Secret,
    /// Application transaction counter: up by one per chip transaction.
    pub atc: u16,
    /// The last ARQC and the data it covered, to check the issuer's ARPC against.
    pub last_arqc: Option<([u8; 8], Vec<u8>)>,
    /// Test bookkeeping: the issuer's id for this card (to look at its journal and balance).
    pub card_id: i64,
}

impl std::fmt::Debug for SimCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCard").field("pan", &iso8583::mask::mask_pan(&self.pan)).finish_non_exhaustive()
    }
}

/// What the terminal tells the card (CDOL1 data).
#[derive(Debug, Clone, Copy)]
pub struct Terminal<'a> {
    pub amount_minor: u64,
    /// ISO 4217 numeric, 3 digits.
    pub currency: &'a str,
    /// ISO 3166 numeric, 3 digits.
    pub country: &'a str,
    /// Transaction date `YYMMDD`.
    pub date_yymmdd: &'a str,
    /// Transaction type (tag 9C): 00 goods, 31 balance, 20 refund.
    pub transaction_type: u8,
    pub unpredictable_number: [u8; 4],
}

/// Errors name the step, never card data.
#[derive(Debug)]
pub enum CardError {
    NoChip,
    Hsm(hsm::Error),
    Input(&'static str),
}

impl std::fmt::Display for CardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardError::NoChip => f.write_str("the card has no chip"),
            CardError::Hsm(e) => write!(f, "security module: {e}"),
            CardError::Input(what) => write!(f, "bad terminal data: {what}"),
        }
    }
}

impl std::error::Error for CardError {}

impl From<hsm::Error> for CardError {
    fn from(error: hsm::Error) -> CardError {
        CardError::Hsm(error)
    }
}

fn bcd(digits: &str, bytes: usize) -> Result<Vec<u8>, CardError> {
    let padded = format!("{digits:0>width$}", width = bytes * 2);
    if padded.len() != bytes * 2 || !padded.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::Input("a numeric tag does not fit"));
    }
    Ok(padded.as_bytes().chunks(2).map(|pair| ((pair[0] - b'0') << 4) | (pair[1] - b'0')).collect())
}

fn tlv(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    // Every value here is shorter than 128 bytes: one length byte.
    out.push(value.len() as u8);
    out.extend_from_slice(value);
}

impl SimCard {
    /// The card part of a request read with `entry`. `pin`: what the cardholder types (may
    /// differ from the card's PIN, to test a wrong one), encrypted under `zpk`.
    pub fn present(
        &mut self,
        entry: EntryMode,
        terminal: &Terminal<'_>,
        pin: Option<&str>,
        hsm: &dyn SecurityModule,
        zpk: &WrappedKey,
    ) -> Result<CardInput, CardError> {
        let mut input = CardInput { pan: self.pan.clone(), entry: Some(entry), ..CardInput::default() };
        match entry {
            EntryMode::Keyed => input.expiry_yymm = Some(self.expiry_yymm.clone()),
            EntryMode::Swipe => input.track2 = Some(self.track2.clone()),
            EntryMode::Chip | EntryMode::Contactless => {
                input.track2 = Some(self.chip_track2.clone().ok_or(CardError::NoChip)?);
                input.sequence_number = Some(self.sequence_number.clone());
                input.icc_data = Some(self.generate_ac(terminal)?);
            }
        }
        if let Some(pin) = pin {
            let typed = Secret::new(pin.as_bytes());
            input.pin_block = Some(hsm.encrypt_pin(zpk, PinFormat::Iso0, &typed, &self.pan)?);
        }
        Ok(input)
    }

    /// GENERATE AC: field 55 with an ARQC. The ATC goes up first, as a card's does.
    pub fn generate_ac(&mut self, terminal: &Terminal<'_>) -> Result<Vec<u8>, CardError> {
        let imk = self.imk_ac.as_ref().ok_or(CardError::NoChip)?;
        self.atc = self.atc.wrapping_add(1);
        let atc = self.atc.to_be_bytes();
        let values: [(&[u8], Vec<u8>); 11] = [
            (&[0x9F, 0x02], bcd(&terminal.amount_minor.to_string(), 6)?),
            (&[0x9F, 0x03], vec![0; 6]),
            (&[0x9F, 0x1A], bcd(terminal.country, 2)?),
            (&[0x95], TVR_CLEAN.to_vec()),
            (&[0x5F, 0x2A], bcd(terminal.currency, 2)?),
            (&[0x9A], bcd(terminal.date_yymmdd, 3)?),
            (&[0x9C], vec![terminal.transaction_type]),
            (&[0x9F, 0x37], terminal.unpredictable_number.to_vec()),
            (&[0x82], AIP.to_vec()),
            (&[0x9F, 0x36], atc.to_vec()),
            (&[0x9F, 0x10], IAD.to_vec()),
        ];
        let data: Vec<u8> = values.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        let psn = &self.sequence_number[self.sequence_number.len().saturating_sub(2)..];
        let result = emv::arqc(Scheme::Common, imk.expose(), &self.pan, psn, &atc, None, &data)?;
        self.last_arqc = Some((result.arqc, data.clone()));
        let mut field55 = Vec::with_capacity(128);
        tlv(&mut field55, &[0x9F, 0x26], &result.arqc);
        tlv(&mut field55, &[0x9F, 0x27], &[0x80]);
        for (tag, value) in &values {
            tlv(&mut field55, tag, value);
        }
        Ok(field55)
    }

    /// Check the issuer's ARPC (tag 91 of the response's field 55: ARPC ‖ ARC, method 1)
    /// against the last ARQC; `false` when it does not match or there was no ARQC.
    pub fn verify_arpc(&self, issuer_authentication_data: &[u8]) -> Result<bool, CardError> {
        let imk = self.imk_ac.as_ref().ok_or(CardError::NoChip)?;
        let Some((arqc, data)) = &self.last_arqc else { return Ok(false) };
        let [arpc @ .., arc0, arc1] = issuer_authentication_data else { return Ok(false) };
        if arpc.len() != 8 {
            return Ok(false);
        }
        let psn = &self.sequence_number[self.sequence_number.len().saturating_sub(2)..];
        let atc = self.atc.to_be_bytes();
        let result = emv::arqc(Scheme::Common, imk.expose(), &self.pan, psn, &atc, None, data)?;
        debug_assert_eq!(&result.arqc, arqc);
        let expected = emv::arpc_method1(Scheme::Common.arpc_key(&result).expose(), arqc, [*arc0, *arc1])?;
        Ok(expected[..] == *arpc)
    }
}
