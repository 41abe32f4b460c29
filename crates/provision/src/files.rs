//! A development network written out as files, one per party, for `cardnet serve
//! switch|issuer|acquirer` to run as separate processes (`cardnet network init`): the LMK, the
//! switch's, each issuer's and the acquirer's configuration, and the acquirer's link keys. Every
//! file is owner-only (it holds key blocks, or the LMK itself); paths inside are relative, so
//! the folder can move. Nothing that exists is overwritten.

use std::path::{Path, PathBuf};

use hsm::{Secret, SecurityModule, SoftHsm};

use crate::ceremony::generate;
use crate::error::{ProvisionError, Result, fail};
use crate::layout::{ACQUIRER_ID, ISSUER_BINS, ISSUER_IDS, Ports, SECOND_ACQUIRER_ID};

pub const LMK_FILE: &str = "lmk.hex";
pub const SWITCH_FILE: &str = "switch.toml";
pub const ACQUIRER_LINK_FILE: &str = "acquirer-link.toml";
pub const ACQUIRER_FILE: &str = "acquirer.toml";
/// The second acquirer's merchant id prefix: acquirer code 899 (the first's is the registry's
/// default, 898), area 4401.
const SECOND_ACQUIRER_MERCHANT_PREFIX: &str = "8994401";
/// Where every party listens: one host, the ports of [`Ports`].
const HOST: &str = "127.0.0.1";

/// The file of a further acquirer `id`'s configuration (the first is [`ACQUIRER_FILE`]).
pub fn acquirer_file(id: &str) -> String {
    format!("acquirer-{id}.toml")
}

/// The file of a further acquirer `id`'s zone keys with the switch.
pub fn acquirer_link_file(id: &str) -> String {
    format!("acquirer-{id}-link.toml")
}

/// The file of issuer `id`'s configuration.
pub fn issuer_file(id: &str) -> String {
    format!("issuer-{id}.toml")
}

/// One party's file and where it listens.
#[derive(Debug, Clone)]
pub struct WrittenParty {
    pub id: String,
    pub listen: String,
    pub config: PathBuf,
}

/// What [`write_network`] wrote: where, and what to check against (check values only).
#[derive(Debug, Clone)]
pub struct WrittenNetwork {
    pub dir: PathBuf,
    pub lmk_check_value: String,
    pub switch: WrittenParty,
    /// (party, BIN), A then B.
    pub issuers: Vec<(WrittenParty, String)>,
    pub acquirer: WrittenParty,
    /// The acquirer's zone keys with the switch, as key blocks under the LMK.
    pub acquirer_link: PathBuf,
    pub acquirer_zpk_kcv: String,
    pub acquirer_zak_kcv: String,
    /// The acquirers after the first (`acquirer-<id>.toml`), with their link files.
    pub more_acquirers: Vec<(WrittenParty, PathBuf)>,
}

