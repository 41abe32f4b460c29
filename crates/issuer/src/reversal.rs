//! Reversals (0420/0421) at the issuer: the issuer's table of docs/network-flows.md §5.3. A
//! reversal is honoured only for a state that admits it, so the issuer ends where the acquirer
//! and the switch do; what it refuses is answered 12 and moves nothing.
//!
//! Reversals are idempotent by their *original*: every transfer a reversal makes has an id
//! derived from the original's key, so any number of repeats (0421, or another 11 and 7) move
//! money once; a repeat after the original is already reversed is answered 00.

use network::{TransactionKind, codes};

use crate::error::Result;
use crate::issuer::{Decision, Issuer, amount_i64};
use crate::money::{Moved, TRANSFER_REVERSAL, TransferRole, transfer_id};
use crate::request::Parsed;
use crate::store::{self, CardRecord, EntryState, JournalRow, Restore};
use sqlstore::Tx;

/// What a reversal does to its journaled original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Void the hold (or post field 95's replacement): a purchase, pre-auth or stand-in.
    ReleaseHold,
    /// Give a completion's posted amount back to the card.
    CreditBack,
    /// Take a credit back: a refund's (timeout reversal only) or a completion void's.
    TakeBack,
    /// A reversed void or pre-auth void: a new hold for its original, which stands again. (A
    /// reversed completion gives its amount back and holds its pre-auth again: `CreditBack`.)
    Rehold,
    /// Nothing left to undo (declined, already reversed, a repeat): 00.
    Nothing,
    /// Not reversible in this state: 12.
    Refuse,
}

/// The issuer's table: the original's kind and state, the reversal's reason (39), and whether
/// an earlier reversal already released the original's hold.
fn rule(original: &JournalRow, reason: Option<&str>, released_by_reversal: bool) -> Action {
    let kind = TransactionKind::from_name(&original.kind);
    match (kind, original.state) {
        (Some(TransactionKind::BalanceInquiry | TransactionKind::Reversal), _) => Action::Refuse,
        // An expired hold: the ledger released it already.
        (_, EntryState::Declined | EntryState::AlreadyReversed | EntryState::Reversed | EntryState::Expired) => {
            Action::Nothing
        }
        (Some(TransactionKind::Refund), EntryState::Refunded) if codes::is_timeout_reason(reason) => Action::TakeBack,
        (Some(TransactionKind::Refund), _) => Action::Refuse,
        (Some(TransactionKind::Purchase | TransactionKind::PreAuthorization), EntryState::Held) => {
            if original.refunded_amount > 0 { Action::Refuse } else { Action::ReleaseHold }
        }
        (Some(TransactionKind::Purchase | TransactionKind::PreAuthorization), _) if released_by_reversal => {
            Action::Nothing
        }
        // Voided by a void, or completed: the follow-up moved the money; 12.
        (Some(TransactionKind::Purchase | TransactionKind::PreAuthorization), _) => Action::Refuse,
        (Some(TransactionKind::Completion), EntryState::Posted) => {
            if original.refunded_amount > 0 {
                Action::Refuse
            } else {
                Action::CreditBack
            }
        }
        (Some(TransactionKind::Void | TransactionKind::PreAuthorizationVoid), EntryState::Recorded) => Action::Rehold,
        (Some(TransactionKind::CompletionVoid), EntryState::Refunded) => Action::TakeBack,
        _ => Action::Nothing,
    }
}

/// The table's row for an original the issuer never saw, by the reversal's own 3: a refund
/// (unless a timeout reversal) is refused as if known. (A balance inquiry's is refused 12 at
/// the format check: crate::request.)
fn unknown_rule(request: &iso8583::Message) -> Action {
    let refund = request.get_str(3).and_then(|p| p.get(..2)) == Some("20");
    if refund && !codes::is_timeout_reason(request.get_str(39)) { Action::Refuse } else { Action::Nothing }
}

