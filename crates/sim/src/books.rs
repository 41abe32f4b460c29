//! The books after end of day ([`crate::eod`]), against what the terminals saw:
//!
//! * every issuer's ledger balances after posting; no purchase hold is left for a transaction
//!   that was posted; no record is cleared twice (by reference, or by its acquirer's key) and none
//!   is posted twice;
//! * every purchase a terminal saw standing at day end (approved, not reversed, not voided) is
//!   cleared exactly once, with its amount, and posted once at its issuer, moving that amount;
//!   one that was reversed or voided moves nothing (absent from the clearing, or cleared with
//!   its cancel); and the clearing holds no purchase no terminal keyed in. A purchase record
//!   that names an original is the switch's restoring record of a reversed void or refund: it
//!   belongs to the purchase its void named, moving money back onto it;
//! * the switch's net positions sum to zero per currency;
//! * money is conserved per currency (see [`conservation`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clearing::{BusinessDate, ClearingRecord, TxnCode};
use serde_json::Value;

use crate::driver::Sim;
use crate::eod::DayEnd;
use crate::pos::Op;
use crate::world::World;

/// A sale (a purchase or a pre-authorization's completion) as its terminal saw it at day end.
#[derive(Debug, Clone)]
pub struct ExpectedPurchase {
    /// Terminal, batch and trace: how a violation names it.
    pub name: String,
    /// The card's issuer (institution id).
    pub issuer: String,
    pub amount_minor: u64,
    /// A completion: its money moved at authorization (its hold posted then), so issuer posting
    /// only confirms it and moves nothing.
    pub completion: bool,
    /// Approved, not reversed, not voided by a void that stands.
    pub standing: bool,
    /// The acquirer's network leg (STAN, transmission time), if it went to the network.
    pub key: Option<(String, String)>,
}

/// What the terminals saw, read before the driver's cores are dropped.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub purchases: Vec<ExpectedPurchase>,
    /// Reading it failed somewhere (a journal that could not be read).
    pub errors: Vec<String>,
}

impl Expected {
    /// Every purchase and completion of every terminal with the acquirer's network key for it.
    pub fn read(sim: &Sim, world: &World, card_issuer: &[usize]) -> Expected {
        let mut expected = Expected::default();
        for pos in &sim.terminals {
            let mut batches: BTreeMap<u32, Vec<acquirer::TransactionRecord>> = BTreeMap::new();
            for record in pos.records.iter().filter(|r| matches!(r.op, Op::Purchase { .. } | Op::Completion { .. })) {
                let Some((batch, trace)) = &record.trace else { continue };
                if !batches.contains_key(batch) {
                    match world.acquirer.batch_transactions(&pos.id, *batch) {
                        Ok(rows) => {
                            batches.insert(*batch, rows);
                        }
                        Err(error) => expected.errors.push(format!("terminal {} batch {batch}: {error}", pos.id)),
                    }
                }
                let row = batches.get(batch).and_then(|rows| {
                    rows.iter().find(|row| row.trace.field().as_str() == trace.as_str() && row.terminal_mti != "0400")
                });
                let key = row.and_then(|row| Some((row.net_stan.as_ref()?.to_string(), row.net_time.clone()?)));
                let issuer = card_issuer.get(record.card).and_then(|i| world.issuers.get(*i));
                expected.purchases.push(ExpectedPurchase {
                    name: format!("{} {batch:06}/{trace}", pos.id),
                    issuer: issuer.map(|(id, _)| id.clone()).unwrap_or_default(),
                    amount_minor: record.amount_minor,
                    completion: matches!(record.op, Op::Completion { .. }),
                    standing: crate::check::purchase_stands(pos, record),
                    key,
                });
            }
        }
        expected
    }
}

/// One member's position as the settlement step reported it.
#[derive(Debug, Clone)]
struct Position {
    member: String,
    currency: String,
    net_minor: i64,
    interchange_minor: i64,
    network_fee_minor: i64,
}

/// The books of every date of the run, read after its end of day.
pub struct Books {
    network_id: String,
    acquirer_id: String,
    /// Every issuer of the folder.
    issuers: BTreeSet<String>,
    records: Vec<ClearingRecord>,
    /// (issuer, what its posting did with one record).
    postings: Vec<(String, issuer::PostingResult)>,
    /// Purchase holds left at each issuer after the last date's posting: (issuer, request key).
    holds: Vec<(String, String)>,
    /// Each issuer's network settlement account after the last date's posting: (currency, posted
    /// balance), what its cards paid, net, all run long.
    settled: BTreeMap<String, (String, i64)>,
    positions: Vec<Position>,
    /// currency → (Σ payouts' net, Σ merchant fees).
    payouts: BTreeMap<String, (i64, i64)>,
    errors: Vec<String>,
}