/// Write a whole network with fresh keys into `dir` (created if missing): `lmk.hex`,
/// `switch.toml`, `issuer-<id>.toml` per bank, `acquirer.toml` and `acquirer-link.toml`, and with
/// `acquirers` = 2 a second acquirer's `acquirer-<id>.toml` and `acquirer-<id>-link.toml`.
/// Refuses ([`ProvisionError::Input`]) when any of them exists.
pub fn write_network(dir: &Path, ports: Ports, acquirers: usize) -> Result<WrittenNetwork> {
    if !(1..=crate::layout::ACQUIRERS.len()).contains(&acquirers) {
        return Err(ProvisionError::input(format!("a network has 1 to {} acquirers", crate::layout::ACQUIRERS.len())));
    }
    let mut files: Vec<PathBuf> =
        [LMK_FILE, SWITCH_FILE, ACQUIRER_LINK_FILE, ACQUIRER_FILE].iter().map(|f| dir.join(f)).collect();
    files.extend(ISSUER_IDS.iter().map(|id| dir.join(issuer_file(id))));
    files.extend(
        [acquirer_file(SECOND_ACQUIRER_ID), acquirer_link_file(SECOND_ACQUIRER_ID)].iter().map(|f| dir.join(f)),
    );
    if let Some(existing) = files.iter().find(|path| path.exists()) {
        return Err(ProvisionError::input(format!("{} exists; not overwriting it", existing.display())));
    }
    std::fs::create_dir_all(dir).map_err(fail(&format!("create {}", dir.display())))?;

    let lmk = Secret::random(hsm::soft::LMK_LEN).map_err(fail("LMK"))?;
    let hsm = SoftHsm::new(lmk.clone()).map_err(fail("HSM"))?;
    let listen = |port: u16| format!("{HOST}:{port}");
    let switch_listen = listen(ports.switch);
    let endpoint = |id: &str| listen(ports.issuer(id).unwrap_or(0));
    let mut stores = |id: &str| format!("sqlite:issuer-{id}.db");
    let generated =
        generate(acquirers, &hsm, Path::new(LMK_FILE), "sqlite:switch.db", &mut stores, &switch_listen, endpoint)?;

    let write = |name: &str, text: &[u8]| -> Result<PathBuf> {
        let path = dir.join(name);
        host::write_private(&path, text).map_err(fail(&format!("write {}", path.display())))?;
        Ok(path)
    };
    hsm::soft::write_lmk_file(&dir.join(LMK_FILE), &lmk).map_err(fail("write the LMK file"))?;
    let switch_config = write(SWITCH_FILE, generated.switch.to_toml().as_bytes())?;
    let mut issuers = Vec::with_capacity(generated.issuers.len());
    for (id, bin, mut config) in generated.issuers {
        config.listen = endpoint(&id);
        // A deployment's products decline a chip card swiped without fallback (45).
        issuer::dev::decline_chip_swipes(&mut config);
        let path = write(&issuer_file(&id), config.to_toml().as_bytes())?;
        issuers.push((WrittenParty { id, listen: config.listen, config: path }, bin));
    }

    let keys = &generated.acquirer_keys;
    let acquirer_link = write(ACQUIRER_LINK_FILE, link_text(ACQUIRER_ID, &switch_listen, keys).as_bytes())?;
    let acquirer_listen = listen(ports.acquirer);
    let acquirer = acquirer_config(&hsm, keys, ACQUIRER_ID, &acquirer_listen, &switch_listen, "sqlite:acquirer.db")?;
    let acquirer_path = write(ACQUIRER_FILE, acquirer.to_toml().as_bytes())?;
    let mut more_acquirers = Vec::new();
    for (id, keys) in generated.all_acquirer_keys.iter().skip(1) {
        let link = write(&acquirer_link_file(id), link_text(id, &switch_listen, keys).as_bytes())?;
        let own_listen = listen(ports.second_acquirer);
        let database = format!("sqlite:acquirer-{id}.db");
        let mut config = acquirer_config(&hsm, keys, id, &own_listen, &switch_listen, &database)?;
        // Each acquirer its own stores: its ledger of merchant payables too.
        config.ledger = format!("sqlite:acquirer-{id}-ledger.db");
        // Its own acquirer code in the merchant ids it numbers (prefix + MCC + sequence), so no
        // two merchants of the network share an id.
        let text = format!(
            "{}\n# The merchants registry: ids numbered under this acquirer's code and area.\n[merchants]\nmerchant_id_prefix = \"{SECOND_ACQUIRER_MERCHANT_PREFIX}\"\n",
            config.to_toml()
        );
        let path = write(&acquirer_file(id), text.as_bytes())?;
        more_acquirers.push((WrittenParty { id: id.clone(), listen: own_listen, config: path }, link));
    }

    Ok(WrittenNetwork {
        dir: dir.to_owned(),
        lmk_check_value: hsm.lmk_check_value(),
        switch: WrittenParty { id: switch::dev::SWITCH_ID.to_owned(), listen: switch_listen, config: switch_config },
        issuers,
        acquirer: WrittenParty { id: ACQUIRER_ID.to_owned(), listen: acquirer_listen, config: acquirer_path },
        acquirer_link,
        acquirer_zpk_kcv: keys.zpk.kcv().to_owned(),
        acquirer_zak_kcv: keys.zak.kcv().to_owned(),
        more_acquirers,
    })
}

