//! Track data from a terminal signed on with key scheme 004: when 53.3 = 1, fields 35 and 36
//! arrive enciphered under the terminal's TDK (reference §2; `hsm::track`). The HSM gives the
//! clear tracks back, and the rest of the host works on a copy of the request that carries
//! them, as it would from a terminal that sends tracks in clear (schemes 001 and 003). The MAC
//! was checked over the request as it came.

use hsm::{SecurityModule, WrappedKey};
use iso8583::Message;
use network::codes;

/// Track fields a terminal may encipher.
const TRACK_FIELDS: [u8; 2] = [35, 36];

/// The request with its tracks deciphered (`None`: no tracks, or clear ones from a terminal
/// without a TDK), or the response code (30) for tracks that cannot be taken: enciphered
/// without a TDK from the sign-on, not opening under it, or clear from a terminal that holds a
/// TDK.
pub(crate) fn clear_tracks(
    hsm: &dyn SecurityModule,
    tdk: Option<&WrappedKey>,
    request: &Message,
) -> Result<Option<Message>, &'static str> {
    let encrypted = request.get_path("53.3").ok().flatten() == Some(b"1".as_slice());
    let has_track = TRACK_FIELDS.iter().any(|&field| request.has(field));
    if !encrypted && has_track && tdk.is_some() {
        // A terminal given a TDK enciphers its tracks; a clear one from it was not built by
        // that terminal's software, or the terminal was downgraded.
        tracing::info!("acquirer: clear track data from a terminal signed on with a TDK");
        return Err(codes::FORMAT_ERROR);
    }
    if !encrypted {
        return Ok(None);
    }
    let Some(tdk) = tdk else {
        tracing::info!("acquirer: enciphered track data from a terminal signed on without a TDK");
        return Err(codes::FORMAT_ERROR);
    };
    let mut clear = request.clone();
    for field in TRACK_FIELDS {
        let Some(track) = request.get_str(field) else { continue };
        let track = hsm.decrypt_track(tdk, track).map_err(|error| {
            tracing::info!(%error, field, "acquirer: track data does not decipher under the TDK");
            codes::FORMAT_ERROR
        })?;
        let text = std::str::from_utf8(track.expose()).map_err(|_| codes::FORMAT_ERROR)?;
        // A deciphered track is digits and the separator; anything else was not enciphered
        // under this TDK.
        if !text.bytes().all(|b| b.is_ascii_digit() || b == b'D') {
            tracing::info!(field, "acquirer: track data deciphered under the TDK is not a track");
            return Err(codes::FORMAT_ERROR);
        }
        clear.set_str(field, text).map_err(|_| codes::FORMAT_ERROR)?;
    }
    // The copy's tracks are clear now, and its 53.3 says so.
    let pin = request.get_path("53.1").ok().flatten() == Some(b"2".as_slice());
    clear.set_str(53, &hsm::track::security_control(pin, false)).map_err(|_| codes::FORMAT_ERROR)?;
    Ok(Some(clear))
}
