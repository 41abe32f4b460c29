//! `cardnet network init --dir DIR`: one key ceremony for a whole development network — a
//! switch, two issuer banks and the acquirer's link, sharing one LMK and the zone keys of every
//! link — written as configuration files that `cardnet serve switch|issuer` run as separate
//! processes.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use provision::ProvisionError;
use provision::files::{WrittenNetwork, write_network};
use provision::layout::Ports;
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
    /// Acquirer hosts: 1, or 2 (the second, `acquirer-<id>.toml`, on the fourth port after the switch).
    #[arg(long, default_value_t = 1)]
    acquirers: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: NetworkCommand) -> Result<(), CliError> {
    match command {
        NetworkCommand::Init(args) => init(&args),
    }
}

/// What the caller asked for that cannot be done is bad input (exit 2); a failed step, a file
/// that cannot be written among them, is a failure (exit 1).
fn cli_error(error: ProvisionError) -> CliError {
    if error.is_input() { CliError::bad_input(error.to_string()) } else { CliError::Failure(error.to_string()) }
}

fn init(args: &InitArgs) -> Result<(), CliError> {
    let ports = Ports::from_switch(args.port).map_err(cli_error)?;
    let written = write_network(&args.dir, ports, args.acquirers).map_err(cli_error)?;
    if args.json {
        outln!("{}", summary(&written));
        return Ok(());
    }
    outln!("wrote a network in {} (LMK check value {}):", written.dir.display(), written.lmk_check_value);
    for (issuer, _) in &written.issuers {
        outln!("  cardnet serve issuer --config {}", issuer.config.display());
    }
    outln!("  cardnet serve switch --config {}", written.switch.config.display());
    let acquirer = &written.acquirer;
    outln!(
        "  cardnet serve acquirer --config {}   (terminals connect to {})",
        acquirer.config.display(),
        acquirer.listen
    );
    outln!(
        "  then: cardnet merchant apply|review|activate and cardnet terminal add --config {}",
        acquirer.config.display()
    );
    outln!("the acquirer's zone keys with the switch: {}", written.acquirer_link.display());
    for (acquirer, _) in &written.more_acquirers {
        outln!(
            "  cardnet serve acquirer --config {}   (acquirer {}: terminals connect to {})",
            acquirer.config.display(),
            acquirer.id,
            acquirer.listen
        );
    }
    Ok(())
}

/// The `--json` object: where each party's file is and where it listens, check values only.
fn summary(written: &WrittenNetwork) -> serde_json::Value {
    let path = |p: &std::path::Path| p.display().to_string();
    let issuers: Vec<serde_json::Value> = written
        .issuers
        .iter()
        .map(|(issuer, bin)| json!({"id": issuer.id, "bin": bin, "listen": issuer.listen, "config": path(&issuer.config)}))
        .collect();
    json!({
        "dir": path(&written.dir),
        "lmk_check_value": written.lmk_check_value,
        "switch": {"id": written.switch.id, "listen": written.switch.listen, "config": path(&written.switch.config)},
        "issuers": issuers,
        "acquirer": {
            "id": written.acquirer.id,
            "listen": written.acquirer.listen,
            "config": path(&written.acquirer.config),
            "link": path(&written.acquirer_link),
            "zpk_kcv": written.acquirer_zpk_kcv, "zak_kcv": written.acquirer_zak_kcv,
        },
        "more_acquirers": written.more_acquirers.iter().map(|(a, link)| {
            json!({"id": a.id, "listen": a.listen, "config": path(&a.config), "link": path(link)})
        }).collect::<Vec<_>>(),
    })
}
