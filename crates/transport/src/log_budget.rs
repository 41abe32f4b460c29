//! A bound on log lines for events a peer can cause at will (malformed frames, refused
//! connections): the first few in each interval are logged one by one, the rest only counted,
//! and the count is logged as one summary line when the next interval begins (or when the
//! owner says so, at close). Without it one client wrote 6 MB of logs in 2.5 s.

use std::time::Duration;

use tokio::time::Instant;

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Log this event on its own line.
    pub log: bool,
    /// Events counted but not logged in the interval that just ended, and how long it lasted:
    /// log one summary line first.
    pub summary: Option<(u64, Duration)>,
}

#[derive(Debug)]
pub(crate) struct LogBudget {
    interval: Duration,
    lines_per_interval: u64,
    window_start: Option<Instant>,
    logged: u64,
    suppressed: u64,
}

impl LogBudget {
    pub fn new(interval: Duration, lines_per_interval: u64) -> LogBudget {
        LogBudget { interval, lines_per_interval, window_start: None, logged: 0, suppressed: 0 }
    }

    /// Account for one event at `now`.
    pub fn event(&mut self, now: Instant) -> Verdict {
        let mut summary = None;
        match self.window_start {
            Some(start) if now.duration_since(start) < self.interval => {}
            Some(start) => {
                summary = (self.suppressed > 0).then(|| (self.suppressed, now.duration_since(start)));
                self.restart(now);
            }
            None => self.restart(now),
        }
        let log = self.logged < self.lines_per_interval;
        if log {
            self.logged += 1;
        } else {
            self.suppressed += 1;
        }
        Verdict { log, summary }
    }

    /// Events counted and not yet summarised (for a last line at close), and since when.
    pub fn take_suppressed(&mut self, now: Instant) -> Option<(u64, Duration)> {
        let start = self.window_start?;
        let suppressed = std::mem::take(&mut self.suppressed);
        (suppressed > 0).then(|| (suppressed, now.duration_since(start)))
    }

    fn restart(&mut self, now: Instant) {
        self.window_start = Some(now);
        self.logged = 0;
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn first_lines_then_a_summary_per_interval() {
        let mut budget = LogBudget::new(Duration::from_secs(10), 2);
        let start = Instant::now();
        let verdicts: Vec<bool> = (0..5).map(|_| budget.event(start).log).collect();
        assert_eq!(verdicts, [true, true, false, false, false]);
        let later = start + Duration::from_secs(11);
        let next = budget.event(later);
        assert_eq!(next, Verdict { log: true, summary: Some((3, Duration::from_secs(11))) });
        assert_eq!(budget.take_suppressed(later), None);
        budget.event(later);
        budget.event(later);
        assert_eq!(budget.take_suppressed(later + Duration::from_secs(1)), Some((1, Duration::from_secs(1))));
    }
}
