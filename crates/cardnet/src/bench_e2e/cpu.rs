//! CPU time of a process from `/proc/PID/stat` (Linux): user + system time of all its threads,
//! in clock ticks. The tick rate is what `getconf CLK_TCK` says, else 100 (the USER_HZ every
//! Linux architecture cardnet runs on reports in).

use std::process::{Command, Stdio};

/// Clock ticks per second when `getconf` cannot say.
pub const CLOCK_TICKS_PER_S_DEFAULT: u64 = 100;
/// Fields after the command name in `/proc/PID/stat`: utime is the 14th field of the line,
/// the 12th after `(comm) state`'s closing parenthesis (counting the state as the first).
const UTIME_AFTER_COMM: usize = 11;

/// The kernel's clock ticks per second and whether `getconf` said so (false: assumed 100).
pub fn clock_ticks_per_s() -> (u64, bool) {
    let output = Command::new("getconf").arg("CLK_TCK").stdin(Stdio::null()).stderr(Stdio::null()).output();
    let told = output
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u64>().ok().filter(|&ticks| ticks > 0));
    match told {
        Some(ticks) => (ticks, true),
        None => (CLOCK_TICKS_PER_S_DEFAULT, false),
    }
}

/// utime + stime of process `pid` (`None`: this process) in clock ticks; `None` when it cannot
/// be read (not Linux, or the process is gone).
pub fn ticks(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    parse_ticks(&text)
}

/// utime + stime from a `/proc/PID/stat` line. The command name may hold spaces and
/// parentheses, so fields are counted from its last closing parenthesis.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(UTIME_AFTER_COMM);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_after_the_command_name() {
        let line = "4242 (cardnet (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_ticks(line), Some(1290));
        assert_eq!(parse_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(ticks(None).is_some());
        }
    }
}
