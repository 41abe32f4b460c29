//! Reading a request: its kind, its key, and the checks of step 2 (format) of
//! docs/network-flows.md §3. What this module accepts, the decision code can rely on: present
//! fields, numeric amounts, the issuer's currency, a parseable field 90, track 2 and chip data
//! where the entry mode needs them.

use clock::UtcDateTime;
use clock::utc::days_from_civil;
use domain::{ResponseCode, Rrn};
use iso8583::Message;
use network::codes;
use network::emv::ChipData;
use network::request::EntryMode;
use network::{OriginalData, Track2, TransactionKind};

use crate::config::Settings;

/// Digits of field 4 and of the replacement amount in field 95.
const AMOUNT_DIGITS: usize = 12;

/// A request's identity: year, 11, 7, 32 and 33 (zero-filled), as field 90 would name it.
///
/// The year is not on the wire (field 7 is `MMDDhhmmss`); it is the year that puts 7 nearest
/// the issuer's clock, so a STAN and time reused a year later is a new request, not a
/// duplicate, and the ledger transfer ids derived from the key never collide across years.
pub(crate) fn request_key(data: &OriginalData, now_ms: u64) -> Option<String> {
    let year = nearest_year(&data.transmission_time, now_ms)?;
    Some(format!("{year}:{}", data.lookup_key()))
}

/// The year in which `MMDDhhmmss` lies nearest to `now_ms` (the previous, this or the next).
fn nearest_year(mmddhhmmss: &str, now_ms: u64) -> Option<i64> {
    let (month, day, hour, minute, second) = parse_transmission(mmddhhmmss)?;
    let now = UtcDateTime::from_ms(now_ms);
    let now_days = days_from_civil(now.year, now.month, now.day);
    let seconds_of =
        |year: i64| days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3_600 + minute * 60 + second);
    let now_seconds = now_days * 86_400 + i64::from(now.hour * 3_600 + now.minute * 60 + now.second);
    [now.year - 1, now.year, now.year + 1].into_iter().min_by_key(|&year| (seconds_of(year) - now_seconds).abs())
}

/// Field 7's parts, if it is a real date and time (month 1–12, day 1–31, 00:00:00–23:59:59).
fn parse_transmission(text: &str) -> Option<(u32, u32, u32, u32, u32)> {
    if text.len() != 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |at: usize| text[at..at + 2].parse::<u32>().ok();
    let (month, day, hour, minute, second) = (part(0)?, part(2)?, part(4)?, part(6)?, part(8)?);
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 60;
    valid.then_some((month, day, hour, minute, second))
}

/// The MTI with a repeat's origin digit turned back (0201 → 0200, 0421 → 0420): a repeat is
/// the same request.
pub(crate) fn base_mti(mti: &str) -> String {
    let mut out = mti.to_owned();
    if let Some(last) = mti.as_bytes().get(3)
        && last.is_ascii_digit()
        && (last - b'0') % 2 == 1
    {
        out.replace_range(3..4, &char::from(last - 1).to_string());
    }
    out
}

/// The ATC (9F36) of chip data as a number (for the card's high-water mark).
pub(crate) fn atc_value(chip: &ChipData) -> i64 {
    i64::from(u16::from_be_bytes(chip.atc))
}

/// A request that passed the format check.
pub(crate) struct Parsed {
    pub kind: TransactionKind,
    /// An advice (0120/0220 and their repeats): the sender decided, the issuer records.
    pub advice: bool,
    pub key: String,
    pub pan: String,
    /// Field 4 (0 when absent on a balance inquiry).
    pub amount: u64,
    /// Field 22 digits 1–2, when present and a mode the network knows.
    pub entry_mode: Option<EntryMode>,
    pub track2: Option<Track2>,
    /// Field 14, the presented expiry (`YYMM`) when there is no track 2.
    pub expiry: Option<String>,
    /// Field 52: the PIN block under the switch link's ZPK.
    pub pin_block: Option<Vec<u8>>,
    pub chip: Option<ChipData>,
    /// The key of the original named in 90, when present.
    pub original_key: Option<String>,
    /// Field 95's replacement amount (a partial reversal), when present.
    pub replacement: Option<u64>,
    /// Field 37, when present.
    pub rrn: Option<Rrn>,
    /// Where the card was used (41, 42, 18), when the request says: the risk rules' view.
    pub terminal: Option<domain::TerminalId>,
    pub merchant: Option<domain::MerchantId>,
    pub mcc: u16,
}

impl Parsed {
    pub fn is_magnetic(&self) -> bool {
        // The stripe was read, the fallback's too: the CVV in track 2 is checked.
        matches!(self.entry_mode, Some(EntryMode::Swipe | EntryMode::Fallback))
    }

    pub fn is_chip(&self) -> bool {
        // Contact or contactless: 55 carries the ARQC, a track 2 equivalent the iCVV.
        self.entry_mode.is_some_and(EntryMode::is_chip)
    }
}

