//! Merchant settlement, the arithmetic: a business date's journal items → one line per merchant
//! (and currency): gross − voids − refunds − fee ± adjustments = net. Pure: no database, no
//! clock, no strings in the loop — merchants are indices into the plans, so a million merchants
//! and millions of items settle in one pass over two arrays ([`bench_merchant_settlement`]).
//!
//! Rules (docs/end-of-day.md, "Merchant payout file" and issue 13):
//! * approved purchases and completions count gross, and are charged the merchant discount
//!   rate (MDR) of the merchant's plan for the card's kind, rounded and capped as
//!   `merchants::fees` writes down;
//! * voids, completion voids and reversals subtract their amount and give back exactly the
//!   MDR their original was charged (the original's recorded fee when it was settled in an
//!   earlier run, else the same computation on the same amount, kind and plan);
//! * refunds subtract their amount and give back no MDR (退货不退手续费: the fee of the original
//!   sale stays earned — the usual acquirer term; the network still returns its interchange);
//! * adjustments from the clearing file's exception records (chargebacks, representments,
//!   adjustments) add or subtract as signed amounts, with no MDR.

use clearing::CardKind;
use merchants::FeePlan;

/// What one journal item does to its merchant's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A purchase or completion: gross, MDR charged.
    Sale,
    /// A void or completion void: subtracts, gives back its original's MDR.
    Void,
    /// A reversal of a sale: as a void.
    Reversal,
    /// A refund: subtracts, no MDR.
    Refund,
    /// An exception record's signed amount (`amount_minor` with `negative`).
    Adjustment,
}

/// One item, as the settlement loop reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Index into the plans (and the lines).
    pub merchant: u32,
    pub kind: ItemKind,
    pub amount_minor: u64,
    pub card_kind: CardKind,
    /// For a void or reversal: the fee its original was charged, when known (settled before).
    pub original_fee_minor: Option<u64>,
    /// For an adjustment: subtracts instead of adds.
    pub negative: bool,
}

/// One merchant's line for a date (one currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Line {
    pub merchant: u32,
    pub items: u64,
    pub gross_minor: u64,
    /// Voids, completion voids and reversals.
    pub voids_minor: u64,
    pub refunds_minor: u64,
    /// MDR charged minus MDR given back (negative when a day holds only voids of earlier sales).
    pub fee_minor: i64,
    pub adjustments_minor: i64,
    /// `gross − voids − refunds − fee + adjustments`.
    pub net_minor: i64,
}

impl Line {
    fn is_empty(&self) -> bool {
        self.items == 0
    }
}

/// A computation that cannot be done: an item names a merchant with no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeError(pub String);

impl std::fmt::Display for ComputeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ComputeError {}

/// The fee an item moves: + charged, − given back, 0 for refunds and adjustments.
pub fn item_fee_minor(item: &Item, plan: &FeePlan) -> i64 {
    let fee = |amount| to_i64(plan.fee_minor(item.card_kind, amount));
    match item.kind {
        ItemKind::Sale => fee(item.amount_minor),
        ItemKind::Void | ItemKind::Reversal => -item.original_fee_minor.map_or_else(|| fee(item.amount_minor), to_i64),
        ItemKind::Refund | ItemKind::Adjustment => 0,
    }
}

/// The item's signed effect on the net before fees.
pub fn item_amount_minor(item: &Item) -> i64 {
    let amount = to_i64(item.amount_minor);
    match item.kind {
        ItemKind::Sale => amount,
        ItemKind::Void | ItemKind::Reversal | ItemKind::Refund => -amount,
        ItemKind::Adjustment if item.negative => -amount,
        ItemKind::Adjustment => amount,
    }
}

/// Amounts are at most 12 digits on the wire; saturate rather than wrap on anything larger.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Settle `items` against `plans` (indexed by [`Item::merchant`]): one line per merchant with
/// at least one item, in merchant order. O(items + merchants), no allocation per item.
pub fn compute(items: &[Item], plans: &[FeePlan]) -> Result<Vec<Line>, ComputeError> {
    let mut lines = vec![Line::default(); plans.len()];
    for item in items {
        let index = item.merchant as usize;
        let (Some(line), Some(plan)) = (lines.get_mut(index), plans.get(index)) else {
            return Err(ComputeError(format!("an item names merchant index {index}, which has no fee plan")));
        };
        line.items += 1;
        match item.kind {
            ItemKind::Sale => line.gross_minor = line.gross_minor.saturating_add(item.amount_minor),
            ItemKind::Void | ItemKind::Reversal => {
                line.voids_minor = line.voids_minor.saturating_add(item.amount_minor)
            }
            ItemKind::Refund => line.refunds_minor = line.refunds_minor.saturating_add(item.amount_minor),
            ItemKind::Adjustment => {
                line.adjustments_minor = line.adjustments_minor.saturating_add(item_amount_minor(item))
            }
        }
        line.fee_minor = line.fee_minor.saturating_add(item_fee_minor(item, plan));
    }
    let mut out = Vec::with_capacity(lines.iter().filter(|l| !l.is_empty()).count());
    for (index, mut line) in lines.into_iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        line.merchant = u32::try_from(index).unwrap_or(u32::MAX);
        let net = i128::from(line.gross_minor)
            - i128::from(line.voids_minor)
            - i128::from(line.refunds_minor)
            - i128::from(line.fee_minor)
            + i128::from(line.adjustments_minor);
        line.net_minor =
            i64::try_from(net).map_err(|_| ComputeError(format!("merchant index {index}: net out of range")))?;
        out.push(line);
    }
    Ok(out)
}

