//! Issuer posting of a clearing file: each cleared record posts its hold, is confirmed
//! against the journal, is force-posted, or credits or debits the card for an exception
//! (the table is in [`crate::posting_decide`]); every outcome is written to
//! `issuer_postings`, the reconciliation source "issuer posting result".
//!
//! # Batches, and the order of the two stores
//!
//! Records are taken [`POSTING_BATCH_RECORDS`] at a time. A batch: reads what it needs (one
//! query per table, one ledger look-up), decides, moves the money in the ledger (at most
//! three ledger calls: postings and credits; forced postings; overdrafts linked with the forced
//! postings the cards cannot cover), then writes its outcomes and journal changes in one
//! transaction — the authorizations' order: ledger, then journal. Every transfer id is derived
//! from (record date, reference, role), so a crash between the two is finished by the rerun: it
//! finds the batch's transfers in the ledger, moves nothing again, and writes what the crashed
//! run did not. Never one transaction for the file (10 M records), never one per record.
//!
//! Idempotent per file: a file is named by (network, member, date, trailer checksum). A file
//! posted to its end is not posted again (`already_posted`); one stopped half-way resumes after
//! its last committed batch. A reference already posted (by another file of the date, or
//! earlier in this one) is a duplicate: recorded, nothing moved.

use std::collections::{HashMap, HashSet};

use clearing::file::{Header, Trailer};
use clearing::{BusinessDate, ClearingRecord, TxnCode};
use ledger::{Id, Transfer, TransferFlags, TransferRecord};

use crate::error::{IssuerError, Result};
use crate::issuer::Issuer;
use crate::limits::POSTING_BATCH_RECORDS;
use crate::money::{Moved, TRANSFER_OVERDRAFT, TransferRole, transfer_id};
use crate::posting_decide::{Found, Plan, PostingIds, decide, issuer_key};
pub use crate::posting_decide::{PostingRole, posting_transfer_id};
use crate::posting_store::{CardAccount, PostingRow, StateChange};
use crate::store::{EntryState, JournalRow};

/// Transfer codes of posting (the issuer's chart continues money.rs's).
pub const TRANSFER_FORCE_POST: u16 = 11;
pub const TRANSFER_DISPUTE_CREDIT: u16 = 12;
pub const TRANSFER_DISPUTE_DEBIT: u16 = 13;

/// What became of one cleared record here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PostingOutcome {
    /// Its hold was posted (all of it, or part with the rest released).
    Posted,
    /// Applied at authorization; the journal agrees.
    Confirmed,
    /// Applied at authorization, but the journal disagrees (say, a cleared void whose original
    /// is still held here): for reconciliation and disputes; nothing moved.
    StateMismatch,
    /// No hold to post (none here, expired, released, or the amount beyond it): posted as a
    /// transfer card → settlement, an overdraft covering a shortfall.
    ForcePosted,
    /// Cleared, but its authorization was voided or reversed here: its cancel clears too.
    Cancelled,
    /// An exception credited the card (chargeback, second chargeback, credit adjustment).
    Credited,
    /// An exception debited the card, forced (debit adjustment, re-presentment).
    Debited,
    /// Its reference (or its authorization) was already cleared: nothing moved.
    Duplicate,
    /// No card of this issuer matches it: nothing moved.
    Unmatched,
    /// Not a record for this issuer's posting (another issuer, currency or date; a key that
    /// cannot be read): nothing moved.
    Rejected,
}

