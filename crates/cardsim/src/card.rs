//! A card as the cardholder carries it: stripe, and chip if it has one.

use std::path::{Path, PathBuf};

use domain::Pan;
use hsm::Secret;
use serde_json::Value;

use crate::chip::{self, ChipCard, Cryptogram, TerminalData};
use crate::{CardError, Result, card_file};

/// Digits of an EMV PAN sequence number (5F34) as the card file gives it.
const PSN_DIGITS: usize = 2;
/// Bytes of a double-length ICC master key.
const ICC_MASTER_KEY_BYTES: usize = 16;

/// A simulated card. Its chip keys are in clear: a card is its own secure element.
pub struct SimCard {
    pan: Pan,
    expiry_yymm: Option<String>,
    track2: Option<String>,
    pin: Option<Secret>,
    /// What a list of test cards shows next to the masked number (the product, the balance).
    pub label: String,
    /// The issuer's id for the card (test bookkeeping), when the file has it.
    pub card_id: Option<i64>,
    chip: Option<Chip>,
    /// The chip does not answer the reader (a damaged chip or contacts): what makes a
    /// terminal fall back to the stripe. From the card file's `chip_fails`, or set by a test.
    chip_fails: bool,
    /// The card file this card came from: the ATC is written back to it.
    file: Option<PathBuf>,
}

struct Chip {
    track2: String,
    /// PAN sequence number, two digits.
    psn: String,
    icc_master_key: Secret,
    atc: u16,
    /// The ARQC waiting for the issuer's answer.
    last: Option<Cryptogram>,
    /// The ARQC the issuer authenticated, waiting for the second GENERATE AC.
    authenticated: Option<Cryptogram>,
}

impl std::fmt::Debug for SimCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCard").field("pan", &self.pan).field("chip", &self.chip.is_some()).finish_non_exhaustive()
    }
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

impl SimCard {
    /// A stripe-only card (an empty expiry or track 2: the card has none).
    pub fn stripe(pan: &str, expiry_yymm: &str, track2: &str, pin: Option<Secret>) -> Result<SimCard> {
        let pan = Pan::new(pan).map_err(|_| CardError::File("\"pan\" is not a card number".into()))?;
        Ok(SimCard {
            pan,
            expiry_yymm: Some(expiry_yymm.to_owned()).filter(|e| !e.is_empty()),
            track2: Some(track2.to_owned()).filter(|t| !t.is_empty()),
            pin,
            label: String::new(),
            card_id: None,
            chip: None,
            chip_fails: false,
            file: None,
        })
    }

    /// Give the card a chip: its track 2 equivalent, PAN sequence number (two digits), ICC
    /// master key for AC and the last transaction counter it used.
    pub fn with_chip(mut self, chip_track2: &str, psn: &str, icc_master_key: Secret, atc: u16) -> Result<SimCard> {
        if psn.len() != PSN_DIGITS || !digits(psn) {
            return Err(CardError::File("\"card_sequence\" must be two digits".into()));
        }
        if icc_master_key.len() != ICC_MASTER_KEY_BYTES {
            return Err(CardError::File("\"icc_master_key_ac\" must be 32 hex digits".into()));
        }
        self.chip = Some(Chip {
            track2: chip_track2.to_owned(),
            psn: psn.to_owned(),
            icc_master_key,
            atc,
            last: None,
            authenticated: None,
        });
        Ok(self)
    }

