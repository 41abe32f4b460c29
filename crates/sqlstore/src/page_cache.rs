//! SQLite's default page cache behind a thin wrapper that skips truncations which cannot drop
//! anything.
//!
//! Why: SQLite spent 4–7 % of each party's CPU in `pcache1TruncateUnsafe`. When `balance_nonroot`
//! (btree.c) puts the pages of a split in ascending order it swaps two page numbers through a
//! temporary one, the lock-byte page `PENDING_BYTE / page size + 1` (262,145 with 4 KiB pages).
//! The default cache (pcache1) then remembers 262,145 as its largest key, and the commit's
//! `sqlite3PcacheTruncate(dbSize)` — which asks the cache to drop every page at or past
//! `dbSize + 1` — sees a range wider than its hash table and walks every bucket of it (tens of
//! thousands with a 64 MiB cache), although no page lies past the end. pcache1 lowers its
//! largest key after that walk, but random-key indexes split pages all the time, so the walk
//! came back on nearly every commit.
//!
//! The wrapper delegates every method to SQLite's default cache and keeps, per cache, a bound on
//! the keys the cache may hold ([`Bounds`]); a truncation the bound proves empty is not passed
//! on. The bound only rises on a fetch or a rekey and only falls on a truncation that was
//! passed on, so it is never below a key the inner cache holds: skipping is exactly what the
//! inner cache would have done, minus the walk.
//!
//! Installed process-wide by [`install`], which must run before SQLite initializes (SQLite
//! accepts a page cache only then): every place this crate (and the ledger's SQLite store)
//! opens a SQLite connection calls it first. If something else initialized SQLite earlier,
//! SQLite refuses and the default cache stays — slower, never wrong ([`installed`] says which).
//! `sqlite3_config` is not thread-safe: a process that opens SQLite outside this crate on other
//! threads should call [`install`] before it starts them.
//!
//! All of this crate's `unsafe` is in this file. The callbacks do pointer passing and integer
//! arithmetic only, so nothing in them can panic across the FFI boundary (xCreate's one
//! allocation aborts the process if memory runs out, as any Rust allocation does; it does not
//! unwind).

use std::cell::Cell;
use std::ffi::{c_int, c_uint, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use rusqlite::ffi::{self, sqlite3_pcache, sqlite3_pcache_methods2, sqlite3_pcache_page};

/// Truncations this process's page caches skipped (nothing to drop) and passed on to SQLite's
/// default cache, since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Truncations {
    pub skipped: u64,
    pub delegated: u64,
}

/// Whether the wrapper is SQLite's page cache in this process.
static INSTALLED: AtomicBool = AtomicBool::new(false);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static DELEGATED: AtomicU64 = AtomicU64::new(0);
/// SQLite's default page cache, set once before the wrapper is handed to SQLite.
static INNER: OnceLock<Inner> = OnceLock::new();

/// Make the wrapper SQLite's page cache, once per process; later calls only report. Returns
/// whether it is installed: `false` when SQLite was initialized before the first call (then
/// the default cache runs as it is).
pub fn install() -> bool {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| INSTALLED.store(configure(), Ordering::Release));
    installed()
}

/// Whether [`install`] made the wrapper SQLite's page cache.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

/// The counts so far, for tests and diagnostics.
pub fn truncations() -> Truncations {
    Truncations { skipped: SKIPPED.load(Ordering::Relaxed), delegated: DELEGATED.load(Ordering::Relaxed) }
}

/// An upper bound of the keys of the pages one cache may hold. Invariant: every page in the
/// inner cache has a key `<= max_key` or equal to `parked`.
///
/// `parked` exists for the page-number swap of `balance_nonroot`: a page moved to the far
/// temporary key is parked there without raising `max_key`, and leaves it two rekeys later, so
/// the commit's truncation can still be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    max_key: u32,
    /// A key above `max_key` that a page was rekeyed to and may still hold.
    parked: Option<u32>,
}

impl Bounds {
    /// A new cache holds nothing.
    const EMPTY: Bounds = Bounds { max_key: 0, parked: None };

    /// The inner cache returned a page under `key`.
    fn fetched(self, key: u32) -> Bounds {
        if self.parked == Some(key) { self } else { Bounds { max_key: self.max_key.max(key), ..self } }
    }

