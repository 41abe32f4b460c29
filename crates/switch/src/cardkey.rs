//! How the switch names a card in its database without its number.
//!
//! The stand-in counters (per card per day) and the journal need to recognise the same card
//! again, but a plain hash of a PAN protects nothing: with the BIN and last four digits in the
//! masked PAN only six digits are unknown, a million guesses. So the card key is a keyed hash
//! computed inside the HSM under the switch's DEK ([`hsm::SecurityModule::keyed_hash`]): without
//! the DEK (which never leaves the module) a stolen table cannot be searched.
//!
//! This is the one place that decides what a card key is; change it here and everything that
//! stores or compares card keys follows.

use domain::Pan;
use hsm::{SecurityModule, WrappedKey};

/// Domain separation: the same DEK may one day hash other things than PANs.
const CARD_KEY_CONTEXT: &[u8] = b"cardnet switch card key v1:";

/// The card key of `pan`: 32 hex digits of the keyed hash of the PAN under `dek`.
pub fn card_key(hsm: &dyn SecurityModule, dek: &WrappedKey, pan: &Pan) -> hsm::Result<String> {
    let mut input = Vec::with_capacity(CARD_KEY_CONTEXT.len() + pan.len());
    input.extend_from_slice(CARD_KEY_CONTEXT);
    input.extend_from_slice(pan.as_str().as_bytes());
    Ok(iso8583::hex::encode(&hsm.keyed_hash(dek, &input)?))
}
