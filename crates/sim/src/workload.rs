//! A business day's work at the terminals, drawn from the workload's stream: sales read by
//! chip, tap or swipe with PINs (some voided, some refunded, some followed by a balance
//! inquiry), pre-authorizations (some voided, some completed, some completions voided), cards
//! that are declined (a mistyped PIN, no funds, expired, lost, blocked), a settlement with batch
//! upload halfway and again at the end of the day, then sign-off; and the crashes, power cuts
//! and partitions of the day.

use terminal::EntryMode;

use crate::driver::Sim;
use crate::pos::Op;
use crate::rng::{PPM, Rng};
use crate::run::{AMOUNT_MINOR_MAX, CRASHES_MAX, DOWN_MS_MAX, DOWN_MS_MIN, PARTITION_MS_MAX, PARTITION_MS_MIN};
use crate::run::{PARTITIONS_MAX, SimOptions};
use crate::world::CardProfile;

/// Mistyped PINs one card gets in a run at most: fewer than the issuer's tries (3, the
/// development configuration's `pin_tries_max`), so that each is answered 55 and none blocks
/// the card (75) for the rest of the day, whatever the order the network delivers them in.
pub const WRONG_PINS_PER_CARD_MAX: u32 = 2;

/// The terminal that reads card `card`: a chip's counter must rise at its issuer in the order
/// the chip counted, so each card is read at one terminal only.
pub fn owner(card: usize, terminals: usize) -> usize {
    card % terminals.max(1)
}

/// The cashiers' keyed-in work as the terminals will number it (a record's index is its place
/// in its terminal's queue: one time and increasing sequence numbers per terminal keep that
/// order).
struct Day<'a> {
    sim: &'a mut Sim,
    planned: Vec<usize>,
    at_ms: u64,
}

impl Day<'_> {
    fn plan(&mut self, terminal: usize, op: Op) -> usize {
        self.sim.plan(self.at_ms, terminal, op);
        let Some(count) = self.planned.get_mut(terminal) else { return 0 };
        *count += 1;
        *count - 1
    }
}

/// The cards of the run by what they are for: each terminal's good cards, and the cards set up
/// to be declined by profile.
struct Cards {
    good: Vec<Vec<usize>>,
    declining: Vec<(CardProfile, Vec<usize>)>,
    wrong_pins: Vec<u32>,
}

impl Cards {
    fn new(profiles: &[CardProfile], terminals: usize) -> Cards {
        let mut good = vec![Vec::new(); terminals];
        for (card, _) in profiles.iter().enumerate().filter(|(_, p)| **p == CardProfile::Good) {
            if let Some(own) = good.get_mut(owner(card, terminals)) {
                own.push(card);
            }
        }
        let declining = CardProfile::DECLINING
            .iter()
            .map(|&profile| (profile, (0..profiles.len()).filter(|&c| profiles.get(c) == Some(&profile)).collect()))
            .collect();
        Cards { good, declining, wrong_pins: vec![0; profiles.len()] }
    }
}

/// Plan the day: `options.purchases` steps over `span_ms`, then the end of the day once the
/// links have healed, and the faults.
pub fn plan(sim: &mut Sim, options: &SimOptions, workload: &mut Rng, span_ms: u64, profiles: &[CardProfile]) {
    let terminals = options.terminals.max(1);
    let mut cards = Cards::new(profiles, terminals);
    let mut day = Day { sim, planned: vec![0usize; terminals], at_ms: 0 };
    for step in 0..options.purchases {
        day.at_ms += workload.between(0, options.purchase_gap_ms_max);
        if step == options.purchases / 2 {
            // Halfway, every terminal settles too, in the middle of the faults.
            for terminal in 0..terminals {
                day.plan(terminal, Op::Settle);
            }
        }
        if workload.chance(options.decline_ppm) {
            plan_decline(&mut day, options, workload, &mut cards);
            continue;
        }
        let terminal = workload.below(terminals as u64) as usize;
        let Some(own) = cards.good.get(terminal).filter(|own| !own.is_empty()) else { continue };
        let card = own.get(workload.below(own.len() as u64) as usize).copied().unwrap_or(0);
        let entry = entry(options, workload);
        let amount_minor = workload.between(1, AMOUNT_MINOR_MAX);
        if workload.chance(options.preauth_ppm) {
            plan_preauth(&mut day, options, workload, terminal, Op::PreAuth { card, amount_minor, entry });
        } else {
            plan_sale(
                &mut day,
                options,
                workload,
                terminal,
                Op::Purchase { card, amount_minor, entry, wrong_pin: false },
            );
        }
        if workload.chance(options.balance_ppm) {
            day.plan(terminal, Op::Balance { card });
        }
    }
    // The end of the day once the links have healed (after each terminal's keyed-in work): each
    // terminal settles its batch again, then signs off.
    day.at_ms = span_ms + options.terminal_timeout_ms;
    for terminal in 0..terminals {
        day.plan(terminal, Op::Settle);
        day.plan(terminal, Op::SignOff);
    }
    plan_faults(day.sim, options, workload, span_ms);
}

