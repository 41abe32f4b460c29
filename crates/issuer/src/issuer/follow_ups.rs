//! Completion, void and refund: what follows an approval, checked against its original in the
//! journal and moved in the ledger.

use super::*;

impl Issuer {
    /// The journaled original of a request that names one, if it is this card's.
    pub(crate) fn original_of(
        &self,
        tx: &mut Tx<'_>,
        parsed: &Parsed,
        card: &CardRecord,
    ) -> Result<Option<JournalRow>> {
        let Some(key) = &parsed.original_key else { return Ok(None) };
        Ok(store::journal_in(tx, key)?.filter(|row| row.card_id == Some(card.card_id)))
    }

    /// Pre-authorization completion: post the hold for field 4 (at most the hold; the rest is
    /// released).
    pub(super) fn complete(&self, tx: &mut Tx<'_>, parsed: &Parsed, card: Option<&CardRecord>) -> Result<Decision> {
        let Some(card) = card else { return Ok(Decision::new(codes::INVALID_CARD, None)) };
        let Some(original) = self.original_of(tx, parsed, card)? else {
            return Ok(Decision::new(codes::ORIGINAL_NOT_FOUND, Some(card)));
        };
        if original.kind != TransactionKind::PreAuthorization.name() {
            return Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card)));
        }
        let (EntryState::Held, Some(hold)) = (original.state, original.transfer_id) else {
            return Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card)));
        };
        if parsed.amount > original.amount {
            return Ok(Decision::new(codes::INVALID_AMOUNT, Some(card)));
        }
        let post_id = transfer_id(TransferRole::Complete, &parsed.key);
        match self.money.post_in(tx, post_id, hold, parsed.amount)? {
            Moved::Done | Moved::AlreadyDone => {
                let mut decision = Decision::new(codes::APPROVED, Some(card));
                decision.state = EntryState::Posted;
                decision.auth_code = original.auth_code.clone().or_else(|| Some(approval_code(&parsed.key)));
                decision.transfer_id = Some(post_id);
                decision.original = Some((original.key, Some(EntryState::Posted), 0));
                Ok(decision)
            }
            Moved::ExceedsHold => Ok(Decision::new(codes::INVALID_AMOUNT, Some(card))),
            Moved::NotFound => Ok(Decision::new(codes::ORIGINAL_NOT_FOUND, Some(card))),
            Moved::AlreadyResolved(_) => Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card))),
            other => Err(IssuerError::Ledger(format!("completion refused: {other:?}"))),
        }
    }

    /// Void of a purchase or pre-authorization: release the hold.
    pub(super) fn void(&self, tx: &mut Tx<'_>, parsed: &Parsed, card: Option<&CardRecord>) -> Result<Decision> {
        let Some(card) = card else { return Ok(Decision::new(codes::INVALID_CARD, None)) };
        let Some(original) = self.original_of(tx, parsed, card)? else {
            return Ok(Decision::new(codes::ORIGINAL_NOT_FOUND, Some(card)));
        };
        let voids = if parsed.kind == TransactionKind::Void {
            TransactionKind::Purchase
        } else {
            TransactionKind::PreAuthorization
        };
        if original.kind != voids.name() {
            return Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card)));
        }
        let (EntryState::Held, Some(hold)) = (original.state, original.transfer_id) else {
            return Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card)));
        };
        if parsed.amount != original.amount {
            return Ok(Decision::new(codes::INVALID_AMOUNT, Some(card)));
        }
        let void_id = transfer_id(TransferRole::Void, &parsed.key);
        match self.money.void_in(tx, void_id, hold)? {
            Moved::Done | Moved::AlreadyDone => {
                let mut decision = Decision::new(codes::APPROVED, Some(card));
                decision.state = EntryState::Recorded;
                decision.auth_code = Some(approval_code(&parsed.key));
                decision.transfer_id = Some(void_id);
                decision.original = Some((original.key.clone(), Some(EntryState::Voided), 0));
                decision.usage = Some((original.business_day, -amount_i64(original.amount), -1));
                Ok(decision)
            }
            Moved::NotFound => Ok(Decision::new(codes::ORIGINAL_NOT_FOUND, Some(card))),
            Moved::AlreadyResolved(_) => Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card))),
            other => Err(IssuerError::Ledger(format!("void refused: {other:?}"))),
        }
    }

    /// Refund: credit the card (posted). With a field 90, the original purchase must be this
    /// card's and not refunded beyond its amount.
    pub(super) fn refund(&self, tx: &mut Tx<'_>, parsed: &Parsed, card: Option<&CardRecord>) -> Result<Decision> {
        let Some(card) = card else { return Ok(Decision::new(codes::INVALID_CARD, None)) };
        let mut original_change = None;
        if parsed.original_key.is_some() {
            let Some(original) = self.original_of(tx, parsed, card)? else {
                return Ok(Decision::new(codes::ORIGINAL_NOT_FOUND, Some(card)));
            };
            let refundable = [TransactionKind::Purchase.name(), TransactionKind::Completion.name()];
            // Only money that was taken and still is: not a voided or reversed original.
            let standing = matches!(original.state, EntryState::Held | EntryState::Posted);
            if !refundable.contains(&original.kind.as_str()) || !original.response_code.is_approved() || !standing {
                return Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card)));
            }
            if original.refunded_amount.saturating_add(parsed.amount) > original.amount {
                return Ok(Decision::new(codes::INVALID_AMOUNT, Some(card)));
            }
            original_change = Some((original.key, None, parsed.amount));
        }
        let refund_id = transfer_id(TransferRole::Refund, &parsed.key);
        let settlement = self.money.settlement_account();
        match self.money.posted_in(
            tx,
            refund_id,
            settlement,
            card.account_id,
            parsed.amount,
            TRANSFER_REFUND,
            card.card_id,
        )? {
            Moved::Done | Moved::AlreadyDone => {
                let mut decision = Decision::new(codes::APPROVED, Some(card));
                decision.state = EntryState::Refunded;
                decision.auth_code = Some(approval_code(&parsed.key));
                decision.transfer_id = Some(refund_id);
                decision.original = original_change;
                Ok(decision)
            }
            other => Err(IssuerError::Ledger(format!("refund refused: {other:?}"))),
        }
    }

    /// Void of a completion: its whole amount back to the card (a posted credit), once. It
    /// counts against the completion as a full refund does, so neither a second void nor a
    /// refund can credit it again; its own reversal takes the credit back as a refund's does.
    pub(super) fn void_completion(
        &self,
        tx: &mut Tx<'_>,
        parsed: &Parsed,
        card: Option<&CardRecord>,
    ) -> Result<Decision> {
        let Some(card) = card else { return Ok(Decision::new(codes::INVALID_CARD, None)) };
        let Some(original) = self.original_of(tx, parsed, card)? else {
            return Ok(Decision::new(codes::ORIGINAL_NOT_FOUND, Some(card)));
        };
        if original.kind != TransactionKind::Completion.name()
            || !original.response_code.is_approved()
            || original.state != EntryState::Posted
            || original.refunded_amount != 0
        {
            return Ok(Decision::new(codes::INVALID_TRANSACTION, Some(card)));
        }
        if parsed.amount != original.amount {
            return Ok(Decision::new(codes::INVALID_AMOUNT, Some(card)));
        }
        let credit_id = transfer_id(TransferRole::CompletionVoid, &parsed.key);
        let settlement = self.money.settlement_account();
        let moved = self.money.posted_in(
            tx,
            credit_id,
            settlement,
            card.account_id,
            parsed.amount,
            TRANSFER_COMPLETION_VOID,
            card.card_id,
        )?;
        match moved {
            Moved::Done | Moved::AlreadyDone => {
                let mut decision = Decision::new(codes::APPROVED, Some(card));
                decision.state = EntryState::Refunded;
                decision.auth_code = Some(approval_code(&parsed.key));
                decision.transfer_id = Some(credit_id);
                decision.original = Some((original.key, None, parsed.amount));
                Ok(decision)
            }
            other => Err(IssuerError::Ledger(format!("completion void refused: {other:?}"))),
        }
    }
}