fn parse_amount(text: &str) -> Option<u64> {
    (text.len() == AMOUNT_DIGITS && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// Step 2: the format check. `Err` is the response code to answer (30, 12 or 13).
pub(crate) fn parse(request: &Message, settings: &Settings, now_ms: u64) -> Result<Parsed, &'static str> {
    let kind = match network::classify(request) {
        Ok(kind) => kind,
        Err(network::Error::Missing { .. }) => return Err(codes::FORMAT_ERROR),
        // A processing code or MTI this issuer does not handle (cash, say).
        Err(_) => return Err(codes::INVALID_TRANSACTION),
    };
    let advice = request.mti().function() == 2;
    if kind == TransactionKind::Reversal && request.get_str(3).and_then(|p| p.get(..2)) == Some("31") {
        // A balance inquiry is not reversible (docs/network-flows.md §5.3), amount or none.
        return Err(codes::INVALID_TRANSACTION);
    }
    let Some(pan) = request.get_str(2) else { return Err(codes::FORMAT_ERROR) };
    let own = OriginalData::of_request(request).map_err(|_| codes::FORMAT_ERROR)?;
    let key = request_key(&own, now_ms).ok_or(codes::FORMAT_ERROR)?;

    let amount = match request.get_str(4) {
        Some(text) => parse_amount(text).ok_or(codes::FORMAT_ERROR)?,
        None if kind == TransactionKind::BalanceInquiry => 0,
        None => return Err(codes::FORMAT_ERROR),
    };
    if amount == 0 && kind != TransactionKind::BalanceInquiry {
        // A zero purchase or pre-authorization is an invalid amount; a zero anything else
        // (a refund of nothing, a reversal of nothing) is malformed.
        return Err(if kind.holds_funds() { codes::INVALID_AMOUNT } else { codes::FORMAT_ERROR });
    }
    match request.get_str(49) {
        Some(currency) if currency != settings.currency => return Err(codes::FORMAT_ERROR),
        None if kind != TransactionKind::BalanceInquiry => return Err(codes::FORMAT_ERROR),
        _ => {}
    }

    let original_key = if request.has(90) {
        let original = OriginalData::from_field90(request).map_err(|_| codes::FORMAT_ERROR)?;
        Some(request_key(&original, now_ms).ok_or(codes::FORMAT_ERROR)?)
    } else if kind.needs_original() {
        return Err(codes::FORMAT_ERROR);
    } else {
        None
    };
    let replacement = match request.get_str(95) {
        Some(text) => Some(text.get(..AMOUNT_DIGITS).and_then(parse_amount).ok_or(codes::FORMAT_ERROR)?),
        None => None,
    };

    let entry_mode = match request.get_str(22) {
        Some(mode) => EntryMode::from_code(mode.get(..2).ok_or(codes::FORMAT_ERROR)?),
        None if kind.cardholder_verified() && !advice => return Err(codes::FORMAT_ERROR),
        None => None,
    };
    let track2 = match request.get_str(35) {
        Some(text) => Some(Track2::parse(text).map_err(|_| codes::FORMAT_ERROR)?),
        None => None,
    };
    let chip = match request.has(55) {
        true if kind.cardholder_verified() && !advice => {
            Some(network::emv::chip_data(request).map_err(|_| codes::FORMAT_ERROR)?)
        }
        _ => None,
    };
    // The spec's `an` takes text an RRN or a code is not (a space inside); the journal keeps
    // the domain types, so such a request is a format error rather than a row that cannot be read.
    let rrn = request.get_str(37).map(Rrn::new).transpose().map_err(|_| codes::FORMAT_ERROR)?;
    if request.get_str(39).is_some_and(|code| ResponseCode::new(code).is_err()) {
        return Err(codes::FORMAT_ERROR);
    }
    let parsed = Parsed {
        kind,
        advice,
        key,
        pan: pan.to_owned(),
        amount,
        entry_mode,
        track2,
        expiry: request.get_str(14).map(str::to_owned),
        pin_block: request.get(52).map(<[u8]>::to_vec),
        chip,
        original_key,
        replacement,
        rrn,
        terminal: request.get_str(41).and_then(|t| domain::TerminalId::new(t).ok()),
        merchant: request.get_str(42).and_then(|m| domain::MerchantId::new(m.trim_end()).ok()),
        mcc: request.get_str(18).and_then(|m| m.parse().ok()).unwrap_or(0),
    };
    if kind.cardholder_verified() && !advice {
        // What the entry mode promises must be there: track 2 for a stripe, 55 for a chip.
        if parsed.is_magnetic() && parsed.track2.is_none() {
            return Err(codes::FORMAT_ERROR);
        }
        if parsed.is_chip() && parsed.chip.is_none() {
            return Err(codes::FORMAT_ERROR);
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-03-15 06:30:23 UTC.
    const NOW_MS: u64 = 1_742_020_223_000;

    #[test]
    fn the_year_is_the_one_nearest_the_clock() {
        assert_eq!(nearest_year("0315063023", NOW_MS), Some(2025));
        assert_eq!(nearest_year("1231235959", NOW_MS), Some(2024), "December seen in March is last year's");
        // 2025-12-31 23:00 UTC: a January transmission time is next year's.
        let new_year_eve = 1_767_222_000_000;
        assert_eq!(nearest_year("0101000010", new_year_eve), Some(2026));
        assert_eq!(nearest_year("1399000000", NOW_MS), None);
        assert_eq!(nearest_year("0315246000", NOW_MS), None);
        assert_eq!(nearest_year("03150630", NOW_MS), None);
    }

    #[test]
    fn repeats_have_the_base_mti() {
        assert_eq!(base_mti("0201"), "0200");
        assert_eq!(base_mti("0421"), "0420");
        assert_eq!(base_mti("0120"), "0120");
    }
}