    /// A card from one object of a card file (see `card_file.rs` for the fields).
    pub fn from_json(value: &Value) -> Result<SimCard> {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let pan = text("pan").ok_or_else(|| CardError::File("no \"pan\"".into()))?;
        let pin = text("pin").map(|p| Secret::new(p.as_bytes()));
        let mut card = SimCard::stripe(pan, text("expiry").unwrap_or(""), text("track2").unwrap_or(""), pin)?;
        card.expiry_yymm = text("expiry").map(str::to_owned);
        card.track2 = text("track2").map(str::to_owned);
        card.card_id = value.get("card_id").and_then(Value::as_i64);
        card.chip_fails = match value.get("chip_fails") {
            None | Some(Value::Null) => false,
            Some(v) => v.as_bool().ok_or_else(|| CardError::File("\"chip_fails\" must be true or false".into()))?,
        };
        // The product only: the file's balance is the issuer's (and stale); a cashier sees
        // a card's label on the screen and must not see it.
        card.label = text("product").unwrap_or("test card").to_owned();
        if let (Some(chip_track2), Some(key_hex)) = (text("chip_track2"), text("icc_master_key_ac")) {
            let key = iso8583::hex::decode(key_hex)
                .map_err(|_| CardError::File("\"icc_master_key_ac\" is not hex".into()))
                .map(Secret::from_vec)?;
            let psn =
                text("card_sequence").ok_or_else(|| CardError::File("a chip card needs \"card_sequence\"".into()))?;
            let atc = match value.get("atc") {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| CardError::File("\"atc\" must be 0 to 65535".into()))?,
            };
            card = card.with_chip(chip_track2, psn, key, atc)?;
        }
        Ok(card)
    }

    /// Every card in a card file; chip cards write their ATC back to it.
    pub fn load_all(path: &Path) -> Result<Vec<SimCard>> {
        card_file::read(path)?
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let mut card = SimCard::from_json(value)
                    .map_err(|e| CardError::File(format!("{}, card {}: {e}", path.display(), index + 1)))?;
                card.file = Some(path.to_owned());
                Ok(card)
            })
            .collect()
    }

    /// The one card of a card file.
    pub fn load(path: &Path) -> Result<SimCard> {
        let mut cards = SimCard::load_all(path)?;
        match cards.len() {
            1 => Ok(cards.remove(0)),
            n => Err(CardError::File(format!("{}: {n} cards, expected one", path.display()))),
        }
    }

    /// The full number: for the request builder, never for a screen or a log.
    pub fn pan(&self) -> Pan {
        self.pan
    }

    /// First 6 and last 4 digits.
    pub fn masked(&self) -> String {
        self.pan.masked().to_string()
    }

    pub fn expiry_yymm(&self) -> Option<&str> {
        self.expiry_yymm.as_deref()
    }

    /// The magnetic stripe's track 2.
    pub fn track2(&self) -> Option<&str> {
        self.track2.as_deref()
    }

    pub fn has_chip(&self) -> bool {
        self.chip.is_some()
    }

    /// Make the chip unreadable (or readable again): a reader then gets
    /// [`CardError::ChipUnreadable`] from it.
    pub fn set_chip_fails(&mut self, fails: bool) {
        self.chip_fails = fails;
    }

    /// The reader's first contact with the chip: `Ok` when it answers, [`CardError::NoChip`]
    /// for a stripe-only card, [`CardError::ChipUnreadable`] when it does not answer.
    pub fn read_chip(&self) -> Result<()> {
        match (&self.chip, self.chip_fails) {
            (None, _) => Err(CardError::NoChip),
            (Some(_), true) => Err(CardError::ChipUnreadable),
            (Some(_), false) => Ok(()),
        }
    }

    /// The chip's track 2 equivalent (tag 57), if the card has a chip.
    pub fn chip_track2(&self) -> Option<&str> {
        self.chip.as_ref().map(|c| c.track2.as_str())
    }

    /// Field 23: the PAN sequence number as n3 (`0` + the two digits), if the card has a chip.
    pub fn sequence_number(&self) -> Option<String> {
        self.chip.as_ref().map(|c| format!("0{}", c.psn))
    }

    /// The last application transaction counter the chip used.
    pub fn atc(&self) -> Option<u16> {
        self.chip.as_ref().map(|c| c.atc)
    }

    /// The PIN the cardholder knows (from the PIN mailer), if the file has it.
    pub fn pin(&self) -> Option<&Secret> {
        self.pin.as_ref()
    }
}

impl ChipCard for SimCard {
    fn generate_ac(&mut self, terminal: &TerminalData) -> Result<Vec<u8>> {
        self.read_chip()?;
        let chip = self.chip.as_mut().ok_or(CardError::NoChip)?;
        // The counter is on the card (its file) before the cryptogram leaves it: a run that
        // dies after sending still never repeats an ATC, nor does another run of the same file.
        let atc = match &self.file {
            Some(path) => card_file::next_atc(path, self.pan.as_str(), chip.atc)?,
            None => chip.atc.checked_add(1).ok_or_else(|| CardError::Security("the ATC is exhausted".into()))?,
        };
        chip.atc = atc;
        let (field55, cryptogram) = chip::generate_ac(&chip.icc_master_key, atc, terminal)?;
        chip.last = Some(cryptogram);
        Ok(field55)
    }

    fn external_authenticate(&mut self, issuer_authentication_data: &[u8]) -> Result<bool> {
        let chip = self.chip.as_mut().ok_or(CardError::NoChip)?;
        let Some(cryptogram) = chip.last.take() else { return Ok(false) };
        let accepted = chip::external_authenticate(&chip.icc_master_key, &cryptogram, issuer_authentication_data)?;
        if accepted {
            chip.authenticated = Some(cryptogram);
        }
        Ok(accepted)
    }

    fn complete_transaction(&mut self, arc: [u8; 2]) -> Result<Vec<u8>> {
        let chip = self.chip.as_mut().ok_or(CardError::NoChip)?;
        let cryptogram = chip
            .authenticated
            .take()
            .ok_or_else(|| CardError::Security("no authenticated issuer answer to complete".into()))?;
        chip::transaction_certificate(&chip.icc_master_key, &cryptogram, arc)
    }
}
