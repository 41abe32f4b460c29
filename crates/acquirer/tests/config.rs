//! The acquirer's configuration file: the POS profile may name a spec file instead of a
//! built-in, for an acquirer whose field 60 subfields, field 62 or framing differ; a wrong one is
//! refused with its name.

use std::sync::Arc;

use acquirer::AcquirerConfig;
use acquirer::dev::SwitchKeys;
use hsm::SoftHsm;

fn write_config(dir: &std::path::Path, spec: &str) -> std::path::PathBuf {
    let hsm = Arc::new(SoftHsm::generate().unwrap());
    let keys = SwitchKeys::generate(hsm.as_ref()).unwrap();
    let mut config = acquirer::dev::config_with_switch_keys(
        hsm.as_ref(),
        &keys,
        "10000000344",
        "127.0.0.1:0",
        "127.0.0.1:9100",
        "sqlite:acquirer.db",
        std::path::Path::new("lmk.hex"),
    )
    .unwrap();
    config.pos.spec = spec.to_owned();
    let path = dir.join("acquirer.toml");
    std::fs::write(&path, config.to_toml()).unwrap();
    path
}

#[test]
fn pos_spec_may_be_a_file_beside_the_config() {
    let dir = std::env::temp_dir().join(format!("cardnet-acquirer-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The built-in cup-pos spec, copied as an acquirer would before adapting it.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../iso8583/specs/cup-pos.toml");
    std::fs::copy(&source, dir.join("my-pos.toml")).unwrap();
    let path = write_config(&dir, "my-pos.toml");
    let config = AcquirerConfig::load(&path).unwrap();
    assert_eq!(std::path::Path::new(&config.pos.spec), dir.join("my-pos.toml"), "resolved beside the config");
    config.validate().unwrap();

    // The built-in by name still works; a missing file is refused, naming it.
    AcquirerConfig::load(&write_config(&dir, "cup-pos")).unwrap().validate().unwrap();
    let error = AcquirerConfig::load(&write_config(&dir, "missing.toml")).and_then(|c| c.validate().map(|_| c));
    let Err(refused) = error else { panic!("a missing spec file is refused") };
    let text = refused.to_string();
    assert!(text.contains("missing.toml"), "{text}");
    // A spec without fields 60/62/64 (the network dialect) is refused.
    let error = AcquirerConfig::load(&write_config(&dir, "network")).and_then(|c| c.validate().map(|_| c));
    assert!(error.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Card organisations by BIN prefix: written by `to_toml`, read back, the longest prefix wins;
/// a prefix that is not digits or an organisation that is not 3 letters is refused by name.
#[test]
fn card_organisations_by_bin_prefix() {
    let dir = std::env::temp_dir().join(format!("cardnet-acquirer-orgs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = write_config(&dir, "cup-pos");
    let mut config = AcquirerConfig::load(&path).unwrap();
    config.pos.card_organisations.insert("4".into(), "VIS".into());
    config.pos.card_organisations.insert("4567".into(), "XYZ".into());
    config.pos.card_organisations.insert("51".into(), "MCC".into());
    std::fs::write(&path, config.to_toml()).unwrap();
    let settings = acquirer::config::Settings::new(&AcquirerConfig::load(&path).unwrap()).unwrap();
    assert_eq!(settings.organisation_of("4111111111111111"), "VIS");
    assert_eq!(settings.organisation_of("4567890123456789"), "XYZ");
    assert_eq!(settings.organisation_of("5105105105105100"), "MCC");
    assert_eq!(settings.organisation_of("6224240000000017"), "CUP");
    for (prefix, organisation, named) in [("4a", "VIS", "4a"), ("", "VIS", "BIN prefix"), ("4", "VISA", "VISA")] {
        let mut bad = AcquirerConfig::load(&path).unwrap();
        bad.pos.card_organisations.clear();
        bad.pos.card_organisations.insert(prefix.into(), organisation.into());
        let error = bad.validate().unwrap_err().to_string();
        assert!(error.contains("card_organisations") && error.contains(named), "{error}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One file serves the host and its merchants registry: the registry's `[merchants]` section is
/// accepted by the host (and read by the registry), an unknown section still refused.
#[test]
fn the_registrys_section_is_accepted_beside_the_hosts() {
    let dir = std::env::temp_dir().join(format!("cardnet-acquirer-merchants-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = write_config(&dir, "cup-pos");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[merchants]\nmerchant_id_prefix = \"8994401\"\n");
    std::fs::write(&path, &text).unwrap();
    let config = AcquirerConfig::load(&path).unwrap();
    assert_eq!(config.merchants.unwrap().merchant_id_prefix, "8994401");
    let registry = merchants::RegistryConfig::load(&path).unwrap();
    assert_eq!(registry.merchants.merchant_id_prefix, "8994401");
    std::fs::write(&path, text + "\n[merchant]\nx = 1\n").unwrap();
    assert!(AcquirerConfig::load(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
