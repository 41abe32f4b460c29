//! What one cleared record does at the issuer: the decision table of issuer posting, from
//! the record, the journal and the ledger as they stand (read once per batch). No writes here.
//!
//! | record | journal (authorization under the record's issuer key) | plan | outcome |
//! |---|---|---|---|
//! | purchase, completion | hold pending | post it (≤ hold; rest released; more: the excess forced) | posted (force_posted with an excess) |
//! | purchase, completion | hold expired / voided unjournaled / none / declined here | force-post | force_posted |
//! | purchase, completion | voided or reversed here (its cancel clears too) | nothing | cancelled |
//! | purchase, completion | posted here (completion, partial reversal) | nothing | confirmed |
//! | purchase, completion | already cleared by another reference | nothing | duplicate |
//! | void, completion void, refund, reversal | applied here as cleared | nothing | confirmed |
//! | void, completion void, refund, reversal | not, or the original still held | nothing | state_mismatch |
//! | chargeback, second chargeback, credit adjustment | — | credit the card | credited |
//! | debit adjustment, representment | — | debit the card (forced) | debited |
//!
//! Why a cleared purchase whose authorization was voided here is not force-posted: the switch
//! clears the void (or reversal) as its own record, netting the pair to zero between the
//! banks; charging the card for the purchase while only confirming the void would take money
//! the cardholder does not owe. A void the switch did not clear shows as a state mismatch on
//! the void's side in reconciliation, not as a charge here.

use clearing::{ClearingRecord, TxnCode};
use clock::utc::days_from_civil;
use ledger::{Id, PendingStatus, TransferRecord};
use network::TransactionKind;
use sha1::{Digest, Sha1};

use crate::posting::PostingOutcome;
use crate::posting_store::CardAccount;
use crate::store::{EntryState, JournalRow};

/// Digits of field 11 and of field 7.
const TRANSMISSION_TIME_DIGITS: usize = 10;
/// Digits of an institution id (32, 33) in a key, zero-filled on the left.
const INSTITUTION_DIGITS: usize = network::original::INSTITUTION_DIGITS;

/// What a posting transfer does for its record: (record date, reference, role) names exactly
/// one ledger transfer, so a rerun never moves money twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostingRole {
    /// Posting the authorization's hold (all or part).
    Post = 1,
    /// A posted transfer card → settlement: no hold to post (or the excess over it).
    Force = 2,
    /// The overdraft lent before a forced posting the card cannot cover.
    ForceOverdraft = 3,
    /// Settlement → card: a chargeback or credit adjustment.
    Credit = 4,
    /// Card → settlement, forced: a debit adjustment or re-presentment.
    Debit = 5,
    /// The overdraft lent before a debit the card cannot cover.
    DebitOverdraft = 6,
}

/// The ledger transfer id of `role` for the record `reference` of the business date `date`
/// (its days since 1970): as [`crate::money::transfer_id`], under its own domain tag so no
/// posting id is ever an authorization's.
pub fn posting_transfer_id(date_days: i32, reference: u64, role: PostingRole) -> Id {
    let mut hasher = Sha1::new();
    hasher.update(b"cardnet issuer clearing v1\0");
    hasher.update([role as u8]);
    hasher.update(date_days.to_be_bytes());
    hasher.update(reference.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    match u128::from_be_bytes(bytes) {
        0 => 1,
        u128::MAX => u128::MAX - 1,
        id => id,
    }
}

fn digits(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit())
}

/// The issuer's journal key of a record's issuer leg: (year, 11, 7, 32, 33) as
/// `crate::request::request_key` writes it. The year is the one that puts 7's `MMDD` nearest
/// the record's business date: `1231…` on a 01-01 date is the year before. `None` (with why)
/// for fields that cannot be a key.
pub(crate) fn issuer_key(record: &ClearingRecord, network: &str) -> Result<String, String> {
    let Some(stan) = record.issuer_stan else { return Err("no issuer STAN".to_owned()) };
    let time = &record.issuer_time;
    if time.len() != TRANSMISSION_TIME_DIGITS || !digits(time, TRANSMISSION_TIME_DIGITS) {
        return Err(format!("issuer transmission time {time:?} is not MMDDhhmmss"));
    }
    let month: u32 = time[0..2].parse().map_err(|_| "issuer transmission time month".to_owned())?;
    let day: u32 = time[2..4].parse().map_err(|_| "issuer transmission time day".to_owned())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(format!("issuer transmission time {time:?} is not a date"));
    }
    if !digits(network, INSTITUTION_DIGITS) {
        return Err("the network is not an institution id of up to 11 digits".to_owned());
    }
    let date = i64::from(record.date.days());
    let year = i64::from(record.date.year());
    let nearest = [year - 1, year, year + 1]
        .into_iter()
        .min_by_key(|&y| (days_from_civil(y, month, day) - date).abs())
        .unwrap_or(year);
    Ok(format!("{nearest}:{stan}:{time}:{:0>w$}:{:0>w$}", record.acquirer.as_str(), network, w = INSTITUTION_DIGITS))
}

