//! Purchase, pre-authorization and balance inquiry: checks 4–10 (card, PIN, cryptogram, limits,
//! funds) and the hold they end in.

use super::*;

impl Issuer {
    // ---- Purchase, pre-authorization, balance inquiry --------------------------------------

    pub(crate) fn hold_timeout(&self, kind: TransactionKind) -> (u32, u16) {
        if kind == TransactionKind::PreAuthorization {
            (self.settings.preauth_hold_seconds, TRANSFER_PREAUTH)
        } else {
            (self.settings.purchase_hold_seconds, TRANSFER_PURCHASE)
        }
    }

    /// Checks 4–10 for a request that holds funds or asks for the balance.
    pub(super) fn authorize(
        &self,
        tx: &mut Tx<'_>,
        parsed: &Parsed,
        card: Option<&CardRecord>,
        keys: &LinkKeys,
        now_ms: u64,
    ) -> Result<Decision> {
        let hold_id = transfer_id(TransferRole::Hold, &parsed.key);
        // Only a separate ledger can hold a request's funds without its journal row.
        if parsed.kind.holds_funds()
            && self.money.is_separate()
            && let Some(record) = self.money.transfer_in(tx, hold_id)?
        {
            return self.recover(parsed, card, record, now_ms);
        }
        // 4. The card.
        let Some(card) = card else { return Ok(Decision::new(codes::INVALID_CARD, None)) };
        if parsed.track2.as_ref().is_some_and(|track| track.pan.as_str() != parsed.pan) {
            return Ok(Decision::new(codes::INVALID_CARD, Some(card)));
        }
        // 5. Status.
        let status_code = match card.status {
            CardStatus::Active => None,
            CardStatus::Lost => Some(codes::LOST_CARD),
            CardStatus::Stolen => Some(codes::STOLEN_CARD),
            CardStatus::Blocked => Some(codes::RESTRICTED_CARD),
            CardStatus::Expired => Some(codes::EXPIRED_CARD),
        };
        if let Some(code) = status_code {
            return Ok(Decision::new(code, Some(card)));
        }
        // 6. Expiry: the card's own, and the one presented (35, else 14) must be the card's.
        let this_month = self.current_month(now_ms);
        let presented = parsed.track2.as_ref().map(|track| track.expiry_yymm.as_str());
        let presented = presented.or(parsed.expiry.as_deref());
        let expired = yymm_months(&card.expiry).is_none_or(|months| months < this_month)
            || presented.is_some_and(|yymm| yymm != card.expiry);
        if expired {
            return Ok(Decision::new(codes::EXPIRED_CARD, Some(card)));
        }
        // 6a. The product's policy on a chip card read from its stripe without fallback (45).
        let policy = self.settings.products.get(&card.product).map(|p| p.chip_swipe).unwrap_or_default();
        if let Some(code) = crate::policy::chip_swipe_refusal(parsed, policy) {
            return Ok(Decision::new(code, Some(card)));
        }
        // 7. PIN.
        let mut change = CardChange::default();
        if card.pin_tries >= self.settings.pin_tries_max {
            return Ok(Decision::new(codes::PIN_TRIES_EXCEEDED, Some(card)));
        }
        match &parsed.pin_block {
            Some(block) => match self.verify_pin(&parsed.pan, card, block, keys) {
                Ok(()) => {
                    if card.pin_tries != 0 {
                        change.pin_tries = Some(0);
                    }
                }
                Err(hsm::Error::Verification(_) | hsm::Error::Input { .. }) => {
                    // A wrong PIN, or a block that does not decrypt to a PIN (another key):
                    // either way the cardholder did not prove the PIN, and it counts.
                    let tries = card.pin_tries + 1;
                    change.pin_tries = Some(tries);
                    let code = if tries >= self.settings.pin_tries_max {
                        codes::PIN_TRIES_EXCEEDED
                    } else {
                        codes::INCORRECT_PIN
                    };
                    self.risk_wrong_pin(parsed, now_ms);
                    return Ok(Decision::new(code, Some(card)).with_change(change));
                }
                Err(other) => return Err(other.into()),
            },
            None if card.pin_required => return Ok(Decision::new(codes::INCORRECT_PIN, Some(card))),
            None => {}
        }
        // 8. Card verification: CVV of a stripe, iCVV of a chip's track 2, the ARQC.
        let mut arpc_for = None;
        if !self.card_verified(parsed, card, &mut change, &mut arpc_for)? {
            return Ok(Decision::new(codes::CARD_VERIFICATION_ERROR, Some(card)).with_change(change));
        }
        let decline = |code: &str, arpc_for: Option<network::emv::ChipData>| {
            let mut decision = Decision::new(code, Some(card)).with_change(change);
            decision.arpc_for = arpc_for;
            decision
        };
        let day = self.business_day(now_ms);
        if parsed.kind == TransactionKind::BalanceInquiry {
            let mut decision = decline(codes::APPROVED, arpc_for);
            decision.state = EntryState::Recorded;
            decision.auth_code = Some(approval_code(&parsed.key));
            decision.balance = self.money.balance_in(tx, card.account_id)?;
            return Ok(decision);
        }
        // 9. Daily limits over approved purchases and pre-authorizations.
        let (used_amount, used_count) = store::usage_in(tx, card.card_id, day)?;
        if used_amount.saturating_add(parsed.amount) > card.daily_amount_limit {
            return Ok(decline(codes::AMOUNT_LIMIT, arpc_for));
        }
        if used_count.saturating_add(1) > u64::from(card.daily_count_limit) {
            return Ok(decline(codes::COUNT_LIMIT, arpc_for));
        }
        // 9a. The risk rules' card view (when configured).
        if let Some(code) = self.risk_decline(parsed, now_ms) {
            return Ok(decline(code, arpc_for));
        }
        // 10. Funds: the ledger holds them or refuses.
        let (timeout, code) = self.hold_timeout(parsed.kind);
        let moved = self.money.hold_in(tx, hold_id, card.account_id, parsed.amount, timeout, code, card.card_id)?;
        match moved {
            Moved::Done | Moved::AlreadyDone => {
                let mut decision = decline(codes::APPROVED, arpc_for);
                decision.state = EntryState::Held;
                decision.auth_code = Some(approval_code(&parsed.key));
                decision.transfer_id = Some(hold_id);
                decision.usage = Some((day, amount_i64(parsed.amount), 1));
                decision.new_hold = (moved == Moved::Done).then_some(hold_id);
                Ok(decision)
            }
            Moved::Insufficient => Ok(decline(codes::INSUFFICIENT_FUNDS, arpc_for)),
            other => Err(IssuerError::Ledger(format!("hold refused: {other:?}"))),
        }
    }

