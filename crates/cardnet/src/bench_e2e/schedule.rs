//! The open-loop schedule: purchase k is due at `start + k / rate`, whether or not earlier ones
//! were answered, and goes to terminal k mod N (shoppers do not wait for a free till in another
//! shop). A terminal has one request outstanding, so a due purchase waits in its terminal's
//! queue; its latency counts from when it was due, which is what keeps coordinated omission
//! out of the figures. The timer wakes about once a millisecond and hands out every purchase
//! due by then, each with its own due time.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::terminals::{Read, Scheduled};

/// Purchases waiting in one terminal's queue; a purchase due when its terminal's queue is full
/// is not sent and counts as unanswered.
pub const TERMINAL_QUEUE_MAX: usize = 1_024;
/// Amounts are drawn from 1.00 to 99.99.
const AMOUNT_MINOR_MIN: u64 = 100;
const AMOUNT_MINOR_SPAN: u64 = 9_900;

/// The mix of card reads, in percent of purchases; the rest are swiped.
#[derive(Clone, Copy)]
pub struct Mix {
    pub chip_percent: u8,
    pub tap_percent: u8,
}

/// What the schedule handed out.
#[derive(Default)]
pub struct Handed {
    /// Purchases due at or after `window_start` that were queued.
    pub queued_in_window: u64,
    /// Purchases due at or after `window_start` that found their terminal's queue full.
    pub refused_in_window: u64,
    /// All purchases handed out, warm-up included.
    pub queued: u64,
}

/// xorshift64*: cheap and deterministic, so a seed reproduces a run's mix and amounts.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

/// Hand out purchases at `rate_per_s` from `start` until `end` to `queues` (round robin), then
/// close the queues.
pub async fn drive(
    queues: Vec<mpsc::Sender<Scheduled>>,
    rate_per_s: f64,
    start: Instant,
    window_start: Instant,
    end: Instant,
    mix: Mix,
    seed: u64,
) -> Handed {
    let mut handed = Handed::default();
    let mut rng = Rng(seed.max(1));
    let interval_ns = 1e9 / rate_per_s;
    let terminals = queues.len().max(1) as u64;
    for k in 0u64.. {
        let due = start + Duration::from_nanos((k as f64 * interval_ns) as u64);
        if due >= end {
            break;
        }
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let roll = rng.below(100);
        let read = if roll < u64::from(mix.chip_percent) {
            Read::Chip
        } else if roll < u64::from(mix.chip_percent) + u64::from(mix.tap_percent) {
            Read::Tap
        } else {
            Read::Swipe
        };
        let amount_minor = AMOUNT_MINOR_MIN + rng.below(AMOUNT_MINOR_SPAN);
        let Some(queue) = queues.get((k % terminals) as usize) else { break };
        let queued = queue.try_send(Scheduled { due, read, amount_minor }).is_ok();
        handed.queued += u64::from(queued);
        if due >= window_start {
            if queued {
                handed.queued_in_window += 1;
            } else {
                handed.refused_in_window += 1;
            }
        }
    }
    handed
}
