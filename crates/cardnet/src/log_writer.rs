//! A party's log lines gathered in memory and written to standard error in bulk.
//!
//! A running party logs a line per message it handles. Written where it is made, each line is a
//! `write` system call on the thread that decided or carried the message — the core thread or a
//! runtime worker — four per authorization across the parties. Here a line is formatted where it
//! is made and appended to a shared buffer; a writer thread writes the buffer every
//! [`LOG_WRITE_INTERVAL_MS`] (one system call for all the lines of the interval, and no wake-up
//! per line: a thread woken for each line cost more than the write it saved).
//!
//! Nothing is dropped: a buffer that reaches [`LOG_BUFFER_BYTES_MAX`] is written at once by the
//! thread whose line filled it (a disk that cannot keep up slows the party rather than losing
//! its log). [`LogGuard`] writes what is left when the party stops. Lines of the last interval
//! are lost if the process is killed (SIGKILL); the party's record is its database, not its log.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the writer thread writes what has gathered.
pub const LOG_WRITE_INTERVAL_MS: u64 = 20;
/// Bytes gathered at most before the line that reaches it writes them itself.
const LOG_BUFFER_BYTES_MAX: usize = 1 << 20;
/// A line's buffer as first allocated (a message line is about 150 bytes).
const LOG_LINE_BYTES_INITIAL: usize = 256;

struct Shared {
    /// The lines not written yet, and where they go.
    pending: Mutex<Pending>,
    stopped: AtomicBool,
}

struct Pending {
    lines: Vec<u8>,
    out: Box<dyn Write + Send>,
}

impl Pending {
    fn write_out(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        // A log that cannot be written (a closed standard error) must not stop the party.
        let _ = self.out.write_all(&self.lines).and_then(|()| self.out.flush());
        self.lines.clear();
    }
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `tracing` writer: each event's line goes to the shared buffer.
#[derive(Clone)]
pub struct GatheredStderr {
    shared: Arc<Shared>,
}

/// One event's line, added to the buffer when the formatter drops it.
pub struct Line {
    line: Vec<u8>,
    shared: Arc<Shared>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let mut pending = self.shared.pending();
        pending.lines.extend_from_slice(&self.line);
        if pending.lines.len() >= LOG_BUFFER_BYTES_MAX || self.shared.stopped.load(Ordering::Relaxed) {
            pending.write_out();
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for GatheredStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { line: Vec::with_capacity(LOG_LINE_BYTES_INITIAL), shared: Arc::clone(&self.shared) }
    }
}

/// Writes what is left, and every later line at once, when dropped (the party stops).
pub struct LogGuard {
    shared: Arc<Shared>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.shared.pending().write_out();
    }
}

/// Start the writer thread over `out`; the writer for `tracing` and the guard that flushes it.
pub fn start(out: impl Write + Send + 'static) -> std::io::Result<(GatheredStderr, LogGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending { lines: Vec::new(), out: Box::new(out) }),
        stopped: AtomicBool::new(false),
    });
    let writer = Arc::clone(&shared);
    std::thread::Builder::new().name("log-writer".into()).spawn(move || {
        while !writer.stopped.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(LOG_WRITE_INTERVAL_MS));
            writer.pending().write_out();
        }
    })?;
    Ok((GatheredStderr { shared: Arc::clone(&shared) }, LogGuard { shared }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// Bytes written, kept for a test to read (the JSON log's tests use it too).
    #[derive(Clone, Default)]
    pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let out = Captured::default();
        let (writer, guard) = start(out.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..5_000 {
                        writeln!(writer.make_writer(), "{thread} {n}").unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut next = [0u32; 4];
        for line in text.lines() {
            let (thread, n) = line.split_once(' ').unwrap();
            let thread: usize = thread.parse().unwrap();
            assert_eq!(n.parse::<u32>().unwrap(), next[thread], "lines of one thread keep their order");
            next[thread] += 1;
        }
        assert_eq!(next, [5_000; 4], "no line is lost");
    }

    #[test]
    fn an_empty_event_writes_nothing() {
        let out = Captured::default();
        let (writer, guard) = start(out.clone()).unwrap();
        drop(writer.make_writer());
        writeln!(writer.make_writer(), "one").unwrap();
        drop(guard);
        assert_eq!(out.0.lock().unwrap().as_slice(), b"one\n");
    }
}
