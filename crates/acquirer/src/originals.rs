//! The original of a void, refund or completion: what the terminal may do to it, and the claim
//! a follow-up takes on it before it leaves for the network.
//!
//! The checks read the original's flags (voided, completed, refunded) that an *approved*
//! follow-up sets. A follow-up still at the network sets none of them, so two requests checked
//! one after the other before either is answered would both pass: eight refunds of one sale
//! sent at once all reached the network and only the issuer stopped seven. [`claim`] closes
//! that window: in the transaction that journals the request as `pending`, it locks the
//! original's row and counts the follow-ups still pending as if approved. A pending row stops
//! counting when it is answered (approved: the flags take over; declined or failed: released)
//! or timed out (it is reversed), so a claim is released exactly when its request ends.

use iso8583::Message;
use network::codes;
use sqlstore::Tx;

use crate::directory::MerchantRecord;
use crate::journal::{self, OriginalEffect, TransactionRecord};
use crate::kind::PosKind;

/// The original of a void, refund or completion, checked (docs/acquirer.md §2).
pub(crate) fn original_check(
    kind: PosKind,
    original: &TransactionRecord,
    request: &Message,
    amount_minor: u64,
) -> Option<&'static str> {
    if !original.approved() || original.reversed {
        return Some(codes::ORIGINAL_NOT_FOUND);
    }
    if let Some(rrn) = request.get_str(37)
        && original.rrn.as_ref().is_some_and(|r| r != rrn)
    {
        return Some(codes::ORIGINAL_NOT_FOUND);
    }
    let auth_matches = |required: bool| match (request.get_str(38), original.auth_code.as_deref()) {
        (Some(given), Some(kept)) => given.trim() == kept.trim(),
        (None, _) => !required,
        (Some(_), None) => false,
    };
    match kind {
        PosKind::Void | PosKind::PreAuthVoid | PosKind::CompletionVoid => {
            if original.voided || original.completed || original.refunded_minor > 0 {
                return Some(codes::INVALID_TRANSACTION);
            }
            if amount_minor != original.amount_minor {
                return Some(codes::AMOUNT_DIFFERS);
            }
            if !auth_matches(false) {
                return Some(codes::ORIGINAL_NOT_FOUND);
            }
        }
        PosKind::Refund => {
            if original.voided {
                return Some(codes::INVALID_TRANSACTION);
            }
            if original.refunded_minor.saturating_add(amount_minor) > original.amount_minor {
                return Some(codes::INVALID_AMOUNT);
            }
        }
        PosKind::CompletionRequest | PosKind::CompletionAdvice => {
            if original.voided || original.completed {
                return Some(codes::INVALID_TRANSACTION);
            }
            if amount_minor > original.amount_minor {
                return Some(codes::AMOUNT_DIFFERS);
            }
            if !auth_matches(true) {
                return Some(codes::ORIGINAL_NOT_FOUND);
            }
        }
        _ => {}
    }
    None
}

/// What an approved transaction does to its original (`apply`), or undoes when reversed.
pub(crate) fn apply_effects(
    tx: &mut Tx<'_>,
    kind: PosKind,
    original_id: Option<u64>,
    amount_minor: u64,
    apply: bool,
) -> sqlstore::Result<()> {
    let Some(original_id) = original_id else { return Ok(()) };
    let effect = match kind {
        k if k.is_void() => OriginalEffect::Voided(apply),
        PosKind::CompletionRequest | PosKind::CompletionAdvice => OriginalEffect::Completed(apply),
        PosKind::Refund => OriginalEffect::Refunded(amount_minor, apply),
        _ => return Ok(()),
    };
    journal::set_original_effect(tx, original_id, effect)
}

/// A void found by RRN at another terminal of the merchant (point 8 of issue 12): only the
/// terminal that took the original may void it, unless the merchant allows any of its terminals
/// (`void_any_terminal`, for multi-lane stores). Refunds may come from any terminal of the
/// merchant. Answered 25: at this terminal there is no such original.
pub(crate) fn lane_check(
    kind: PosKind,
    original: &TransactionRecord,
    terminal_id: &str,
    merchant: &MerchantRecord,
) -> Option<&'static str> {
    let other_lane = original.terminal_id != terminal_id;
    (kind.is_void() && other_lane && !merchant.void_any_terminal).then_some(codes::ORIGINAL_NOT_FOUND)
}

/// Claim `original_id` for a `kind` follow-up of `amount_minor`, inside the transaction that
/// journals the follow-up as pending: the original read again under a row lock, checked, and
/// the follow-ups still at the network counted as if approved. `Some(code)` refuses.
pub(crate) fn claim(
    tx: &mut Tx<'_>,
    original_id: u64,
    kind: PosKind,
    request: &Message,
    amount_minor: u64,
) -> sqlstore::Result<Option<&'static str>> {
    // A concurrent claim waits at the lock and then sees this one's row.
    journal::lock(tx, original_id)?;
    let found = journal::by_id(tx, original_id)?;
    let Some(mut original) = found else { return Ok(Some(codes::ORIGINAL_NOT_FOUND)) };
    for (pending_kind, amount) in journal::pending_follow_ups(tx, original_id)? {
        match pending_kind {
            Some(PosKind::Refund) => original.refunded_minor = original.refunded_minor.saturating_add(amount),
            Some(PosKind::CompletionRequest | PosKind::CompletionAdvice) => original.completed = true,
            Some(k) if k.is_void() => original.voided = true,
            _ => {}
        }
    }
    Ok(original_check(kind, &original, request, amount_minor))
}
