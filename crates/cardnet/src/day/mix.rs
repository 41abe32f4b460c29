//! The mix of a counter's day, as a table of shares in a thousand: what the next transaction
//! is, given what the clerk can refer back to (a void needs an approved sale of the batch, a
//! completion a standing pre-authorization). Amounts are integer minor units.

use sim::rng::Rng;
use terminal::EntryMode;

/// What a clerk does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Sale { entry: EntryMode, amount_minor: u64, wrong_pin: bool },
    Balance,
    PreAuth { amount_minor: u64 },
    Completion,
    Void,
    Refund,
    PreAuthVoid,
    CompletionVoid,
}

impl Op {
    /// The name the summary counts it under.
    pub fn name(self) -> &'static str {
        match self {
            Op::Sale { wrong_pin: true, .. } => "sale (mistyped PIN)",
            Op::Sale { amount_minor, .. } if amount_minor >= BIG_TICKET_MINOR_MIN => "sale (big ticket)",
            Op::Sale { entry: EntryMode::Swipe, .. } => "sale (swipe)",
            Op::Sale { entry: EntryMode::Contactless, .. } => "sale (tap)",
            Op::Sale { .. } => "sale (chip)",
            Op::Balance => "balance",
            Op::PreAuth { .. } => "pre-authorization",
            Op::Completion => "completion",
            Op::Void => "void",
            Op::Refund => "refund",
            Op::PreAuthVoid => "pre-authorization void",
            Op::CompletionVoid => "completion void",
        }
    }
}

/// What the clerk can refer back to when drawing.
pub struct Draw {
    pub sales: usize,
    pub holds: usize,
    pub completions: usize,
    pub wrong_pin_left: bool,
}

/// Shares in a thousand, in order; a follow-up with nothing to follow becomes a sale.
const SHARES: [(u64, Kind); 9] = [
    (560, Kind::Sale),
    (80, Kind::Balance),
    (90, Kind::PreAuth),
    (70, Kind::Completion),
    (50, Kind::Void),
    (40, Kind::Refund),
    (20, Kind::PreAuthVoid),
    (15, Kind::CompletionVoid),
    (75, Kind::Odd),
];
const SHARE_TOTAL: u64 = 1_000;

/// A big ticket: above the new merchants' limit per transaction in the demo's risk rules.
pub const BIG_TICKET_MINOR_MIN: u64 = 250_000;
const BIG_TICKET_MINOR_MAX: u64 = 900_000;

#[derive(Clone, Copy)]
enum Kind {
    Sale,
    Balance,
    PreAuth,
    Completion,
    Void,
    Refund,
    PreAuthVoid,
    CompletionVoid,
    /// A mistyped PIN, or a big ticket.
    Odd,
}

pub fn draw(rng: &mut Rng, can: &Draw) -> Op {
    let mut at = rng.below(SHARE_TOTAL);
    let kind = SHARES
        .iter()
        .find(|(share, _)| {
            let inside = at < *share;
            at = at.saturating_sub(*share);
            inside
        })
        .map_or(Kind::Sale, |(_, kind)| *kind);
    match kind {
        Kind::Balance => Op::Balance,
        Kind::PreAuth => Op::PreAuth { amount_minor: rng.between(10_000, 150_000) },
        Kind::Completion if can.holds > 0 => Op::Completion,
        Kind::Void if can.sales > 0 => Op::Void,
        Kind::Refund if can.sales > 0 => Op::Refund,
        Kind::PreAuthVoid if can.holds > 0 => Op::PreAuthVoid,
        Kind::CompletionVoid if can.completions > 0 => Op::CompletionVoid,
        Kind::Odd if can.wrong_pin_left && rng.below(2) == 0 => {
            Op::Sale { entry: EntryMode::Chip, amount_minor: ticket(rng), wrong_pin: true }
        }
        Kind::Odd => Op::Sale {
            entry: EntryMode::Chip,
            amount_minor: rng.between(BIG_TICKET_MINOR_MIN, BIG_TICKET_MINOR_MAX),
            wrong_pin: false,
        },
        _ => sale(rng),
    }
}

/// A sale read by chip (half), tap (two in five) or swipe (one in ten).
fn sale(rng: &mut Rng) -> Op {
    let entry = match rng.below(10) {
        0..=4 => EntryMode::Chip,
        5..=8 => EntryMode::Contactless,
        _ => EntryMode::Swipe,
    };
    Op::Sale { entry, amount_minor: ticket(rng), wrong_pin: false }
}

/// A counter's ticket: mostly small (5.00 to 120.00), one in five up to 1,500.00.
fn ticket(rng: &mut Rng) -> u64 {
    if rng.below(5) == 0 { rng.between(12_000, 150_000) } else { rng.between(500, 12_000) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_add_up_and_follow_ups_need_an_original() {
        assert_eq!(SHARES.iter().map(|(s, _)| s).sum::<u64>(), SHARE_TOTAL);
        let mut rng = Rng::new(7);
        let nothing = Draw { sales: 0, holds: 0, completions: 0, wrong_pin_left: false };
        for _ in 0..2_000 {
            let op = draw(&mut rng, &nothing);
            assert!(
                !matches!(op, Op::Void | Op::Refund | Op::Completion | Op::PreAuthVoid | Op::CompletionVoid),
                "{op:?} without an original"
            );
            assert!(!matches!(op, Op::Sale { wrong_pin: true, .. }), "no mistyped PIN left");
        }
        let everything = Draw { sales: 3, holds: 3, completions: 3, wrong_pin_left: true };
        let names: std::collections::BTreeSet<&str> = (0..5_000).map(|_| draw(&mut rng, &everything).name()).collect();
        assert_eq!(names.len(), 12, "every kind of the day is drawn: {names:?}");
    }
}