impl Issuer {
    /// Undo the original named in 90 as the table says; 00 unless refused (12).
    pub(crate) fn reverse(
        &self,
        tx: &mut Tx<'_>,
        request: &iso8583::Message,
        parsed: &Parsed,
        card: Option<&CardRecord>,
    ) -> Result<Decision> {
        let mut decision = Decision::new(codes::APPROVED, card);
        decision.state = EntryState::Recorded;
        let (Some(card), Some(original_key)) = (card, &parsed.original_key) else { return Ok(decision) };
        let Some(original) = self.original_of(tx, parsed, card)? else {
            if unknown_rule(request) == Action::Refuse {
                return Ok(refused(card));
            }
            if self.money.is_separate() {
                self.release_orphan_hold(tx, card, original_key, &mut decision)?;
            }
            return Ok(decision);
        };
        let released = self.money.transfer_in(tx, transfer_id(TransferRole::ReverseHold, original_key))?.is_some();
        match rule(&original, request.get_str(39), released) {
            Action::ReleaseHold => self.release_hold(tx, parsed, &original, &mut decision)?,
            Action::CreditBack | Action::TakeBack => {
                self.counter_transfer(tx, parsed, card, &original, &mut decision)?
            }
            Action::Rehold => {
                if let Some((hold_id, voided)) = self.rehold(tx, card, &original, EntryState::Voided, &mut decision)? {
                    decision.transfer_id = Some(hold_id);
                    decision.original = Some((original.key.clone(), Some(EntryState::Reversed), 0));
                    // The void gave the day's usage back; its original counts again.
                    decision.usage = Some((voided.business_day, amount_i64(voided.amount), 1));
                }
            }
            Action::Nothing => {}
            Action::Refuse => return Ok(refused(card)),
        }
        Ok(decision)
    }

    /// Unknown here — but its hold may be in a separate ledger if the original's attempt
    /// crashed before journaling: its id is derived from the original's key. (With the ledger
    /// in the issuer's database a hold has its journal row: the caller skips this.)
    fn release_orphan_hold(
        &self,
        tx: &mut Tx<'_>,
        card: &CardRecord,
        original_key: &str,
        decision: &mut Decision,
    ) -> Result<()> {
        let hold = transfer_id(TransferRole::Hold, original_key);
        if let Some(record) = self.money.transfer_in(tx, hold)?
            && record.status == ledger::PendingStatus::Pending
            && record.transfer.debit_account_id == card.account_id
        {
            let reversal_id = transfer_id(TransferRole::ReverseHold, original_key);
            if matches!(self.money.void_in(tx, reversal_id, hold)?, Moved::Done | Moved::AlreadyDone) {
                decision.transfer_id = Some(reversal_id);
            }
        }
        Ok(())
    }

    /// Void the original's hold, or post field 95's replacement amount of a partial reversal.
    fn release_hold(
        &self,
        tx: &mut Tx<'_>,
        parsed: &Parsed,
        original: &JournalRow,
        decision: &mut Decision,
    ) -> Result<()> {
        let Some(hold) = original.transfer_id else { return Ok(()) };
        let replacement = parsed.replacement.filter(|&amount| amount < original.amount).unwrap_or(0);
        let reversal_id = transfer_id(TransferRole::ReverseHold, &original.key);
        let moved = if replacement > 0 {
            self.money.post_in(tx, reversal_id, hold, replacement)?
        } else {
            self.money.void_in(tx, reversal_id, hold)?
        };
        if matches!(moved, Moved::Done | Moved::AlreadyDone) {
            let state = if replacement > 0 { EntryState::Posted } else { EntryState::Voided };
            let released = amount_i64(original.amount) - amount_i64(replacement);
            decision.transfer_id = Some(reversal_id);
            decision.original = Some((original.key.clone(), Some(state), 0));
            let count = if replacement > 0 { 0 } else { -1 };
            decision.usage = Some((original.business_day, -released, count));
        } else if let Moved::AlreadyResolved(status) = moved {
            // Expired or resolved otherwise: nothing left to release.
            tracing::info!(?status, "issuer: reversal of a hold already resolved");
        }
        Ok(())
    }

