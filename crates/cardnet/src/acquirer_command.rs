//! `cardnet serve acquirer --config FILE` and `cardnet acquirer init --dir DIR`: run the
//! acquirer's POS host, and write a development set-up for it. The host lives in
//! `crates/acquirer`, the merchant and terminal registry it reads in `crates/merchants`; this
//! file only reads arguments, files and signals.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use hsm::SecurityModule;
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

// `cardnet acquirer settle` and `notices`: declared here so this command's files stay together.
#[path = "acquirer_settle.rs"]
mod acquirer_settle;

#[derive(Subcommand)]
pub enum AcquirerCommand {
    /// Write a development configuration with fresh keys: DIR/acquirer.toml and DIR/lmk.hex.
    Init(InitArgs),
    /// Settle merchants for a business date: payouts by fee plan, payout file, statements, notices.
    Settle(acquirer_settle::SettleArgs),
    /// List funds-arrival notices (到账通知) and their delivery; --retry sends the pending ones now.
    Notices(acquirer_settle::NoticesArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Folder to write into (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: AcquirerCommand) -> Result<(), CliError> {
    match command {
        AcquirerCommand::Init(args) => init(&args),
        AcquirerCommand::Settle(args) => acquirer_settle::settle(&args),
        AcquirerCommand::Notices(args) => acquirer_settle::notices(&args),
    }
}

fn failure(error: impl std::fmt::Display) -> CliError {
    CliError::Failure(error.to_string())
}

fn init(args: &InitArgs) -> Result<(), CliError> {
    let dev = acquirer::dev::generate(&args.dir, args.force).map_err(CliError::bad_input)?;
    let config = &dev.config;
    let zak = hsm::WrappedKey::from_block(config.switch.zak.trim()).map_err(failure)?;
    let zpk = hsm::WrappedKey::from_block(config.switch.zpk.trim()).map_err(failure)?;
    if args.json {
        outln!(
            "{}",
            json!({
                "config": dev.config_path.display().to_string(),
                "lmk_file": dev.lmk_path.display().to_string(),
                "lmk_check_value": dev.hsm.lmk_check_value(),
                "institution_id": config.institution_id,
                "listen": config.listen,
                "switch": config.switch.endpoint,
                "zpk_kcv": zpk.kcv(),
                "zak_kcv": zak.kcv(),
            })
        );
        return Ok(());
    }
    outln!("wrote {} and {}", dev.config_path.display(), dev.lmk_path.display());
    outln!(
        "LMK check value {} (the LMK file is the software HSM's secret: keep it private)",
        dev.hsm.lmk_check_value()
    );
    outln!(
        "acquirer {} listens for terminals on {}; switch at {} (ZPK KCV {}, ZAK KCV {})",
        config.institution_id,
        config.listen,
        config.switch.endpoint,
        zpk.kcv(),
        zak.kcv()
    );
    outln!("the zone keys are fresh: put the switch's acquirer keys in [switch] to talk to a running switch");
    outln!("start it with: cardnet serve acquirer --config {}", dev.config_path.display());
    Ok(())
}

/// Run the acquirer configured in `config_path` until Ctrl-C (or SIGTERM on Unix). The merchant
/// and terminal registry is the one in the same database.
pub async fn serve(config_path: &Path, ops: crate::ops::OpsArgs) -> Result<(), CliError> {
    let config = acquirer::AcquirerConfig::load(config_path).map_err(CliError::bad_input)?;
    let _lock = crate::ops::lock_for_serve(config_path)?;
    let limits = config.server;
    let admin = crate::ops::start_admin("acquirer", ops.admin_listen.or(config.admin.listen)).await?;
    let hsm = hsm::SoftHsm::from_lmk_file(&config.lmk_file).map_err(CliError::bad_input)?;
    let hsm: Arc<dyn SecurityModule> = Arc::new(hsm);
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    let opened = {
        let (hsm, clock) = (Arc::clone(&hsm), Arc::clone(&clock));
        tokio::task::spawn_blocking(move || -> Result<acquirer::Acquirer, String> {
            let db = sqlstore::Database::open(&config.database).map_err(|e| e.to_string())?;
            let registry = merchants::Registry::open(db.clone(), Arc::clone(&hsm), clock).map_err(|e| e.to_string())?;
            let directory: Arc<dyn acquirer::TerminalDirectory> = Arc::new(registry);
            acquirer::Acquirer::with_database(&config, hsm, db, directory).map_err(|e| e.to_string())
        })
        .await
        .map_err(failure)?
    };
    let acquirer = opened.map_err(failure)?;
    let options = acquirer::ServerOptions { server: limits.server_config(), ..acquirer::ServerOptions::default() };
    let server = acquirer::AcquirerServer::start(acquirer, clock, options).await.map_err(|error| match error {
        acquirer::AcquirerError::Io(io) => CliError::from(io),
        other => failure(other),
    })?;
    eprintln!(
        "cardnet acquirer {} listening for terminals on {} (switch {}); Ctrl-C stops it",
        server.acquirer().settings().institution_id,
        server.local_addr(),
        server.acquirer().settings().switch_endpoint
    );
    admin.serving(server.stats_handle(), server.readiness());
    let reversals = server.acquirer().clone();
    crate::ops::spawn_backlog("acquirer", move || {
        let (pending, dead) = reversals.reversal_backlog(crate::ops::BACKLOG_COUNT_MAX).map_err(|e| e.to_string())?;
        Ok(vec![("switch".to_owned(), pending, dead)])
    });
    let report = crate::stats_command::report(
        "acquirer",
        server.local_addr(),
        server.stats(),
        config_path,
        limits.stats_interval_ms,
    );
    tokio::select! {
        () = crate::serve_command::stop_signal() => {}
        () = report => {}
    }
    eprintln!("cardnet acquirer: stopping (answering what is in flight, signing off)");
    server.shutdown().await;
    Ok(())
}
