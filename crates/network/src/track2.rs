//! Track 2 (field 35, or the chip's track 2 equivalent): `PAN=YYMM` + service code +
//! discretionary data (ISO/IEC 7813). cardnet's cards put PVKI, PVV and CVV (or iCVV) first in
//! the discretionary data (docs/network-flows.md §2).

use crate::error::{Error, Result};

use domain::Pan;
pub use domain::{PAN_DIGITS_MAX, PAN_DIGITS_MIN};

/// Field 35 is at most 37 characters.
pub const TRACK2_LEN_MAX: usize = 37;

const FIELD: u8 = 35;

#[derive(Clone, PartialEq, Eq)]
pub struct Track2 {
    pub pan: Pan,
    /// `YYMM`.
    pub expiry_yymm: String,
    /// Three digits: 1st interchange/technology (2 or 6 = chip card), 2nd authorization
    /// processing, 3rd PIN requirements.
    pub service_code: String,
    pub discretionary: String,
}

/// Masked: track data is as sensitive as a PAN.
impl std::fmt::Debug for Track2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Track2").field("pan", &self.pan).finish_non_exhaustive()
    }
}

impl Track2 {
    /// Read track 2 text: digits, one `=` (or `D`) separator, at least expiry and service code after it.
    pub fn parse(text: &str) -> Result<Track2> {
        if text.len() > TRACK2_LEN_MAX {
            return Err(Error::Invalid { field: FIELD, reason: "longer than 37 characters" });
        }
        let (pan, rest) =
            text.split_once(['=', 'D']).ok_or(Error::Invalid { field: FIELD, reason: "no field separator" })?;
        let pan = Pan::new(pan).map_err(|_| Error::Invalid { field: FIELD, reason: "PAN must be 12 to 19 digits" })?;
        if rest.len() < 7 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Invalid { field: FIELD, reason: "expiry and service code must be 7 digits" });
        }
        Ok(Track2 {
            pan,
            expiry_yymm: rest[..4].to_owned(),
            service_code: rest[4..7].to_owned(),
            discretionary: rest[7..].to_owned(),
        })
    }

    /// The text of the track.
    pub fn encode(&self) -> String {
        format!("{}={}{}{}", self.pan.as_str(), self.expiry_yymm, self.service_code, self.discretionary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        let t = Track2::parse("6224242900000113=28062011234567000").unwrap();
        assert_eq!(t.pan.as_str(), "6224242900000113");
        assert_eq!(t.expiry_yymm, "2806");
        assert_eq!(t.service_code, "201");
        assert_eq!(t.discretionary, "1234567000");
        assert_eq!(t.encode(), "6224242900000113=28062011234567000");
        assert!(!format!("{t:?}").contains("2900000"), "Debug masks the PAN");
        let d = Track2::parse("6224242900000113D2806201").unwrap();
        assert_eq!(d.service_code, "201");
    }

    #[test]
    fn refuses() {
        for bad in [
            "",
            "6224242900000113",
            "62242=2806201",
            "6224242900000113=2806",
            "62242429000001A3=2806201",
            "6224242900000113=28X6201",
        ] {
            assert!(Track2::parse(bad).is_err(), "{bad}");
        }
    }
}