impl PostingOutcome {
    pub const ALL: [PostingOutcome; 10] = [
        PostingOutcome::Posted,
        PostingOutcome::Confirmed,
        PostingOutcome::StateMismatch,
        PostingOutcome::ForcePosted,
        PostingOutcome::Cancelled,
        PostingOutcome::Credited,
        PostingOutcome::Debited,
        PostingOutcome::Duplicate,
        PostingOutcome::Unmatched,
        PostingOutcome::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PostingOutcome::Posted => "posted",
            PostingOutcome::Confirmed => "confirmed",
            PostingOutcome::StateMismatch => "state_mismatch",
            PostingOutcome::ForcePosted => "force_posted",
            PostingOutcome::Cancelled => "cancelled",
            PostingOutcome::Credited => "credited",
            PostingOutcome::Debited => "debited",
            PostingOutcome::Duplicate => "duplicate",
            PostingOutcome::Unmatched => "unmatched",
            PostingOutcome::Rejected => "rejected",
        }
    }

    pub fn from_name(name: &str) -> Option<PostingOutcome> {
        PostingOutcome::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// One record's outcome, as `Issuer::posting_results` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingResult {
    pub date: BusinessDate,
    pub reference: u64,
    pub code: TxnCode,
    pub issuer_stan: String,
    pub issuer_time: String,
    pub acquirer: String,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: String,
    pub outcome: PostingOutcome,
    /// First 6, last 4.
    pub pan_masked: String,
    /// The authorization key (year, 11, 7, 32, 33) the record names, when readable.
    pub request_key: Option<String>,
    pub card_id: Option<i64>,
    /// What moved on the card for this record (0 when nothing did).
    pub moved_minor: u64,
    /// Why, when the outcome needs a reason (mismatches, forced postings).
    pub detail: String,
}

/// Counts and totals of one file's posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingReport {
    pub network: String,
    pub member: String,
    pub date: BusinessDate,
    pub checksum: String,
    /// The file had been posted to its end before: this run changed nothing.
    pub already_posted: bool,
    pub records: u64,
    /// (outcome, records, Σ moved minor units), every outcome, in [`PostingOutcome::ALL`] order.
    pub outcomes: Vec<(PostingOutcome, u64, u64)>,
}

impl PostingReport {
    pub fn count(&self, outcome: PostingOutcome) -> u64 {
        self.outcomes.iter().find(|(o, _, _)| *o == outcome).map_or(0, |(_, n, _)| *n)
    }

    pub fn moved_minor(&self, outcome: PostingOutcome) -> u64 {
        self.outcomes.iter().find(|(o, _, _)| *o == outcome).map_or(0, |(_, _, m)| *m)
    }
}

/// One record of a batch on its way.
struct Item {
    ordinal: u64,
    record: ClearingRecord,
    key: Option<String>,
    ids: PostingIds,
    plan: Plan,
    detail: String,
    card: Option<CardAccount>,
    /// Set once the ledger has done the plan: posted (≤ hold) and forced amounts.
    posted: u64,
    forced: u64,
    /// The overdraft a forced transfer needs (round 3).
    short: bool,
    /// Whether the authorization row moves to posted.
    clears_row: bool,
}

/// What one batch read, set-based (crate::posting_store).
struct Reads {
    /// Each record's issuer key (`None`: its fields are no key).
    keys: Vec<Option<String>>,
    ids: Vec<PostingIds>,
    /// References of the date already given an outcome.
    posted_refs: HashSet<u64>,
    /// Authorizations a presentment already cleared.
    cleared: HashSet<String>,
    /// Journal rows under the records' keys, and their originals.
    journal: HashMap<String, JournalRow>,
    /// The ledger's transfers among the records' posting ids and the authorizations' holds.
    ledger: HashMap<Id, TransferRecord>,
    cards: HashMap<i64, CardAccount>,
    by_mask: HashMap<String, CardAccount>,
}

impl Reads {
    /// The hold of an authorization: the journal's transfer, else the id its key derives.
    fn hold_of(&self, key: &str) -> Id {
        self.journal.get(key).and_then(|row| row.transfer_id).unwrap_or_else(|| transfer_id(TransferRole::Hold, key))
    }

    /// The card of an authorization: the journal's, else its hold's in the ledger.
    fn card_of_key(&self, key: &str) -> Option<i64> {
        let hold_card = || self.ledger.get(&self.hold_of(key)).map(|t| t.transfer.user_data_64 as i64);
        self.journal.get(key).and_then(|row| row.card_id).or_else(hold_card)
    }

