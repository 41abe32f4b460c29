//! What the console reads from files beside the parties' databases: the acquirer's statement
//! files, the parties' logs, the reconciliation summary of a date, and the address a party on
//! port 0 bound (its stats file). Every read is bounded (entries, bytes, lines).

use std::path::Path;

use crate::data::{ReconItem, StatementFile};
use crate::error::ConsoleError;
use crate::limits::{
    LOG_FILES_MAX, LOG_TAIL_BYTES_MAX, LOG_TAIL_LINES_MAX, RECON_DETAIL_BYTES_MAX, RECON_ITEMS_MAX,
    RECON_SUMMARY_BYTES_MAX, STATEMENT_DATES_MAX, STATEMENT_FILE_BYTES_MAX,
};

/// A merchant's statement files under the acquirer's settlement output `dir` (DATE/…), newest
/// date first.
pub fn statement_files(dir: &Path, merchant_id: &str) -> Vec<StatementFile> {
    let mut dates: Vec<String> = names_in(dir).into_iter().filter(|d| switch::BusinessDate::parse(d).is_ok()).collect();
    dates.sort_by(|a, b| b.cmp(a));
    let mut files = Vec::new();
    for date in dates.into_iter().take(STATEMENT_DATES_MAX) {
        let mut names: Vec<String> = names_in(&dir.join(&date));
        names.sort();
        for name in names {
            let file = StatementFile { date: date.clone(), name };
            if crate::data::is_statement_of(merchant_id, &file) {
                files.push(file);
            }
        }
    }
    files
}

/// One of them, by checked name (`None`: not one of the merchant's, or not there).
pub fn statement_file(dir: &Path, merchant_id: &str, file: &StatementFile) -> Result<Option<Vec<u8>>, ConsoleError> {
    if !crate::data::is_statement_of(merchant_id, file) {
        return Ok(None);
    }
    let path = dir.join(&file.date).join(&file.name);
    let Ok(meta) = std::fs::metadata(&path) else { return Ok(None) };
    if !meta.is_file() || meta.len() > STATEMENT_FILE_BYTES_MAX {
        return Ok(None);
    }
    std::fs::read(&path).map(Some).map_err(|e| ConsoleError::Failure(format!("{}: {e}", path.display())))
}

/// The last lines of each `*.log` file of `dir`, by name.
pub fn log_tail(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<String> = names_in(dir).into_iter().filter(|n| n.ends_with(".log")).collect();
    names.sort();
    names.into_iter().take(LOG_FILES_MAX).map(|name| (name.clone(), tail(&dir.join(&name)))).collect()
}

/// The last [`LOG_TAIL_LINES_MAX`] lines of a file, from at most its last
/// [`LOG_TAIL_BYTES_MAX`] bytes (the first, likely cut, line of those dropped), card-number-like
/// digit runs masked.
fn tail(path: &Path) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else { return Vec::new() };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(LOG_TAIL_BYTES_MAX);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.take(LOG_TAIL_BYTES_MAX).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES_MAX);
    lines.into_iter().skip(skip).map(domain::mask_card_numbers).collect()
}

/// Entries of one folder the statements may be in; a folder holds a day's files, far fewer
/// than this.
const FOLDER_ENTRIES_MAX: usize = 100_000;

/// The names in folder `dir` (none when it cannot be read: no settlement has run yet).
fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.take(FOLDER_ENTRIES_MAX).filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// The scalar figures of a reconciliation's `summary.json` (NET/recon/DATE/, written by end of
/// day), in its order; nothing when it is missing or unreadable.
pub fn recon_summary(path: &Path) -> Vec<(String, String)> {
    let too_large = std::fs::metadata(path).map_or(true, |m| m.len() > RECON_SUMMARY_BYTES_MAX);
    if too_large {
        return Vec::new();
    }
    let Ok(Ok(serde_json::Value::Object(object))) = std::fs::read(path).map(|b| serde_json::from_slice(&b)) else {
        return Vec::new();
    };
    object
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::Number(n) => Some((key, n.to_string())),
            serde_json::Value::String(text) => Some((key, text)),
            serde_json::Value::Bool(b) => Some((key, b.to_string())),
            _ => None,
        })
        .collect()
}

