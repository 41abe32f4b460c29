//! Card management: issue a card (PAN, PIN, CVVs, track 2, account), list cards (masked),
//! change a card's status, unblock it, put money on it.
//!
//! The clear PAN, PIN and CVVs of a new card leave the issuer once, in [`IssuedCard`] (what
//! is handed to the card bureau and the PIN mailer); afterwards the issuer keeps only the
//! encrypted PAN, its keyed hash, the PVV, and recomputes CVVs under the CVK.

use std::fmt;

use clock::UtcDateTime;
use domain::Pan;
use hsm::Secret;

use crate::config::{PinMethod, ProductKind};
use crate::error::{IssuerError, Result};
use crate::issuer::Issuer;
use crate::limits::{AMOUNT_MAX_MINOR, CARD_LIST_MAX, PAN_DRAWS_MAX};
use crate::money::{Balance, Moved, TRANSFER_CREDIT_LIMIT, TRANSFER_FUNDING, TransferRole, transfer_id};
use crate::store::{CardRecord, CardStatus, Funding, NewCard};

/// The card sequence number (EMV PAN sequence number, 5F34) of a first card.
const FIRST_CARD_SEQUENCE: &str = "01";
/// Filler at the end of a cardnet track 2 (docs/network-flows.md §2), cut short when a long
/// PAN would take the track past its 37 characters.
const TRACK2_FILLER: &str = "000";
/// Field 35 holds at most this many characters.
pub(crate) const TRACK2_LEN_MAX: usize = 37;
/// Service codes of the CVV2 (printed on the card) and the iCVV (chip track 2 equivalent).
const CVV2_SERVICE_CODE: &str = "000";
const ICVV_SERVICE_CODE: &str = "999";
/// Funding kinds in the fundings table.
const FUNDING_TOP_UP: &str = "top-up";
const FUNDING_CREDIT_LIMIT: &str = "credit-limit";

/// A card as issued: the one time its full number, PIN and CVVs are shown. `Debug` masks the
/// PAN and hides the rest.
pub struct IssuedCard {
    pub card_id: i64,
    pub product: String,
    pub pan: Pan,
    /// `YYMM`.
    pub expiry_yymm: String,
    /// The PIN, for the PIN mailer.
    pub pin: Secret,
    /// Printed on the card (service code 000).
    pub cvv2: String,
    pub service_code: String,
    /// Magnetic stripe track 2: `PAN=YYMM` service code, PVKI, PVV, CVV, filler.
    pub track2: String,
    /// The chip's track 2 equivalent: the same with the iCVV.
    pub chip_track2: String,
    /// EMV PAN sequence number (5F34), two digits; field 23 carries `0` + these.
    pub card_sequence: String,
    /// The chip's ICC master key for AC (option A/B from the IMK-AC), for personalising the
    /// card: it goes into the chip and nowhere else; the issuer re-derives it per ARQC.
    pub icc_master_key_ac: Secret,
}

impl fmt::Debug for IssuedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCard")
            .field("card_id", &self.card_id)
            .field("product", &self.product)
            .field("pan", &self.pan)
            .finish_non_exhaustive()
    }
}

/// A card as listed: masked, with its balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSummary {
    pub card_id: i64,
    pub pan_masked: String,
    pub expiry_yymm: String,
    pub product: String,
    pub kind: ProductKind,
    pub status: CardStatus,
    pub pin_tries: u32,
    pub ledger_balance_minor: i64,
    pub available_minor: i64,
    /// The card's account in the issuer's ledger.
    pub account_id: u128,
}

/// How a caller names a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRef {
    Pan(Pan),
    Id(i64),
}

/// `count` random decimal digits from the operating system's generator (uniform: bytes at or
/// above 250 are drawn again).
fn random_digits(count: usize) -> Result<String> {
    let mut out = String::with_capacity(count);
    let mut bytes = [0u8; 32];
    while out.len() < count {
        hsm::entropy::fill(&mut bytes)
            .map_err(|_| IssuerError::Internal("the system random generator failed".into()))?;
        for byte in bytes.iter().filter(|&&byte| byte < 250) {
            if out.len() < count {
                out.push(char::from(b'0' + byte % 10));
            }
        }
    }
    Ok(out)
}

