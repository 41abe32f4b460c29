//! Dropping a blocking client away from async code.
//!
//! The synchronous `postgres::Client` drives its connection with a private tokio runtime, and
//! its `Drop` blocks on it: dropped on a tokio worker thread (a party shutting down inside
//! `async` code) that panics with "Cannot start a runtime from within a runtime". Parties
//! call their stores on the blocking pool, but the last handle to a store may be dropped
//! anywhere, so the client is dropped on a thread of its own.

use std::ops::{Deref, DerefMut};

/// Owns a `T` and drops it on a fresh thread (joined, so the drop has finished when this
/// returns).
pub struct DropOffThread<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> DropOffThread<T> {
    pub fn new(value: T) -> DropOffThread<T> {
        DropOffThread(Some(value))
    }
}

impl<T: Send + 'static> Deref for DropOffThread<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // Some from construction until drop.
        match &self.0 {
            Some(value) => value,
            None => unreachable!("DropOffThread is only emptied by its Drop"),
        }
    }
}

impl<T: Send + 'static> DerefMut for DropOffThread<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            Some(value) => value,
            None => unreachable!("DropOffThread is only emptied by its Drop"),
        }
    }
}

impl<T: Send + 'static> Drop for DropOffThread<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            // If no thread can be started the value is dropped here, as it would have been.
            if let Ok(handle) = std::thread::Builder::new().name("drop-client".into()).spawn(move || drop(value)) {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DropOffThread;

    #[test]
    fn drops_on_another_thread() {
        struct Probe(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for Probe {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
            }
        }
        let (send, receive) = std::sync::mpsc::channel();
        drop(DropOffThread::new(Probe(send)));
        let dropped_on = receive.recv().unwrap();
        assert_ne!(dropped_on, std::thread::current().id());
    }
}
