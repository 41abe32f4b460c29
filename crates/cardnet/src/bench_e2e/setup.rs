//! The network set up as a user sets one up, through this executable's own commands:
//! `network init` (LMK, switch, two issuers, acquirer host and link), the issuers' products for
//! the bench (stripe and chip debit cards with limits a day of load does not reach, an
//! operator's edit of `issuer-<id>.toml`), the acquirer's per-peer connection bound raised for
//! the terminals (all on loopback, as behind one NAT), `--pg-url` putting every party's stores
//! on PostgreSQL (one schema each), `--merchants` merchants through review, `issuer card issue` for each
//! terminal's cards and `terminal add` for each terminal's registration and TMK components.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli_error::CliError;

/// The bench's card products: a stripe card (service code 101, so a swipe is a plain swipe)
/// and a chip card (201: inserted or tapped).
pub const STRIPE_PRODUCT: &str = "bench-stripe";
pub const CHIP_PRODUCT: &str = "bench-chip";
/// Each bench card's opening balance: far above what a run spends (purchases are under 100.00).
const CARD_BALANCE_MINOR: u64 = 100_000_000_000;
/// The bench products' daily limits: the development products' 20 purchases a day would stop a
/// card after a fraction of a second of load.
const DAILY_AMOUNT_LIMIT_MINOR: u64 = 100_000_000_000;
const DAILY_COUNT_LIMIT: u32 = 1_000_000_000;

/// One terminal's registration: its id and the TMK's clear components `terminal add` printed.
pub struct Registered {
    pub terminal_id: String,
    /// The merchant it was registered under.
    pub merchant_id: String,
    pub tmk_components: Vec<hsm::Secret>,
}

/// What the set-up made.
pub struct Network {
    /// (name, serve role, config, address `network init` wrote), in start order.
    pub parties: Vec<crate::parties::PartySpec>,
    /// Per terminal: its stripe card and its chip card, as `issuer card issue --json` printed
    /// them (the card files of `cardnet pos`).
    pub cards: Vec<(Value, Value)>,
    pub terminals: Vec<Registered>,
    /// The PostgreSQL schemas the parties' stores went to (dropped afterwards).
    pub schemas: Vec<String>,
}

const WHO: &str = "bench e2e";

fn cli(exe: &Path, args: &[&str]) -> Result<Value, CliError> {
    crate::self_command::cli(WHO, exe, args)
}

fn text(value: &Value, what: &str) -> Result<String, CliError> {
    crate::self_command::text(WHO, value, what)
}

