//! Connections per peer IP address, so that one address cannot take every connection slot (the
//! global bound alone let 1,024 idle connections from anyone lock every terminal out). A slot
//! is held for as long as its connection is served and given back when dropped. The map holds
//! only addresses with a live connection, so it is bounded by `connections_max`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct PeerSlots {
    per_peer_max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its peer's count; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct PeerSlot {
    slots: Arc<PeerSlots>,
    ip: IpAddr,
}

impl PeerSlots {
    pub fn new(per_peer_max: usize) -> Arc<PeerSlots> {
        Arc::new(PeerSlots { per_peer_max, open: Mutex::new(HashMap::new()) })
    }

    /// A slot for `ip`, or `None` when it already has `per_peer_max` connections.
    pub fn take(self: &Arc<PeerSlots>, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.per_peer_max {
            return None;
        }
        *count += 1;
        Some(PeerSlot { slots: Arc::clone(self), ip })
    }

    /// Connections open from `ip`.
    #[cfg(test)]
    pub fn open(&self, ip: IpAddr) -> usize {
        self.lock().get(&ip).copied().unwrap_or(0)
    }

    /// The counts stay consistent even if a holder panicked: every update is one statement.
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_share_and_slots_come_back() {
        let slots = PeerSlots::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert!(slots.take(a).is_none(), "a third from one peer is refused");
        let _other = slots.take(b).expect("another peer has its own share");
        drop(first);
        assert_eq!(slots.open(a), 1);
        assert!(slots.take(a).is_some());
    }
}