    /// A record's card: by its authorization, else by a masked PAN naming one card.
    fn card(&self, key: Option<&str>, record: &ClearingRecord) -> Option<CardAccount> {
        match key.and_then(|k| self.card_of_key(k)) {
            Some(card_id) => self.cards.get(&card_id).cloned(),
            None => self.by_mask.get(&record.pan_masked).cloned(),
        }
    }
}

impl Issuer {
    /// Post one clearing file's records (see the module). `records` are the file's detail
    /// records in file order; `trailer` is the file's, checked by the reader — its checksum
    /// names the file, its count must be the number of records given.
    pub fn post_clearing(
        &self,
        header: &Header,
        trailer: &Trailer,
        records: impl IntoIterator<Item = ClearingRecord>,
    ) -> Result<PostingReport> {
        if header.member != self.settings.institution_id {
            return Err(IssuerError::input(format!(
                "the clearing file is for member {}, this issuer is {}",
                header.member, self.settings.institution_id
            )));
        }
        let now_ms = self.now_ms_i64();
        let date = i64::from(header.date.days());
        let file =
            self.cards.begin_file(&header.network, &header.member, date, &trailer.checksum, trailer.records, now_ms)?;
        if !file.posted {
            let done = self.cards.file_progress(file.file_id)?;
            let mut records = records.into_iter().skip(usize::try_from(done).unwrap_or(usize::MAX));
            let mut ordinal = done;
            let mut batch = Vec::with_capacity(POSTING_BATCH_RECORDS);
            loop {
                batch.clear();
                batch.extend(records.by_ref().take(POSTING_BATCH_RECORDS));
                if batch.is_empty() {
                    break;
                }
                let count = batch.len() as u64;
                self.post_batch(header, file.file_id, ordinal, &batch)?;
                ordinal += count;
            }
            // Postcondition: every record of the file has its outcome, once.
            let written = self.cards.file_progress(file.file_id)?;
            if written != trailer.records || ordinal != trailer.records {
                return Err(IssuerError::input(format!(
                    "the clearing file's trailer counts {} records, {ordinal} were given ({written} posted)",
                    trailer.records
                )));
            }
            self.cards.finish_file(file.file_id, self.now_ms_i64())?;
        }
        let totals = self.cards.file_totals(file.file_id)?;
        let outcomes: Vec<(PostingOutcome, u64, u64)> = PostingOutcome::ALL
            .into_iter()
            .map(|o| totals.iter().find(|(name, _, _)| name == o.name()).map_or((o, 0, 0), |&(_, n, m)| (o, n, m)))
            .collect();
        Ok(PostingReport {
            network: header.network.clone(),
            member: header.member.clone(),
            date: header.date,
            checksum: trailer.checksum.clone(),
            already_posted: file.posted,
            records: outcomes.iter().map(|(_, n, _)| n).sum(),
            outcomes,
        })
    }

    /// The outcomes of every record cleared on `date` (all files), by reference.
    pub fn posting_results(&self, date: BusinessDate) -> Result<Vec<PostingResult>> {
        let rows = self.cards.postings_of_date(i64::from(date.days()))?;
        rows.into_iter()
            .map(|row| {
                let bad =
                    |what: &str| IssuerError::Internal(format!("posting row: {what} is not one this build writes"));
                Ok(PostingResult {
                    date: BusinessDate::from_days(i32::try_from(row.business_date).map_err(|_| bad("date"))?),
                    reference: row.reference,
                    code: TxnCode::from_code(&row.code).ok_or_else(|| bad("code"))?,
                    issuer_stan: row.issuer_stan,
                    issuer_time: row.issuer_time,
                    acquirer: row.acquirer,
                    amount_minor: row.amount,
                    currency: row.currency,
                    outcome: PostingOutcome::from_name(&row.outcome).ok_or_else(|| bad("outcome"))?,
                    pan_masked: row.pan_masked,
                    request_key: row.request_key,
                    card_id: row.card_id,
                    moved_minor: row.moved,
                    detail: row.detail,
                })
            })
            .collect()
    }

