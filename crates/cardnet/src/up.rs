//! `cardnet up`: the whole network on loopback from one configuration — issuer banks A and B,
//! the switch and the acquirer host, each its own `cardnet serve` process with its own database
//! in the data folder (SQLite) or PostgreSQL — seeded at the first start through the real
//! paths (`up/seed.rs`), then kept running until Ctrl-C stops every party cleanly. `cardnet up
//! cards` lists the test cards and their PINs; `cardnet up config` prints the built-in
//! configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::cli_error::CliError;
use crate::output::outln;
use crate::parties::{Listen, Parties, PartySpec};

mod cards;
mod config;
pub mod seed;

pub use cards::card_files;
pub use config::{Seed, UpConfig};

/// How often the parties are looked at while the network runs.
const WATCH_INTERVAL_MS: u64 = 200;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UpArgs {
    #[command(subcommand)]
    command: Option<UpCommand>,
    #[command(flatten)]
    options: UpOptions,
}

#[derive(Args, Clone)]
pub struct UpOptions {
    /// The network's configuration (TOML; `cardnet up config` prints the built-in one).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The data folder (default: the configuration's `dir`, cardnet-data).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The switch's port; the issuers and the acquirer take the next three (0: the kernel picks).
    #[arg(long)]
    port: Option<u16>,
    /// Every party's stores in PostgreSQL (postgres://…), chosen at the first start.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print one JSON object once the network is up (then keep running).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum UpCommand {
    /// List the test cards the first start issued, with their PINs.
    Cards(cards::CardsArgs),
    /// Print the built-in configuration (a starting point for --config).
    Config,
}

pub fn run(args: UpArgs) -> Result<(), CliError> {
    match args.command {
        Some(UpCommand::Cards(cards)) => cards::run(&cards),
        Some(UpCommand::Config) => {
            outln!("{}", config::DEFAULT_TOML.trim_end());
            Ok(())
        }
        None => up(&args.options),
    }
}

/// The configuration the options name, with the options' own values over it.
pub fn resolve(options: &UpOptions) -> Result<UpConfig, CliError> {
    let mut config = match &options.config {
        Some(path) => UpConfig::load(path)?,
        None => UpConfig::built_in(),
    };
    if let Some(dir) = &options.dir {
        config.dir.clone_from(dir);
    }
    if let Some(port) = options.port {
        config.port = port;
    }
    if let Some(url) = &options.database_url {
        config.database_url.clone_from(url);
    }
    config.check()?;
    Ok(config)
}

fn up(options: &UpOptions) -> Result<(), CliError> {
    let config = resolve(options)?;
    let exe = std::env::current_exe().map_err(|e| CliError::Failure(format!("up: this executable: {e}")))?;
    let say = |text: &str| eprintln!("cardnet up: {text}");
    if !seed::is_seeded(&config.dir) {
        seed::first_start(&exe, &config, &say)?;
    }
    let net = eod::NetDir::open(&config.dir).map_err(|e| CliError::Failure(e.to_string()))?;
    let listen = if config.port == 0 { Listen::PortZero } else { Listen::Configured };
    say("starting the issuers, the switch and the acquirer hosts");
    let (mut parties, bound) = start_network(&exe, &config.dir, &net, listen)?;
    let admins = wait_for_admins(&parties);
    let console = start_console(&exe, &config, &mut parties)?;
    let mut summary = summary(&config, &net, &bound, &admins);
    summary["console"] = json!(console);
    if options.json {
        outln!("{summary}");
    } else {
        print_summary(&summary)?;
    }
    let outcome = watch(&mut parties);
    let killed = parties.stop();
    say(&format!(
        "stopped{}",
        if killed.is_empty() { String::new() } else { format!(" (killed: {})", killed.join(", ")) }
    ));
    outcome
}

/// The console over the data folder, beside the parties (`cardnet console serve`, its /metrics
/// covering every party); its URL.
pub fn start_console(exe: &Path, config: &UpConfig, parties: &mut Parties) -> Result<String, CliError> {
    let dir = config.dir.to_str().ok_or_else(|| CliError::bad_input("the data folder's path must be UTF-8"))?;
    let listen = if config.port == 0 { "127.0.0.1:0" } else { config.console.as_str() };
    let address = parties.start_beside(
        exe,
        "console",
        &["console", "serve", "--dir", dir, "--listen", listen],
        "console on http://",
    )?;
    Ok(format!("http://{address}"))
}

/// Start every party of `net` in order; the terminals installed under the data folder follow
/// their acquirer to the address it bound. The bound addresses, in start order.
pub fn start_network(
    exe: &Path,
    dir: &Path,
    net: &eod::NetDir,
    listen: Listen,
) -> Result<(Parties, Vec<String>), CliError> {
    let before: Vec<String> = net.acquirers.iter().map(|a| crate::parties::read_listen(a)).collect::<Result<_, _>>()?;
    let (parties, bound) = Parties::start(exe, dir, &specs(net), listen)?;
    let acquirers_bound = &bound[bound.len().saturating_sub(before.len())..];
    for (from, to) in before.iter().zip(acquirers_bound) {
        if from != to {
            repoint_terminals(&seed::terminals_dir(dir), from, to)?;
        }
    }
    Ok((parties, bound))
}