/// An acquirer's link file: member id, where the switch listens, its zone keys.
fn link_text(id: &str, switch_listen: &str, keys: &switch::dev::MemberKeys) -> String {
    format!(
        "# The acquirer's link to the switch: member id, where the switch listens, and the zone keys\n\
         # (TR-31 blocks under the LMK in {LMK_FILE}) the switch holds for this member.\n\
         acquirer_id = \"{id}\"\nswitch = \"{switch_listen}\"\nzmk = \"{}\"\nzpk = \"{}\"\nzak = \"{}\"\n",
        keys.zmk.block(),
        keys.zpk.block(),
        keys.zak.block()
    )
}

/// The acquirer host's configuration for a deployment: the switch's zone keys, terminals on
/// scheme 004 only, the issuers' credit BINs mapped for the merchants' fee plans.
fn acquirer_config(
    hsm: &dyn SecurityModule,
    keys: &switch::dev::MemberKeys,
    id: &str,
    listen: &str,
    switch_endpoint: &str,
    database: &str,
) -> Result<acquirer::AcquirerConfig> {
    let switch_keys = acquirer::dev::SwitchKeys { zmk: keys.zmk.clone(), zpk: keys.zpk.clone(), zak: keys.zak.clone() };
    let mut config = acquirer::dev::config_with_switch_keys(
        hsm,
        &switch_keys,
        id,
        listen,
        switch_endpoint,
        database,
        Path::new(LMK_FILE),
    )
    .map_err(fail("acquirer configuration"))?;
    // New set-ups issue only scheme 004, whose terminals encipher track 2 under the TDK; an
    // acquirer that must take older terminals adds "003" or "001" to `key_schemes`.
    config.pos.key_schemes = vec![hsm::SignOnScheme::DoubleWithTdk.code().to_owned()];
    // The issuers' credit cards have their own BINs: the merchant's fee plan goes by card kind.
    for bin in ISSUER_BINS {
        config.pos.card_kinds.insert(issuer::dev::credit_bin(bin), "credit".to_owned());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardnet-provision-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_network_is_written_owner_only_and_never_over_itself() {
        use std::os::unix::fs::PermissionsExt;
        let dir = fresh("files");
        let written = write_network(&dir, Ports::from_switch(9100).unwrap(), 1).unwrap();
        assert!(written.more_acquirers.is_empty());
        assert_eq!(written.issuers.len(), 2);
        assert_eq!(written.issuers[1].0.listen, "127.0.0.1:9102");
        for name in [LMK_FILE, SWITCH_FILE, ACQUIRER_LINK_FILE, ACQUIRER_FILE] {
            let mode = std::fs::metadata(dir.join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{name} is owner-only");
        }
        let issuer = issuer::IssuerConfig::load(&written.issuers[0].0.config).unwrap();
        assert_eq!(issuer.listen, "127.0.0.1:9101");
        let again = write_network(&dir, Ports::from_switch(9100).unwrap(), 1).unwrap_err();
        assert!(again.is_input(), "{again}");
        let _ = std::fs::remove_dir_all(&dir);
        let two = write_network(&dir, Ports::from_switch(9100).unwrap(), 2).unwrap();
        let (second, link) = &two.more_acquirers[0];
        assert_eq!((second.id.as_str(), second.listen.as_str()), (SECOND_ACQUIRER_ID, "127.0.0.1:9104"));
        let config = acquirer::AcquirerConfig::load(&second.config).unwrap();
        assert_eq!(config.institution_id, SECOND_ACQUIRER_ID);
        let first = acquirer::AcquirerConfig::load(&two.acquirer.config).unwrap();
        assert_ne!((&config.database, &config.ledger), (&first.database, &first.ledger), "stores of its own");
        assert!(link.is_file());
        let text = std::fs::read_to_string(&second.config).unwrap();
        assert!(text.contains("merchant_id_prefix = \"8994401\""), "its own merchant ids: {text}");
        assert!(write_network(&fresh("files-three"), Ports::from_switch(9100).unwrap(), 3).unwrap_err().is_input());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