    pub(crate) fn now_ms_i64(&self) -> i64 {
        i64::try_from(self.now_ms()).unwrap_or(i64::MAX)
    }

    /// Why a record is not this issuer's to post, if it is not.
    fn rejection(&self, header: &Header, record: &ClearingRecord) -> Option<String> {
        if record.date != header.date {
            return Some(format!("dated {}, the file {}", record.date, header.date));
        }
        if record.issuer.as_str() != self.settings.institution_id {
            return Some(format!("for issuer {}", record.issuer));
        }
        // Zero would post a whole hold (the ledger's "post all"): no cleared item is zero.
        if record.amount_minor == 0 || record.amount_minor > crate::limits::AMOUNT_MAX_MINOR {
            return Some(format!("amount {} is not a cleared amount", record.amount_minor));
        }
        if record.currency.as_str() != self.settings.currency {
            return Some(format!("currency {} is not this issuer's ({})", record.currency, self.settings.currency));
        }
        None
    }

    /// One batch: read, decide, move, record (the module's order).
    fn post_batch(&self, header: &Header, file_id: i64, first: u64, batch: &[ClearingRecord]) -> Result<()> {
        assert!(!batch.is_empty() && batch.len() <= POSTING_BATCH_RECORDS);
        let (mut items, ledger) = self.plan_batch(header, first, batch)?;
        self.move_money(&mut items, &ledger)?;
        let mut rows = Vec::with_capacity(items.len());
        let mut changes = Vec::new();
        for item in &items {
            let (outcome, moved) = match item.plan {
                Plan::Nothing(outcome) => (outcome, 0),
                Plan::Post { .. } if item.forced == 0 => (PostingOutcome::Posted, item.posted),
                Plan::Post { .. } | Plan::Force => (PostingOutcome::ForcePosted, item.posted + item.forced),
                Plan::Credit => (PostingOutcome::Credited, item.forced),
                Plan::Debit => (PostingOutcome::Debited, item.forced),
            };
            // A cleared record moves its amount on the card, or nothing.
            assert!(moved == 0 || moved == item.record.amount_minor, "moved {moved} of {}", item.record.amount_minor);
            if item.clears_row
                && let Some(key) = &item.key
            {
                changes.push(StateChange {
                    key: key.clone(),
                    from: vec![EntryState::Held, EntryState::Expired],
                    to: EntryState::Posted,
                });
            }
            let record = &item.record;
            rows.push(PostingRow {
                ordinal: item.ordinal,
                business_date: i64::from(record.date.days()),
                reference: record.reference,
                code: record.code.code().to_owned(),
                issuer_stan: record.issuer_stan.map(|stan| stan.to_string()).unwrap_or_default(),
                issuer_time: record.issuer_time.clone(),
                acquirer: record.acquirer.as_str().to_owned(),
                request_key: item.key.clone(),
                card_id: item.card.as_ref().map(|c| c.card_id),
                amount: record.amount_minor,
                currency: record.currency.as_str().to_owned(),
                moved,
                outcome: outcome.name().to_owned(),
                pan_masked: item.card.as_ref().map_or_else(|| record.pan_masked.clone(), |c| c.pan_masked.clone()),
                detail: item.detail.clone(),
            });
        }
        assert_eq!(rows.len(), batch.len(), "every record of a batch gets one outcome");
        self.cards.commit_postings(file_id, &rows, &changes, self.now_ms_i64())
    }