    /// The inner cache moved the page at `old` to `new`.
    fn rekeyed(self, old: u32, new: u32) -> Bounds {
        // Keys are unique in a cache: once the page at the parked key leaves it, no page is there.
        let parked = if self.parked == Some(old) { None } else { self.parked };
        if new <= self.max_key || parked == Some(new) {
            Bounds { max_key: self.max_key, parked }
        } else if parked.is_none() {
            Bounds { max_key: self.max_key, parked: Some(new) }
        } else {
            // A second page above the bound: stop being clever, raise the bound.
            Bounds { max_key: new, parked }
        }
    }

    /// Whether the cache may hold a page with a key `>= limit`.
    fn may_hold_from(self, limit: u32) -> bool {
        self.max_key >= limit || self.parked.is_some_and(|key| key >= limit)
    }

    /// The inner cache dropped every page with a key `>= limit`.
    fn truncated(self, limit: u32) -> Bounds {
        Bounds { max_key: self.max_key.min(limit.saturating_sub(1)), parked: self.parked.filter(|&key| key < limit) }
    }
}

/// SQLite's default page cache methods, checked present.
struct Inner {
    init: unsafe extern "C" fn(*mut c_void) -> c_int,
    shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
    create: unsafe extern "C" fn(c_int, c_int, c_int) -> *mut sqlite3_pcache,
    cachesize: unsafe extern "C" fn(*mut sqlite3_pcache, c_int),
    pagecount: unsafe extern "C" fn(*mut sqlite3_pcache) -> c_int,
    fetch: unsafe extern "C" fn(*mut sqlite3_pcache, c_uint, c_int) -> *mut sqlite3_pcache_page,
    unpin: unsafe extern "C" fn(*mut sqlite3_pcache, *mut sqlite3_pcache_page, c_int),
    rekey: unsafe extern "C" fn(*mut sqlite3_pcache, *mut sqlite3_pcache_page, c_uint, c_uint),
    truncate: unsafe extern "C" fn(*mut sqlite3_pcache, c_uint),
    destroy: unsafe extern "C" fn(*mut sqlite3_pcache),
    shrink: unsafe extern "C" fn(*mut sqlite3_pcache),
}

impl Inner {
    /// `None` if a method the wrapper delegates to is missing (`xShutdown` may be).
    fn from_methods(methods: &sqlite3_pcache_methods2) -> Option<Inner> {
        Some(Inner {
            init: methods.xInit?,
            shutdown: methods.xShutdown,
            create: methods.xCreate?,
            cachesize: methods.xCachesize?,
            pagecount: methods.xPagecount?,
            fetch: methods.xFetch?,
            unpin: methods.xUnpin?,
            rekey: methods.xRekey?,
            truncate: methods.xTruncate?,
            destroy: methods.xDestroy?,
            shrink: methods.xShrink?,
        })
    }
}

/// One cache: what `xCreate` hands SQLite instead of the inner cache.
struct Cache {
    inner: *mut sqlite3_pcache,
    methods: &'static Inner,
    /// A `Cell`: SQLite calls one cache's methods one at a time (its pager's connection is used
    /// by one thread at a time), and the wrapper never holds more than a shared reference.
    bounds: Cell<Bounds>,
}

const NO_METHODS: sqlite3_pcache_methods2 = sqlite3_pcache_methods2 {
    iVersion: 0,
    pArg: ptr::null_mut(),
    xInit: None,
    xShutdown: None,
    xCreate: None,
    xCachesize: None,
    xPagecount: None,
    xFetch: None,
    xUnpin: None,
    xRekey: None,
    xTruncate: None,
    xDestroy: None,
    xShrink: None,
};

/// Read the default methods and hand SQLite the wrapper; `false` if SQLite refused either.
fn configure() -> bool {
    let mut default = NO_METHODS;
    // SAFETY: SQLITE_CONFIG_GETPCACHE2 takes one `sqlite3_pcache_methods2*`, which SQLite fills
    // in; `default` outlives the call. `sqlite3_config` is not thread-safe: it runs once per
    // process (`install`'s `Once`), before this crate — or the ledger — opens a connection, so no
    // other thread of ours is in SQLite (see the module comment); if SQLite is initialized
    // already it answers SQLITE_MISUSE and changes nothing.
    let rc =
        unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, &mut default as *mut sqlite3_pcache_methods2) };
    if rc != ffi::SQLITE_OK {
        return false;
    }
    let Some(inner) = Inner::from_methods(&default) else { return false };
    if INNER.set(inner).is_err() {
        return false;
    }
    let wrapper = sqlite3_pcache_methods2 {
        iVersion: default.iVersion,
        // Given only to xInit and xShutdown, which pass it on to the default's.
        pArg: default.pArg,
        xInit: Some(wrapper_init),
        xShutdown: Some(wrapper_shutdown),
        xCreate: Some(wrapper_create),
        xCachesize: Some(wrapper_cachesize),
        xPagecount: Some(wrapper_pagecount),
        xFetch: Some(wrapper_fetch),
        xUnpin: Some(wrapper_unpin),
        xRekey: Some(wrapper_rekey),
        xTruncate: Some(wrapper_truncate),
        xDestroy: Some(wrapper_destroy),
        xShrink: Some(wrapper_shrink),
    };
    // SAFETY: SQLITE_CONFIG_PCACHE2 takes one `const sqlite3_pcache_methods2*` and copies the
    // struct before returning, so a local is enough. Every method in it reaches the default
    // methods through INNER, set above.
    let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &wrapper as *const sqlite3_pcache_methods2) };
    rc == ffi::SQLITE_OK
}