/// The expiry `YYMM` `months` after the month of `now_ms`.
fn expiry_after(now_ms: u64, months: u32) -> String {
    let now = UtcDateTime::from_ms(now_ms);
    let total = now.year * 12 + i64::from(now.month) - 1 + i64::from(months);
    format!("{:02}{:02}", total.div_euclid(12).rem_euclid(100), total.rem_euclid(12) + 1)
}

fn track2(pan: &str, expiry: &str, service_code: &str, pvki: u8, pvv: &str, cvv: &str) -> String {
    let track = format!("{pan}={expiry}{service_code}{pvki}{pvv}{cvv}");
    let room = TRACK2_LEN_MAX.saturating_sub(track.len()).min(TRACK2_FILLER.len());
    format!("{track}{}", &TRACK2_FILLER[..room])
}

impl Issuer {
    /// Issue a card of `product`: a fresh PAN under the product's BIN, a random PIN (its PVV
    /// kept), CVVs, an account in the ledger. A debit card gets `opening_balance_minor` if
    /// given; a credit card its product's credit line.
    pub fn issue_card(&self, product: &str, opening_balance_minor: Option<u64>) -> Result<IssuedCard> {
        self.issue_card_expiring(product, opening_balance_minor, None)
    }

    /// [`Issuer::issue_card`] with a chosen expiry `YYMM` instead of the product's validity:
    /// test cards (one already expired answers 54).
    pub fn issue_card_expiring(
        &self,
        product: &str,
        opening_balance_minor: Option<u64>,
        expiry_yymm: Option<&str>,
    ) -> Result<IssuedCard> {
        if let Some(expiry) = expiry_yymm {
            let month = expiry.get(2..).and_then(|m| m.parse::<u8>().ok());
            if expiry.len() != 4 || !expiry.bytes().all(|b| b.is_ascii_digit()) || !matches!(month, Some(1..=12)) {
                return Err(IssuerError::input("the expiry must be YYMM with a month 01 to 12"));
            }
        }
        let product = self
            .settings
            .products
            .get(product)
            .ok_or_else(|| IssuerError::input(format!("no card product named {product:?}")))?
            .clone();
        if let Some(amount) = opening_balance_minor {
            if product.kind == ProductKind::Credit {
                return Err(IssuerError::input(
                    "an opening balance is for debit cards (a credit card gets its credit line)",
                ));
            }
            if amount > AMOUNT_MAX_MINOR {
                return Err(IssuerError::input(format!("the opening balance must be at most {AMOUNT_MAX_MINOR}")));
            }
        }
        let now_ms = self.now_ms();
        let keys = &self.settings.keys;
        let expiry = expiry_yymm.map_or_else(|| expiry_after(now_ms, product.validity_months), str::to_owned);
        // The account first: a crash after it leaves an empty account nothing refers to.
        let account_id = crate::money::Money::new_card_account_id()?;
        self.money.create_card_account(account_id, product.kind == ProductKind::Credit)?;
        let account_digits = product.pan_length - product.bin.len() - 1;
        for _ in 0..PAN_DRAWS_MAX {
            let partial = format!("{}{}", product.bin, random_digits(account_digits)?);
            let check = hsm::card::luhn_check_digit(&partial).ok_or_else(|| IssuerError::input("BIN is not digits"))?;
            let pan = Pan::new(&format!("{partial}{check}"))
                .map_err(|_| IssuerError::input("the product's BIN and PAN length do not make a card number"))?;
            if product.excluded_prefixes.iter().any(|prefix| pan.as_str().starts_with(prefix.as_str())) {
                continue; // a range of the BIN routed elsewhere: draw another
            }
            // The PVV, or the IBM 3624 offset: kept on the record and written where track 2 has
            // its PIN verification value.
            let (pin, pvv) = match product.pin_verification {
                PinMethod::Pvv => self.hsm.generate_pin(&keys.pvk, pan.as_str(), product.pin_length, keys.pvk_index)?,
                PinMethod::Ibm3624 => self.hsm.generate_pin_ibm3624(
                    &keys.pvk,
                    &hsm::card::account_validation_data(pan.as_str())?,
                    &keys.decimalization_table,
                    product.pin_length,
                )?,
            };
            let new = NewCard {
                pan_hash: self.pan_hash(pan.as_str())?,
                pan_sealed: self.hsm.encrypt_data(&keys.dek, pan.as_str().as_bytes())?,
                pan_masked: pan.masked().to_string(),
                expiry: expiry.clone(),
                product: product.name.clone(),
                kind: product.kind,
                pvki: keys.pvk_index,
                pvv: pvv.clone(),
                pin_method: product.pin_verification,
                service_code: product.service_code.clone(),
                card_sequence: FIRST_CARD_SEQUENCE.to_owned(),
                pin_required: product.pin_required,
                daily_amount_limit: product.daily_amount_limit_minor,
                daily_count_limit: product.daily_count_limit,
                account_id,
            };
            let Some(card_id) = self.cards.insert_card(&new, i64::try_from(now_ms).unwrap_or(i64::MAX))? else {
                continue; // the PAN is taken: draw another
            };
            let cvv = self.hsm.generate_cvv(&keys.cvk, pan.as_str(), &expiry, &product.service_code)?;
            let icvv = self.hsm.generate_cvv(&keys.cvk, pan.as_str(), &expiry, ICVV_SERVICE_CODE)?;
            let cvv2 = self.hsm.generate_cvv(&keys.cvk, pan.as_str(), &expiry, CVV2_SERVICE_CODE)?;
            let icc_master_key_ac =
                self.hsm.personalise_icc_master_key(&keys.imk_ac, pan.as_str(), FIRST_CARD_SEQUENCE)?;
            match product.kind {
                ProductKind::Credit => {
                    self.add_funds(card_id, FUNDING_CREDIT_LIMIT, product.credit_limit_minor)?;
                }
                ProductKind::Debit => {
                    if let Some(amount) = opening_balance_minor.filter(|&amount| amount > 0) {
                        self.add_funds(card_id, FUNDING_TOP_UP, amount)?;
                    }
                }
            }
            return Ok(IssuedCard {
                card_id,
                product: product.name.clone(),
                track2: track2(pan.as_str(), &expiry, &product.service_code, keys.pvk_index, &pvv, &cvv),
                chip_track2: track2(pan.as_str(), &expiry, &product.service_code, keys.pvk_index, &pvv, &icvv),
                pan,
                expiry_yymm: expiry,
                pin,
                cvv2,
                service_code: product.service_code,
                card_sequence: FIRST_CARD_SEQUENCE.to_owned(),
                icc_master_key_ac,
            });
        }
        Err(IssuerError::input(format!("no unused card number found under BIN {} (is it full?)", product.bin)))
    }