    /// Read what the batch needs, set-based: one query per table, one ledger look-up.
    fn read_batch(&self, header: &Header, batch: &[ClearingRecord]) -> Result<Reads> {
        let date = i64::from(header.date.days());
        let keys: Vec<Option<String>> = batch.iter().map(|r| issuer_key(r, &header.network).ok()).collect();
        let key_list: Vec<String> = keys.iter().flatten().cloned().collect();
        let references: Vec<u64> = batch.iter().map(|r| r.reference).collect();
        let mut reads = Reads {
            posted_refs: self.cards.posted_references(date, &references)?.into_iter().collect(),
            cleared: self.cards.cleared_keys(&key_list)?.into_iter().collect(),
            journal: self.cards.journals(&key_list)?,
            ids: batch.iter().map(PostingIds::of).collect(),
            keys,
            ledger: HashMap::new(),
            cards: HashMap::new(),
            by_mask: HashMap::new(),
        };
        let originals: Vec<String> = reads.journal.values().filter_map(|row| row.original_key.clone()).collect();
        for (key, row) in self.cards.journals(&originals)? {
            reads.journal.entry(key).or_insert(row);
        }
        // The ledger: each record's posting ids (an earlier run), each authorization's hold.
        let mut lookup: Vec<Id> = batch.iter().zip(&reads.ids).flat_map(|(r, i)| i.of_code(r.code)).collect();
        lookup.extend(key_list.iter().map(|key| reads.hold_of(key)));
        reads.ledger = self.money.transfers(&lookup)?;
        // Cards: the journal's, else the hold's, else a masked PAN naming one card.
        let card_ids: Vec<i64> = key_list.iter().filter_map(|key| reads.card_of_key(key)).collect();
        reads.cards = self.cards.card_accounts(&card_ids)?;
        let masks: Vec<String> = batch
            .iter()
            .zip(&reads.keys)
            .filter(|(_, key)| key.as_deref().and_then(|k| reads.card_of_key(k)).is_none())
            .map(|(record, _)| record.pan_masked.clone())
            .collect();
        reads.by_mask = self.cards.cards_by_mask(&masks)?;
        Ok(reads)
    }

    /// Decide each record of the batch from what was read. Also gives back what the ledger
    /// held of the batch's posting ids (an earlier run's).
    fn plan_batch(
        &self,
        header: &Header,
        first: u64,
        batch: &[ClearingRecord],
    ) -> Result<(Vec<Item>, HashMap<Id, TransferRecord>)> {
        let reads = self.read_batch(header, batch)?;
        let (journal, ledger, ids) = (&reads.journal, &reads.ledger, &reads.ids);
        let mut seen_refs = HashSet::new();
        let mut seen_keys = HashSet::new();
        let mut items = Vec::with_capacity(batch.len());
        for (index, record) in batch.iter().enumerate() {
            let key = reads.keys[index].clone();
            let card = reads.card(key.as_deref(), record);
            let row: Option<&JournalRow> = key.as_deref().and_then(|k| journal.get(k));
            let presentment = matches!(record.code, TxnCode::Purchase | TxnCode::Completion);
            let found = Found {
                row,
                original: row.and_then(|r| r.original_key.as_deref()).and_then(|k| journal.get(k)),
                hold: key.as_deref().and_then(|k| ledger.get(&reads.hold_of(k))),
                card: card.as_ref(),
                done_post: ledger.get(&ids[index].post),
                done_force: ledger.contains_key(&ids[index].force),
                key_cleared: presentment
                    && key.as_ref().is_some_and(|k| reads.cleared.contains(k) || seen_keys.contains(k)),
            };
            let rejected = self.rejection(header, record).or_else(|| match &key {
                None => issuer_key(record, &header.network).err(),
                Some(_) => None,
            });
            let (plan, detail) = if let Some(why) = rejected {
                (Plan::Nothing(PostingOutcome::Rejected), why)
            } else if reads.posted_refs.contains(&record.reference) || !seen_refs.insert(record.reference) {
                (Plan::Nothing(PostingOutcome::Duplicate), "reference already posted".to_owned())
            } else {
                decide(record, &found)
            };
            // Money moves only on a card of ours (decide checks; a rerun reads the same).
            let plan =
                if item_card_missing(&plan, card.as_ref()) { Plan::Nothing(PostingOutcome::Unmatched) } else { plan };
            let clears_row = presentment
                && matches!(plan, Plan::Post { .. } | Plan::Force)
                && row.is_some_and(|r| matches!(r.state, EntryState::Held | EntryState::Expired));
            if presentment
                && matches!(
                    plan,
                    Plan::Post { .. }
                        | Plan::Force
                        | Plan::Nothing(PostingOutcome::Confirmed | PostingOutcome::Cancelled)
                )
                && let Some(k) = &key
            {
                seen_keys.insert(k.clone());
            }
            items.push(Item {
                ordinal: first + index as u64 + 1,
                record: record.clone(),
                key,
                ids: ids[index],
                plan,
                detail,
                card,
                posted: 0,
                forced: 0,
                short: false,
                clears_row,
            });
        }
        Ok((items, reads.ledger))
    }

