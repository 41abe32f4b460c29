//! Building network requests on the acquirer's side of the switch: what the acquirer host
//! (issue 6) sends after mapping a terminal's message, and what tests, the demo and the
//! simulation send directly. The MAC (128) is added by [`crate::mac::sign`] afterwards.

use std::sync::Arc;

/// The card's types, so a builder of a request needs no other crate.
pub use domain::{EntryMode, InstitutionId, MerchantId, Pan, Rrn, Stan, TerminalId};
use iso8583::{Message, Mti, Spec};

use crate::error::{Error, Result};
use crate::kind::{CONDITION_NORMAL, CONDITION_PREAUTH, TransactionKind};
use crate::original::OriginalData;

/// Fields a response echoes from its request (docs/network-spec.md §3).
pub const RESPONSE_ECHO_FIELDS: [u8; 12] = [2, 3, 4, 11, 25, 32, 33, 37, 41, 42, 49, 100];

/// Fields a reversal copies from its original (docs/network-spec.md §3, 0420).
pub const REVERSAL_COPY_FIELDS: [u8; 14] = [2, 3, 4, 14, 18, 22, 23, 25, 32, 37, 41, 42, 43, 49];

/// Largest amount field 4 can carry (12 digits).
pub const AMOUNT_MINOR_MAX: u64 = 999_999_999_999;

/// Where the card was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptor {
    /// Field 32: the acquirer's member id.
    pub acquirer: InstitutionId,
    /// Field 41 (space-padded to 8 on the wire).
    pub terminal: TerminalId,
    /// Field 42 (space-padded to 15 on the wire).
    pub merchant: MerchantId,
    /// Field 18.
    pub mcc: String,
    /// Field 43: name (25), city (13), country (2); padded or cut to 40.
    pub name_location: String,
}

/// What the card and the cardholder gave.
#[derive(Clone)]
pub struct CardInput {
    pub pan: Pan,
    pub entry: Option<EntryMode>,
    /// Field 14 (keyed entry).
    pub expiry_yymm: Option<String>,
    /// Field 35 (swipe, or the chip's track 2 equivalent).
    pub track2: Option<String>,
    /// Field 23, three digits (chip).
    pub sequence_number: Option<String>,
    /// Field 55, BER-TLV (chip).
    pub icc_data: Option<Vec<u8>>,
    /// Field 52: a format-0 PIN block under the link's ZPK.
    pub pin_block: Option<Vec<u8>>,
}

impl CardInput {
    /// Only the number: everything else absent (keyed entry unless `entry` says otherwise).
    pub fn new(pan: Pan) -> CardInput {
        CardInput {
            pan,
            entry: None,
            expiry_yymm: None,
            track2: None,
            sequence_number: None,
            icc_data: None,
            pin_block: None,
        }
    }
}

/// Masked: card input holds a PAN and track data (the track is left out).
impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardInput")
            .field("pan", &self.pan)
            .field("entry", &self.entry)
            .field("pin", &self.pin_block.is_some())
            .finish_non_exhaustive()
    }
}

/// One transaction to send.
#[derive(Debug, Clone)]
pub struct TransactionRequest<'a> {
    pub kind: TransactionKind,
    pub acceptor: &'a Acceptor,
    pub card: &'a CardInput,
    /// Minor units of `currency`; ignored for a balance inquiry.
    pub amount_minor: u64,
    /// ISO 4217 numeric, field 49.
    pub currency: &'a str,
    /// Field 11.
    pub stan: Stan,
    /// Field 37.
    pub rrn: Rrn,
    /// Clock reading for 7, 12, 13.
    pub now_ms: u64,
    /// The original, for completions, voids and (optionally) refunds.
    pub original: Option<&'a OriginalData>,
}

