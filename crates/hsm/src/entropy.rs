//! Where every random byte of the module (and of the issuer's card numbers and account ids)
//! comes from: the operating system's generator, unless the calling thread runs inside
//! [`with_source`] — the deterministic simulation (issue 15), which must replay a run byte for
//! byte from its seed, keys and card numbers included.
//!
//! The override is per thread and scoped: it cannot leak into another thread (a server's
//! workers never see it), and it is gone when `with_source` returns, even by a panic.

use std::cell::RefCell;

use crate::{Error, Result};

/// A source of random bytes a simulation installs on its one thread.
pub type Source = Box<dyn FnMut(&mut [u8])>;

thread_local! {
    static SOURCE: RefCell<Option<Source>> = const { RefCell::new(None) };
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
    getrandom::fill(bytes).map_err(|_| Error::Unsupported("the system random generator failed"))
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
