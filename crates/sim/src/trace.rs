//! The trace digest: every delivered message's time, ends and bytes, in delivery order, hashed
//! (FNV-1a, 64 bits: comparing two runs, not resisting an adversary). Two runs of one seed
//! must give the same digest.

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

#[derive(Debug, Clone)]
pub struct Trace {
    digest: u64,
    /// Messages delivered so far.
    pub delivered: u64,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace { digest: FNV_OFFSET, delivered: 0 }
    }
}

impl Trace {
    fn absorb(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.digest ^= u64::from(byte);
            self.digest = self.digest.wrapping_mul(FNV_PRIME);
        }
    }

    /// One delivery: at `now_ms`, from node `from` to node `to`, `bytes` on the wire.
    pub fn delivered(&mut self, now_ms: u64, from: usize, to: usize, bytes: &[u8]) {
        self.absorb(&now_ms.to_be_bytes());
        self.absorb(&(from as u64).to_be_bytes());
        self.absorb(&(to as u64).to_be_bytes());
        self.absorb(&(bytes.len() as u64).to_be_bytes());
        self.absorb(bytes);
        self.delivered += 1;
    }

    pub fn digest(&self) -> u64 {
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_time_and_bytes_all_count() {
        let run = |steps: &[(u64, &[u8])]| {
            let mut trace = Trace::default();
            for (time, bytes) in steps {
                trace.delivered(*time, 0, 1, bytes);
            }
            trace.digest()
        };
        let a = run(&[(1, b"ab"), (2, b"c")]);
        assert_eq!(a, run(&[(1, b"ab"), (2, b"c")]));
        assert_ne!(a, run(&[(2, b"c"), (1, b"ab")]));
        assert_ne!(a, run(&[(1, b"ab"), (3, b"c")]));
        assert_ne!(a, run(&[(1, b"a"), (2, b"bc")]));
    }
}