/// The MTI and processing code of `kind` (docs/network-flows.md §1).
fn shape(kind: TransactionKind) -> Result<(&'static str, &'static str, &'static str)> {
    Ok(match kind {
        TransactionKind::BalanceInquiry => ("0200", "310000", CONDITION_NORMAL),
        TransactionKind::Purchase => ("0200", "000000", CONDITION_NORMAL),
        TransactionKind::PreAuthorization => ("0100", "030000", CONDITION_PREAUTH),
        TransactionKind::Completion => ("0200", "000000", CONDITION_PREAUTH),
        TransactionKind::Void => ("0200", "020000", CONDITION_NORMAL),
        TransactionKind::PreAuthorizationVoid => ("0100", "020000", CONDITION_PREAUTH),
        TransactionKind::CompletionVoid => ("0200", "020000", CONDITION_PREAUTH),
        TransactionKind::Refund => ("0200", "200000", CONDITION_NORMAL),
        TransactionKind::Reversal => {
            return Err(Error::Invalid { field: 3, reason: "build reversals with reversal_of" });
        }
    })
}

/// Build the request (without 128).
pub fn build(spec: &Arc<Spec>, request: &TransactionRequest<'_>) -> Result<Message> {
    let (mti, processing, condition) = shape(request.kind)?;
    if request.kind.needs_original() && request.original.is_none() {
        return Err(Error::Missing { field: 90 });
    }
    let mut m = Message::new(Arc::clone(spec), Mti::parse(mti)?);
    let card = request.card;
    let acceptor = request.acceptor;
    m.set_str(2, card.pan.as_str())?;
    m.set_str(3, processing)?;
    if request.kind != TransactionKind::BalanceInquiry {
        if request.amount_minor > AMOUNT_MINOR_MAX {
            return Err(Error::Invalid { field: 4, reason: "amount does not fit 12 digits" });
        }
        m.set_str(4, &format!("{:012}", request.amount_minor))?;
    }
    let now = clock::UtcDateTime::from_ms(request.now_ms);
    m.set_str(7, &now.mmddhhmmss())?;
    m.set_str(11, request.stan.field().as_str())?;
    m.set_str(12, &now.hhmmss())?;
    m.set_str(13, &now.mmdd())?;
    if let Some(expiry) = &card.expiry_yymm {
        m.set_str(14, expiry)?;
    }
    m.set_str(18, &acceptor.mcc)?;
    let entry = card.entry.unwrap_or(if card.track2.is_some() { EntryMode::Swipe } else { EntryMode::Keyed });
    // Digit 3: 1 = the terminal can take a PIN (cardnet terminals have a PIN pad).
    m.set_str(22, &format!("{}1", entry.network_code()))?;
    if let Some(psn) = &card.sequence_number {
        m.set_str(23, psn)?;
    }
    m.set_str(25, condition)?;
    if card.pin_block.is_some() {
        m.set_str(26, "12")?;
    }
    m.set_str(32, acceptor.acquirer.as_str())?;
    if let Some(track2) = &card.track2 {
        m.set_str(35, track2)?;
    }
    m.set_str(37, request.rrn.as_str())?;
    m.set_padded(41, acceptor.terminal.as_str())?;
    m.set_padded(42, acceptor.merchant.as_str())?;
    let name: String = acceptor.name_location.chars().take(40).collect();
    m.set_padded(43, &name)?;
    m.set_str(49, request.currency)?;
    if let Some(pin_block) = &card.pin_block {
        m.set(52, pin_block)?;
    }
    if let Some(icc) = &card.icc_data {
        m.set(55, icc)?;
    }
    if let Some(original) = request.original {
        original.set_field90(&mut m)?;
    }
    Ok(m)
}

/// The 0420 reversal advice of `original` (a request this sender sent), as sent at `now_ms`
/// with STAN `stan`. `replacement_minor` makes it partial: the amount actually completed (95).
pub fn reversal_of(original: &Message, stan: &str, now_ms: u64, replacement_minor: Option<u64>) -> Result<Message> {
    let mut m = Message::new(Arc::clone(original.spec()), Mti::parse("0420")?);
    for field in REVERSAL_COPY_FIELDS {
        if let Some(value) = original.get(field) {
            m.set(field, value)?;
        }
    }
    m.set_str(7, &crate::time::transmission_time(now_ms))?;
    m.set_str(11, stan)?;
    OriginalData::of_request(original)?.set_field90(&mut m)?;
    if let Some(amount) = replacement_minor {
        if amount > AMOUNT_MINOR_MAX {
            return Err(Error::Invalid { field: 95, reason: "amount does not fit 12 digits" });
        }
        m.set_str(95, &format!("{amount:012}{:0>30}", ""))?;
    }
    Ok(m)
}

