//! Product policy on how a card may be read (issue 12 point 7): a chip card — service code
//! 2xx (international) or 6xx (national) in its track 2 — read from its stripe without a
//! fallback signalled is declined 45 (use the chip) unless its product allows it. The stripe
//! can be copied; the chip's cryptogram cannot, which is why a chip card is meant to be
//! swiped only after its chip failed to read (entry mode 80, docs/network-flows.md §2).

use serde::Deserialize;

use crate::request::Parsed;

/// First service-code digits of a card with a chip (ISO/IEC 7813).
const CHIP_SERVICE_CODES: [char; 2] = ['2', '6'];

/// What a product does with a swiped chip card (`chip_swipe` in the product's configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChipSwipe {
    /// Declined 45 (the default): the terminal must use the chip, or signal fallback.
    #[default]
    Decline,
    /// Authorized on the stripe (the CVV is still checked).
    Allow,
}

impl ChipSwipe {
    pub fn name(self) -> &'static str {
        match self {
            ChipSwipe::Decline => "decline",
            ChipSwipe::Allow => "allow",
        }
    }
}

/// `Some(45)` when `parsed` is a chip card swiped without fallback and `policy` declines it.
pub(crate) fn chip_swipe_refusal(parsed: &Parsed, policy: ChipSwipe) -> Option<&'static str> {
    // A plain swipe: the stripe read with no fallback signalled (22 = 02 or 90, not 80).
    let swiped = parsed.entry_mode == Some(network::request::EntryMode::Swipe);
    let chip_card = parsed
        .track2
        .as_ref()
        .and_then(|track| track.service_code.chars().next())
        .is_some_and(|digit| CHIP_SERVICE_CODES.contains(&digit));
    (policy == ChipSwipe::Decline && swiped && chip_card).then_some(network::codes::USE_CHIP)
}
