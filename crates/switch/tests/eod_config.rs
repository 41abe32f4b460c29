//! The end-of-day keys of the switch's configuration: the cut-off with its zone (and the older
//! UTC-minute key), `[fees]` and a BIN's card kind.

use std::path::PathBuf;

use clearing::{CardKind, FeeRate};
use hsm::SoftHsm;
use switch::config::{Directory, SwitchConfig};
use switch::dev::{self, DevMember};
use switch::eod_config::CardKindConfig;

fn dev_config() -> SwitchConfig {
    let hsm = SoftHsm::generate().unwrap();
    dev::network(
        &hsm,
        "127.0.0.1:9100",
        "sqlite:switch.db",
        &PathBuf::from("lmk.hex"),
        &[
            DevMember::acquirer(dev::ACQUIRER_ID, "Acquirer"),
            DevMember::issuer(dev::ISSUER_ID, "Issuer", "localhost:9200", &[dev::ISSUER_BIN], None),
        ],
    )
    .unwrap()
    .config
}

/// `text` with the `cutoff = …` line replaced by `line` (or removed when empty).
fn with_cutoff_line(text: &str, line: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with("cutoff = ") { line.to_owned() } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_cut_off_has_a_zone_and_the_old_key_still_reads_as_utc() {
    let mut config = dev_config();
    config.cutoff = Some("23:00 +08:00".into());
    let text = config.to_toml();
    assert!(text.contains("cutoff = \"23:00 +08:00\""), "{text}");
    assert!(!text.contains("settlement_cutover_minute"));
    let parsed = SwitchConfig::parse(&text).unwrap();
    assert_eq!(parsed, config);
    assert_eq!(Directory::new(&parsed).unwrap().cutoff.to_string(), "23:00 +08:00");

    // No key: midnight UTC, as field 15 was before the key existed.
    let default = SwitchConfig::parse(&with_cutoff_line(&text, "")).unwrap();
    assert_eq!(default.cutoff, None);
    assert_eq!(Directory::new(&default).unwrap().cutoff.to_string(), "00:00 +00:00");
    // The old key, read as UTC; written back as the new one.
    let old = SwitchConfig::parse(&with_cutoff_line(&text, "settlement_cutover_minute = 900")).unwrap();
    assert_eq!(Directory::new(&old).unwrap().cutoff.to_string(), "15:00 +00:00");
    assert!(old.to_toml().contains("cutoff = \"15:00 +00:00\""));
    // Both at once, or a cut-off without its zone: refused, naming the keys.
    let both = with_cutoff_line(&text, "cutoff = \"23:00 +08:00\"\nsettlement_cutover_minute = 900");
    let error = SwitchConfig::parse(&both).unwrap_err().to_string();
    assert!(error.contains("cutoff and settlement_cutover_minute are both set"), "{error}");
    let error = SwitchConfig::parse(&with_cutoff_line(&text, "cutoff = \"23:00\"")).unwrap_err().to_string();
    assert!(error.contains("cutoff") && error.contains("HH:MM"), "{error}");
}

#[test]
fn fees_and_card_kinds_round_trip_and_are_checked() {
    let mut config = dev_config();
    config.fees.network = switch::eod_config::FeeRateConfig { rate_cbp: 500, cap_minor: None };
    config.bins[0].card_kind = CardKindConfig::Credit;
    let text = config.to_toml();
    assert!(text.contains("[fees]") && text.contains("network = { rate_cbp = 500 }"), "{text}");
    assert!(text.contains("card_kind = \"credit\""));
    let parsed = SwitchConfig::parse(&text).unwrap();
    assert_eq!(parsed, config);
    let directory = Directory::new(&parsed).unwrap();
    assert_eq!(directory.fees.network, FeeRate { rate_cbp: 500, cap_minor: None });
    assert_eq!(directory.card_kind("6224242900000113"), CardKind::Credit);
    assert_eq!(directory.card_kind("622424******0113"), CardKind::Credit, "a masked PAN's BIN");
    assert_eq!(directory.card_kind("4761739001010010"), CardKind::Debit, "no BIN: debit");

    let error = SwitchConfig::parse(&text.replace("card_kind = \"credit\"", "card_kind = \"prepaid\"")).unwrap_err();
    assert!(error.to_string().contains("card_kind") || error.to_string().contains("prepaid"), "{error}");
    let error = SwitchConfig::parse(&text.replace("rate_cbp = 500", "rate_cbp = 2000000")).unwrap_err();
    assert!(error.to_string().contains("fees.network.rate_cbp"), "{error}");
}