/// The ids of a record's posting transfers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PostingIds {
    pub post: Id,
    pub force: Id,
    pub force_overdraft: Id,
    pub credit: Id,
    pub debit: Id,
    pub debit_overdraft: Id,
}

impl PostingIds {
    pub fn of(record: &ClearingRecord) -> PostingIds {
        let id = |role| posting_transfer_id(record.date.days(), record.reference, role);
        PostingIds {
            post: id(PostingRole::Post),
            force: id(PostingRole::Force),
            force_overdraft: id(PostingRole::ForceOverdraft),
            credit: id(PostingRole::Credit),
            debit: id(PostingRole::Debit),
            debit_overdraft: id(PostingRole::DebitOverdraft),
        }
    }

    /// The ids a batch looks up in the ledger for a record of `code` (what an earlier run
    /// did): a presentment's posting and forced posting, an exception's credit or debit.
    pub fn of_code(&self, code: TxnCode) -> Vec<Id> {
        match code {
            TxnCode::Purchase | TxnCode::Completion => vec![self.post, self.force],
            code if code.is_exception() => vec![self.credit, self.debit],
            _ => Vec::new(),
        }
    }
}

/// The money a record moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing moves: the outcome is decided.
    Nothing(PostingOutcome),
    /// Post `amount` of `hold`; `excess` (the record's amount beyond the hold) is forced.
    Post { hold: Id, amount: u64, excess: u64 },
    /// Card → settlement, forced, the record's amount.
    Force,
    /// Settlement → card.
    Credit,
    /// Card → settlement, forced.
    Debit,
}

/// What the batch read for one record.
pub(crate) struct Found<'a> {
    /// The journal row under the record's issuer key.
    pub row: Option<&'a JournalRow>,
    /// The row's original (for voids, reversals, refunds).
    pub original: Option<&'a JournalRow>,
    /// The authorization's hold in the ledger (by the row's transfer, else derived from the key).
    pub hold: Option<&'a TransferRecord>,
    pub card: Option<&'a CardAccount>,
    /// An earlier run's transfers under this record's posting ids.
    pub done_post: Option<&'a TransferRecord>,
    pub done_force: bool,
    /// Another record (other reference) already cleared this authorization.
    pub key_cleared: bool,
}

/// The decision, and why (empty when nothing needs saying).
pub(crate) fn decide(record: &ClearingRecord, found: &Found<'_>) -> (Plan, String) {
    let nothing = |outcome, why: &str| (Plan::Nothing(outcome), why.to_owned());
    if record.code.is_exception() {
        if found.card.is_none() {
            return nothing(PostingOutcome::Unmatched, "no card of ours for this record");
        }
        return match record.code {
            TxnCode::DebitAdjustment | TxnCode::Representment => (Plan::Debit, String::new()),
            _ => (Plan::Credit, String::new()),
        };
    }
    match record.code {
        TxnCode::Purchase | TxnCode::Completion => decide_presentment(record, found),
        _ => decide_follow_up(record, found),
    }
}

/// A purchase or completion: post its hold, confirm it, or force it.
fn decide_presentment(record: &ClearingRecord, found: &Found<'_>) -> (Plan, String) {
    // An earlier run of this record moved money: the same plan again (its transfers exist).
    if let Some(done) = found.done_post {
        let excess = record.amount_minor.saturating_sub(done.transfer.amount);
        let why = if excess > 0 { format!("{excess} minor units beyond the hold") } else { String::new() };
        return (Plan::Post { hold: done.transfer.pending_id, amount: done.transfer.amount, excess }, why);
    }
    if found.done_force {
        return (Plan::Force, "forced before this run".to_owned());
    }
    if found.key_cleared {
        return (
            Plan::Nothing(PostingOutcome::Duplicate),
            "authorization already cleared by another record".to_owned(),
        );
    }
    if found.card.is_none() {
        return (Plan::Nothing(PostingOutcome::Unmatched), "no card of ours for this record".to_owned());
    }
    let pending_hold = found.hold.filter(|hold| hold.status == PendingStatus::Pending);
    let post_hold = |hold: &TransferRecord| {
        let amount = record.amount_minor.min(hold.transfer.amount);
        Plan::Post { hold: hold.transfer.id, amount, excess: record.amount_minor - amount }
    };
    let beyond = |plan: Plan, why: &str| match plan {
        Plan::Post { excess, .. } if excess > 0 => (plan, format!("{excess} minor units beyond the hold")),
        _ => (plan, why.to_owned()),
    };
    let Some(row) = found.row else {
        // Not journaled: a hold an unanswered attempt left (posted), else no authorization.
        return match pending_hold {
            Some(hold) => beyond(post_hold(hold), "hold without journal row"),
            None => (Plan::Force, "no authorization here".to_owned()),
        };
    };
    match row.state {
        EntryState::Held => match pending_hold {
            Some(hold) => beyond(post_hold(hold), ""),
            None => (Plan::Force, "hold already released".to_owned()),
        },
        EntryState::Expired => (Plan::Force, "hold expired".to_owned()),
        EntryState::Declined => (Plan::Force, "declined here".to_owned()),
        EntryState::Voided | EntryState::Reversed | EntryState::AlreadyReversed => {
            (Plan::Nothing(PostingOutcome::Cancelled), format!("authorization {} here", row.state.name()))
        }
        EntryState::Posted if row.amount == record.amount_minor || record.code == TxnCode::Purchase => {
            (Plan::Nothing(PostingOutcome::Confirmed), String::new())
        }
        state => (
            Plan::Nothing(PostingOutcome::StateMismatch),
            format!("authorization {} here, {} minor units", state.name(), row.amount),
        ),
    }
}

