//! The money a day's authorizations moved and kept, read from the journal for reports that
//! look at the card holder (AML large-value and structuring reports, `cardnet risk aml
//! --issuer-config`): approved purchases, completions and refunds whose money stands — not
//! declined, voided, reversed or expired. Pre-authorizations are left out: their completion is
//! the movement.

use crate::error::Result;

use super::Issuer;

/// The journal states in which an approval's money stands (`store::EntryState` names).
const STANDING_STATES: [&str; 3] = ["held", "posted", "refunded"];
/// The kinds that move a card holder's money (`domain::TransactionKind` names).
const MOVING_KINDS: [&str; 3] = ["purchase", "completion", "refund"];

/// One approval whose money stands, as a person reviews it: the card by its id and masked
/// number, never the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayApproval {
    pub request_key: String,
    pub card_id: i64,
    pub pan_masked: String,
    /// `purchase`, `completion` or `refund`.
    pub kind: String,
    pub amount_minor: u64,
    /// As the journal keeps it (ISO 4217, numeric or alphabetic).
    pub currency: String,
    pub at_ms: u64,
    pub rrn: Option<String>,
    pub terminal_id: Option<String>,
    pub merchant_id: Option<String>,
}

impl Issuer {
    /// The approvals answered in `[from_ms, to_ms)` whose money stands, oldest first, at most
    /// `limit` (the caller asks for one more than it accepts to tell a full day from a cut one).
    /// A scan of the journal: a report's query, not the authorization path's, so no index is
    /// kept for it on the hot table.
    pub fn approvals_between(&self, from_ms: u64, to_ms: u64, limit: u64) -> Result<Vec<DayApproval>> {
        let list = |names: &[&str]| names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT a.request_key, a.card_id, c.pan_masked, a.kind, a.amount, a.currency, a.created_ms, a.rrn, \
             a.terminal_id, a.merchant_id FROM issuer_authorizations a JOIN issuer_cards c ON c.card_id = a.card_id \
             WHERE a.created_ms >= $1 AND a.created_ms < $2 AND a.response_code = '00' AND a.kind IN ({}) \
             AND a.state IN ({}) ORDER BY a.created_ms, a.request_key LIMIT $3",
            list(&MOVING_KINDS),
            list(&STANDING_STATES)
        );
        let bound = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let rows = self
            .cards
            .db()
            .transaction(|tx| tx.query(&sql, &[bound(from_ms).into(), bound(to_ms).into(), bound(limit).into()]))?;
        let read = |row: &sqlstore::Row| -> sqlstore::Result<DayApproval> {
            Ok(DayApproval {
                request_key: row.text(0)?,
                card_id: row.i64(1)?,
                pan_masked: row.text(2)?,
                kind: row.text(3)?,
                amount_minor: row.u64(4)?,
                currency: row.text(5)?,
                at_ms: row.u64(6)?,
                rrn: row.opt_text(7)?,
                terminal_id: row.opt_text(8)?,
                merchant_id: row.opt_text(9)?,
            })
        };
        Ok(rows.iter().map(read).collect::<sqlstore::Result<Vec<_>>>()?)
    }
}