    /// The batch's ledger work, in up to three calls (module doc). Transfers an earlier run
    /// made are found by id and not made again.
    fn move_money(&self, items: &mut [Item], existing: &HashMap<Id, TransferRecord>) -> Result<()> {
        let exists = |id: &Id| existing.contains_key(id);
        // Round 1: posts of holds, credits, forced postings and debits without overdraft.
        let mut round: Vec<(usize, Transfer)> = Vec::new();
        for (index, item) in items.iter_mut().enumerate() {
            let amount = item.record.amount_minor;
            let Some(card) = item.card.as_ref().map(|c| (c.account_id, c.card_id)) else {
                assert!(matches!(item.plan, Plan::Nothing(_)), "a plan that moves money has a card");
                continue;
            };
            match item.plan {
                Plan::Nothing(_) => {}
                Plan::Post { hold, amount: posted, .. } => {
                    if exists(&item.ids.post) {
                        item.posted =
                            existing.get(&item.ids.post).map_or(posted, |t: &TransferRecord| t.transfer.amount);
                    } else {
                        let post = Transfer { pending_id: hold, ..Transfer::new(item.ids.post, 0, 0, posted, 0, 0) }
                            .with_flags(TransferFlags::POST_PENDING_TRANSFER);
                        round.push((index, post));
                    }
                }
                Plan::Force | Plan::Debit => {
                    let (id, code) = if item.plan == Plan::Force {
                        (item.ids.force, TRANSFER_FORCE_POST)
                    } else {
                        (item.ids.debit, TRANSFER_DISPUTE_DEBIT)
                    };
                    if exists(&id) {
                        item.forced = amount;
                    } else {
                        round.push((index, self.card_transfer(id, card, amount, code, false)));
                    }
                }
                Plan::Credit => {
                    if exists(&item.ids.credit) {
                        item.forced = amount;
                    } else {
                        round.push((
                            index,
                            self.card_transfer(item.ids.credit, card, amount, TRANSFER_DISPUTE_CREDIT, true),
                        ));
                    }
                }
            }
        }
        for ((index, transfer), moved) in round.iter().zip(self.submit(&round)?) {
            let item = &mut items[*index];
            match (item.plan, moved) {
                (Plan::Post { .. }, Moved::Done | Moved::AlreadyDone) => item.posted = transfer.amount,
                // Released, expired (not yet swept) or gone since it was read: force it.
                (Plan::Post { .. }, Moved::AlreadyResolved(_) | Moved::NotFound | Moved::ExceedsHold) => {
                    item.plan = Plan::Force;
                    item.detail = "hold released before posting".to_owned();
                }
                (_, Moved::Done | Moved::AlreadyDone) => item.forced = transfer.amount,
                (Plan::Force | Plan::Debit, Moved::Insufficient) => item.short = true,
                (plan, other) => return Err(IssuerError::Ledger(format!("posting {plan:?} refused: {other:?}"))),
            }
        }
        // Round 2: forced postings from round 1, and the excess of a record over its hold.
        let mut round = Vec::new();
        for (index, item) in items.iter_mut().enumerate() {
            let Some(card) = item.card.as_ref().map(|c| (c.account_id, c.card_id)) else { continue };
            let owed = match item.plan {
                Plan::Post { .. } => item.record.amount_minor - item.posted,
                Plan::Force if item.forced == 0 && !item.short => item.record.amount_minor,
                _ => 0,
            };
            if owed == 0 {
                continue;
            }
            if exists(&item.ids.force) {
                item.forced = owed;
            } else {
                round.push((index, self.card_transfer(item.ids.force, card, owed, TRANSFER_FORCE_POST, false)));
            }
        }
        for ((index, transfer), moved) in round.iter().zip(self.submit(&round)?) {
            match moved {
                Moved::Done | Moved::AlreadyDone => items[*index].forced = transfer.amount,
                Moved::Insufficient => items[*index].short = true,
                other => return Err(IssuerError::Ledger(format!("forced posting refused: {other:?}"))),
            }
        }
        self.cover_shortfalls(items)
    }

