//! `cardnet up`'s first start: the network written (`network init`: one key ceremony), its
//! stores moved to PostgreSQL if configured, then merchants onboarded (applied for, reviewed,
//! activated), their terminals registered and installed with their TMK (`terminal add`, `pos
//! init` under `terminals/`), and cards issued at each issuer with their PINs (`issuer card
//! issue --out`, under `cards/`) — each through the command a person would run. The marker
//! `up.json` is written last: a folder without it did not finish its first start.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::config::UpConfig;
use crate::cli_error::CliError;
use crate::self_command::{MerchantSeed, cli, onboard_merchant, text};

const WHO: &str = "up";
/// The marker of a finished first start, with what it seeded.
pub const MARKER_FILE: &str = "up.json";
pub const CARDS_DIR: &str = "cards";
pub const TERMINALS_DIR: &str = "terminals";
/// Each seeded debit card's opening balance: 100,000.00 CNY.
const CARD_BALANCE_MINOR: &str = "10000000";
/// In port-0 mode the files are written with these nominal ports (distinct, never bound), which
/// the first start replaces with the ones the kernel gives.
const NOMINAL_PORT: u16 = 1;

/// The merchants a first start onboards, in order; past the list, generic stores.
const MERCHANTS: [(&str, &str, &str, &str); 4] = [
    ("Cardnet Coffee", "5812", "Shanghai", "t1"),
    ("Huamei Supermarket", "5411", "Hangzhou", "t1"),
    ("Xinhua Pharmacy", "5912", "Suzhou", "d0"),
    ("Jinjiang Hotel", "7011", "Shanghai", "t1"),
];

/// Whether `dir` holds a network whose first start finished.
pub fn is_seeded(dir: &Path) -> bool {
    dir.join(MARKER_FILE).is_file()
}

/// Write and seed the network in `config.dir`, which must be empty or absent.
pub fn first_start(exe: &Path, config: &UpConfig, say: &dyn Fn(&str)) -> Result<Value, CliError> {
    let dir = &config.dir;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(CliError::bad_input(format!(
            "{} holds files but no {MARKER_FILE}: an earlier first start did not finish (remove the folder to start again)",
            dir.display()
        )));
    }
    let dir_text = dir.to_str().ok_or_else(|| CliError::bad_input("the data folder's path must be UTF-8"))?;
    say(&format!("first start: writing the network into {}", dir.display()));
    let port = if config.port == 0 { NOMINAL_PORT } else { config.port };
    let init = cli(
        WHO,
        exe,
        &["network", "init", "--dir", dir_text, "--port", &port.to_string(), "--acquirers", "2", "--json"],
    )?;
    if !config.database_url.is_empty() {
        crate::self_command::stores_to_postgres(dir, &config.database_url, "cardnet_up")?;
    }
    // The acquirers, (configuration, where terminals reach it): merchant i is acquirer i mod 2's.
    let mut acquirers = vec![(
        text(WHO, &init["acquirer"]["config"], "acquirer config")?,
        text(WHO, &init["acquirer"]["listen"], "acquirer listen")?,
    )];
    for more in init["more_acquirers"].as_array().into_iter().flatten() {
        acquirers
            .push((text(WHO, &more["config"], "acquirer config")?, text(WHO, &more["listen"], "acquirer listen")?));
    }
    for (acquirer, _) in &acquirers {
        with_risk_rules(dir, Path::new(acquirer))?;
    }
    for party in crate::parties::toml_files(dir)? {
        with_admin_endpoint(&party)?;
    }
    for issuer in init["issuers"].as_array().into_iter().flatten() {
        raise_card_limits(Path::new(&text(WHO, &issuer["config"], "issuer config")?))?;
    }
    say(&format!("onboarding {} merchants and their terminals", config.seed.merchants));
    let mut merchants = Vec::new();
    let mut terminals = Vec::new();
    for index in 0..config.seed.merchants {
        let generic = format!("Store {}", index + 1);
        let (name, mcc, city, cycle) = MERCHANTS.get(index).copied().unwrap_or((&generic, "5999", "Shanghai", "t1"));
        let seed = MerchantSeed { name, mcc, city, cycle };
        let (acquirer, acquirer_listen) = &acquirers[index % acquirers.len()];
        let acquirer_id = acquirer::AcquirerConfig::load(Path::new(acquirer))
            .map_err(|e| CliError::Failure(format!("up: {acquirer}: {e}")))?
            .institution_id;
        let merchant_id = onboard_merchant(WHO, exe, acquirer, index, &seed)?;
        for t in 0..config.seed.terminals_per_merchant {
            let terminal_id = format!("POS{:05}", index * config.seed.terminals_per_merchant + t + 1);
            install_terminal(exe, dir, acquirer, acquirer_listen, &merchant_id, name, &terminal_id)?;
            terminals.push(json!({"terminal_id": terminal_id, "merchant_id": merchant_id, "acquirer": acquirer_id}));
        }
        merchants.push(
            json!({"merchant_id": merchant_id, "name": name, "mcc": mcc, "cycle": cycle, "acquirer": acquirer_id}),
        );
    }
    say(&format!("issuing {} cards at each issuer", config.seed.cards_per_issuer));
    let cards_dir = dir.join(CARDS_DIR);
    std::fs::create_dir_all(&cards_dir)?;
    let mut cards = 0;
    for (bank, issuer) in ["a", "b"].iter().zip(init["issuers"].as_array().into_iter().flatten()) {
        let issuer_config = text(WHO, &issuer["config"], "issuer config")?;
        for n in 0..config.seed.cards_per_issuer {
            // Two in three debit, the rest credit: the fee plans and limits differ by kind.
            let product = if n % 3 == 2 { issuer::dev::CREDIT_PRODUCT } else { issuer::dev::DEBIT_PRODUCT };
            let file = cards_dir.join(format!("bank-{bank}-{:02}.json", n + 1));
            let file_text = file.to_str().ok_or_else(|| CliError::bad_input("the data folder's path must be UTF-8"))?;
            let mut issue = vec!["issuer", "card", "issue", "--config", &issuer_config, "--product", product];
            // A credit card gets its product's credit line; a debit card its opening balance.
            if product == issuer::dev::DEBIT_PRODUCT {
                issue.extend(["--balance", CARD_BALANCE_MINOR]);
            }
            cli(WHO, exe, &[&issue[..], &["--out", file_text, "--json"]].concat())?;
            cards += 1;
        }
    }
    say("adding the console's users: an operator, and one per merchant");
    let users = console_users(exe, dir, &merchants)?;
    let seeded = json!({
        "seeded_at_ms": now_ms(),
        "port": config.port,
        "database_url_set": !config.database_url.is_empty(),
        "merchants": merchants,
        "terminals": terminals,
        "cards": cards,
        "console_users": users,
    });
    let mut bytes = serde_json::to_vec_pretty(&seeded).map_err(|e| CliError::Failure(e.to_string()))?;
    bytes.push(b'\n');
    host::write_private(&dir.join(MARKER_FILE), &bytes)?;
    Ok(seeded)
}