/// The amount completed according to field 95 of a partial reversal, if it has one.
pub fn replacement_amount(reversal: &Message) -> Result<Option<u64>> {
    let Some(value) = reversal.get_str(95) else { return Ok(None) };
    value
        .get(..12)
        .and_then(|digits| digits.parse().ok())
        .map(Some)
        .ok_or(Error::Invalid { field: 95, reason: "first 12 characters must be digits" })
}

/// Field 4 in minor units.
pub fn amount_minor(message: &Message) -> Result<u64> {
    let text = message.get_str(4).ok_or(Error::Missing { field: 4 })?;
    text.parse().map_err(|_| Error::Invalid { field: 4, reason: "not 12 digits" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::classify;

    fn pan() -> Pan {
        Pan::new("6224242900000113").unwrap()
    }

    #[test]
    fn debug_masks_the_card() {
        let card = CardInput { track2: Some("6224242900000113=28062011234567000".into()), ..CardInput::new(pan()) };
        let shown = format!("{card:?}");
        assert!(shown.contains("622424******0113") && !shown.contains("2900000"), "{shown}");
    }

    fn acceptor() -> Acceptor {
        Acceptor {
            acquirer: "10000000344".parse().unwrap(),
            terminal: "TERM0001".parse().unwrap(),
            merchant: "898440154110001".parse().unwrap(),
            mcc: "5411".into(),
            name_location: "CARDNET COFFEE           SHANGHAI     CN".into(),
        }
    }

    #[test]
    fn every_kind_classifies_back() {
        let spec = iso8583::builtin::network();
        let card = CardInput { expiry_yymm: Some("2806".into()), ..CardInput::new(pan()) };
        let original = OriginalData {
            mti: "0100".into(),
            stan: "000001".into(),
            transmission_time: "0315063023".into(),
            acquirer: "10000000344".into(),
            forwarder: "00000000000".into(),
        };
        for kind in TransactionKind::ALL.into_iter().filter(|k| *k != TransactionKind::Reversal) {
            let request = TransactionRequest {
                kind,
                acceptor: &acceptor(),
                card: &card,
                amount_minor: 12_500,
                currency: "156",
                stan: Stan::parse("000002").unwrap(),
                rrn: Rrn::new("507406000002").unwrap(),
                now_ms: 1_709_208_000_000,
                original: Some(&original),
            };
            let m = build(&spec, &request).unwrap();
            m.validate().unwrap();
            assert_eq!(classify(&m).unwrap(), kind);
            let reversal = reversal_of(&m, "000003", 1_709_208_001_000, None).unwrap();
            assert_eq!(classify(&reversal).unwrap(), TransactionKind::Reversal);
            assert_eq!(OriginalData::from_field90(&reversal).unwrap(), OriginalData::of_request(&m).unwrap());
            assert_eq!(reversal.get_str(37), Some("507406000002"));
        }
        let partial = build(
            &spec,
            &TransactionRequest {
                kind: TransactionKind::Purchase,
                acceptor: &acceptor(),
                card: &card,
                amount_minor: 500,
                currency: "156",
                stan: Stan::parse("000004").unwrap(),
                rrn: Rrn::new("507406000004").unwrap(),
                now_ms: 0,
                original: None,
            },
        )
        .unwrap();
        let reversal = reversal_of(&partial, "000005", 0, Some(200)).unwrap();
        assert_eq!(replacement_amount(&reversal).unwrap(), Some(200));
        assert_eq!(amount_minor(&reversal).unwrap(), 500);
    }

    #[test]
    fn a_void_needs_its_original() {
        let spec = iso8583::builtin::network();
        let card = CardInput::new(pan());
        let request = TransactionRequest {
            kind: TransactionKind::Void,
            acceptor: &acceptor(),
            card: &card,
            amount_minor: 1,
            currency: "156",
            stan: Stan::parse("000002").unwrap(),
            rrn: Rrn::new("507406000002").unwrap(),
            now_ms: 0,
            original: None,
        };
        assert_eq!(build(&spec, &request).unwrap_err(), Error::Missing { field: 90 });
    }
}
