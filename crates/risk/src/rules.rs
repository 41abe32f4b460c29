//! The typed rule set the engine runs: what each rule measures ([`Check`]) and how a
//! measured value becomes a score ([`Scoring`]). Built from a rule file by
//! [`crate::rulefile`], which does all the validation; nothing here can fail.
//!
//! Every check yields a whole number (a count, an amount in minor units, a percentage, a
//! score in hundredths, or 1 for a yes/no check) and a rule fires when that number reaches
//! its bound: `observed >= threshold`, or `lower <= observed < upper` for a band. Values
//! include the transaction being evaluated.

use std::fmt;

use domain::{Currency, ResponseCode};

use crate::store::Entity;
use crate::window::WindowKey;

/// Longest rule id or reason code.
pub const LABEL_LEN_MAX: usize = 32;
/// Rules in a set, at most.
pub const RULES_MAX: usize = 256;
/// Bands in one rule, at most.
pub const BANDS_MAX: usize = 16;
/// Entries in one block list, at most.
pub const BLOCK_LIST_MAX: usize = 100_000;

/// A rule id or reason code: up to [`LABEL_LEN_MAX`] bytes of letters, digits, `_`, `-`
/// and `.`, held inline so a decision can carry it without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Label {
    bytes: [u8; LABEL_LEN_MAX],
    len: u8,
}

impl Label {
    pub fn new(text: &str) -> Option<Label> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
        if text.is_empty() || text.len() > LABEL_LEN_MAX || !text.bytes().all(ok) {
            return None;
        }
        let mut label = Label { bytes: [0; LABEL_LEN_MAX], len: text.len() as u8 };
        label.bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(label)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Count or amount of a window.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Measure {
    Count,
    Amount,
}

/// A new merchant's limit: on each transaction or on its day's total (24 h window).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NewMerchantLimit {
    Transaction,
    Day,
}

/// A geography check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mismatch {
    /// The transaction's currency is not the merchant's.
    Currency,
    /// The card's country is not the merchant's.
    Country,
}

/// Merchant category codes as a bit set (codes are 4 digits): O(1) to test, 1,250 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MccSet(Box<[u64; 157]>);

impl MccSet {
    pub fn new(codes: &[u16]) -> MccSet {
        let mut bits = Box::new([0u64; 157]);
        for &code in codes.iter().filter(|&&c| c < 10_000) {
            bits[usize::from(code / 64)] |= 1 << (code % 64);
        }
        MccSet(bits)
    }

    pub fn contains(&self, code: u16) -> bool {
        code < 10_000 && self.0[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }
}

impl fmt::Debug for MccSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries((0..10_000u16).filter(|&c| self.contains(c))).finish()
    }
}

/// Entries of a block list. Cards are PAN hashes (a clear PAN in the file is hashed on
/// load), sorted for binary search; BINs are digit prefixes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BlockList {
    pub cards: Vec<u64>,
    pub terminals: Vec<u64>,
    pub merchants: Vec<u64>,
    pub bins: Vec<Vec<u8>>,
}

/// What a rule measures.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Check {
    /// Count or amount of sales of an entity over a window.
    Velocity { entity: Entity, measure: Measure, window: WindowKey },
    /// The amount as a percentage of the entity's mean sale before it; no opinion below
    /// `history_min` sales.
    AmountVsUsual { entity: Entity, history_min: u32 },
    /// The sum of a card's sales at one merchant over a window, when there are at least
    /// `count` of them and each (this one included) is below the rule's threshold.
    SplitSale { window: WindowKey, count: u32 },
    /// 1 when the MCC is listed (or no list) and the local hour is in `hours` (or none).
    Restriction { mccs: Option<MccSet>, hours: Option<u32>, utc_offset_min: i32 },
    /// 1 when the card, its BIN, the terminal or the merchant is listed.
    Block(Box<BlockList>),
    /// The amount (or the merchant's 24 h sales) while the merchant is younger than `days`.
    NewMerchant { days: u32, limit: NewMerchantLimit, day_window: WindowKey },
    /// A merchant's refunds as a percentage of its sales over a window, evaluated on
    /// refunds; no opinion below `sales_min` sales.
    RefundRatio { sales: WindowKey, refunds: WindowKey, sales_min: u32 },
    /// Distinct cards with a wrong PIN at the terminal over `window_ms`.
    CardTesting { window_ms: u64 },
    /// 1 on a mismatch, where both sides are known.
    Mismatch(Mismatch),
    /// The entity's anomaly score in hundredths; no opinion without enough history.
    Anomaly { entity: Entity },
}