/// Write the network into `dir` and register `terminals` terminals with their cards.
pub fn set_up(
    exe: &Path,
    dir: &Path,
    terminals: usize,
    merchants: usize,
    pg_url: Option<&str>,
    risk_rules: Option<&Path>,
) -> Result<Network, CliError> {
    let dir_text = dir.to_str().ok_or_else(|| CliError::bad_input("--dir must be UTF-8"))?;
    let init = cli(exe, &["network", "init", "--dir", dir_text, "--json"])?;
    let issuers: Vec<(String, String, String)> = (0..2)
        .map(|i| {
            let issuer = &init["issuers"][i];
            Ok((
                text(&issuer["config"], "issuer config")?,
                text(&issuer["bin"], "BIN")?,
                text(&issuer["listen"], "listen")?,
            ))
        })
        .collect::<Result<_, CliError>>()?;
    let switch_config = text(&init["switch"]["config"], "switch config")?;
    let acquirer_config = text(&init["acquirer"]["config"], "acquirer config")?;
    for (config, bin, _) in &issuers {
        add_bench_products(Path::new(config), bin)?;
    }
    raise_peer_connections(Path::new(&acquirer_config), terminals)?;
    if let Some(rules) = risk_rules {
        let rules = std::fs::canonicalize(rules)
            .map_err(|e| CliError::bad_input(format!("--risk-rules {}: {e}", rules.display())))?;
        for config in issuers.iter().map(|(config, _, _)| config).chain([&acquirer_config]) {
            with_risk_rules(Path::new(config), &rules)?;
        }
    }
    let schemas = match pg_url {
        Some(url) => crate::self_command::stores_to_postgres(dir, url, &format!("cardnet_e2e_{}", std::process::id()))?,
        None => Vec::new(),
    };
    let merchant_ids = (0..merchants).map(|m| merchant(exe, &acquirer_config, m)).collect::<Result<Vec<_>, _>>()?;
    // Each issuer's cards and the acquirer's terminals are three separate databases: set up
    // side by side.
    let (cards, registered) = std::thread::scope(|scope| {
        let issue = |which: usize| {
            let config = issuers[which].0.clone();
            scope.spawn(move || issue_cards(exe, &config, (which..terminals).step_by(2).count()))
        };
        let (a, b) = (issue(0), issue(1));
        let registered = register_terminals(exe, &acquirer_config, &merchant_ids, terminals);
        let joined = |handle: std::thread::ScopedJoinHandle<'_, Result<Vec<(Value, Value)>, CliError>>| {
            handle.join().map_err(|_| CliError::Failure("bench e2e: issuing cards failed".into()))?
        };
        Ok::<_, CliError>(((joined(a)?, joined(b)?), registered?))
    })?;
    // Terminal i takes its cards from issuer i % 2.
    let (mut from_a, mut from_b) = (cards.0.into_iter(), cards.1.into_iter());
    let mut cards = Vec::with_capacity(terminals);
    for index in 0..terminals {
        let next = if index % 2 == 0 { from_a.next() } else { from_b.next() };
        cards.push(next.ok_or_else(|| CliError::Failure("bench e2e: fewer cards issued than terminals".into()))?);
    }
    let spec = |name: &str, role, config: &str| crate::parties::PartySpec {
        name: name.to_owned(),
        role,
        config: PathBuf::from(config),
    };
    let parties = vec![
        spec("issuer-a", "issuer", &issuers[0].0),
        spec("issuer-b", "issuer", &issuers[1].0),
        spec("switch", "switch", &switch_config),
        spec("acquirer", "acquirer", &acquirer_config),
    ];
    Ok(Network { parties, cards, terminals: registered, schemas })
}

/// Append the bench's two debit products under the issuer's BIN, excluding what its
/// development debit product excludes (its credit range, and another issuer's range inside it).
fn add_bench_products(config: &Path, bin: &str) -> Result<(), CliError> {
    let mut text = std::fs::read_to_string(config)?;
    let excluded = debit_exclusions(&text).ok_or_else(|| {
        CliError::Failure(format!("bench e2e: {} has no debit product to model the bench's on", config.display()))
    })?;
    for (name, service_code) in [(STRIPE_PRODUCT, "101"), (CHIP_PRODUCT, "201")] {
        text.push_str(&format!(
            "\n# Added by `cardnet bench e2e`: limits a run of load does not reach.\n[[products]]\n\
             name = \"{name}\"\nkind = \"debit\"\nbin = \"{bin}\"\n{excluded}\n\
             daily_amount_limit_minor = {DAILY_AMOUNT_LIMIT_MINOR}\ndaily_count_limit = {DAILY_COUNT_LIMIT}\n\
             pin_required = true\nservice_code = \"{service_code}\"\n"
        ));
    }
    std::fs::write(config, text)?;
    Ok(())
}

/// The `excluded_prefixes = [...]` line of the product named "debit" (an empty list if it has
/// none); `None` without such a product.
fn debit_exclusions(config: &str) -> Option<String> {
    let mut lines =
        config.lines().skip_while(|line| line.trim() != format!("name = \"{}\"", issuer::dev::DEBIT_PRODUCT));
    lines.next()?;
    let block = lines.take_while(|line| !line.starts_with('['));
    let found = block.into_iter().find(|line| line.trim_start().starts_with("excluded_prefixes"));
    Some(found.map_or_else(|| "excluded_prefixes = []".to_owned(), |line| line.trim().to_owned()))
}

