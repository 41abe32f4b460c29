//! `cardnet network init --dir DIR`: one key ceremony for a whole development network — a
//! switch, two issuer banks and the acquirer's link, sharing one LMK and the zone keys of every
//! link — written as configuration files that `cardnet serve switch|issuer` run as separate
//! processes.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Write DIR/lmk.hex, DIR/switch.toml, DIR/issuer-<id>.toml (two banks), DIR/acquirer.toml
    /// (the acquirer host, terminals on port+3) and DIR/acquirer-link.toml (its zone keys).
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Folder to write into (created if missing; existing files are not overwritten).
    #[arg(long)]
    dir: PathBuf,
    /// The switch's port on 127.0.0.1; the issuers listen on the next two ports, the acquirer
    /// (for terminals) on the third.
    #[arg(long, default_value_t = 9100)]
    port: u16,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

const LMK_FILE: &str = "lmk.hex";
const SWITCH_FILE: &str = "switch.toml";
const ACQUIRER_LINK_FILE: &str = "acquirer-link.toml";
const ACQUIRER_FILE: &str = "acquirer.toml";

pub fn run(command: NetworkCommand) -> Result<(), CliError> {
    match command {
        NetworkCommand::Init(args) => init(&args),
    }
}

fn issuer_file(id: &str) -> String {
    format!("issuer-{id}.toml")
}

fn init(args: &InitArgs) -> Result<(), CliError> {
    let ports = [args.port.checked_add(1), args.port.checked_add(2), args.port.checked_add(3)];
    let [Some(port_a), Some(port_b), Some(port_acquirer)] = ports else {
        return Err(CliError::bad_input("--port must leave room for three ports after it"));
    };
    std::fs::create_dir_all(&args.dir)?;
    let ids: Vec<&str> = testnet::net::ISSUER_IDS.to_vec();
    let mut files: Vec<PathBuf> =
        [LMK_FILE, SWITCH_FILE, ACQUIRER_LINK_FILE, ACQUIRER_FILE].iter().map(|f| args.dir.join(f)).collect();
    files.extend(ids.iter().map(|id| args.dir.join(issuer_file(id))));
    if let Some(existing) = files.iter().find(|path| path.exists()) {
        return Err(CliError::bad_input(format!("{} exists; not overwriting it", existing.display())));
    }

    let lmk = hsm::Secret::random(hsm::soft::LMK_LEN)?;
    let hsm = hsm::SoftHsm::new(lmk.clone())?;
    let endpoint = |id: &str| {
        let port = if Some(&id) == ids.first() { port_a } else { port_b };
        format!("127.0.0.1:{port}")
    };
    let mut stores = |id: &str| (format!("sqlite:issuer-{id}.db"), format!("sqlite:ledger-{id}.db"));
    let generated = testnet::net::generate(
        &hsm,
        Path::new(LMK_FILE),
        "sqlite:switch.db",
        &mut stores,
        &format!("127.0.0.1:{}", args.port),
        endpoint,
    )
    .map_err(CliError::Failure)?;

    // A file that cannot be written is a failure (exit 1), not bad input.
    hsm::soft::write_lmk_file(&args.dir.join(LMK_FILE), &lmk).map_err(|e| CliError::Failure(e.to_string()))?;
    host::write_private(&args.dir.join(SWITCH_FILE), generated.switch.to_toml().as_bytes())?;
    let mut issuers = Vec::new();
    for (id, bin, mut config) in generated.issuers {
        config.listen = endpoint(&id);
        // A deployment's products decline a chip card swiped without fallback (45).
        issuer::dev::decline_chip_swipes(&mut config);
        let path = args.dir.join(issuer_file(&id));
        host::write_private(&path, config.to_toml().as_bytes())?;
        issuers.push(json!({"id": id, "bin": bin, "listen": config.listen, "config": path.display().to_string()}));
    }
    let keys = &generated.acquirer_keys;
    let link = format!(
        "# The acquirer's link to the switch: member id, where the switch listens, and the zone keys\n\
         # (TR-31 blocks under the LMK in {LMK_FILE}) the switch holds for this member.\n\
         acquirer_id = \"{}\"\nswitch = \"127.0.0.1:{}\"\nzmk = \"{}\"\nzpk = \"{}\"\nzak = \"{}\"\n",
        testnet::net::ACQUIRER_ID,
        args.port,
        keys.zmk.block(),
        keys.zpk.block(),
        keys.zak.block()
    );
    host::write_private(&args.dir.join(ACQUIRER_LINK_FILE), link.as_bytes())?;
    let switch_keys = acquirer::dev::SwitchKeys { zmk: keys.zmk.clone(), zpk: keys.zpk.clone(), zak: keys.zak.clone() };
    let acquirer_listen = format!("127.0.0.1:{port_acquirer}");
    let acquirer = acquirer::dev::config_with_switch_keys(
        &hsm,
        &switch_keys,
        testnet::net::ACQUIRER_ID,
        &acquirer_listen,
        &format!("127.0.0.1:{}", args.port),
        "sqlite:acquirer.db",
        Path::new(LMK_FILE),
    )
    .map_err(CliError::Failure)?;
    // New set-ups issue only scheme 004, whose terminals encipher track 2 under the TDK; an
    // acquirer that must take older terminals adds "003" or "001" to `key_schemes`.
    let mut acquirer = acquirer;
    acquirer.pos.key_schemes = vec![hsm::SignOnScheme::DoubleWithTdk.code().to_owned()];
    // The issuers' credit cards have their own BINs: the merchant's fee plan goes by card kind.
    for bin in testnet::net::ISSUER_BINS {
        acquirer.pos.card_kinds.insert(issuer::dev::credit_bin(bin), "credit".to_owned());
    }
    let acquirer_path = args.dir.join(ACQUIRER_FILE);
    host::write_private(&acquirer_path, acquirer.to_toml().as_bytes())?;

    let switch_path = args.dir.join(SWITCH_FILE).display().to_string();
    if args.json {
        outln!(
            "{}",
            json!({
                "dir": args.dir.display().to_string(),
                "lmk_check_value": hsm.lmk_check_value(),
                "switch": {"id": testnet::net::SWITCH_ID, "listen": format!("127.0.0.1:{}", args.port), "config": switch_path},
                "issuers": issuers,
                "acquirer": {
                    "id": testnet::net::ACQUIRER_ID,
                    "listen": acquirer_listen,
                    "config": acquirer_path.display().to_string(),
                    "link": args.dir.join(ACQUIRER_LINK_FILE).display().to_string(),
                    "zpk_kcv": keys.zpk.kcv(), "zak_kcv": keys.zak.kcv(),
                },
            })
        );
        return Ok(());
    }
    outln!("wrote a network in {} (LMK check value {}):", args.dir.display(), hsm.lmk_check_value());
    for issuer in &issuers {
        outln!("  cardnet serve issuer --config {}", issuer["config"].as_str().unwrap_or(""));
    }
    outln!("  cardnet serve switch --config {switch_path}");
    outln!("  cardnet serve acquirer --config {}   (terminals connect to {acquirer_listen})", acquirer_path.display());
    outln!(
        "  then: cardnet merchant apply|review|activate and cardnet terminal add --config {}",
        acquirer_path.display()
    );
    outln!("the acquirer's zone keys with the switch: {}", args.dir.join(ACQUIRER_LINK_FILE).display());
    Ok(())
}
