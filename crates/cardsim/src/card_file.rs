//! The card file: the JSON object `cardnet issuer card issue --json` prints (or a JSON array
//! of them). Fields: "pan", "expiry" (YYMM), "track2", "pin", and for a chip card
//! "chip_track2", "card_sequence" (2 digits), "icc_master_key_ac" (32 hex digits) and "atc"
//! (the last transaction counter used; 0 or absent for a new card). Others ("card_id",
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

/// Write the transaction counter `atc` of the card `pan` back into `path`, atomically. The
/// stored counter never goes down (two runs of one card file keep the higher one).
pub(crate) fn store_atc(path: &Path, pan: &str, atc: u16) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let mut value: Value = serde_json::from_str(&text).map_err(|e| file_error(path, format!("not JSON: {e}")))?;
    let mut found = false;
    let mut update = |card: &mut Value| {
        if card.get("pan").and_then(Value::as_str) == Some(pan) {
            let stored = card.get("atc").and_then(Value::as_u64).unwrap_or(0);
            if let Some(object) = card.as_object_mut() {
                object.insert("atc".into(), Value::from(stored.max(u64::from(atc))));
                found = true;
            }
        }
    };
    match &mut value {
        Value::Array(cards) => cards.iter_mut().for_each(&mut update),
        card => update(card),
    }
    if !found {
        return Err(file_error(path, "the card is no longer in its file"));
    }
    let mut bytes = serde_json::to_vec_pretty(&value).map_err(|e| file_error(path, e))?;
    bytes.push(b'\n');
    host::private_file::replace_private(path, &bytes).map_err(|e| file_error(path, e))
}
