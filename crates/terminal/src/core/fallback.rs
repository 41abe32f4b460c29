//! Chip first (issue 12 point 7): a chip card — service code 2xx or 6xx on its stripe — is
//! read by its chip. The reader takes its stripe only after the chip failed to read, and the
//! request then says so: 22 = `02x` with 60.4 = `6` (this reader: contact, stripe and
//! contactless) and 60.5 = `2` (the previous IC read failed), the fallback of reference §2.
//! A chip card swiped without that is refused here, before anything is sent: its issuer would
//! decline it (45), and a copied stripe is exactly what the chip is there to stop.

use super::*;

/// First service-code digits of a card with a chip (ISO/IEC 7813).
const CHIP_SERVICE_CODES: [char; 2] = ['2', '6'];
/// Digits of the expiry between track 2's separator and the service code.
const EXPIRY_DIGITS: usize = 4;
/// 60.4 and 60.5 of a fallback request.
const FALLBACK_FIELD60_TAIL: &str = "62";
/// What the cashier is told when a chip card is swiped first.
const INSERT_THE_CHIP: &str = "chip card: insert the chip (swipe it only if the chip cannot be read)";

/// Whether `track2` (`=` or `D` as separator) is a chip card's, by its service code.
fn chip_card(track2: &str) -> bool {
    track2
        .split(['=', 'D', 'd'])
        .nth(1)
        .and_then(|rest| rest.chars().nth(EXPIRY_DIGITS))
        .is_some_and(|digit| CHIP_SERVICE_CODES.contains(&digit))
}

/// The reader with a swiped card whose stripe gave `track2`: `Ok(false)` for a stripe card,
/// `Ok(true)` (fallback) for a chip card whose chip does not answer — or is missing, which is
/// the same to the reader — and the cashier told to insert a chip card whose chip answers.
pub(super) fn swipe(sim: &SimCard, track2: &str) -> Result<bool> {
    if !chip_card(track2) {
        return Ok(false);
    }
    match sim.read_chip() {
        Ok(()) => Err(TerminalError::Card(INSERT_THE_CHIP.into())),
        Err(_) => Ok(true),
    }
}

/// Refuse a chip card's stripe that is not a fallback (a card the caller read itself).
pub(super) fn check(card: &Card) -> Result<()> {
    let plain_swipe = card.entry == EntryMode::Swipe && !card.fallback;
    if plain_swipe && card.track2.as_deref().is_some_and(chip_card) {
        return Err(TerminalError::Card(INSERT_THE_CHIP.into()));
    }
    Ok(())
}

/// What follows 60.1–60.3 in a financial request: the fallback's 60.4/60.5, else nothing.
pub(super) fn field60_tail(card: &Card) -> &'static str {
    if card.entry == EntryMode::Swipe && card.fallback { FALLBACK_FIELD60_TAIL } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_code_says_whether_a_stripe_is_a_chip_cards() {
        assert!(chip_card("6224242900000113=28062010000000000"));
        assert!(chip_card("6224242900000113D28066010000000000"), "national, with chip");
        assert!(!chip_card("6224242900000113=28061010000000000"));
        assert!(!chip_card("6224242900000113=2806"), "no service code");
        assert!(!chip_card("6224242900000113"));
    }
}
