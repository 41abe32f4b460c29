//! The day's network faults: each issuer in turn stops answering for a while (SIGSTOP, then
//! SIGCONT: a process that hangs, as a bank's host does), at a third and at two thirds of the
//! day's transactions. Bank A has no stand-in: the switch answers the acquirer when its wait
//! runs out and reverses toward the bank (0420) once it answers again. Bank B has stand-in: the
//! switch approves within its limits and advises the bank (0120) later.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a bank is stopped: longer than the switch's wait for it.
const STOPPED_MS: u64 = 3_000;
/// How often the day's progress is looked at.
const POLL_MS: u64 = 50;

/// Stop issuer A at a third of `total`, issuer B at two thirds.
pub async fn strike(pids: Vec<(String, u32)>, done: Arc<AtomicU64>, total: u64) {
    for (name, share) in [("issuer-a", 1), ("issuer-b", 2)] {
        let Some(pid) = pids.iter().find(|(n, _)| n == name).map(|(_, pid)| *pid) else { continue };
        while done.load(Ordering::Relaxed) < total * share / 3 {
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
        signal("-STOP", pid);
        tokio::time::sleep(Duration::from_millis(STOPPED_MS)).await;
        signal("-CONT", pid);
    }
}

fn signal(which: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
