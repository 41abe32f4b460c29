//! A card the development network's issuer just issued, in its cardholder's hand: magnetic
//! stripe, contact chip and contactless, and the PIN from the PIN mailer. It builds the card
//! part of a network request ([`network::request::CardInput`]): track 2, field 55 from the chip
//! ([`cardsim::ChipCard::generate_ac`]), and a format-0 PIN block under the acquirer link's
//! ZPK (encrypted by the HSM). The chip is a [`cardsim::SimCard`] personalised by the issuer,
//! the same card a terminal reads ([`SimCard::card`]).
//!
//! Why clear secrets are legitimate here: this models the card and its holder, not a party's
//! host. A card is its own secure element — its ICC master key left the issuer's HSM once, at
//! personalisation, as on a real chip — and the PIN is what the cardholder knows. Both are
//! zeroized [`Secret`]s; `Debug` shows the masked number only.

use std::sync::{Arc, Mutex};

use cardsim::{ChipCard, TerminalData, TransactionType};
use hsm::pinblock::PinFormat;
use hsm::{Secret, SecurityModule, WrappedKey};
use network::request::{CardInput, EntryMode, Pan};

pub use cardsim::CardError;

/// A card as the cardholder carries it, with the issuer's id for it.
pub struct SimCard {
    pub pan: Pan,
    pub expiry_yymm: String,
    /// The magnetic stripe's track 2 (with the CVV).
    pub track2: String,
    /// The chip's track 2 equivalent (with the iCVV), if the card has a chip.
    pub chip_track2: Option<String>,
    /// Card sequence number, 3 digits (field 23).
    pub sequence_number: String,
    /// The PIN the cardholder knows.
    pub pin: Secret,
    /// The issuer's id for this card (to look at its journal and balance).
    pub card_id: i64,
    /// The card as a reader sees it: stripe, chip (ICC master key, ATC, last ARQC).
    pub card: Arc<Mutex<cardsim::SimCard>>,
}

impl std::fmt::Debug for SimCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCard").field("pan", &self.pan).finish_non_exhaustive()
    }
}

/// The CDOL1 data of a purchase of `amount_minor` CNY at a terminal in China (a fixed date and
/// unpredictable number: the issuer checks the cryptogram over them and the ATC, which moves).
pub fn purchase(amount_minor: u64) -> TerminalData {
    TerminalData {
        amount_minor,
        currency: crate::layout::CURRENCY.to_owned(),
        country: COUNTRY_CHINA.to_owned(),
        date_yymmdd: "261122".to_owned(),
        transaction_type: TransactionType::Goods,
        unpredictable_number: [0x12, 0x34, 0x56, 0x78],
    }
}

/// Tag 9F1A of a terminal in China.
const COUNTRY_CHINA: &str = "156";

impl SimCard {
    /// The card the issuer just issued (stripe and chip).
    pub fn from_issued(card: &issuer::IssuedCard) -> Result<SimCard, CardError> {
        let pin = Secret::new(card.pin.expose());
        let chip = cardsim::SimCard::stripe(card.pan.as_str(), &card.expiry_yymm, &card.track2, Some(pin.clone()))?
            .with_chip(&card.chip_track2, &card.card_sequence, card.icc_master_key_ac.clone(), 0)?;
        Ok(SimCard {
            pan: card.pan,
            expiry_yymm: card.expiry_yymm.clone(),
            track2: card.track2.clone(),
            chip_track2: Some(card.chip_track2.clone()),
            sequence_number: format!("0{}", card.card_sequence),
            pin,
            card_id: card.card_id,
            card: Arc::new(Mutex::new(chip)),
        })
    }

    /// The card part of a request read with `entry`. `pin`: what the cardholder types (may
    /// differ from the card's PIN: a mistyped one), encrypted under `zpk`.
    pub fn present(
        &mut self,
        entry: EntryMode,
        terminal: &TerminalData,
        pin: Option<&str>,
        hsm: &dyn SecurityModule,
        zpk: &WrappedKey,
    ) -> Result<CardInput, CardError> {
        let mut input = CardInput { entry: Some(entry), ..CardInput::new(self.pan) };
        match entry {
            EntryMode::Keyed => input.expiry_yymm = Some(self.expiry_yymm.clone()),
            EntryMode::Swipe | EntryMode::Fallback => input.track2 = Some(self.track2.clone()),
            EntryMode::Chip | EntryMode::Contactless => {
                input.track2 = Some(self.chip_track2.clone().ok_or(CardError::NoChip)?);
                input.sequence_number = Some(self.sequence_number.clone());
                input.icc_data = Some(self.generate_ac(terminal)?);
            }
        }
        if let Some(pin) = pin {
            let typed = Secret::new(pin.as_bytes());
            input.pin_block = Some(hsm.encrypt_pin(zpk, PinFormat::Iso0, &typed, self.pan.as_str())?);
        }
        Ok(input)
    }

    fn chip(&self) -> Result<std::sync::MutexGuard<'_, cardsim::SimCard>, CardError> {
        self.card.lock().map_err(|_| CardError::Security("the card was dropped mid-command".into()))
    }

    /// GENERATE AC: field 55 with an ARQC. The ATC goes up first, as a card's does.
    pub fn generate_ac(&mut self, terminal: &TerminalData) -> Result<Vec<u8>, CardError> {
        self.chip()?.generate_ac(terminal)
    }

    /// Check the issuer's ARPC (tag 91 of the response's field 55: ARPC ‖ ARC, method 1)
    /// against the last ARQC; `false` when it does not match or there was no ARQC.
    pub fn verify_arpc(&self, issuer_authentication_data: &[u8]) -> Result<bool, CardError> {
        self.chip()?.external_authenticate(issuer_authentication_data)
    }
}