    fn card_record(&self, card: &CardRef) -> Result<CardRecord> {
        let record = match card {
            CardRef::Id(id) => self.cards.card_by_id(*id)?,
            CardRef::Pan(pan) => {
                if !hsm::card::luhn_valid(pan.as_str()) {
                    return Err(IssuerError::input("the PAN must be digits with a valid check digit"));
                }
                self.cards.card_by_hash(&self.pan_hash(pan.as_str())?)?
            }
        };
        record.ok_or(IssuerError::UnknownCard)
    }

    fn summary(&self, record: &CardRecord) -> Result<CardSummary> {
        let balance = self.money.balance(record.account_id)?.unwrap_or(Balance { ledger_minor: 0, available_minor: 0 });
        Ok(CardSummary {
            card_id: record.card_id,
            pan_masked: record.pan_masked.clone(),
            expiry_yymm: record.expiry.clone(),
            product: record.product.clone(),
            kind: record.kind,
            status: record.status,
            pin_tries: record.pin_tries,
            ledger_balance_minor: balance.ledger_minor,
            available_minor: balance.available_minor,
            account_id: record.account_id,
        })
    }

    /// Every card (at most [`CARD_LIST_MAX`]), masked, in issue order.
    pub fn list_cards(&self) -> Result<Vec<CardSummary>> {
        self.cards.cards(CARD_LIST_MAX)?.iter().map(|record| self.summary(record)).collect()
    }

