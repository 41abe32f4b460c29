//! How the card was read, from the terminal's fields to the network's (issue 12 point 7): the
//! POS dialect signals a fallback swipe — a chip card's stripe after the chip failed to read —
//! with 22 = `02x` and 60.5 (IC condition) = `2` (reference §2); the network dialect has its
//! own entry mode for it, `80`, so the issuer can tell it from a plain swipe of a chip card,
//! which its product policy declines. A terminal that sends `80x` in 22 itself means the same.

use iso8583::Message;
use network::request::EntryMode;

/// 60.5 of a fallback: the previous IC read failed.
const IC_CONDITION_FALLBACK: &str = "2";

/// The network entry mode of a terminal's financial request.
pub(crate) fn entry_mode(request: &Message) -> Option<EntryMode> {
    let entry = request.get_str(22).and_then(|e| e.get(..2)).and_then(EntryMode::from_code)?;
    let condition = request.get_path("60.5").ok().flatten();
    if entry == EntryMode::Swipe && condition == Some(IC_CONDITION_FALLBACK.as_bytes()) {
        return Some(EntryMode::Fallback);
    }
    Some(entry)
}