    /// A completion took money from the card: give it back. A refund or completion void gave
    /// money: take it back (the card may have spent it; then an operator must act), and let
    /// its own original count it no more (refundable or voidable again, as at the acquirer).
    fn counter_transfer(
        &self,
        tx: &mut Tx<'_>,
        parsed: &Parsed,
        card: &CardRecord,
        original: &JournalRow,
        decision: &mut Decision,
    ) -> Result<()> {
        let amount = original.amount - parsed.replacement.unwrap_or(0).min(original.amount);
        if amount == 0 {
            return Ok(());
        }
        let gave = original.state == EntryState::Refunded;
        let (settlement, account) = (self.money.settlement_account(), card.account_id);
        let (debit, credit) = if gave { (account, settlement) } else { (settlement, account) };
        let reversal_id = transfer_id(TransferRole::ReverseTransfer, &original.key);
        match self.money.posted_in(tx, reversal_id, debit, credit, amount, TRANSFER_REVERSAL, card.card_id)? {
            Moved::Done | Moved::AlreadyDone => {
                decision.transfer_id = Some(reversal_id);
                decision.original = Some((original.key.clone(), Some(EntryState::Reversed), 0));
                if !gave {
                    // The completion's pre-auth is open again at the acquirer and terminal.
                    self.rehold(tx, card, original, EntryState::Posted, decision)?;
                } else if let Some(counted_against) = counted_against(tx, original)? {
                    decision.further = Some(Restore {
                        key: counted_against.key,
                        state: counted_against.state,
                        transfer_id: None,
                        refunded_delta: -amount_i64(original.amount),
                    });
                }
            }
            other => tracing::warn!(?other, "issuer: reversal could not move the money back"),
        }
        Ok(())
    }

    /// The original of a reversed void (or pre-auth void, or completion) stands again: its
    /// hold was voided (or posted) and cannot be un-voided, so a new pending hold for the
    /// original's amount is made, linked to the original (its journal row names it, held
    /// again), idempotent by the follow-up's key. The money was the merchant's already, so
    /// funds do not decline it: a shortfall is lent from the overdraft account as for a
    /// stand-in. `acted` is the state the follow-up left the original in; anything else is left
    /// alone. The new hold's id and the original.
    fn rehold(
        &self,
        tx: &mut Tx<'_>,
        card: &CardRecord,
        follow_up: &JournalRow,
        acted: EntryState,
        decision: &mut Decision,
    ) -> Result<Option<(u128, JournalRow)>> {
        let original = follow_up.original_key.as_ref().map(|key| store::journal_in(tx, key)).transpose()?.flatten();
        let Some(original) = original.filter(|row| row.state == acted) else { return Ok(None) };
        let kind = TransactionKind::from_name(&original.kind).unwrap_or(TransactionKind::Purchase);
        let (timeout, code) = self.hold_timeout(kind);
        let hold_id = transfer_id(TransferRole::Rehold, &follow_up.key);
        let overdraft_id = transfer_id(TransferRole::ReholdOverdraft, &follow_up.key);
        let moved = self.money.forced_hold_in(
            tx,
            hold_id,
            overdraft_id,
            card.account_id,
            original.amount,
            timeout,
            code,
            card.card_id,
        )?;
        if !matches!(moved, Moved::Done | Moved::AlreadyDone) {
            return Err(crate::error::IssuerError::Ledger(format!("reversal could not hold again: {moved:?}")));
        }
        decision.new_hold = (moved == Moved::Done).then_some(hold_id);
        decision.further = Some(Restore {
            key: original.key.clone(),
            state: EntryState::Held,
            transfer_id: Some(hold_id),
            refunded_delta: 0,
        });
        Ok(Some((hold_id, original)))
    }
}

/// The row a refund or completion void counted its amount against, if it named one.
fn counted_against(tx: &mut Tx<'_>, original: &JournalRow) -> Result<Option<JournalRow>> {
    let Some(key) = &original.original_key else { return Ok(None) };
    Ok(store::journal_in(tx, key)?.filter(|row| row.refunded_amount >= original.amount))
}

/// A refused reversal: 12, journaled as declined, nothing moved.
fn refused(card: &CardRecord) -> Decision {
    Decision::new(codes::INVALID_TRANSACTION, Some(card))
}