/// The parties in start order (who connects to whom): issuers, switch, acquirer.
pub fn specs(net: &eod::NetDir) -> Vec<PartySpec> {
    let spec = |name: String, role, config: &Path| PartySpec { name, role, config: config.to_owned() };
    let banks = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let mut specs: Vec<PartySpec> = net
        .issuers
        .iter()
        .zip(banks)
        .map(|((_, config), bank)| spec(format!("issuer-{bank}"), "issuer", config))
        .collect();
    specs.push(spec("switch".into(), "switch", &net.switch));
    for (index, config) in net.acquirers.iter().enumerate() {
        let name = if index == 0 { "acquirer".to_owned() } else { format!("acquirer-{}", banks[index % banks.len()]) };
        specs.push(spec(name, "acquirer", config));
    }
    specs
}

/// Until Ctrl-C or SIGTERM (Ok), or a party that stops on its own (an error naming it).
fn watch(parties: &mut Parties) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("up: runtime: {e}")))?;
    runtime.block_on(async {
        let stop = crate::serve_command::stop_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(WATCH_INTERVAL_MS)) => {
                    if let Some((name, status)) = parties.exited() {
                        let log = parties.logs().join(format!("{name}.log"));
                        return Err(CliError::Failure(format!(
                            "up: the {name} stopped on its own ({status}); its log: {}",
                            log.display()
                        )));
                    }
                }
            }
        }
    })
}

/// In port-0 mode the acquirer's address changes at every start: the installed terminals'
/// `primary` follows it.
fn repoint_terminals(terminals: &Path, from: &str, to: &str) -> Result<(), CliError> {
    let Ok(entries) = std::fs::read_dir(terminals) else { return Ok(()) };
    let (from, to) = (format!("\"{from}\""), format!("\"{to}\""));
    for entry in entries.flatten().take(config::MERCHANTS_MAX * config::TERMINALS_PER_MERCHANT_MAX) {
        let path = entry.path().join("terminal.toml");
        if let Ok(text) = std::fs::read_to_string(&path)
            && text.contains(&from)
        {
            std::fs::write(&path, text.replace(&from, &to))?;
        }
    }
    Ok(())
}

/// How long the admin endpoints' lines may take to appear after the parties listen.
const ADMIN_WAIT_MS_MAX: u64 = 5_000;

/// Each party's admin address, once each has logged one (or the wait is over).
pub fn wait_for_admins(parties: &Parties) -> Vec<Option<String>> {
    let deadline = std::time::Instant::now() + Duration::from_millis(ADMIN_WAIT_MS_MAX);
    loop {
        let admins: Vec<Option<String>> = parties.admin_addresses().into_iter().map(|(_, a)| a).collect();
        if admins.iter().all(Option::is_some) || std::time::Instant::now() > deadline {
            return admins;
        }
        std::thread::sleep(Duration::from_millis(WATCH_INTERVAL_MS / 4));
    }
}

fn summary(config: &UpConfig, net: &eod::NetDir, bound: &[String], admins: &[Option<String>]) -> Value {
    let seeded: Value = std::fs::read(config.dir.join(seed::MARKER_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let parties: Vec<Value> = specs(net)
        .iter()
        .zip(bound)
        .zip(admins)
        .map(|((spec, address), admin)| {
            json!({
                "name": spec.name,
                "role": spec.role,
                "listen": address,
                "admin": admin.as_ref().map(|a| format!("http://{a}")),
                "config": spec.config.display().to_string(),
            })
        })
        .collect();
    json!({
        "dir": config.dir.display().to_string(),
        "parties": parties,
        "acquirer_listen": bound.get(net.issuers.len() + 1),
        "terminals_dir": seed::terminals_dir(&config.dir).display().to_string(),
        "merchants": seeded["merchants"],
        "terminals": seeded["terminals"],
        "cards": seeded["cards"],
        "console_users": seeded["console_users"],
    })
}

fn print_summary(summary: &Value) -> Result<(), CliError> {
    outln!("cardnet is up in {}:", summary["dir"].as_str().unwrap_or_default());
    for party in summary["parties"].as_array().into_iter().flatten() {
        outln!(
            "  {:<10} {:<22} metrics {}/metrics",
            party["name"].as_str().unwrap_or_default(),
            party["listen"].as_str().unwrap_or_default(),
            party["admin"].as_str().unwrap_or("(none)")
        );
    }
    for merchant in summary["merchants"].as_array().into_iter().flatten() {
        outln!(
            "  merchant {} {}",
            merchant["merchant_id"].as_str().unwrap_or_default(),
            merchant["name"].as_str().unwrap_or_default()
        );
    }
    let dir = summary["dir"].as_str().unwrap_or_default();
    let terminals = summary["terminals_dir"].as_str().unwrap_or_default();
    if let Some(console) = summary["console"].as_str() {
        outln!("console:     {console}   (/metrics: the whole network)");
        for user in summary["console_users"].as_array().into_iter().flatten().take(3) {
            outln!(
                "  log in as {} / {}",
                user["name"].as_str().unwrap_or_default(),
                user["password"].as_str().unwrap_or_default()
            );
        }
        outln!("  every user: {dir}/{}", seed::MARKER_FILE);
    }
    outln!("a terminal:  cardnet pos --dir {terminals} --terminal POS00001");
    outln!("test cards:  cardnet up cards --dir {dir}");
    outln!("Ctrl-C stops every party.");
    Ok(())
}
