//! The key ceremony of the development network: the zone keys of every link (ZMK, ZPK, ZAK per
//! member, generated once and held by both ends), the switch's DEK, and each issuer's own keys
//! (PVK, CVK, IMK-AC, DEK), all generated in one security module and kept only as key blocks
//! under its LMK.
//!
//! Development only: one LMK serves every member, so one generation gives both ends of a link
//! the same key blocks. Real members each have their own HSM and exchange the ZMK as components
//! under dual control, then the working keys under it (0800/101); that is what the switch does
//! later here too (`SwitchServer::change_key`), under the ZMK this ceremony shared.

use std::path::Path;

use hsm::SecurityModule;
use issuer::IssuerConfig;
use switch::config::SwitchConfig;
use switch::dev::{DevMember, MemberKeys};

use crate::error::{ProvisionError, Result, fail};
use crate::layout::{ACQUIRER_ID, ACQUIRERS, ISSUERS, inner_bins};

/// The configurations of a whole network sharing one LMK: the switch with an acquirer member
/// and the two issuers (A: BIN 622424, no stand-in; B: BIN 6224249, stand-in), each issuer's
/// link keys (ZMK, ZPK, ZAK) the same blocks as the switch's.
pub struct NetworkConfigs {
    pub switch: SwitchConfig,
    /// (institution id, BIN, configuration) per issuer, A then B.
    pub issuers: Vec<(String, String, IssuerConfig)>,
    /// The acquirer member's zone keys with the switch.
    pub acquirer_keys: MemberKeys,
    /// Every acquirer member's (id, zone keys), the first one's included, in order.
    pub all_acquirer_keys: Vec<(String, MemberKeys)>,
}

/// Generate a network's configurations with fresh keys from `hsm`. `stores(id)` gives an
/// issuer's database URL (its ledger lives in it: one commit per authorization); `issuer_endpoint(id)` where the switch reaches it. The
/// LMK file is only named in the configurations (`hsm::soft::write_lmk_file` writes it).
pub fn generate(
    acquirers: usize,
    hsm: &dyn SecurityModule,
    lmk_file: &Path,
    switch_database: &str,
    stores: &mut dyn FnMut(&str) -> String,
    switch_listen: &str,
    issuer_endpoint: impl Fn(&str) -> String,
) -> Result<NetworkConfigs> {
    let acquirers = &ACQUIRERS[..acquirers.clamp(1, ACQUIRERS.len())];
    let mut members: Vec<DevMember> = acquirers.iter().map(|(id, name)| DevMember::acquirer(id, name)).collect();
    for issuer in ISSUERS {
        let stip = switch::dev::stip(issuer.stand_in);
        members.push(DevMember::issuer(issuer.id, issuer.name, &issuer_endpoint(issuer.id), &[issuer.bin], Some(stip)));
    }
    let mut dev =
        switch::dev::network(hsm, switch_listen, switch_database, lmk_file, &members).map_err(fail("switch keys"))?;
    // Each issuer's credit cards have their own prefix: the card kind the fees go by.
    for issuer in ISSUERS {
        dev.config.bins.push(switch::BinConfig {
            prefix: issuer::dev::credit_bin(issuer.bin),
            issuer: issuer.id.to_owned(),
            card_kind: switch::CardKindConfig::Credit,
        });
    }
    let acquirer_keys = dev
        .keys(ACQUIRER_ID)
        .cloned()
        .ok_or_else(|| ProvisionError::failed("switch keys", "no zone keys for the acquirer"))?;
    let all_acquirer_keys = acquirers
        .iter()
        .map(|(id, _)| {
            let keys = dev
                .keys(id)
                .cloned()
                .ok_or_else(|| ProvisionError::failed("switch keys", format!("no zone keys for acquirer {id}")))?;
            Ok(((*id).to_owned(), keys))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut issuers = Vec::with_capacity(ISSUERS.len());
    for member in ISSUERS {
        let keys = dev
            .keys(member.id)
            .ok_or_else(|| ProvisionError::failed("switch keys", format!("no zone keys for issuer {}", member.id)))?;
        // The ZMK too: the switch sends the link's new ZPKs and ZAKs under it (0800/101).
        let link = issuer::dev::LinkKeys { zmk: keys.zmk.clone(), zpk: keys.zpk.clone(), zak: keys.zak.clone() };
        let database = stores(member.id);
        let mut config =
            issuer::dev::config_with_link_keys(hsm, &link, member.id, member.bin, &database, None, lmk_file)
                .map_err(fail(&format!("issuer {} configuration", member.id)))?;
        // A's range contains B's longer BIN: A must never number a card the switch routes to B.
        let inner = inner_bins(member.bin);
        for product in &mut config.products {
            let inside = inner.iter().filter(|prefix| prefix.starts_with(&product.bin)).cloned();
            product.excluded_prefixes.extend(inside);
        }
        issuers.push((member.id.to_owned(), member.bin.to_owned(), config));
    }
    Ok(NetworkConfigs { switch: dev.config, issuers, acquirer_keys, all_acquirer_keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{ISSUER_A, ISSUER_B};

    #[test]
    fn both_ends_of_every_link_hold_the_same_keys() {
        let hsm = hsm::SoftHsm::generate().unwrap();
        let mut stores = |id: &str| format!("sqlite:issuer-{id}.db");
        let configs = generate(2, &hsm, Path::new("lmk.hex"), "sqlite:switch.db", &mut stores, "127.0.0.1:0", |id| {
            format!("{id}.example:1")
        })
        .unwrap();
        for (id, bin, config) in &configs.issuers {
            let member = configs.switch.members.iter().find(|m| &m.id == id).unwrap();
            assert_eq!(member.zmk, config.keys.switch_zmk, "{id}'s ZMK");
            assert_eq!(member.zpk, config.keys.switch_zpk, "{id}'s ZPK");
            assert_eq!(member.zak, config.keys.switch_zak, "{id}'s ZAK");
            assert_eq!(member.endpoint.as_deref(), Some(format!("{id}.example:1").as_str()));
            assert!(configs.switch.bins.iter().any(|b| &b.prefix == bin && &b.issuer == id));
        }
        let acquirer = configs.switch.members.iter().find(|m| m.id == ACQUIRER_ID).unwrap();
        assert_eq!(acquirer.zpk, configs.acquirer_keys.zpk.block());
        // The second acquirer has zone keys of its own.
        let (second_id, second) = &configs.all_acquirer_keys[1];
        let member = configs.switch.members.iter().find(|m| &m.id == second_id).unwrap();
        assert_eq!(member.zpk, second.zpk.block());
        assert_ne!(second.zpk.block(), configs.acquirer_keys.zpk.block());
        // A never numbers a debit card inside B's BIN.
        let (_, _, a) = &configs.issuers[ISSUER_A];
        let b_bin = ISSUERS[ISSUER_B].bin;
        let debit = a.products.iter().find(|p| p.name == issuer::dev::DEBIT_PRODUCT).unwrap();
        assert!(debit.excluded_prefixes.iter().any(|p| p == b_bin));
    }
}
