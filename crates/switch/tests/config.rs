//! The configuration file: round trip, relative paths, and every refusal with a clear message.

use std::path::PathBuf;

use hsm::{KeyAlgorithm, KeyType, SecurityModule, SoftHsm};
use switch::config::{BinConfig, Directory, Role, SwitchConfig};
use switch::dev::{self, DevMember};

fn dev_config(hsm: &SoftHsm) -> SwitchConfig {
    dev::network(
        hsm,
        "127.0.0.1:9100",
        "sqlite:switch.db",
        &PathBuf::from("lmk.hex"),
        &[
            DevMember::acquirer(dev::ACQUIRER_ID, "Acquirer \"A\""),
            DevMember::issuer(dev::ISSUER_ID, "Issuer B", "localhost:9200", &[dev::ISSUER_BIN], Some(dev::stip(true))),
            DevMember::issuer(dev::ISSUER2_ID, "Issuer C", "127.0.0.1:9300", &["62"], None),
        ],
    )
    .unwrap()
    .config
}

/// The message of the error `change` causes.
fn refused(change: impl FnOnce(&mut SwitchConfig)) -> String {
    let hsm = SoftHsm::generate().unwrap();
    let mut config = dev_config(&hsm);
    change(&mut config);
    let error = config.validate().unwrap_err().to_string();
    // Every message is one line and starts with what it is about.
    assert!(error.starts_with("switch config: ") && !error.contains('\n'), "{error}");
    error
}