/// The kinds of journal row a follow-up record's key must name.
fn follow_up_kinds(code: TxnCode) -> &'static [TransactionKind] {
    match code {
        TxnCode::Void => &[TransactionKind::Void, TransactionKind::PreAuthorizationVoid],
        TxnCode::CompletionVoid => &[TransactionKind::CompletionVoid],
        TxnCode::Refund => &[TransactionKind::Refund],
        _ => &[TransactionKind::Reversal],
    }
}

/// A void, completion void, refund or reversal: applied at authorization, so confirmed here if
/// the journal agrees, flagged if not.
fn decide_follow_up(record: &ClearingRecord, found: &Found<'_>) -> (Plan, String) {
    let mismatch = |why: String| (Plan::Nothing(PostingOutcome::StateMismatch), why);
    let Some(row) = found.row else { return mismatch("not authorized here".to_owned()) };
    if !follow_up_kinds(record.code).iter().any(|kind| kind.name() == row.kind) {
        return mismatch(format!("journaled here as {}", row.kind));
    }
    if !row.response_code.is_approved() {
        return mismatch(format!("answered {} here", row.response_code));
    }
    // A reversal's record carries the reversed part; the row field 4 of the original.
    if record.code != TxnCode::Reversal && row.amount != record.amount_minor {
        return mismatch(format!("{} minor units here", row.amount));
    }
    let expected = match record.code {
        TxnCode::Void | TxnCode::Reversal => EntryState::Recorded,
        _ => EntryState::Refunded,
    };
    if row.state != expected {
        return mismatch(format!("{} {} here", row.kind, row.state.name()));
    }
    if let Some(original) = found.original
        && matches!(record.code, TxnCode::Void | TxnCode::Reversal)
        && original.state == EntryState::Held
    {
        return mismatch(format!("original {} still held here", original.kind));
    }
    (Plan::Nothing(PostingOutcome::Confirmed), String::new())
}

#[cfg(test)]
mod tests {
    use clearing::{BusinessDate, CardKind};

    use super::*;

    pub(crate) fn record(date: &str, code: TxnCode, stan: &str, time: &str) -> ClearingRecord {
        ClearingRecord {
            date: BusinessDate::parse(date).unwrap(),
            reference: 1,
            code,
            acquirer: "10000000344".parse().unwrap(),
            issuer: "20000000455".parse().unwrap(),
            stan: stan.parse().ok(),
            transmission_time: time.into(),
            // A STAN that is not one (the refusals below) is a record without an issuer STAN.
            issuer_stan: stan.parse().ok(),
            issuer_time: time.into(),
            pan_masked: "622424******0001".into(),
            card_hash: String::new(),
            card_kind: CardKind::Debit,
            amount_minor: 100,
            currency: "156".parse().unwrap(),
            mcc: "5411".into(),
            terminal_id: None,
            merchant_id: None,
            rrn: None,
            auth_code: String::new(),
            original_stan: None,
            original_time: String::new(),
            original_reference: 0,
            interchange_fee_minor: 0,
            network_fee_minor: 0,
            settlement_minor: 100,
            stand_in: false,
            late: false,
        }
    }

    #[test]
    fn keys_take_the_year_nearest_the_business_date() {
        let new_year = record("2025-01-01", TxnCode::Purchase, "000042", "1231235959");
        assert_eq!(issuer_key(&new_year, "90000000001").unwrap(), "2024:000042:1231235959:10000000344:90000000001");
        let same = record("2025-01-01", TxnCode::Purchase, "000042", "0101000001");
        assert_eq!(issuer_key(&same, "1").unwrap(), "2025:000042:0101000001:10000000344:00000000001");
        let eve = record("2024-12-31", TxnCode::Purchase, "000042", "0101000001");
        assert!(issuer_key(&eve, "90000000001").unwrap().starts_with("2025:"));
        for (stan, time) in
            [("42", "0101000001"), ("000042", "1301000001"), ("000042", "01010000"), ("00004x", "0101000001")]
        {
            assert!(issuer_key(&record("2025-01-01", TxnCode::Purchase, stan, time), "9").is_err(), "{stan} {time}");
        }
    }

    #[test]
    fn posting_ids_differ_by_role_reference_and_date() {
        let a = posting_transfer_id(20_000, 7, PostingRole::Post);
        assert_eq!(a, posting_transfer_id(20_000, 7, PostingRole::Post));
        assert_ne!(a, posting_transfer_id(20_000, 7, PostingRole::Force));
        assert_ne!(a, posting_transfer_id(20_000, 8, PostingRole::Post));
        assert_ne!(a, posting_transfer_id(20_001, 7, PostingRole::Post));
    }
}