/// The party's configuration names the risk engine's rule file (`[risk] rules`).
fn with_risk_rules(config: &Path, rules: &Path) -> Result<(), CliError> {
    let mut text = std::fs::read_to_string(config)?;
    let rules = rules.to_str().ok_or_else(|| CliError::bad_input("--risk-rules must be UTF-8"))?;
    text.push_str(&format!("\n# Added by `cardnet bench e2e --risk-rules`.\n[risk]\nrules = {rules:?}\n"));
    std::fs::write(config, text)?;
    Ok(())
}

/// Every terminal connects from 127.0.0.1: the acquirer's per-peer bound (64 by default, for a
/// NAT) is raised in its `[server]` section to take them all, with room for the probes.
fn raise_peer_connections(config: &Path, terminals: usize) -> Result<(), CliError> {
    let text = std::fs::read_to_string(config)?;
    let bound = (terminals + 16).max(transport::limits::CONNECTIONS_PER_PEER_MAX_DEFAULT);
    let total = bound.max(transport::limits::CONNECTIONS_MAX_DEFAULT);
    let (mut section, mut raised) = (String::new(), 0);
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            section = line.trim().to_owned();
        }
        let key = line.split('=').next().unwrap_or("").trim();
        if section == "[server]" && key == "connections_max" {
            lines.push(format!("connections_max = {total}"));
            raised += 1;
        } else if section == "[server]" && key == "connections_per_peer_max" {
            lines.push(format!("# Raised by `cardnet bench e2e`: its terminals all connect from loopback.\nconnections_per_peer_max = {bound}"));
            raised += 1;
        } else {
            lines.push(line.to_owned());
        }
    }
    if raised != 2 {
        return Err(CliError::Failure(format!(
            "bench e2e: {} has no [server] connections_max and connections_per_peer_max to raise",
            config.display()
        )));
    }
    std::fs::write(config, lines.join("\n") + "\n")?;
    Ok(())
}

/// Merchant `index` onboarded (`Bench Store N`, a grocery, paid T+1); its id.
fn merchant(exe: &Path, config: &str, index: usize) -> Result<String, CliError> {
    let name = format!("Bench Store {index}");
    let seed = crate::self_command::MerchantSeed { name: &name, mcc: "5411", city: "Shanghai", cycle: "t1" };
    crate::self_command::onboard_merchant(WHO, exe, config, index, &seed)
}

/// `count` (stripe, chip) card pairs at the issuer of `config`.
fn issue_cards(exe: &Path, config: &str, count: usize) -> Result<Vec<(Value, Value)>, CliError> {
    let balance = CARD_BALANCE_MINOR.to_string();
    let issue = |product: &str| {
        cli(
            exe,
            &["issuer", "card", "issue", "--config", config, "--product", product, "--balance", &balance, "--json"],
        )
    };
    (0..count).map(|_| Ok((issue(STRIPE_PRODUCT)?, issue(CHIP_PRODUCT)?))).collect()
}

/// The bench's terminal ids: `E2E` and five digits.
pub fn terminal_id(index: usize) -> String {
    format!("E2E{:05}", index + 1)
}

/// `terminal add` for each terminal, terminal i under merchant i mod M: a TMK generated and
/// printed as two components.
fn register_terminals(
    exe: &Path,
    config: &str,
    merchant_ids: &[String],
    count: usize,
) -> Result<Vec<Registered>, CliError> {
    (0..count)
        .map(|index| {
            let terminal_id = terminal_id(index);
            let merchant_id = merchant_ids
                .get(index % merchant_ids.len().max(1))
                .cloned()
                .ok_or_else(|| CliError::Failure("bench e2e: no merchant to register terminals under".into()))?;
            let add = ["terminal", "add", "--config", config, "--merchant", &merchant_id, "--terminal", &terminal_id];
            let added = cli(exe, &[&add[..], &["--json"]].concat())?;
            // Into `Secret`s at once: clear key components are never kept as text.
            let components = added["tmk"]["components"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|c| c["component"].as_str())
                        .map(|hex| iso8583::hex::decode(hex).map(hsm::Secret::from_vec))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(|_| {
                    CliError::Failure(format!("bench e2e: terminal {terminal_id}: a TMK component is not hex"))
                })?
                .unwrap_or_default();
            Ok(Registered { terminal_id, merchant_id, tmk_components: components })
        })
        .collect()
}
