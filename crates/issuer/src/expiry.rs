//! Holds never cleared: the ledger releases a hold on its timeout (`Issuer::expire_holds`);
//! this keeps the record of it — which authorization, which card, how much, when — and marks
//! the journal row [`EntryState::Expired`], so every approval ends posted, voided, reversed or
//! expired. A hold cleared after it expired is force-posted by clearing (crate::posting).
//!
//! Finding them: the journal rows still held whose hold timeout (by kind) has passed are the
//! candidates (an index on state and age reads them oldest first); the ledger says which of
//! their holds expired. One transaction records a sweep's finds.

use network::TransactionKind;

use crate::error::Result;
use crate::issuer::Issuer;
use crate::limits::{EXPIRED_SCAN_MAX, HOLDS_LIST_MAX};
use crate::posting_store::ExpiredRow;

/// A hold released on its timeout without being cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredHold {
    /// The authorization's key (year, 11, 7, 32, 33).
    pub request_key: String,
    pub kind: String,
    pub card_id: Option<i64>,
    /// First 6, last 4.
    pub pan_masked: String,
    pub amount_minor: u64,
    pub currency: String,
    pub authorized_ms: u64,
    /// When the issuer recorded it expired (the sweep after the ledger released it).
    pub expired_ms: u64,
}

/// A hold standing in the journal (approved, not yet cleared, voided or expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAuthorization {
    pub request_key: String,
    pub kind: String,
    pub card_id: Option<i64>,
    pub pan_masked: String,
    pub amount_minor: u64,
    pub currency: String,
    pub authorized_ms: u64,
}

/// The kinds whose approval holds funds (a stand-in advice is journaled under its kind too).
const HOLDING_KINDS: [TransactionKind; 2] = [TransactionKind::PreAuthorization, TransactionKind::Purchase];

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Issuer {
    /// Record the holds the ledger has released on their timeout; how many were recorded.
    pub(crate) fn record_expired_holds(&self) -> Result<usize> {
        let now_ms = self.now_ms_i64();
        let timeout_ms = |kind: TransactionKind| i64::from(self.hold_timeout(kind).0) * 1_000;
        let mut due = Vec::new();
        for kind in HOLDING_KINDS {
            let limit = EXPIRED_SCAN_MAX - due.len();
            due.extend(self.cards.held_due(kind.name(), now_ms.saturating_sub(timeout_ms(kind)), limit)?);
        }
        let ids: Vec<u128> = due.iter().filter_map(|(row, _)| row.transfer_id).collect();
        let holds = self.money.transfers(&ids)?;
        let expired: Vec<ExpiredRow> = due
            .into_iter()
            .filter_map(|(row, created_ms)| {
                let id = row.transfer_id?;
                let hold = holds.get(&id)?;
                (hold.status == ledger::PendingStatus::Expired).then_some(ExpiredRow {
                    key: row.key,
                    kind: row.kind,
                    card_id: row.card_id,
                    amount: row.amount,
                    currency: row.currency,
                    transfer_id: id,
                    authorized_ms: created_ms,
                })
            })
            .collect();
        assert!(expired.len() <= EXPIRED_SCAN_MAX);
        if !expired.is_empty() {
            self.cards.record_expired(&expired, now_ms)?;
        }
        Ok(expired.len())
    }

    /// Holds that expired without being cleared, newest first (at most [`HOLDS_LIST_MAX`]).
    pub fn expired_holds(&self) -> Result<Vec<ExpiredHold>> {
        let rows = self.cards.expired_holds(HOLDS_LIST_MAX)?;
        rows.iter()
            .map(|row| {
                Ok(ExpiredHold {
                    request_key: row.text(0)?,
                    kind: row.text(1)?,
                    card_id: row.opt_i64(2)?,
                    pan_masked: row.text(3)?,
                    amount_minor: row.u64(4)?,
                    currency: row.text(5)?,
                    authorized_ms: ms(row.i64(6)?),
                    expired_ms: ms(row.i64(7)?),
                })
            })
            .collect()
    }

    /// Holds standing now, oldest first (at most [`HOLDS_LIST_MAX`]).
    pub fn holds(&self) -> Result<Vec<HeldAuthorization>> {
        let rows = self.cards.held(HOLDS_LIST_MAX)?;
        rows.iter()
            .map(|row| {
                Ok(HeldAuthorization {
                    request_key: row.text(0)?,
                    kind: row.text(1)?,
                    card_id: row.opt_i64(2)?,
                    pan_masked: row.text(3)?,
                    amount_minor: row.u64(4)?,
                    currency: row.text(5)?,
                    authorized_ms: ms(row.i64(6)?),
                })
            })
            .collect()
    }
}
