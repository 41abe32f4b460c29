//! Where every random byte of the module (and of the issuer's card numbers and account ids)
//! comes from: the operating system's generator, unless the calling thread runs inside
//! [`with_source`] — the deterministic simulation (issue 15), which must replay a run byte for
//! byte from its seed, keys and card numbers included.
//!
//! The override is per thread and scoped: it cannot leak into another thread (a server's
//! workers never see it), and it is gone when `with_source` returns, even by a panic.
//!
//! The system's bytes are drawn [`POOL_BYTES`] at a time into a pool of the thread's and handed
//! out from it, each byte once, zeroed as it leaves: a party seals a record and makes a nonce
//! on every authorization, and one `getrandom` call per IV cost more than the sealing itself.
//! The pool is the kernel's output, not a generator of ours; cardnet never forks without an
//! `exec`, so no two processes share one.

use std::cell::RefCell;

use zeroize::Zeroize;

use crate::{Error, Result};

/// Bytes drawn from the system at once. A request of more than a quarter of it goes to the
/// system directly (keys and long random values are rare).
pub const POOL_BYTES: usize = 4_096;
const POOLED_REQUEST_BYTES_MAX: usize = POOL_BYTES / 4;

/// A source of random bytes a simulation installs on its one thread.
pub type Source = Box<dyn FnMut(&mut [u8])>;

thread_local! {
    static SOURCE: RefCell<Option<Source>> = const { RefCell::new(None) };
    static POOL: RefCell<Pool> = RefCell::new(Pool { bytes: Box::new([0; POOL_BYTES]), next: POOL_BYTES });
}

/// The system's bytes not handed out yet: `bytes[next..]` (those before are zero).
struct Pool {
    bytes: Box<[u8; POOL_BYTES]>,
    next: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

fn system(bytes: &mut [u8]) -> Result<()> {
    getrandom::fill(bytes).map_err(|_| Error::Unsupported("the system random generator failed"))
}

/// `bytes` from the thread's pool, refilled from the system when it runs short.
fn pooled(bytes: &mut [u8]) -> Result<()> {
    if bytes.len() > POOLED_REQUEST_BYTES_MAX {
        return system(bytes);
    }
    POOL.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else { return system(bytes) };
        if POOL_BYTES - pool.next < bytes.len() {
            if let Err(error) = system(&mut pool.bytes[..]) {
                // Whatever the failed call wrote is neither handed out nor kept.
                pool.bytes.zeroize();
                pool.next = POOL_BYTES;
                return Err(error);
            }
            pool.next = 0;
        }
        let (start, end) = (pool.next, pool.next + bytes.len());
        bytes.copy_from_slice(&pool.bytes[start..end]);
        pool.bytes[start..end].zeroize();
        pool.next = end;
        Ok(())
    })
}

/// Fill `bytes` with random bytes: the thread's [`with_source`] source when one is installed,
/// else the operating system's generator.
pub fn fill(bytes: &mut [u8]) -> Result<()> {
    let filled = SOURCE.with(|source| match source.try_borrow_mut() {
        Ok(mut source) => source.as_mut().map(|source| source(bytes)).is_some(),
        // Only a source that itself asks for entropy re-enters: use the system's.
        Err(_) => false,
    });
    if filled {
        return Ok(());
    }
    pooled(bytes)
}

/// Run `work` with every [`fill`] on this thread drawing from `source`; the previous source (if
/// any) is back afterwards. For simulations and tests only: the bytes are only as random as
/// `source` makes them.
pub fn with_source<T>(source: Source, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Source>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SOURCE.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let _restore = Restore(SOURCE.with(|slot| slot.borrow_mut().replace(source)));
    work()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> Source {
        let mut next = 0u8;
        Box::new(move |bytes: &mut [u8]| {
            for byte in bytes {
                *byte = next;
                next = next.wrapping_add(1);
            }
        })
    }

    #[test]
    fn a_source_is_used_inside_its_scope_only() {
        let inside = with_source(counter(), || {
            let mut bytes = [0u8; 4];
            fill(&mut bytes).unwrap();
            bytes
        });
        assert_eq!(inside, [0, 1, 2, 3]);
        // Outside: the system's generator (32 zero bytes from it are not a thing that happens).
        let mut outside = [0u8; 32];
        fill(&mut outside).unwrap();
        assert_ne!(outside, [0u8; 32]);
        assert_ne!(outside[..4], [4, 5, 6, 7]);
    }

    /// Over several refills of the pool: every value is new, and what was handed out is no
    /// longer in the pool.
    #[test]
    fn the_pool_hands_each_byte_out_once_and_keeps_no_copy() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 * POOL_BYTES / 16 {
            let mut iv = [0u8; 16];
            fill(&mut iv).unwrap();
            assert!(seen.insert(iv), "a 16-byte value came out twice");
            POOL.with(|pool| {
                let pool = pool.borrow();
                assert!(pool.next >= 16 && pool.bytes[..pool.next].iter().all(|&b| b == 0));
            });
        }
        // A long request goes to the system and leaves the pool as it was.
        let before = POOL.with(|pool| pool.borrow().next);
        let mut key = vec![0u8; POOLED_REQUEST_BYTES_MAX + 1];
        fill(&mut key).unwrap();
        assert!(key.iter().any(|&b| b != 0));
        assert_eq!(POOL.with(|pool| pool.borrow().next), before);
    }

    #[test]
    fn another_thread_never_sees_the_source() {
        with_source(counter(), || {
            let other = std::thread::spawn(|| {
                let mut bytes = [0u8; 32];
                fill(&mut bytes).unwrap();
                bytes
            })
            .join()
            .unwrap();
            assert_ne!(other, [0u8; 32]);
        });
    }
}
