//! The end-of-day part of the switch's configuration: the cut-off (a local time with its UTC
//! offset), the fee schedule and a BIN's card kind. Kept apart from `config.rs` so the file
//! form and its checks for end of day read in one place.
//!
//! **Cut-off.** `cutoff = "23:00 +08:00"` (`clearing::CutOff::parse`). The older
//! `settlement_cutover_minute` (minutes after 00:00 UTC) is still read, as `HH:MM +00:00`;
//! both at once are refused. Neither: [`CUTOFF_DEFAULT`], midnight UTC — what the switch did
//! before the key existed (its field 15 was the UTC date), so old files keep their dates.

use clearing::{CardKind, CutOff, FeeRate, FeeSchedule};
use serde::Deserialize;

use crate::config::ConfigError;

/// The cut-off when a file names none: the date ends at 00:00 UTC.
pub const CUTOFF_DEFAULT: &str = "00:00 +00:00";
const MINUTES_PER_DAY: u32 = 24 * 60;

/// The cut-off a file asks for: the new key, the old one (UTC minutes), or the default.
pub fn resolve_cutoff(cutoff: Option<&str>, cutover_minute: Option<u32>) -> Result<CutOff, ConfigError> {
    match (cutoff, cutover_minute) {
        (Some(_), Some(_)) => Err(ConfigError(
            "cutoff and settlement_cutover_minute are both set: keep cutoff (\"HH:MM ±HH:MM\") and remove \
             settlement_cutover_minute"
                .into(),
        )),
        (Some(text), None) => CutOff::parse(text).map_err(|e| ConfigError(format!("cutoff: {e}"))),
        (None, Some(minute)) if minute >= MINUTES_PER_DAY => {
            Err(ConfigError(format!("settlement_cutover_minute must be 0 to {}", MINUTES_PER_DAY - 1)))
        }
        (None, Some(minute)) => {
            CutOff::new(minute, 0).map_err(|e| ConfigError(format!("settlement_cutover_minute: {e}")))
        }
        (None, None) => CutOff::parse(CUTOFF_DEFAULT).map_err(|e| ConfigError(format!("cutoff default: {e}"))),
    }
}

/// One fee as written: a rate in hundredths of a basis point (325 = 0.0325 %) and an optional
/// cap per transaction in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRateConfig {
    pub rate_cbp: u32,
    #[serde(default)]
    pub cap_minor: Option<u64>,
}

impl FeeRateConfig {
    fn of(rate: FeeRate) -> FeeRateConfig {
        FeeRateConfig { rate_cbp: rate.rate_cbp, cap_minor: rate.cap_minor }
    }

    fn rate(self, name: &str) -> Result<FeeRate, ConfigError> {
        if u64::from(self.rate_cbp) > clearing::fees::CBP_PER_UNIT {
            return Err(ConfigError(format!(
                "fees.{name}.rate_cbp {} is above 100 % ({})",
                self.rate_cbp,
                clearing::fees::CBP_PER_UNIT
            )));
        }
        if self.cap_minor.is_some_and(|cap| i64::try_from(cap).is_err()) {
            return Err(ConfigError(format!("fees.{name}.cap_minor is above 2^63-1")));
        }
        Ok(FeeRate { rate_cbp: self.rate_cbp, cap_minor: self.cap_minor })
    }

    fn to_toml(self) -> String {
        match self.cap_minor {
            Some(cap) => format!("{{ rate_cbp = {}, cap_minor = {cap} }}", self.rate_cbp),
            None => format!("{{ rate_cbp = {} }}", self.rate_cbp),
        }
    }
}

/// `[fees]`: the issuer's fee (interchange) by card kind and the network fee charged to each of
/// issuer and acquirer. Default: China's 2016 caps (`clearing::FeeSchedule::china_2016`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeesConfig {
    pub interchange_debit: FeeRateConfig,
    pub interchange_credit: FeeRateConfig,
    pub network: FeeRateConfig,
}

impl Default for FeesConfig {
    fn default() -> FeesConfig {
        FeesConfig::of(&FeeSchedule::china_2016())
    }
}

impl FeesConfig {
    pub fn of(schedule: &FeeSchedule) -> FeesConfig {
        FeesConfig {
            interchange_debit: FeeRateConfig::of(schedule.interchange_debit),
            interchange_credit: FeeRateConfig::of(schedule.interchange_credit),
            network: FeeRateConfig::of(schedule.network),
        }
    }

    /// The checked schedule.
    pub fn schedule(&self) -> Result<FeeSchedule, ConfigError> {
        Ok(FeeSchedule {
            interchange_debit: self.interchange_debit.rate("interchange_debit")?,
            interchange_credit: self.interchange_credit.rate("interchange_credit")?,
            network: self.network.rate("network")?,
        })
    }

    /// The `[fees]` section.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str("\n# Fees in hundredths of a basis point (325 = 0.0325 %), optional cap per transaction in\n");
        out.push_str("# minor units: the issuer's fee (interchange) by card kind, and the network fee charged\n");
        out.push_str("# to each of issuer and acquirer. Rounded half up to a minor unit, then capped.\n");
        out.push_str("[fees]\n");
        out.push_str(&format!("interchange_debit = {}\n", self.interchange_debit.to_toml()));
        out.push_str(&format!("interchange_credit = {}\n", self.interchange_credit.to_toml()));
        out.push_str(&format!("network = {}\n", self.network.to_toml()));
        out
    }
}

/// A BIN's card kind as written (`card_kind = "debit"` or `"credit"`; default debit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardKindConfig {
    #[default]
    Debit,
    Credit,
}

impl CardKindConfig {
    pub fn kind(self) -> CardKind {
        match self {
            CardKindConfig::Debit => CardKind::Debit,
            CardKindConfig::Credit => CardKind::Credit,
        }
    }

    pub fn name(self) -> &'static str {
        self.kind().name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_keys() {
        assert_eq!(resolve_cutoff(None, None).unwrap().to_string(), "00:00 +00:00");
        assert_eq!(resolve_cutoff(Some("23:00 +08:00"), None).unwrap().to_string(), "23:00 +08:00");
        assert_eq!(resolve_cutoff(None, Some(90)).unwrap().to_string(), "01:30 +00:00");
        assert!(resolve_cutoff(Some("23:00 +08:00"), Some(0)).unwrap_err().0.contains("both"));
        assert!(resolve_cutoff(None, Some(1440)).unwrap_err().0.contains("settlement_cutover_minute"));
        assert!(resolve_cutoff(Some("23:00"), None).unwrap_err().0.contains("cutoff"));
    }

    #[test]
    fn fees_default_to_china_2016_and_refuse_rates_above_100_percent() {
        assert_eq!(FeesConfig::default().schedule().unwrap(), FeeSchedule::china_2016());
        let mut fees = FeesConfig::default();
        fees.network.rate_cbp = 1_000_001;
        assert!(fees.schedule().unwrap_err().0.contains("fees.network"));
    }
}