/// One currency's canonical name (field 49's digits), whichever form a source wrote.
fn currency(text: &str) -> String {
    domain::Currency::parse(text).map_or_else(|_| text.to_owned(), |c| c.as_str().to_owned())
}

fn signed(minor: u64) -> i64 {
    i64::try_from(minor).unwrap_or(i64::MAX)
}

impl Books {
    pub fn new(network_id: String, acquirer_id: String) -> Books {
        Books {
            network_id,
            acquirer_id,
            issuers: BTreeSet::new(),
            records: Vec::new(),
            postings: Vec::new(),
            holds: Vec::new(),
            settled: BTreeMap::new(),
            positions: Vec::new(),
            payouts: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    /// Clearing records (each once).
    pub fn cleared(&self) -> u64 {
        self.records.len() as u64
    }

    /// Read `date`'s books in the network folder `dir` after its end of day, whose summary is
    /// `summary`: the clearing files, each issuer's postings, holds and ledger check, the
    /// positions and the payouts.
    pub fn read(
        &mut self,
        dir: &Path,
        date: BusinessDate,
        clock: &::eod::SharedClock,
        summary: &Value,
    ) -> Result<(), ::eod::EodError> {
        let net = ::eod::NetDir::open(dir)?;
        let files = ::eod::switch_ops::clearing_files(&net.clearing_root().join(date.to_string()))?;
        for record in ::eod::switch_ops::date_records(files, date, self.network_id.clone()) {
            self.records.push(record.map_err(::eod::EodError::bad_input)?);
        }
        self.holds.clear();
        for (id, path) in &net.issuers {
            self.issuers.insert(id.clone());
            let config = issuer::IssuerConfig::load(path).map_err(::eod::EodError::bad_input)?;
            let issuer = ::eod::open_issuer(&config, clock)?;
            if let Err(error) = issuer.check_ledger() {
                self.errors.push(format!("issuer {id}: ledger after posting {date}: {error}"));
            }
            self.postings.extend(issuer.posting_results(date)?.into_iter().map(|p| (id.clone(), p)));
            let balance = issuer.settlement_balance()?;
            self.settled.insert(id.clone(), (format!("{:03}", issuer.ledger_currency()), balance.ledger_minor));
            for hold in issuer.holds()?.into_iter().filter(|h| h.kind == "purchase") {
                self.holds.push((id.clone(), hold.request_key));
            }
        }
        for member in summary["members"].as_array().into_iter().flatten() {
            let number = |key: &str| member[key].as_i64().unwrap_or(0);
            self.positions.push(Position {
                member: member["member"].as_str().unwrap_or_default().to_owned(),
                currency: currency(member["currency"].as_str().unwrap_or_default()),
                net_minor: number("net_minor"),
                interchange_minor: number("interchange_minor"),
                network_fee_minor: number("network_fee_minor"),
            });
        }
        for payout in summary["merchants"].as_array().into_iter().flatten() {
            let entry = self.payouts.entry(currency(payout["currency"].as_str().unwrap_or_default())).or_default();
            entry.0 += payout["net_minor"].as_i64().unwrap_or(0);
            entry.1 += payout["fee_minor"].as_i64().unwrap_or(0);
        }
        Ok(())
    }

    /// Every broken invariant of the books, one line each.
    pub fn check(&self, expected: &Expected, day: &DayEnd) -> Vec<String> {
        let mut violations: Vec<String> = expected.errors.iter().chain(&self.errors).cloned().collect();
        if day.dates == 0 {
            return violations;
        }
        self.once(&mut violations);
        self.terminals_cleared(expected, &mut violations);
        self.positions_sum_to_zero(&mut violations);
        self.conservation(&mut violations);
        violations
    }

    /// Nothing cleared or posted twice; no purchase hold left for a posted transaction.
    fn once(&self, violations: &mut Vec<String>) {
        let mut references: BTreeMap<u64, u64> = BTreeMap::new();
        let mut keys: BTreeMap<(String, String, TxnCode), u64> = BTreeMap::new();
        for record in &self.records {
            *references.entry(record.reference).or_default() += 1;
            *keys.entry((stan(record.stan.as_ref()), record.transmission_time.clone(), record.code)).or_default() += 1;
        }
        for (reference, count) in references.iter().filter(|(_, n)| **n > 1) {
            violations.push(format!("clearing: reference {reference} cleared {count} times"));
        }
        for ((stan, time, code), count) in keys.iter().filter(|(_, n)| **n > 1) {
            violations.push(format!("clearing: {code:?} {stan} at {time} cleared {count} times"));
        }
        let mut posted: BTreeMap<(&str, u64), u64> = BTreeMap::new();
        let mut moved_keys: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (issuer, result) in &self.postings {
            *posted.entry((issuer.as_str(), result.reference)).or_default() += 1;
            if result.outcome == issuer::PostingOutcome::Duplicate {
                violations.push(format!("issuer {issuer}: reference {} posted as a duplicate", result.reference));
            }
            if let Some(key) = &result.request_key
                && result.moved_minor > 0
            {
                moved_keys.insert((issuer.as_str(), key.as_str()));
            }
        }
        for ((issuer, reference), count) in posted.iter().filter(|(_, n)| **n > 1) {
            violations.push(format!("issuer {issuer}: reference {reference} posted {count} times"));
        }
        for (issuer, key) in &self.holds {
            if moved_keys.contains(&(issuer.as_str(), key.as_str())) {
                violations.push(format!("issuer {issuer}: a purchase hold is left for {key}, which was posted"));
            }
        }
    }

    /// Each terminal's purchases in the clearing and the postings (see the module notes).
    fn terminals_cleared(&self, expected: &Expected, violations: &mut Vec<String>) {
        // By the acquirer's key of the purchase: its purchase records, and what moved on it in
        // the clearing (its cancels, which name it as their original, included).
        let mut purchases: BTreeMap<(String, String), Vec<&ClearingRecord>> = BTreeMap::new();
        // Restoring records (a reversed void's), by the purchase they restore.
        let mut restoring: BTreeMap<(String, String), Vec<&ClearingRecord>> = BTreeMap::new();
        let mut net: BTreeMap<(String, String), i64> = BTreeMap::new();
        let index = index(&self.records);
        for record in &self.records {
            let own = (stan(record.stan.as_ref()), record.transmission_time.clone());
            let (sale, via_refund) = sale_of(&index, own.clone());
            if via_refund {
                // A refund and its restoring record are money of their own (conservation
                // counts them; the terminals' agreement with the issuer checks them).
                continue;
            }
            if matches!(record.code, TxnCode::Purchase | TxnCode::Completion) {
                if sale == own {
                    purchases.entry(own).or_default().push(record);
                } else {
                    restoring.entry(sale.clone()).or_default().push(record);
                }
            }
            *net.entry(sale).or_default() += record.code.direction() * signed(record.amount_minor);
        }
        let mut moved: BTreeMap<(&str, u64), i64> = BTreeMap::new();
        for (issuer, result) in &self.postings {
            *moved.entry((issuer.as_str(), result.reference)).or_default() +=
                result.code.direction() * signed(result.moved_minor);
        }
        let mut known = BTreeSet::new();
        for purchase in &expected.purchases {
            let Some(key) = &purchase.key else {
                if purchase.standing {
                    violations.push(format!("{}: standing at the terminal, never sent to the network", purchase.name));
                }
                continue;
            };
            known.insert(key.clone());
            let records = purchases.get(key).map_or(&[][..], Vec::as_slice);
            let restored = restoring.get(key).map_or(&[][..], Vec::as_slice);
            let cleared = net.get(key).copied().unwrap_or(0);
            let posted: i64 = records
                .iter()
                .chain(restored)
                .map(|r| moved.get(&(purchase.issuer.as_str(), r.reference)).copied().unwrap_or(0))
                .sum();
            let amount = signed(purchase.amount_minor);
            let (want, state) = if purchase.standing { (amount, "standing") } else { (0, "not standing") };
            let once = !purchase.standing || (records.len() == 1 && records[0].amount_minor == purchase.amount_minor);
            let posted_want = if purchase.completion { 0 } else { want };
            if !once || cleared != want || posted != posted_want {
                violations.push(format!(
                    "{} ({state}, {} at issuer {}): cleared {} purchase record(s) moving {cleared} in all, \
                     posted {posted}",
                    purchase.name,
                    purchase.amount_minor,
                    purchase.issuer,
                    records.len()
                ));
            }
        }
        for (key, records) in purchases.iter().filter(|(key, _)| !known.contains(*key)) {
            violations.push(format!(
                "clearing: {} purchase record(s) {} at {} that no terminal keyed in",
                records.len(),
                key.0,
                key.1
            ));
        }
    }

    fn positions_sum_to_zero(&self, violations: &mut Vec<String>) {
        let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
        for p in &self.positions {
            *sums.entry(&p.currency).or_default() += p.net_minor;
        }
        for (currency, sum) in sums.iter().filter(|(_, s)| **s != 0) {
            violations.push(format!("settlement: net positions in {currency} sum to {sum}, not zero"));
        }
    }

    /// Money is conserved per currency. What the cardholders paid — Σ card debits at the
    /// issuers, D: each issuer's network settlement account, which every movement of a card's
    /// money to or from the network passes (purchases and completions posted; refunds and
    /// completion voids, which move at authorization; chargebacks and adjustments) — went to:
    ///
    /// * the merchants: Σ payouts' net, P;
    /// * the acquirer: the merchant fees it charged (MDR, Σ payouts' fee) less the interchange
    ///   it pays the issuer and its network fee, i.e. MDR + its position's `interchange_minor`
    ///   and `network_fee_minor` (both negative for an acquirer);
    /// * the issuers: the interchange they receive less their network fee, i.e. their
    ///   positions' `interchange_minor` + `network_fee_minor`;
    /// * the switch: its network fees from both sides, its position's `net_minor`.
    ///
    /// So D = P + (MDR + IC_acq + NF_acq) + Σ (IC_iss + NF_iss) + N_switch, each term from its
    /// own source (the issuers' ledgers, the acquirer's payouts, the switch's settlement): they
    /// agree only if nothing was lost, doubled or mispriced between them.
    fn conservation(&self, violations: &mut Vec<String>) {
        let mut debits: BTreeMap<String, i64> = BTreeMap::new();
        for (currency_code, balance) in self.settled.values() {
            *debits.entry(currency(currency_code)).or_default() += balance;
        }
        let mut shares: BTreeMap<String, i64> = BTreeMap::new();
        for (currency, (net, fee)) in &self.payouts {
            *shares.entry(currency.clone()).or_default() += net + fee;
        }
        for p in &self.positions {
            let share = if p.member == self.network_id {
                p.net_minor
            } else if p.member == self.acquirer_id || self.issuers.contains(&p.member) {
                p.interchange_minor + p.network_fee_minor
            } else {
                violations.push(format!("settlement: a position of {}, no party of the run", p.member));
                continue;
            };
            *shares.entry(p.currency.clone()).or_default() += share;
        }
        for currency in debits.keys().chain(shares.keys()).collect::<BTreeSet<_>>() {
            let (d, s) = (debits.get(currency).copied().unwrap_or(0), shares.get(currency).copied().unwrap_or(0));
            if d != s {
                violations.push(format!(
                    "money in {currency}: card debits posted {d}, but payouts and every fee come to {s}"
                ));
            }
        }
    }
}

type Key = (String, String);

/// Each cleared record's acquirer key → its code and the key of the original it names.
fn index(records: &[ClearingRecord]) -> BTreeMap<Key, (TxnCode, Option<Key>)> {
    let mut index = BTreeMap::new();
    for r in records {
        let original = r.original_stan.as_ref().map(|stan| (stan.to_string(), r.original_time.clone()));
        index.entry((stan(r.stan.as_ref()), r.transmission_time.clone())).or_insert((r.code, original));
    }
    index
}

/// Whether a purchase or completion record is the switch's restoring record of a reversed void,
/// completion void or refund (it names one as its original) rather than a sale of its own.
fn restores(index: &BTreeMap<Key, (TxnCode, Option<Key>)>, original: Option<&Key>) -> bool {
    original
        .and_then(|o| index.get(o))
        .is_some_and(|(code, _)| matches!(code, TxnCode::Void | TxnCode::CompletionVoid | TxnCode::Refund))
}

/// The sale (purchase or completion) a record belongs to — a void's purchase, a reversed
/// void's restoring record → the void → the purchase — and whether the way there passes a
/// refund (a refund is money of its own, not taken off its sale). A completion is a sale
/// though it names its pre-authorization. Bounded: a cycle in bad data stops rather than loops.
fn sale_of(index: &BTreeMap<Key, (TxnCode, Option<Key>)>, mut key: Key) -> (Key, bool) {
    const DEPTH_MAX: usize = 4;
    let mut via_refund = false;
    for _ in 0..DEPTH_MAX {
        let Some((code, original)) = index.get(&key) else { break };
        via_refund |= *code == TxnCode::Refund;
        let sale = matches!(code, TxnCode::Purchase | TxnCode::Completion) && !restores(index, original.as_ref());
        match original {
            Some(original) if !sale && *original != key => key = original.clone(),
            _ => break,
        }
    }
    (key, via_refund)
}

fn stan(stan: Option<&domain::Stan>) -> String {
    stan.map(|s| s.to_string()).unwrap_or_default()
}
