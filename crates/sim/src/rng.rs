//! The run's one source of randomness: SplitMix64 (Steele, Lea, Flood 2014), small, fast and
//! good enough to pick latencies and faults; not for keys outside a simulation. Every random
//! choice of a run — the network's faults, the workload, the HSM's bytes — comes from a [`Rng`]
//! derived from the seed, so a seed replays the run.

/// A seeded SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

/// One in a million: fault probabilities are integers of this unit (no floating point).
pub const PPM: u32 = 1_000_000;

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0), by the multiply-shift reduction.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `low..=high` (`low` when the range is empty).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low { low } else { low + self.below(high - low + 1) }
    }

    /// `true` with probability `ppm` in a million.
    pub fn chance(&mut self, ppm: u32) -> bool {
        self.below(u64::from(PPM)) < u64::from(ppm)
    }

    pub fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// An independent generator for one consumer (the network, the workload, the HSM), so that
    /// one consumer drawing more does not shift another's draws.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_sequence_and_another_seed_another() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // The published first output of SplitMix64 from seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn ranges_and_chances_stay_in_bounds() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let value = rng.between(10, 20);
            assert!((10..=20).contains(&value));
        }
        assert_eq!(rng.between(5, 5), 5);
        assert_eq!(rng.below(0), 0);
        assert!((0..1000).all(|_| !rng.chance(0)));
        assert!((0..1000).all(|_| rng.chance(PPM)));
        let hits = (0..100_000).filter(|_| rng.chance(PPM / 4)).count();
        assert!((23_000..27_000).contains(&hits), "{hits}");
        let mut bytes = [0u8; 13];
        rng.fill(&mut bytes);
        assert_ne!(bytes, [0u8; 13]);
    }
}