    /// Round 3: each forced transfer the card could not cover, linked after an overdraft
    /// lending the shortfall (both or neither), as a stand-in hold is.
    fn cover_shortfalls(&self, items: &mut [Item]) -> Result<()> {
        let mut available: HashMap<Id, i64> = HashMap::new();
        let mut round = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if !item.short {
                continue;
            }
            let Some(card) = item.card.as_ref().map(|c| (c.account_id, c.card_id)) else { continue };
            let owed = match item.plan {
                Plan::Post { .. } => item.record.amount_minor - item.posted,
                _ => item.record.amount_minor,
            };
            let (id, lend_id, code) = match item.plan {
                Plan::Debit => (item.ids.debit, item.ids.debit_overdraft, TRANSFER_DISPUTE_DEBIT),
                _ => (item.ids.force, item.ids.force_overdraft, TRANSFER_FORCE_POST),
            };
            let balance = match available.get(&card.0) {
                Some(balance) => *balance,
                None => self.money.balance(card.0)?.map_or(0, |b| b.available_minor),
            };
            let shortfall = u64::try_from(i128::from(owed) - i128::from(balance.max(0))).unwrap_or(owed).max(1);
            available.insert(card.0, balance.max(0) + i64::try_from(shortfall).unwrap_or(i64::MAX) - amount_i64(owed));
            let mut lend = Transfer::new(
                lend_id,
                self.money.overdraft_account(),
                card.0,
                shortfall,
                self.money.ledger_id(),
                TRANSFER_OVERDRAFT,
            )
            .with_flags(TransferFlags::LINKED);
            lend.user_data_64 = card.1 as u64;
            round.push((index, lend));
            round.push((index, self.card_transfer(id, card, owed, code, false)));
        }
        let results = self.submit(&round)?;
        for (pair, moved) in round.chunks(2).zip(results.chunks(2)) {
            let (index, transfer) = &pair[1];
            match moved {
                [Moved::Done | Moved::AlreadyDone, Moved::Done | Moved::AlreadyDone] => {
                    items[*index].forced = transfer.amount;
                    items[*index].short = false;
                }
                other => return Err(IssuerError::Ledger(format!("forced posting with overdraft refused: {other:?}"))),
            }
        }
        Ok(())
    }

    /// A posted transfer between the card and the settlement account (`to_card`: a credit).
    fn card_transfer(&self, id: Id, card: (Id, i64), amount: u64, code: u16, to_card: bool) -> Transfer {
        let settlement = self.money.settlement_account();
        let (debit, credit) = if to_card { (settlement, card.0) } else { (card.0, settlement) };
        let mut transfer = Transfer::new(id, debit, credit, amount, self.money.ledger_id(), code);
        transfer.user_data_64 = card.1 as u64;
        transfer
    }

    fn submit(&self, round: &[(usize, Transfer)]) -> Result<Vec<Moved>> {
        if round.is_empty() {
            return Ok(Vec::new());
        }
        let transfers: Vec<Transfer> = round.iter().map(|(_, t)| *t).collect();
        // Chains are pairs (overdraft, forced posting).
        self.money.create_many(&transfers, 2)
    }
}

fn item_card_missing(plan: &Plan, card: Option<&CardAccount>) -> bool {
    card.is_none() && !matches!(plan, Plan::Nothing(_))
}

fn amount_i64(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}