/// The acquirer's risk rules at the first start (`risk.toml` beside its configuration, read
/// again when changed): new merchants (all of them, on the first day) are limited per
/// transaction, and a card used too often in a minute raises an alert.
const ACQUIRER_RULES: &str = r#"# The acquirer's risk rules (`cardnet risk rules check risk.toml`), read again when changed.
currency = "CNY"
decline_score = 100
alert_score = 50

# A merchant onboarded in the last 30 days takes less than 2,000.00 a transaction.
[[rule]]
id = "new_merchant_ticket"
kind = "new_merchant"
days = 30
measure = "transaction"
threshold = 200000
score = 100
reason = "new_merchant_tx_limit"
decline = "61"

# One card at this acquirer's merchants 30 times in a minute: an alert for an analyst.
[[rule]]
id = "card_burst"
kind = "velocity"
entity = "card"
measure = "count"
window = "1m"
threshold = 30
score = 60
reason = "card_count_1m"
"#;
const RULES_FILE: &str = "risk.toml";

fn with_risk_rules(dir: &Path, acquirer: &Path) -> Result<(), CliError> {
    std::fs::write(dir.join(RULES_FILE), ACQUIRER_RULES)?;
    let mut text = std::fs::read_to_string(acquirer)?;
    text.push_str(&format!(
        "\n# The risk engine inside every authorization (docs/acquirer.md).\n[risk]\nrules = \"{RULES_FILE}\"\n"
    ));
    std::fs::write(acquirer, text)?;
    Ok(())
}