/// The wrapper's cache behind a handle SQLite passes back.
///
/// # Safety
/// `pcache` must come from [`wrapper_create`] and not have been given to [`wrapper_destroy`].
unsafe fn cache<'a>(pcache: *mut sqlite3_pcache) -> &'a Cache {
    // SAFETY: by the contract above `pcache` is a live `Box<Cache>` turned into a raw pointer;
    // only shared references to it are ever made until `wrapper_destroy` takes it back.
    unsafe { &*pcache.cast::<Cache>() }
}

unsafe extern "C" fn wrapper_init(arg: *mut c_void) -> c_int {
    match INNER.get() {
        // SAFETY: SQLite calls xInit with the `pArg` it was configured with, the default's.
        Some(inner) => unsafe { (inner.init)(arg) },
        None => ffi::SQLITE_ERROR,
    }
}

unsafe extern "C" fn wrapper_shutdown(arg: *mut c_void) {
    if let Some(shutdown) = INNER.get().and_then(|inner| inner.shutdown) {
        // SAFETY: as `wrapper_init`: the default's own `pArg`, after its xInit.
        unsafe { shutdown(arg) }
    }
}

unsafe extern "C" fn wrapper_create(page_size: c_int, extra_size: c_int, purgeable: c_int) -> *mut sqlite3_pcache {
    let Some(methods) = INNER.get() else { return ptr::null_mut() };
    // SAFETY: the arguments are SQLite's own for the default cache's xCreate, after xInit.
    let inner = unsafe { (methods.create)(page_size, extra_size, purgeable) };
    if inner.is_null() {
        return ptr::null_mut();
    }
    let cache = Cache { inner, methods, bounds: Cell::new(Bounds::EMPTY) };
    Box::into_raw(Box::new(cache)).cast::<sqlite3_pcache>()
}

// In every method below: SQLite passes back a handle from xCreate that xDestroy has not taken
// (`cache`'s contract), and the inner handle in it is the default cache's own, live as long as
// ours; the other arguments are SQLite's, passed on unchanged to the default's method for them.

unsafe extern "C" fn wrapper_cachesize(pcache: *mut sqlite3_pcache, pages: c_int) {
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    // SAFETY: the default's method on its own live handle (see above).
    unsafe { (cache.methods.cachesize)(cache.inner, pages) }
}

unsafe extern "C" fn wrapper_pagecount(pcache: *mut sqlite3_pcache) -> c_int {
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    // SAFETY: the default's method on its own live handle (see above).
    unsafe { (cache.methods.pagecount)(cache.inner) }
}

