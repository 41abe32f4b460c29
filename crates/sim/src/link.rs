//! A simulated link between two nodes: every message takes a latency drawn from a range, may be
//! lost, may arrive twice. By default one direction of a link keeps its order (one TCP
//! connection: a message never arrives before one sent earlier); with `reorder` a later message
//! may overtake an earlier one (several connections, a reconnect racing the old one).

use crate::rng::{PPM, Rng};

/// The faults of one link, both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    pub latency_ms_min: u64,
    pub latency_ms_max: u64,
    /// Messages lost, in a million.
    pub loss_ppm: u32,
    /// Messages delivered twice, in a million (the copy with its own latency).
    pub duplicate_ppm: u32,
    /// Whether a message may arrive before one sent earlier in the same direction.
    pub reorder: bool,
}

impl LinkConfig {
    /// A link that loses and duplicates nothing, 1–20 ms.
    pub const CLEAN: LinkConfig =
        LinkConfig { latency_ms_min: 1, latency_ms_max: 20, loss_ppm: 0, duplicate_ppm: 0, reorder: false };

    /// Probabilities above one are one.
    pub fn checked(self) -> LinkConfig {
        LinkConfig {
            latency_ms_max: self.latency_ms_max.max(self.latency_ms_min),
            loss_ppm: self.loss_ppm.min(PPM),
            duplicate_ppm: self.duplicate_ppm.min(PPM),
            ..self
        }
    }

    /// When the copies of one message sent now arrive, after how many ms each (empty: lost).
    pub fn fate(&self, rng: &mut Rng) -> Vec<u64> {
        let mut arrivals = Vec::with_capacity(2);
        if !rng.chance(self.loss_ppm) {
            arrivals.push(rng.between(self.latency_ms_min, self.latency_ms_max));
        }
        if rng.chance(self.duplicate_ppm) {
            arrivals.push(rng.between(self.latency_ms_min, self.latency_ms_max));
        }
        arrivals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_link_delivers_once_within_its_latency() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let fate = LinkConfig::CLEAN.fate(&mut rng);
            assert_eq!(fate.len(), 1);
            assert!((1..=20).contains(&fate[0]));
        }
    }

    #[test]
    fn a_lossy_link_loses_and_a_duplicating_one_repeats() {
        let mut rng = Rng::new(4);
        let lossy = LinkConfig { loss_ppm: PPM, ..LinkConfig::CLEAN };
        assert!((0..100).all(|_| lossy.fate(&mut rng).is_empty()));
        let twice = LinkConfig { duplicate_ppm: PPM, ..LinkConfig::CLEAN };
        assert!((0..100).all(|_| twice.fate(&mut rng).len() == 2));
        let odd = LinkConfig { latency_ms_min: 9, latency_ms_max: 2, loss_ppm: 5 * PPM, ..LinkConfig::CLEAN }.checked();
        assert_eq!((odd.latency_ms_max, odd.loss_ppm), (9, PPM));
    }
}
