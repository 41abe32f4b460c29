//! The card file: the JSON object `cardnet issuer card issue --json` prints (or a JSON array
//! of them). Fields: "pan", "expiry" (YYMM), "track2", "pin", and for a chip card
//! "chip_track2", "card_sequence" (2 digits), "icc_master_key_ac" (32 hex digits) and "atc"
//! (the last transaction counter used; 0 or absent for a new card), and optionally
//! "chip_fails": true for a chip that does not answer the reader (a terminal then falls back to
//! the stripe). Others ("card_id",
//! "product", "available_minor", …) are kept as they are.

use std::path::Path;

use serde_json::Value;

use crate::{CardError, Result};

/// A card file larger than this is not a card file (a few hundred bytes per card).
const CARD_FILE_BYTES_MAX: u64 = 1 << 20;

fn file_error(path: &Path, what: impl std::fmt::Display) -> CardError {
    CardError::File(format!("{}: {what}", path.display()))
}

/// The card objects in `path` (one object or an array of them).
pub(crate) fn read(path: &Path) -> Result<Vec<Value>> {
    let size = std::fs::metadata(path).map_err(|e| file_error(path, e))?.len();
    if size > CARD_FILE_BYTES_MAX {
        return Err(file_error(path, format!("larger than {CARD_FILE_BYTES_MAX} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    match serde_json::from_str(&text).map_err(|e| file_error(path, format!("not JSON: {e}")))? {
        Value::Array(cards) => Ok(cards),
        card @ Value::Object(_) => Ok(vec![card]),
        _ => Err(file_error(path, "neither a card object nor an array of them")),
    }
}

/// The next transaction counter of the card `pan` in `path`, written back before it is used:
/// one above both the file's and `atc_held` (what this process last used). Under an exclusive
/// lock on a sidecar lock file, so two runs using one card file at once never share a counter;
/// the file is replaced atomically and its counter never goes down.
pub(crate) fn next_atc(path: &Path, pan: &str, atc_held: u16) -> Result<u16> {
    let name = path.file_name().ok_or_else(|| file_error(path, "not a file name"))?;
    let mut lock_name = std::ffi::OsString::from(".");
    lock_name.push(name);
    lock_name.push(".lock");
    let lock_path = path.with_file_name(lock_name);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| file_error(&lock_path, e))?;
    lock.lock().map_err(|e| file_error(&lock_path, e))?;
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let mut value: Value = serde_json::from_str(&text).map_err(|e| file_error(path, format!("not JSON: {e}")))?;
    let mut next = None;
    let mut update = |card: &mut Value| {
        if card.get("pan").and_then(Value::as_str) == Some(pan) {
            let stored = card.get("atc").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
            let atc = stored.max(atc_held).checked_add(1);
            if let (Some(atc), Some(object)) = (atc, card.as_object_mut()) {
                object.insert("atc".into(), Value::from(atc));
                next = Some(atc);
            }
        }
    };
    match &mut value {
        Value::Array(cards) => cards.iter_mut().for_each(&mut update),
        card => update(card),
    }
    let Some(next) = next else {
        return Err(file_error(path, "the card is no longer in its file, or its ATC is exhausted"));
    };
    let mut bytes = serde_json::to_vec_pretty(&value).map_err(|e| file_error(path, e))?;
    bytes.push(b'\n');
    host::private_file::replace_private(path, &bytes).map_err(|e| file_error(path, e))?;
    // The lock goes with the file handle.
    drop(lock);
    Ok(next)
}