    /// A request whose hold is already in a separate ledger but which has no journal row: an
    /// earlier attempt approved it and crashed before journaling. Finish that approval. (With
    /// the ledger in the issuer's database this cannot happen: hold and row are one commit.)
    pub(super) fn recover(
        &self,
        parsed: &Parsed,
        card: Option<&CardRecord>,
        record: ledger::TransferRecord,
        now_ms: u64,
    ) -> Result<Decision> {
        let hold_id = record.transfer.id;
        let ours = card.is_some_and(|card| card.account_id == record.transfer.debit_account_id);
        if !ours || record.status != ledger::PendingStatus::Pending {
            // Released since (a reversal of the unanswered attempt, or its compensation): the
            // earlier attempt cannot be finished and this one cannot hold again under its id.
            let mut decision = Decision::new(codes::SYSTEM_MALFUNCTION, card);
            decision.transfer_id = Some(hold_id);
            return Ok(decision);
        }
        let mut decision = Decision::new(codes::APPROVED, card);
        decision.state = EntryState::Held;
        decision.auth_code = Some(approval_code(&parsed.key));
        decision.transfer_id = Some(hold_id);
        decision.usage = Some((self.business_day(now_ms), amount_i64(parsed.amount), 1));
        Ok(decision)
    }

    /// The PIN under the link's current ZPK, or — when that fails and a key change replaced
    /// the ZPK within its grace — under the replaced one: a PIN block the switch translated just
    /// before it switched over. Only a PIN that verifies under neither counts as wrong (once).
    pub(super) fn verify_pin(&self, pan: &str, card: &CardRecord, block: &[u8], keys: &LinkKeys) -> hsm::Result<()> {
        let issuer_keys = &self.settings.keys;
        // IBM 3624: the account number (the 12 PAN digits before the check digit) as
        // validation data, as the offset was made at issue.
        let validation_data = match card.pin_method {
            PinMethod::Pvv => String::new(),
            PinMethod::Ibm3624 => hsm::card::account_validation_data(pan)?,
        };
        let verification = match card.pin_method {
            PinMethod::Pvv => PinVerification::Pvv { pvki: card.pvki, pvv: &card.pvv },
            PinMethod::Ibm3624 => PinVerification::Ibm3624 {
                offset: &card.pvv,
                decimalization_table: &issuer_keys.decimalization_table,
                validation_data: &validation_data,
            },
        };
        let verify =
            |zpk: &WrappedKey| self.hsm.verify_pin(zpk, PinFormat::Iso0, block, pan, &issuer_keys.pvk, &verification);
        match (verify(&keys.zpk), &keys.previous_zpk) {
            (Err(hsm::Error::Verification(_) | hsm::Error::Input { .. }), Some(previous)) => match verify(previous) {
                Ok(()) => Ok(()),
                // The current key's verdict stands: it is the key the block should be under.
                Err(hsm::Error::Verification(_) | hsm::Error::Input { .. }) => verify(&keys.zpk),
                Err(other) => Err(other),
            },
            (result, _) => result,
        }
    }