/// Largest stats file read (it is well under a kilobyte).
const STATS_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Where a party configured on port 0 listens: the `listen` of the stats file its server writes
/// beside its configuration when it starts (`NAME.stats.json`; crates/cardnet/src/stats_command.rs).
/// A stopped party's stale file names an address that no longer answers, which the probe shows.
pub fn bound_address(config: &Path) -> Option<std::net::SocketAddr> {
    let path = config.with_extension("stats.json");
    if std::fs::metadata(&path).ok()?.len() > STATS_FILE_BYTES_MAX {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    value.get("listen")?.as_str()?.parse().ok()
}

/// The first [`RECON_ITEMS_MAX`] differences of a reconciliation's `recon.jsonl` (written by
/// end of day beside its summary); nothing when it is missing, too large or unreadable.
pub fn recon_items(path: &Path) -> Vec<ReconItem> {
    let too_large = std::fs::metadata(path).map_or(true, |m| m.len() > RECON_DETAIL_BYTES_MAX);
    let Some(text) = (!too_large).then(|| std::fs::read_to_string(path).ok()).flatten() else { return Vec::new() };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .take(RECON_ITEMS_MAX)
        .map(|v| {
            let text = |key: &str| match v.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            ReconItem {
                class: text("class"),
                resolution: text("resolution"),
                party: text("party"),
                reason: text("reason"),
                kind: text("kind"),
                present: text("present"),
                rrn: text("rrn"),
                terminal_id: text("terminal_id"),
                trace: text("trace"),
                expected_minor: v.get("expected_minor").and_then(serde_json::Value::as_u64),
                currency: text("currency"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cardnet-console-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn recon_items_are_read_from_json_lines() {
        let dir = temp_dir("recon");
        let line = r#"{"class":"missing_at_host","resolution":"refund","party":"acquirer","reason":"no host record","kind":"purchase","present":"terminal+clearing","rrn":"000000500001","terminal_id":"POS00001","trace":"000001","expected_minor":1250,"currency":"156"}"#;
        std::fs::write(dir.join("recon.jsonl"), format!("{line}\nnot json\n{line}\n")).unwrap();
        let items = recon_items(&dir.join("recon.jsonl"));
        assert_eq!(items.len(), 2, "the malformed line skipped");
        assert_eq!((items[0].class.as_str(), items[0].expected_minor), ("missing_at_host", Some(1250)));
        assert!(recon_items(&dir.join("absent.jsonl")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_log_tail_is_the_last_lines_masked() {
        let dir = temp_dir("tail");
        let lines: Vec<String> = (0..100).map(|n| format!("line {n} pan 6222021234567890123")).collect();
        std::fs::write(dir.join("acquirer.log"), lines.join("\n")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a log").unwrap();
        let tails = log_tail(&dir);
        assert_eq!(tails.len(), 1, "only *.log");
        let (name, tail) = &tails[0];
        assert_eq!(name, "acquirer.log");
        assert_eq!(tail.len(), LOG_TAIL_LINES_MAX);
        assert_eq!(tail.last().unwrap(), "line 99 pan 622202*********0123");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn statements_are_found_per_merchant_newest_date_first() {
        let dir = temp_dir("statements");
        for date in ["2026-12-03", "2026-12-04"] {
            std::fs::create_dir_all(dir.join(date)).unwrap();
            for merchant in ["111", "222"] {
                std::fs::write(dir.join(date).join(format!("statement-{merchant}-final-156.csv")), merchant).unwrap();
            }
        }
        std::fs::create_dir_all(dir.join("not-a-date")).unwrap();
        let files = statement_files(&dir, "111");
        let names: Vec<String> = files.iter().map(|f| format!("{}/{}", f.date, f.name)).collect();
        assert_eq!(names, ["2026-12-04/statement-111-final-156.csv", "2026-12-03/statement-111-final-156.csv"]);
        assert_eq!(statement_file(&dir, "111", &files[0]).unwrap().unwrap(), b"111");
        assert_eq!(statement_file(&dir, "222", &files[0]).unwrap(), None, "not the other merchant's");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
