//! The configuration file: written by `dev`, read back the same; relative paths resolved;
//! every mistake refused at load with the setting named.

use std::path::Path;

use hsm::SoftHsm;
use issuer::IssuerConfig;

fn dev_config() -> IssuerConfig {
    let hsm = SoftHsm::generate().unwrap();
    issuer::dev::config(&hsm, "20000000455", "622424", "sqlite:issuer.db", None, Path::new("lmk.hex")).unwrap()
}

#[test]
fn the_written_file_reads_back_the_same() {
    let mut config = dev_config();
    config.products[0].excluded_prefixes = vec!["6224249".into()];
    config.business_day_utc_offset_minutes = 480;
    config.key_grace_ms = 30_000;
    let text = config.to_toml();
    assert_eq!(IssuerConfig::parse(&text).unwrap(), config);
    // Key blocks are written, the LMK is not (only its file name).
    assert!(text.contains("lmk_file = \"lmk.hex\""));
}

#[test]
fn load_resolves_relative_paths_against_the_file() {
    let dir = std::env::temp_dir().join(format!("cardnet_issuer_config_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("issuer.toml");
    std::fs::write(&path, dev_config().to_toml()).unwrap();
    let loaded = IssuerConfig::load(&path).unwrap();
    assert_eq!(loaded.lmk_file, dir.join("lmk.hex"));
    assert_eq!(loaded.database, format!("sqlite:{}", dir.join("issuer.db").display()));
    assert_eq!(loaded.ledger, None, "the ledger lives in the database");
    // An older configuration's separate ledger is still read, its path resolved the same way.
    let mut older = dev_config();
    older.ledger = Some("sqlite:ledger.db".into());
    let text = older.to_toml();
    assert!(text.contains("ledger = \"sqlite:ledger.db\""));
    std::fs::write(&path, text).unwrap();
    let loaded = IssuerConfig::load(&path).unwrap();
    assert_eq!(loaded.ledger, Some(format!("sqlite:{}", dir.join("ledger.db").display())));
    let error = IssuerConfig::load(&dir.join("missing.toml")).unwrap_err();
    assert!(error.is_bad_input());
    let _ = std::fs::remove_dir_all(&dir);
}

/// One mistake made to a good configuration.
type Change = Box<dyn Fn(&mut IssuerConfig)>;

#[test]
fn mistakes_are_refused_naming_the_setting() {
    let base = dev_config();
    let cases: Vec<(&str, Change)> = vec![
        ("institution_id", Box::new(|c| c.institution_id = "123".into())),
        ("listen", Box::new(|c| c.listen = "nowhere".into())),
        ("currency", Box::new(|c| c.currency = "CNY".into())),
        ("pin_tries_max", Box::new(|c| c.pin_tries_max = 0)),
        ("preauth_hold_days", Box::new(|c| c.preauth_hold_days = 0)),
        ("keys.pvk", Box::new(|c| c.keys.pvk = c.keys.cvk.clone())),
        ("keys.switch_zak", Box::new(|c| c.keys.switch_zak = "not a key block".into())),
        ("keys.switch_zmk", Box::new(|c| c.keys.switch_zmk = c.keys.switch_zak.clone())),
        ("key_grace_ms", Box::new(|c| c.key_grace_ms = issuer::limits::KEY_GRACE_MS_MAX + 1)),
        ("keys.pvk_index", Box::new(|c| c.keys.pvk_index = 10)),
        ("credit_limit_minor", Box::new(|c| c.products[1].credit_limit_minor = 0)),
        ("excluded prefix", Box::new(|c| c.products[0].excluded_prefixes = vec!["6111111".into()])),
        ("bin", Box::new(|c| c.products[0].bin = "62".into())),
        ("named twice", Box::new(|c| c.products[1].name = "debit".into())),
        ("ledger names the database itself", Box::new(|c| c.ledger = Some(c.database.clone()))),
        ("ledger, when given", Box::new(|c| c.ledger = Some(" ".into()))),
        ("keys.decimalization_table", Box::new(|c| c.keys.decimalization_table = "01234567890123AB".into())),
        (
            "shorten pin_length",
            Box::new(|c| {
                c.products[0].pin_verification = issuer::config::PinMethod::Ibm3624;
                c.products[0].pan_length = 19;
                c.products[0].pin_length = 12;
            }),
        ),
    ];
    for (setting, change) in cases {
        let mut config = base.clone();
        change(&mut config);
        let error = config.validate().unwrap_err();
        assert!(error.is_bad_input(), "{setting}");
        assert!(error.to_string().contains(setting), "{setting}: {error}");
        assert!(!error.to_string().contains(&base.keys.cvk), "no key block in errors");
    }
    // The ZMK is required: without it the switch's key changes could not be taken.
    let without_zmk: String =
        base.to_toml().lines().filter(|line| !line.starts_with("switch_zmk")).map(|l| format!("{l}\n")).collect();
    assert!(IssuerConfig::parse(&without_zmk).unwrap_err().to_string().contains("switch_zmk"));
    let unknown = format!("{}\nsurprise = 1\n", base.to_toml());
    assert!(IssuerConfig::parse(&unknown).unwrap_err().to_string().contains("surprise"));
}
