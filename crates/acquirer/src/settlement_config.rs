//! `[settlement]` of the acquirer's configuration: how merchants are paid (issue 13) — the
//! local zone and D0 cycle times, the folder the payout files and statements go to, the paying
//! bank's account, and the merchants' webhooks for funds-arrival notices.
//!
//! ```toml
//! [settlement]
//! zone = "+08:00"                 # the zone of the cycle times (explicit: no host default)
//! d0_cycles = ["11:00", "15:00"]  # D0 merchants are paid at these times; the day's last run pays the rest
//! output_dir = "merchant-settlement"  # relative to the config file; YYYY-MM-DD/ inside
//! paying_bank = "102290000001"
//! paying_account = "6222020000000001"
//!
//! [[settlement.webhooks]]
//! merchant_id = "898440158120001"
//! url = "http://127.0.0.1:8080/notices"
//! secret = "a shared secret"
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::limits::MERCHANT_ID_LEN;

/// Webhooks one configuration may name.
pub const WEBHOOKS_MAX: usize = 100_000;
/// D0 cycles in a day at most.
pub const D0_CYCLES_MAX: usize = 24;
/// Shortest webhook secret, in bytes (an HMAC key shorter than this is guessable).
pub const WEBHOOK_SECRET_BYTES_MIN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettlementConfig {
    /// The UTC offset the cycle times are in, `±HH:MM`.
    pub zone: String,
    /// D0 cycle times, `HH:MM` local, ascending.
    pub d0_cycles: Vec<String>,
    /// Where `settle` writes (`YYYY-MM-DD/` inside), relative to the config file.
    pub output_dir: PathBuf,
    /// The acquirer's account at the paying bank, written in the payout file's header.
    pub paying_bank: String,
    pub paying_account: String,
    /// Notice delivery: attempts before a notice is dead, the first retry delay (doubling),
    /// connect and read timeouts.
    pub notice_attempts_max: u32,
    pub notice_retry_ms_min: u64,
    pub notice_timeout_ms: u64,
    pub webhooks: Vec<Webhook>,
}

impl Default for SettlementConfig {
    fn default() -> SettlementConfig {
        SettlementConfig {
            zone: "+08:00".to_owned(),
            d0_cycles: Vec::new(),
            output_dir: PathBuf::from("merchant-settlement"),
            paying_bank: "000000000000".to_owned(),
            paying_account: "00000000".to_owned(),
            notice_attempts_max: 10,
            notice_retry_ms_min: 1_000,
            notice_timeout_ms: 5_000,
            webhooks: Vec::new(),
        }
    }
}

/// Where one merchant's funds-arrival notices are posted, and the HMAC key that signs them.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub merchant_id: String,
    /// `http://host:port/path` (plain HTTP: a local relay or a test server).
    pub url: String,
    pub secret: String,
}

/// The secret never appears in a dump.
impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("merchant_id", &self.merchant_id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A time of day in a fixed zone: a D0 cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CycleTime {
    /// Minutes after local midnight.
    pub minute_of_day: u32,
}

impl CycleTime {
    /// `HH:MM`.
    pub fn parse(text: &str) -> Result<CycleTime, ConfigError> {
        let bad = || ConfigError(format!("{text:?} is not a cycle time HH:MM"));
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(CycleTime { minute_of_day: h * 60 + m })
    }

    /// `HH:MM`.
    pub fn label(self) -> String {
        format!("{:02}:{:02}", self.minute_of_day / 60, self.minute_of_day % 60)
    }

    /// The instant (UTC ms) of this time on the local calendar day `date` in `zone_minutes`.
    pub fn instant_ms(self, date: clearing::BusinessDate, zone_minutes: i32) -> u64 {
        let local_ms = i64::from(date.days()) * 86_400_000 + i64::from(self.minute_of_day) * 60_000;
        (local_ms - i64::from(zone_minutes) * 60_000).max(0) as u64
    }
}

/// `±HH:MM` as minutes east of UTC.
pub fn parse_zone(text: &str) -> Result<i32, ConfigError> {
    // The clearing crate's cut-off parser checks the range; a dummy time borrows it.
    clearing::CutOff::parse(&format!("00:00 {text}"))
        .map(|cut| cut.utc_offset_minutes())
        .map_err(|_| ConfigError(format!("settlement.zone {text:?} is not a UTC offset ±HH:MM")))
}

impl SettlementConfig {
    /// The checked cycle times, ascending.
    pub fn cycles(&self) -> Result<Vec<CycleTime>, ConfigError> {
        if self.d0_cycles.len() > D0_CYCLES_MAX {
            return Err(ConfigError(format!("settlement.d0_cycles: at most {D0_CYCLES_MAX}")));
        }
        let mut cycles = Vec::with_capacity(self.d0_cycles.len());
        for text in &self.d0_cycles {
            let cycle = CycleTime::parse(text).map_err(|e| ConfigError(format!("settlement.d0_cycles: {}", e.0)))?;
            if cycles.last().is_some_and(|last: &CycleTime| *last >= cycle) {
                return Err(ConfigError("settlement.d0_cycles must be ascending, each once".into()));
            }
            cycles.push(cycle);
        }
        Ok(cycles)
    }

    pub fn zone_minutes(&self) -> Result<i32, ConfigError> {
        parse_zone(&self.zone)
    }

    pub fn webhook(&self, merchant_id: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.merchant_id == merchant_id)
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        self.zone_minutes()?;
        self.cycles()?;
        let digits =
            |t: &str, lo: usize, hi: usize| (lo..=hi).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(&self.paying_bank, 3, 12) || !digits(&self.paying_account, 8, 32) {
            return Err(ConfigError(
                "settlement.paying_bank must be 3 to 12 digits and paying_account 8 to 32 digits".into(),
            ));
        }
        if self.notice_attempts_max == 0 || self.notice_retry_ms_min == 0 || self.notice_timeout_ms == 0 {
            return Err(ConfigError(
                "settlement.notice_attempts_max, notice_retry_ms_min and notice_timeout_ms must be above 0".into(),
            ));
        }
        if self.webhooks.len() > WEBHOOKS_MAX {
            return Err(ConfigError(format!("settlement.webhooks: at most {WEBHOOKS_MAX}")));
        }
        for (index, hook) in self.webhooks.iter().enumerate() {
            let at = format!("settlement.webhooks[{index}]");
            if !digits(&hook.merchant_id, MERCHANT_ID_LEN, MERCHANT_ID_LEN) {
                return Err(ConfigError(format!("{at}.merchant_id must be {MERCHANT_ID_LEN} digits")));
            }
            crate::notice::HttpTarget::parse(&hook.url).map_err(|e| ConfigError(format!("{at}.url: {e}")))?;
            if hook.secret.len() < WEBHOOK_SECRET_BYTES_MIN {
                return Err(ConfigError(format!("{at}.secret must be at least {WEBHOOK_SECRET_BYTES_MIN} bytes")));
            }
            if self.webhooks[..index].iter().any(|w| w.merchant_id == hook.merchant_id) {
                return Err(ConfigError(format!("{at}: merchant {} has a webhook already", hook.merchant_id)));
            }
        }
        Ok(())
    }
}
