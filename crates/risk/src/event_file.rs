//! Events as JSON lines, for `cardnet risk backtest --events FILE.jsonl`: one object per line,
//! a transaction as the engine saw it, the card as its keyed hash and BIN (never a PAN).
//!
//! ```json
//! {"card":"key-00ab00cd00ef0012","bin":"622424","terminal":"T0000001","merchant":"M00000000000001","mcc":5411,"amount_minor":12345,"currency":"CNY","kind":"purchase","entry_mode":"chip","at_ms":1764892800000}
//! ```
//!
//! Required: `card` (`key-` and 16 hex digits, the party's keyed hash), `bin` (1 to 8
//! digits), `terminal`, `merchant`, `amount_minor`, `currency` (ISO 4217), `kind`
//! (`purchase`, `refund`, `pre_authorization`, …), `at_ms` (unix ms). Optional: `mcc` (0),
//! `entry_mode` (`chip`, `tap`, `swipe`, `keyed`, `fallback`; default chip), `response` (the
//! issuer's code), `merchant_onboarded_ms`, `merchant_currency`, `merchant_country`,
//! `card_country` (ISO 3166-1 numeric). Blank lines and lines starting with `#` are skipped.
//! Errors name the line.

use domain::{Currency, EntryMode, MerchantId, Money, ResponseCode, TerminalId, TransactionKind};
use serde::Deserialize;

use crate::cases::CARD_KEY_PREFIX;
use crate::event::Event;
use crate::key::{Bin, CardKey};

/// Events one file may hold, at most (a day of a large acquirer's transactions fits).
pub const EVENTS_MAX: usize = 20_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    card: String,
    bin: String,
    terminal: String,
    merchant: String,
    #[serde(default)]
    mcc: u16,
    amount_minor: u64,
    currency: String,
    kind: String,
    #[serde(default)]
    entry_mode: Option<String>,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    merchant_onboarded_ms: Option<u64>,
    #[serde(default)]
    merchant_currency: Option<String>,
    #[serde(default)]
    merchant_country: Option<u16>,
    #[serde(default)]
    card_country: Option<u16>,
    at_ms: u64,
}

/// Read every event; the first bad line is the error, as `(line number, message)`.
pub fn parse_events(text: &str) -> Result<Vec<Event>, (usize, String)> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if events.len() == EVENTS_MAX {
            return Err((index + 1, format!("more than {EVENTS_MAX} events")));
        }
        let raw: Line = serde_json::from_str(trimmed).map_err(|e| (index + 1, json_error(&e)))?;
        events.push(event(raw).map_err(|message| (index + 1, message))?);
    }
    Ok(events)
}

/// serde_json's message without its "at line 1 column N" (the line is the file's, given
/// apart), and with any run of 13 or more digits hidden: serde echoes a value of the wrong
/// type, and a card number in the wrong field must not reach a terminal or a log.
pub fn json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let mut out = String::with_capacity(message.len());
    let mut digits = String::new();
    for c in message.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        out.push_str(if digits.len() >= 13 { "[digits hidden]" } else { &digits });
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

fn event(raw: Line) -> Result<Event, String> {
    let hash = raw
        .card
        .strip_prefix(CARD_KEY_PREFIX)
        .filter(|hex| hex.len() == 16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| format!("`card` must be {CARD_KEY_PREFIX} and 16 hex digits (the keyed hash, never a PAN)"))?;
    let bin = Bin::from_digits(&raw.bin).ok_or("`bin` must be 1 to 8 digits")?;
    let currency =
        |text: &str, name: &str| Currency::parse(text).map_err(|_| format!("`{name}` {text:?} is not a currency"));
    let entry_mode = match raw.entry_mode.as_deref() {
        Some(text) => text.parse::<EntryMode>().map_err(|_| format!("`entry_mode` {text:?} is not an entry mode"))?,
        None => EntryMode::Chip,
    };
    let response = match raw.response.as_deref() {
        Some(text) => Some(ResponseCode::new(text).map_err(|_| format!("`response` {text:?} is not a response code"))?),
        None => None,
    };
    let merchant_currency = match raw.merchant_currency.as_deref() {
        Some(text) => Some(currency(text, "merchant_currency")?),
        None => None,
    };
    Ok(Event {
        card: CardKey { hash, bin },
        terminal: TerminalId::new(&raw.terminal).map_err(|_| "`terminal` is not a terminal id".to_string())?,
        merchant: MerchantId::new(&raw.merchant).map_err(|_| "`merchant` is not a merchant id".to_string())?,
        mcc: raw.mcc,
        amount: Money::new(raw.amount_minor, currency(&raw.currency, "currency")?),
        kind: raw
            .kind
            .parse::<TransactionKind>()
            .map_err(|_| format!("`kind` {:?} is not a transaction kind", raw.kind))?,
        entry_mode,
        response,
        merchant_onboarded_ms: raw.merchant_onboarded_ms,
        merchant_currency,
        merchant_country: raw.merchant_country,
        card_country: raw.card_country,
        at_ms: raw.at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"card":"key-00ab00cd00ef0012","bin":"622424","terminal":"T0000001","merchant":"M00000000000001","mcc":5411,"amount_minor":12345,"currency":"CNY","kind":"purchase","at_ms":1764892800000}"#;

    #[test]
    fn a_line_is_an_event() {
        let events = parse_events(&format!("# a day\n\n{GOOD}\n")).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.card.hash, e.card.bin.as_bytes(), e.mcc), (0x00ab_00cd_00ef_0012, &b"622424"[..], 5411));
        assert_eq!((e.amount.minor, e.kind, e.entry_mode), (12345, TransactionKind::Purchase, EntryMode::Chip));
    }

    #[test]
    fn errors_name_the_line() {
        let pan = GOOD.replace("key-00ab00cd00ef0012", "6224240000000113");
        assert_eq!(parse_events(&format!("{GOOD}\n{pan}")).unwrap_err().0, 2);
        let kind = GOOD.replace("purchase", "gift");
        let (line, message) = parse_events(&format!("{GOOD}\n\n{kind}")).unwrap_err();
        assert_eq!(line, 3);
        assert!(message.contains("kind"), "{message}");
        assert_eq!(parse_events("{").unwrap_err().0, 1);
        assert!(parse_events(&GOOD.replace("\"bin\"", "\"pan\"")).is_err(), "unknown field");
        let (_, message) = parse_events(&GOOD.replace("5411", "\"6224240000000113\"")).unwrap_err();
        assert!(!message.contains("6224240000000113") && message.contains("[digits hidden]"), "{message}");
    }
}