/// Every party serves `/metrics`, `/healthz` and `/readyz` on a port the kernel picks (each
/// logs where): the console and an operator's Prometheus read them. The link file is not a
/// party's.
fn with_admin_endpoint(config: &Path) -> Result<(), CliError> {
    let mut text = std::fs::read_to_string(config)?;
    // A link file (`acquirer-link.toml`, `acquirer-<id>-link.toml`) has no top-level `listen`.
    if crate::parties::read_listen(config).is_err() {
        return Ok(());
    }
    text.push_str("\n# The admin endpoint: /metrics, /healthz, /readyz (docs/operations.md).\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(config, text)?;
    Ok(())
}

/// The development products allow 20 purchases and 5,000.00 a day per card; the seeded cards
/// are each one terminal's all day: 500 and 100,000.00.
const DAILY_LIMITS: [(&str, &str); 2] = [
    ("daily_count_limit = 20\n", "daily_count_limit = 500\n"),
    ("daily_amount_limit_minor = 500000\n", "daily_amount_limit_minor = 10000000\n"),
];

fn raise_card_limits(config: &Path) -> Result<(), CliError> {
    let mut text = std::fs::read_to_string(config)?;
    for (from, to) in DAILY_LIMITS {
        if !text.contains(from) {
            return Err(CliError::Failure(format!("up: {} has no {}", config.display(), from.trim())));
        }
        text = text.replace(from, to);
    }
    std::fs::write(config, text)?;
    Ok(())
}

/// The console's users (`cardnet console user add --generate`): `operator`, and `merchant-N`
/// for merchant N, each with a generated password — kept in the owner-only marker file, as a
/// development network's test cards are, for the person who started it.
fn console_users(exe: &Path, dir: &Path, merchants: &[Value]) -> Result<Vec<Value>, CliError> {
    let dir_text = dir.to_str().ok_or_else(|| CliError::bad_input("the data folder's path must be UTF-8"))?;
    let add = |name: &str, role: &str, merchant: Option<&str>| -> Result<Value, CliError> {
        let mut args = vec!["console", "user", "add", "--dir", dir_text, "--name", name, "--role", role];
        if let Some(merchant) = merchant {
            args.extend(["--merchant", merchant]);
        }
        let added = cli(WHO, exe, &[&args[..], &["--generate", "--json"]].concat())?;
        Ok(json!({"name": name, "role": role, "merchant": merchant, "password": added["password"]}))
    };
    let mut users = vec![add("operator", "operator", None)?];
    for (index, merchant) in merchants.iter().enumerate() {
        // Bound to (acquirer, merchant): the console's form for a merchant of any acquirer.
        let id = format!(
            "{}:{}",
            merchant["acquirer"].as_str().unwrap_or_default(),
            merchant["merchant_id"].as_str().unwrap_or_default()
        );
        users.push(add(&format!("merchant-{}", index + 1), "merchant", Some(&id))?);
    }
    Ok(users)
}

/// Register `terminal_id` under the merchant (a TMK generated as two components) and install
/// it under `terminals/` with those components, reaching the acquirer at `acquirer_listen`.
fn install_terminal(
    exe: &Path,
    dir: &Path,
    acquirer: &str,
    acquirer_listen: &str,
    merchant_id: &str,
    merchant_name: &str,
    terminal_id: &str,
) -> Result<(), CliError> {
    let add = ["terminal", "add", "--config", acquirer, "--merchant", merchant_id, "--terminal", terminal_id];
    let added = cli(WHO, exe, &[&add[..], &["--model", "PAX A920", "--json"]].concat())?;
    // The clear components pass from one command to the next on their command lines only, as a
    // key-injection operator carries them; they are never written to a file of their own.
    let components: Vec<&str> =
        added["tmk"]["components"].as_array().into_iter().flatten().filter_map(|c| c["component"].as_str()).collect();
    if components.len() < 2 {
        return Err(CliError::Failure(format!("up: terminal {terminal_id}: `terminal add` printed no TMK components")));
    }
    let joined = components.join(",");
    let terminals = terminals_dir(dir);
    let terminals_text =
        terminals.to_str().ok_or_else(|| CliError::bad_input("the data folder's path must be UTF-8"))?;
    let init = ["pos", "init", "--dir", terminals_text, "--terminal", terminal_id, "--merchant", merchant_id];
    let place = ["--merchant-name", merchant_name, "--host", acquirer_listen, "--tmk-components", &joined];
    cli(WHO, exe, &[&init[..], &place[..], &["--cashier", "01:1111", "--json"]].concat())?;
    Ok(())
}

/// Where the terminals are installed (`cardnet pos --dir … --terminal ID`).
pub fn terminals_dir(dir: &Path) -> PathBuf {
    dir.join(TERMINALS_DIR)
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