/// What one run of [`bench_merchant_settlement`] did and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchReport {
    pub merchants: u64,
    pub transactions: u64,
    pub lines: u64,
    pub gross_minor: u64,
    pub fee_minor: i64,
    pub net_minor: i64,
    /// Generating the synthetic journal (not part of settlement).
    pub generate_ms: u64,
    /// [`compute`] plus writing the payout file (to a sink) — the settlement itself.
    pub settle_ms: u64,
    /// Bytes of the payout file.
    pub payout_file_bytes: u64,
}

/// A deterministic generator (splitmix64): the same seed gives the same day.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Settle a synthetic day: `merchants` merchants with plans (debit 0.50 % capped at ¥20, credit
/// 0.60 %), `transactions` items among them (about 90 % sales, 5 % voids, 5 % refunds; a third
/// credit cards), then compute the lines and write the payout file to a sink. For
/// `cardnet bench eod --step merchant-settlement` and `examples/merchant_settlement_bench.rs`.
pub fn bench_merchant_settlement(merchants: u64, transactions: u64, seed: u64) -> Result<BenchReport, ComputeError> {
    let merchant_count = u32::try_from(merchants.max(1))
        .map_err(|_| ComputeError(format!("{merchants} merchants: at most {} in one run", u32::MAX)))?;
    let started = std::time::Instant::now();
    let plan = FeePlan {
        debit: merchants::DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
        credit: merchants::DiscountRate { rate_bp: 60, cap_minor: None },
    };
    let plans = vec![plan; merchant_count as usize];
    let mut random = SplitMix(seed);
    let item_count = usize::try_from(transactions).map_err(|_| ComputeError("too many transactions".into()))?;
    let mut items = Vec::with_capacity(item_count);
    for _ in 0..item_count {
        let r = random.next();
        let kind = match r % 20 {
            0 => ItemKind::Void,
            1 => ItemKind::Refund,
            _ => ItemKind::Sale,
        };
        items.push(Item {
            merchant: ((r >> 8) % u64::from(merchant_count)) as u32,
            kind,
            amount_minor: 100 + (r >> 40) % 500_000,
            card_kind: if (r >> 5).is_multiple_of(3) { CardKind::Credit } else { CardKind::Debit },
            original_fee_minor: None,
            negative: false,
        });
    }
    let generate_ms = started.elapsed().as_millis() as u64;
    let settling = std::time::Instant::now();
    let lines = compute(&items, &plans)?;
    let mut sink = CountingSink(0);
    crate::payout::write_bench_file(&mut sink, &lines).map_err(|e| ComputeError(format!("payout file: {e}")))?;
    let settle_ms = settling.elapsed().as_millis() as u64;
    Ok(BenchReport {
        merchants,
        transactions,
        lines: lines.len() as u64,
        gross_minor: lines.iter().map(|l| l.gross_minor).sum(),
        fee_minor: lines.iter().map(|l| l.fee_minor).sum(),
        net_minor: lines.iter().map(|l| l.net_minor).sum(),
        generate_ms,
        settle_ms,
        payout_file_bytes: sink.0,
    })
}

/// Counts what is written: the bench's payout file goes nowhere but is fully formatted.
struct CountingSink(u64);

impl std::io::Write for CountingSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> FeePlan {
        FeePlan {
            debit: merchants::DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
            credit: merchants::DiscountRate { rate_bp: 60, cap_minor: None },
        }
    }

    fn item(kind: ItemKind, amount_minor: u64, card_kind: CardKind) -> Item {
        Item { merchant: 0, kind, amount_minor, card_kind, original_fee_minor: None, negative: false }
    }

    #[test]
    fn net_is_gross_less_voids_refunds_and_fee_with_debit_capped() {
        let items = [
            item(ItemKind::Sale, 1_000_000, CardKind::Debit), // 0.5 % = 5,000 → capped 2,000
            item(ItemKind::Sale, 1_000_000, CardKind::Credit), // 0.6 % = 6,000, uncapped
            item(ItemKind::Sale, 10_099, CardKind::Debit),    // 50.495 → 50
            item(ItemKind::Void, 10_099, CardKind::Debit),    // gives 50 back
            item(ItemKind::Refund, 5_000, CardKind::Credit),  // no fee back
            Item { negative: true, ..item(ItemKind::Adjustment, 300, CardKind::Debit) },
        ];
        let lines = compute(&items, &[plan()]).unwrap();
        assert_eq!(lines.len(), 1);
        let line = lines[0];
        assert_eq!(line.gross_minor, 2_010_099);
        assert_eq!(line.voids_minor, 10_099);
        assert_eq!(line.refunds_minor, 5_000);
        assert_eq!(line.fee_minor, 8_000);
        assert_eq!(line.adjustments_minor, -300);
        assert_eq!(line.net_minor, 2_010_099 - 10_099 - 5_000 - 8_000 - 300);
    }

    #[test]
    fn a_void_gives_back_what_its_original_was_charged() {
        let void = Item { original_fee_minor: Some(17), ..item(ItemKind::Void, 10_000, CardKind::Debit) };
        assert_eq!(item_fee_minor(&void, &plan()), -17);
        let reversal = item(ItemKind::Reversal, 10_000, CardKind::Credit);
        assert_eq!(item_fee_minor(&reversal, &plan()), -60);
        assert!(compute(&[Item { merchant: 3, ..void }], &[plan()]).is_err(), "no plan: refused, not skipped");
    }

    #[test]
    fn the_bench_settles_every_item() {
        let report = bench_merchant_settlement(1_000, 20_000, 7).unwrap();
        assert!(report.lines > 900 && report.lines <= 1_000);
        assert!(report.net_minor < report.gross_minor as i64 && report.fee_minor > 0);
        assert_eq!(
            report,
            BenchReport { generate_ms: report.generate_ms, settle_ms: report.settle_ms, ..report.clone() }
        );
    }
}
