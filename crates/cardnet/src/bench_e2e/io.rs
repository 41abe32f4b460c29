//! What a process wrote, from `/proc/PID/io` (Linux): the bytes it sent to the storage layer
//! (`write_bytes`: every page a database's log or checkpoint wrote, counted when written, not
//! when the disk got it) and its write calls (`syscw`: `write`, `pwrite`, `writev` — to files and
//! sockets alike). Unlike CPU time, neither depends on how busy the machine's other tenants are,
//! so a change that writes less shows in one run.

/// The counters of one process at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Io {
    pub write_bytes: u64,
    pub write_calls: u64,
}

impl Io {
    /// What was written between `self` and `later`.
    pub fn until(self, later: Io) -> Io {
        Io {
            write_bytes: later.write_bytes.saturating_sub(self.write_bytes),
            write_calls: later.write_calls.saturating_sub(self.write_calls),
        }
    }
}

/// The counters of process `pid` (`None`: this process); `None` when they cannot be read (not
/// Linux, the process is gone, or the kernel keeps no I/O accounting).
pub fn io(pid: Option<u32>) -> Option<Io> {
    let path = pid.map_or_else(|| "/proc/self/io".to_owned(), |pid| format!("/proc/{pid}/io"));
    parse_io(&std::fs::read_to_string(path).ok()?)
}

/// `write_bytes` and `syscw` from the text of `/proc/PID/io` (`name: value` lines).
fn parse_io(text: &str) -> Option<Io> {
    let field = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok())
    };
    Some(Io { write_bytes: field("write_bytes")?, write_calls: field("syscw")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_bytes_and_write_calls_are_read_by_name() {
        let text = "rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 3\nread_bytes: 0\nwrite_bytes: 8192\n\
                    cancelled_write_bytes: 4096\n";
        assert_eq!(parse_io(text), Some(Io { write_bytes: 8192, write_calls: 3 }));
        assert_eq!(parse_io("rchar: 1\nsyscw: 3\n"), None, "no write_bytes");
        assert_eq!(parse_io("write_bytes: x\nsyscw: 3\n"), None, "not a number");
    }

    #[test]
    fn a_window_is_the_difference_and_never_negative() {
        let before = Io { write_bytes: 4096, write_calls: 2 };
        assert_eq!(before.until(Io { write_bytes: 12_288, write_calls: 5 }), Io { write_bytes: 8192, write_calls: 3 });
        assert_eq!(before.until(Io { write_bytes: 0, write_calls: 0 }), Io { write_bytes: 0, write_calls: 0 });
    }

    #[test]
    fn this_process_writes_to_a_file_and_the_counters_see_it() {
        if !cfg!(target_os = "linux") || io(None).is_none() {
            eprintln!("SKIPPED: no /proc/self/io here");
            return;
        }
        let before = io(None).unwrap();
        // Beside the test binary: a disk the build writes to (a tmpfs keeps no write_bytes).
        let exe = std::env::current_exe().unwrap();
        let path = exe.with_file_name(format!("cardnet-io-test-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 64 * 1024]).unwrap();
        let after = io(None).unwrap();
        let _ = std::fs::remove_file(&path);
        let written = before.until(after);
        assert!(written.write_calls >= 1, "{written:?}");
        assert!(written.write_bytes >= 64 * 1024, "{written:?}");
    }
}