    pub fn card(&self, card: &CardRef) -> Result<CardSummary> {
        self.summary(&self.card_record(card)?)
    }

    /// The card's balances.
    pub fn balance(&self, card: &CardRef) -> Result<Balance> {
        let record = self.card_record(card)?;
        self.money.balance(record.account_id)?.ok_or_else(|| IssuerError::Ledger("the card has no account".into()))
    }

    /// Set a card's status (lost, stolen, blocked, expired, or active again). The PIN try
    /// counter is kept: only [`Issuer::unblock`] resets it.
    pub fn set_status(&self, card: &CardRef, status: CardStatus) -> Result<CardSummary> {
        let record = self.card_record(card)?;
        let _card_lock = self.lock_card(&record.pan_hash);
        let now_ms = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
        self.cards.set_status(record.card_id, status, false, now_ms)?;
        self.card(&CardRef::Id(record.card_id))
    }

    /// Make a card active again and reset its wrong-PIN counter (after 75).
    pub fn unblock(&self, card: &CardRef) -> Result<CardSummary> {
        let record = self.card_record(card)?;
        let _card_lock = self.lock_card(&record.pan_hash);
        let now_ms = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
        self.cards.set_status(record.card_id, CardStatus::Active, true, now_ms)?;
        self.card(&CardRef::Id(record.card_id))
    }

    /// Put `amount_minor` on a card (a top-up of a debit card, a payment to a credit card).
    pub fn fund(&self, card: &CardRef, amount_minor: u64) -> Result<Balance> {
        if amount_minor == 0 || amount_minor > AMOUNT_MAX_MINOR {
            return Err(IssuerError::input(format!("the amount must be 1 to {AMOUNT_MAX_MINOR}")));
        }
        let record = self.card_record(card)?;
        {
            let _card_lock = self.lock_card(&record.pan_hash);
            self.add_funds(record.card_id, FUNDING_TOP_UP, amount_minor)?;
        }
        self.balance(&CardRef::Id(record.card_id))
    }

    /// Journal the funding, move the money, mark it done: a crash between the first two is
    /// finished by [`Issuer::open`] (the transfer id is derived from the funding id).
    fn add_funds(&self, card_id: i64, kind: &str, amount: u64) -> Result<()> {
        let now_ms = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
        let funding = self.cards.insert_funding(card_id, kind, amount, now_ms)?;
        self.complete_funding(&funding)
    }

    pub(crate) fn complete_funding(&self, funding: &Funding) -> Result<()> {
        let record = self.cards.card_by_id(funding.card_id)?.ok_or(IssuerError::UnknownCard)?;
        let (source, code) = if funding.kind == FUNDING_CREDIT_LIMIT {
            (self.money.credit_line_account(), TRANSFER_CREDIT_LIMIT)
        } else {
            (self.money.funding_account(), TRANSFER_FUNDING)
        };
        let id = transfer_id(TransferRole::Funding, &funding.funding_id.to_string());
        match self.money.posted(id, source, record.account_id, funding.amount, code, record.card_id)? {
            Moved::Done | Moved::AlreadyDone => self.cards.funding_done(funding.funding_id),
            other => Err(IssuerError::Ledger(format!("funding refused: {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_roll_over_years() {
        // 2025-03-15.
        let now = 1_742_020_223_000;
        assert_eq!(expiry_after(now, 36), "2803");
        assert_eq!(expiry_after(now, 9), "2512");
        assert_eq!(expiry_after(now, 10), "2601");
    }

    #[test]
    fn track2_layout_and_length() {
        assert_eq!(track2("6224241234567890", "2803", "201", 1, "4567", "123"), "6224241234567890=280320114567123000");
        let long = track2("6224241234567890123", "2803", "201", 1, "4567", "123");
        assert_eq!(long.len(), TRACK2_LEN_MAX);
        assert!(random_digits(40).unwrap().bytes().all(|b| b.is_ascii_digit()));
    }
}