/// How the card is read: swiped (`swipe_ppm`), else inserted or tapped, half each.
fn entry(options: &SimOptions, workload: &mut Rng) -> EntryMode {
    if workload.chance(options.swipe_ppm) {
        EntryMode::Swipe
    } else if workload.chance(PPM / 2) {
        EntryMode::Chip
    } else {
        EntryMode::Contactless
    }
}

/// A sale, then perhaps its void (`void_ppm`) or else a refund of part or all of it
/// (`refund_ppm`).
fn plan_sale(day: &mut Day<'_>, options: &SimOptions, workload: &mut Rng, terminal: usize, sale: Op) {
    let record = day.plan(terminal, sale);
    let Op::Purchase { amount_minor, .. } = sale else { return };
    if workload.chance(options.void_ppm) {
        day.plan(terminal, Op::Void { record });
    } else if workload.chance(options.refund_ppm) {
        let refund = workload.between(1, amount_minor);
        day.plan(terminal, Op::Refund { record, amount_minor: refund });
    }
}

/// A pre-authorization, then its completion for part or all of it (`completion_ppm`, the
/// completion perhaps voided: `completion_void_ppm`), or else perhaps its void
/// (`preauth_void_ppm`); what is neither stays held.
fn plan_preauth(day: &mut Day<'_>, options: &SimOptions, workload: &mut Rng, terminal: usize, preauth: Op) {
    let record = day.plan(terminal, preauth);
    let Op::PreAuth { amount_minor, .. } = preauth else { return };
    if workload.chance(options.completion_ppm) {
        let completed = workload.between(1, amount_minor);
        let completion = day.plan(terminal, Op::Completion { record, amount_minor: completed });
        if workload.chance(options.completion_void_ppm) {
            day.plan(terminal, Op::CompletionVoid { record: completion });
        }
    } else if workload.chance(options.preauth_void_ppm) {
        day.plan(terminal, Op::PreAuthVoid { record });
    }
}

/// A sale the issuer must decline: a good card with a mistyped PIN (55; at most
/// [`WRONG_PINS_PER_CARD_MAX`] per card), or a card set up to be declined (51, 54, 41, 62),
/// read at its terminal.
fn plan_decline(day: &mut Day<'_>, options: &SimOptions, workload: &mut Rng, cards: &mut Cards) {
    let terminals = options.terminals.max(1);
    let pick = workload.below(cards.declining.len() as u64 + 1) as usize;
    let entry = entry(options, workload);
    let amount_minor = workload.between(1, AMOUNT_MINOR_MAX);
    let (card, wrong_pin) = match pick.checked_sub(1) {
        None => {
            let terminal = workload.below(terminals as u64) as usize;
            let Some(own) = cards.good.get(terminal).filter(|own| !own.is_empty()) else { return };
            let card = own.get(workload.below(own.len() as u64) as usize).copied().unwrap_or(0);
            let Some(typed) = cards.wrong_pins.get_mut(card).filter(|typed| **typed < WRONG_PINS_PER_CARD_MAX) else {
                return;
            };
            *typed += 1;
            (card, true)
        }
        Some(profile) => {
            let Some((_, of_profile)) = cards.declining.get(profile).filter(|(_, c)| !c.is_empty()) else { return };
            (of_profile.get(workload.below(of_profile.len() as u64) as usize).copied().unwrap_or(0), false)
        }
    };
    day.plan(owner(card, terminals), Op::Purchase { card, amount_minor, entry, wrong_pin });
}

/// The crashes, power cuts, partitions and connection cuts, each at a seeded time of the day's
/// span.
fn plan_faults(sim: &mut Sim, options: &SimOptions, workload: &mut Rng, span_ms: u64) {
    let nodes = sim.all_nodes();
    for _ in 0..options.crashes.min(CRASHES_MAX) {
        let node = nodes.start + workload.below((nodes.end - nodes.start) as u64) as usize;
        let at_ms = workload.below(span_ms.max(1));
        sim.plan_crash(at_ms, node, workload.between(DOWN_MS_MIN, DOWN_MS_MAX));
    }
    let parties = sim.party_nodes();
    for _ in 0..options.power_cuts.min(CRASHES_MAX) {
        let node = parties.start + workload.below((parties.end - parties.start) as u64) as usize;
        let at_ms = workload.below(span_ms.max(1));
        sim.plan_power_cut(at_ms, node, workload.between(DOWN_MS_MIN, DOWN_MS_MAX));
    }
    let pairs = sim.route_pairs();
    for _ in 0..options.partitions.min(PARTITIONS_MAX) {
        let Some(&(a, b)) = pairs.get(workload.below(pairs.len() as u64) as usize) else { break };
        let at_ms = workload.below(span_ms.max(1));
        sim.plan_partition(a, b, at_ms, workload.between(PARTITION_MS_MIN, PARTITION_MS_MAX));
    }
    // Drawn after the others, so a run without connection cuts draws what it drew before.
    for _ in 0..options.connection_cuts.min(PARTITIONS_MAX) {
        let Some(&(a, b)) = pairs.get(workload.below(pairs.len() as u64) as usize) else { break };
        sim.plan_connection_cut(a, b, workload.below(span_ms.max(1)));
    }
}