impl Check {
    /// The windows this check reads, as (entity, window).
    pub fn windows(&self) -> Vec<(Entity, WindowKey)> {
        match self {
            Check::Velocity { entity, window, .. } => vec![(*entity, *window)],
            Check::SplitSale { window, .. } => vec![(Entity::CardAtMerchant, *window)],
            Check::NewMerchant { limit: NewMerchantLimit::Day, day_window, .. } => {
                vec![(Entity::Merchant, *day_window)]
            }
            Check::RefundRatio { sales, refunds, .. } => vec![(Entity::Merchant, *sales), (Entity::Merchant, *refunds)],
            _ => Vec::new(),
        }
    }

    /// Whether a card-testing hit should also block the terminal.
    pub fn blocks_terminal(&self) -> bool {
        matches!(self, Check::CardTesting { .. })
    }
}

/// A band: `lower <= observed < upper` (`upper` `None` = unbounded) scores `score`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Band {
    pub lower: u64,
    pub upper: Option<u64>,
    pub score: i32,
    pub reason: Label,
}

/// How an observed value becomes a score.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Scoring {
    /// Fires with `score` when `observed >= threshold`.
    Threshold { threshold: u64, score: i32 },
    /// Fires with the band containing the value, if any (Tazama's bands).
    Bands(Vec<Band>),
}

impl Scoring {
    /// (score, bound, band reason) when the value fires.
    pub fn judge(&self, observed: u64) -> Option<(i32, u64, Option<Label>)> {
        match self {
            Scoring::Threshold { threshold, score } => (observed >= *threshold).then_some((*score, *threshold, None)),
            Scoring::Bands(bands) => bands
                .iter()
                .find(|b| observed >= b.lower && b.upper.is_none_or(|u| observed < u))
                .map(|b| (b.score, b.lower, Some(b.reason))),
        }
    }

    /// The smallest value that can fire.
    pub fn lowest(&self) -> u64 {
        match self {
            Scoring::Threshold { threshold, .. } => *threshold,
            Scoring::Bands(bands) => bands.iter().map(|b| b.lower).min().unwrap_or(0),
        }
    }
}

/// One rule.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rule {
    pub id: Label,
    pub check: Check,
    pub scoring: Scoring,
    pub reason: Label,
    /// Decline with this code whenever the rule fires, whatever the total score.
    pub decline: Option<ResponseCode>,
}

/// A validated rule file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RuleSet {
    /// The currency amounts in the file (and in windows) are in.
    pub currency: Currency,
    /// Decline (34, suspected fraud) when the fired rules' scores add up to this.
    pub decline_score: i32,
    /// Alert when they add up to this (and do not decline).
    pub alert_score: i32,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// Every window the set reads, each once.
    pub fn windows(&self) -> Vec<(Entity, WindowKey)> {
        windows_of(&self.rules)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.as_str() == id)
    }
}

/// Every window `rules` read, each once.
pub fn windows_of(rules: &[Rule]) -> Vec<(Entity, WindowKey)> {
    let mut all: Vec<(Entity, WindowKey)> = Vec::new();
    for window in rules.iter().flat_map(|r| r.check.windows()) {
        if !all.contains(&window) {
            all.push(window);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_fires_at_the_bound_and_not_below() {
        let s = Scoring::Threshold { threshold: 5, score: 40 };
        assert_eq!(s.judge(4), None);
        assert_eq!(s.judge(5), Some((40, 5, None)));
    }

    #[test]
    fn bands_are_lower_inclusive_upper_exclusive() {
        let reason = Label::new("r").unwrap();
        let s = Scoring::Bands(vec![
            Band { lower: 10, upper: Some(20), score: 1, reason },
            Band { lower: 20, upper: None, score: 2, reason },
        ]);
        assert_eq!(s.judge(9), None);
        assert_eq!(s.judge(10).map(|j| j.0), Some(1));
        assert_eq!(s.judge(19).map(|j| j.0), Some(1));
        assert_eq!(s.judge(20).map(|j| j.0), Some(2));
        assert_eq!(s.judge(u64::MAX).map(|j| j.0), Some(2));
        assert_eq!(s.lowest(), 10);
    }

    #[test]
    fn labels_and_mcc_sets() {
        assert_eq!(Label::new("card_burst-1.0").unwrap().as_str(), "card_burst-1.0");
        assert!(Label::new("").is_none() && Label::new("a b").is_none() && Label::new(&"x".repeat(33)).is_none());
        let set = MccSet::new(&[7995, 0, 9999]);
        assert!(set.contains(7995) && set.contains(0) && set.contains(9999));
        assert!(!set.contains(7994) && !set.contains(10_000));
    }
}