#[test]
fn toml_round_trip_and_relative_paths() {
    let hsm = SoftHsm::generate().unwrap();
    let mut config = dev_config(&hsm);
    config.members[1].key_change_interval_ms = 3_600_000;
    config.key_grace_ms = 30_000;
    let text = config.to_toml();
    assert!(text.contains("[[members]]") && text.contains("[members.stip]") && text.contains("[[bins]]"));
    assert!(text.contains("key_change_interval_ms = 3600000") && text.contains("key_grace_ms = 30000"));
    assert_eq!(SwitchConfig::parse(&text).unwrap(), config);

    let dir = std::env::temp_dir().join(format!("cardnet-switch-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("switch.toml");
    std::fs::write(&path, &text).unwrap();
    let loaded = SwitchConfig::load(&path).unwrap();
    assert_eq!(loaded.lmk_file, dir.join("lmk.hex"));
    assert_eq!(loaded.database, format!("sqlite:{}", dir.join("switch.db").display()));
    std::fs::remove_dir_all(&dir).unwrap();

    // Defaults: the timeout, the database, advices.
    let minimal = format!(
        "institution_id = \"90000000001\"\nlisten = \"127.0.0.1:0\"\nlmk_file = \"lmk\"\ndek = \"{}\"\n",
        config.dek
    );
    let parsed = SwitchConfig::parse(&minimal).unwrap();
    assert_eq!(parsed.issuer_timeout_ms, 10_000);
    assert_eq!(parsed.key_grace_ms, switch::limits::KEY_GRACE_MS_DEFAULT);
    assert_eq!(parsed.database, "sqlite:switch.db");
    assert!(parsed.members.is_empty());
}

#[test]
fn longest_prefix_routing() {
    let hsm = SoftHsm::generate().unwrap();
    let directory = Directory::new(&dev_config(&hsm)).unwrap();
    assert_eq!(directory.route(&"6224242900000113".parse().unwrap()).unwrap().id, dev::ISSUER_ID);
    assert_eq!(directory.route(&"6299000000000000".parse().unwrap()).unwrap().id, dev::ISSUER2_ID);
    assert!(directory.route(&"4761739001010010".parse().unwrap()).is_none());
    assert!(directory.acquirer(dev::ISSUER_ID).is_none(), "an issuer only is not an acquirer");
    assert_eq!(directory.issuers().len(), 2);
    // Debug shows check values, never key blocks.
    let shown = format!("{:?}", directory.member(dev::ISSUER_ID).unwrap());
    assert!(!shown.contains(&dev_config(&hsm).members[1].zak));
}

#[test]
fn refusals_name_what_is_wrong() {
    assert!(refused(|c| c.institution_id = "9000".into()).contains("institution_id must be 11 digits"));
    assert!(refused(|c| c.listen = "nowhere".into()).contains("listen"));
    assert!(refused(|c| c.issuer_timeout_ms = 0).contains("issuer_timeout_ms"));
    assert!(refused(|c| c.settlement_cutover_minute = Some(1440)).contains("settlement_cutover_minute"));
    assert!(refused(|c| c.members[1].id = c.members[0].id.clone()).contains("appears twice"));
    assert!(refused(|c| c.members[0].id = "1234567890A".into()).contains("members[0]: id must be 11 digits"));
    assert!(refused(|c| c.members[0].id = c.institution_id.clone()).contains("the switch's own"));
    assert!(refused(|c| c.members[0].roles.clear()).contains("roles is empty"));
    assert!(refused(|c| c.members[0].roles = vec![Role::Acquirer, Role::Acquirer]).contains("twice"));
    assert!(refused(|c| c.members[1].endpoint = None).contains("needs an endpoint"));
    assert!(refused(|c| c.members[1].endpoint = Some("localhost".into())).contains("not host:port"));
    assert!(
        refused(|c| c.members[0].zpk = c.members[0].zak.clone()).contains("zpk is a ZAK key block, a ZPK is needed")
    );
    assert!(refused(|c| c.members[0].zak = "not a key block".into()).contains("zak is not a key block"));
    assert!(refused(|c| c.dek = c.members[0].zak.clone()).contains("dek is a ZAK"));
    assert!(refused(|c| c.members[0].stip = Some(dev::stip(true))).contains("not an issuer"));
    assert!(
        refused(|c| {
            if let Some(stip) = &mut c.members[1].stip {
                stip.daily_count_max = 0;
            }
        })
        .contains("limits must be above 0")
    );
    assert!(
        refused(|c| {
            if let Some(stip) = &mut c.members[1].stip {
                stip.currency = "CNY".into();
            }
        })
        .contains("currency")
    );
    let acquirer = dev::ACQUIRER_ID.to_owned();
    assert!(
        refused(|c| c.bins.push(BinConfig { prefix: "4".into(), issuer: acquirer, card_kind: Default::default() }))
            .contains("does not have the issuer role")
    );
    assert!(
        refused(|c| c.bins.push(BinConfig {
            prefix: "4".into(),
            issuer: "20000000999".into(),
            card_kind: Default::default()
        }))
        .contains("not a member")
    );
    assert!(
        refused(|c| c.bins.push(BinConfig {
            prefix: "622424".into(),
            issuer: dev::ISSUER2_ID.into(),
            card_kind: Default::default()
        }))
        .contains("BIN 622424: the prefix appears twice")
    );
    assert!(refused(|c| c.bins[0].prefix = "62A".into()).contains("digits"));
    assert!(refused(|c| c.key_grace_ms = switch::limits::KEY_GRACE_MS_MAX + 1).contains("key_grace_ms"));
    assert!(refused(|c| c.members[1].key_change_interval_ms = 10).contains("key_change_interval_ms must be 0"));
    assert!(
        refused(|c| c.members[0].key_change_interval_ms = 60_000)
            .contains("key_change_interval_ms is set but the member is not an issuer")
    );
    // Unknown keys are refused, not ignored (a misspelt limit must not silently default).
    let hsm = SoftHsm::generate().unwrap();
    let text = dev_config(&hsm).to_toml().replace("issuer_timeout_ms", "issuer_timout_ms");
    assert!(SwitchConfig::parse(&text).unwrap_err().to_string().contains("issuer_timout_ms"));
}

#[test]
fn lmk_file_round_trip() {
    let dir = std::env::temp_dir().join(format!("cardnet-switch-lmk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lmk.hex");
    let lmk = dev::generate_lmk().unwrap();
    hsm::soft::write_lmk_file(&path, &lmk).unwrap();
    let first = SoftHsm::from_lmk_file(&path).unwrap();
    let second = SoftHsm::new(lmk).unwrap();
    assert_eq!(first.lmk_check_value(), second.lmk_check_value());
    // A key made by one opens in the other: the same LMK.
    let zak = first.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
    assert!(second.generate_mac(&zak, network::mac::ALGORITHM, b"12345678").is_ok());
    std::fs::write(&path, "not hex").unwrap();
    assert!(SoftHsm::from_lmk_file(&path).unwrap_err().to_string().contains("not hex"));
    std::fs::remove_dir_all(&dir).unwrap();
}
