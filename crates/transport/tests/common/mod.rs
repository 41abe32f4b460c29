//! What the transport's test files share: the network spec, a purchase request, a handler that
//! approves everything, and a log capture.

// Each test file uses part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use iso8583::{Envelope, Message, Mti, Spec};
use transport::Handler;

pub fn spec() -> Arc<Spec> {
    iso8583::builtin::network()
}

/// A 0200 purchase with STAN `stan`.
pub fn purchase(stan: u32) -> Message {
    let mut m = Message::new(spec(), Mti::parse("0200").unwrap());
    m.set_str(3, "000000").unwrap();
    m.set_str(4, "000000001000").unwrap();
    m.set_str(7, "1121231500").unwrap();
    m.set_str(11, &format!("{stan:06}")).unwrap();
    m.set_str(32, "123456").unwrap();
    m.set_str(41, "TERM0001").unwrap();
    m
}

/// Answers every request 00.
#[derive(Clone)]
pub struct Approve;

impl Handler for Approve {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let mut response = message.response(&[3, 4, 7, 11, 32, 41]).ok()?;
        response.set_str(39, "00").ok()?;
        Some((envelope.response(), response))
    }
}

/// Collects everything a subscriber writes.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Install as this thread's subscriber at INFO (the tests' runtimes are single-threaded).
    /// Tracing caches whether a log site is enabled across threads, so every test in a file that
    /// reads logs installs one: a thread without a subscriber could have a site cached as off.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}