    /// Step 8. `Ok(false)` is a verification failure (59); a verified ARQC sets the ATC
    /// high-water mark and leaves the chip data for the ARPC.
    pub(super) fn card_verified(
        &self,
        parsed: &Parsed,
        card: &CardRecord,
        change: &mut CardChange,
        arpc_for: &mut Option<network::emv::ChipData>,
    ) -> Result<bool> {
        let cvv_ok = |service_code: &str, track: &network::Track2| -> Result<bool> {
            let Some(cvv) = track.discretionary.get(TRACK2_CVV) else { return Ok(false) };
            match self.hsm.verify_cvv(&self.settings.keys.cvk, &parsed.pan, &track.expiry_yymm, service_code, cvv) {
                Ok(()) => Ok(true),
                Err(hsm::Error::Verification(_) | hsm::Error::Input { .. }) => Ok(false),
                Err(other) => Err(other.into()),
            }
        };
        if parsed.is_magnetic()
            && let Some(track) = &parsed.track2
            && !cvv_ok(&track.service_code, track)?
        {
            return Ok(false);
        }
        if parsed.is_chip() {
            if let Some(track) = &parsed.track2
                && !cvv_ok(ICVV_SERVICE_CODE, track)?
            {
                return Ok(false);
            }
            if let Some(chip) = &parsed.chip {
                // A counter at or below one already seen is a replayed cryptogram.
                if request::atc_value(chip) <= card.atc_max {
                    return Ok(false);
                }
                // The cryptogram authorises the amount and currency it covers, nothing else: a
                // good ARQC over 1.00 does not approve 1 000.00.
                if chip.amount_authorised_minor != parsed.amount || chip.currency != self.settings.currency {
                    return Ok(false);
                }
                match self.hsm.verify_arqc(&self.settings.keys.imk_ac, &self.arqc_request(&parsed.pan, card, chip)) {
                    Ok(()) => {
                        change.atc_max = Some(request::atc_value(chip));
                        *arpc_for = Some(chip.clone());
                    }
                    Err(hsm::Error::Verification(_) | hsm::Error::Input { .. }) => return Ok(false),
                    Err(other) => return Err(other.into()),
                }
            }
        }
        Ok(true)
    }
}