unsafe extern "C" fn wrapper_fetch(
    pcache: *mut sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut sqlite3_pcache_page {
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    // SAFETY: the default's method on its own live handle (see above).
    let page = unsafe { (cache.methods.fetch)(cache.inner, key, create) };
    if !page.is_null() {
        cache.bounds.set(cache.bounds.get().fetched(key));
    }
    page
}

unsafe extern "C" fn wrapper_unpin(pcache: *mut sqlite3_pcache, page: *mut sqlite3_pcache_page, discard: c_int) {
    // A discarded page only lowers what the cache holds: the bound stays an upper bound.
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    // SAFETY: the default's method on its own live handle (see above); `page` came from its xFetch.
    unsafe { (cache.methods.unpin)(cache.inner, page, discard) }
}

unsafe extern "C" fn wrapper_rekey(
    pcache: *mut sqlite3_pcache,
    page: *mut sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    // SAFETY: the default's method on its own live handle (see above); `page` came from its xFetch.
    unsafe { (cache.methods.rekey)(cache.inner, page, old, new) };
    cache.bounds.set(cache.bounds.get().rekeyed(old, new));
}

unsafe extern "C" fn wrapper_truncate(pcache: *mut sqlite3_pcache, limit: c_uint) {
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    let bounds = cache.bounds.get();
    if !bounds.may_hold_from(limit) {
        // The inner cache holds no page at or past `limit`: its truncation would drop nothing.
        SKIPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    DELEGATED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the default's method on its own live handle (see above).
    unsafe { (cache.methods.truncate)(cache.inner, limit) };
    cache.bounds.set(bounds.truncated(limit));
}

unsafe extern "C" fn wrapper_destroy(pcache: *mut sqlite3_pcache) {
    // SAFETY: SQLite destroys a cache once, after its last use: the box from `wrapper_create` is
    // taken back here and no reference to it remains.
    let cache = unsafe { Box::from_raw(pcache.cast::<Cache>()) };
    // SAFETY: the inner handle is the default cache's and is destroyed once, here, before ours.
    unsafe { (cache.methods.destroy)(cache.inner) };
}

unsafe extern "C" fn wrapper_shrink(pcache: *mut sqlite3_pcache) {
    // Shrinking frees unpinned pages only: the bound stays an upper bound.
    // SAFETY: a live handle of ours (see above).
    let cache = unsafe { cache(pcache) };
    // SAFETY: the default's method on its own live handle (see above).
    unsafe { (cache.methods.shrink)(cache.inner) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::Bounds;

    /// The key `balance_nonroot` swaps through with 4 KiB pages.
    const LOCK_BYTE_PAGE: u32 = 262_145;

    #[test]
    fn the_split_swap_through_the_lock_byte_page_leaves_the_commit_nothing_to_walk() {
        let mut bounds = Bounds::EMPTY;
        for key in 1..=40 {
            bounds = bounds.fetched(key);
        }
        bounds = bounds.rekeyed(30, LOCK_BYTE_PAGE);
        assert_eq!(bounds.parked, Some(LOCK_BYTE_PAGE));
        bounds = bounds.rekeyed(10, 30).rekeyed(LOCK_BYTE_PAGE, 10);
        assert_eq!(bounds, Bounds { max_key: 40, parked: None });
        assert!(!bounds.may_hold_from(41));
        assert!(bounds.may_hold_from(40));
    }

    /// A small deterministic generator (xorshift), so a failure repeats.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: u32) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % u64::from(n)) as u32
        }
    }

    /// What a cache can do to its keys, played on a model set of keys (the inner cache) — fetch,
    /// evict, discard, move (dropping a page already at the target first, as SQLite's
    /// `sqlite3PcacheMove` does), truncate — with the bounds checked after every step.
    #[test]
    fn the_bound_covers_every_key_the_cache_holds_whatever_it_does() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let mut held = BTreeSet::new();
            let mut bounds = Bounds::EMPTY;
            for _ in 0..500 {
                // Mostly small keys, sometimes one of two far ones (two parked pages at once).
                let key = match random.below(10) {
                    0 => LOCK_BYTE_PAGE,
                    1 => LOCK_BYTE_PAGE + 1,
                    _ => 1 + random.below(60),
                };
                let any_held = |random: &mut Random, held: &BTreeSet<u32>| {
                    held.iter().copied().nth(random.below(held.len().max(1) as u32) as usize)
                };
                match random.below(5) {
                    0 => {
                        held.insert(key);
                        bounds = bounds.fetched(key);
                    }
                    1 => {
                        if let Some(old) = any_held(&mut random, &held) {
                            held.remove(&old);
                        }
                    }
                    2 => {
                        if let Some(old) = any_held(&mut random, &held).filter(|&old| old != key) {
                            if held.contains(&key) {
                                bounds = bounds.fetched(key);
                                held.remove(&key);
                            }
                            held.remove(&old);
                            held.insert(key);
                            bounds = bounds.rekeyed(old, key);
                        }
                    }
                    3 => {
                        if held.contains(&key) {
                            bounds = bounds.fetched(key);
                        }
                    }
                    _ => {
                        let limit = random.below(70);
                        if bounds.may_hold_from(limit) {
                            held.retain(|&held| held < limit);
                            bounds = bounds.truncated(limit);
                        } else {
                            assert!(held.iter().all(|&held| held < limit), "skipped a truncation that drops pages");
                        }
                    }
                }
                for &held in &held {
                    assert!(held <= bounds.max_key || Some(held) == bounds.parked, "{held} outside {bounds:?}");
                }
            }
        }
    }
}
