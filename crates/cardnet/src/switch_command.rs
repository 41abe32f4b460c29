//! `cardnet serve switch --config FILE` and `cardnet switch init --dir DIR`: run the network
//! switch, and write a development set-up for it. The switch itself lives in `crates/switch`;
//! this file only reads arguments, files and signals.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use hsm::SecurityModule;
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

/// The files `switch init` writes, next to each other.
const CONFIG_FILE: &str = "switch.toml";
const LMK_FILE: &str = "lmk.hex";
/// The database a development set-up uses (relative to the config file).
const DEV_DATABASE: &str = "sqlite:switch.db";

#[derive(Subcommand)]
pub enum SwitchCommand {
    /// Write a development configuration with fresh keys: DIR/switch.toml and DIR/lmk.hex.
    Init(InitArgs),
    /// Write the clearing files of a closed business date: one per member, fixed-width and CSV.
    Clearing(ClearingArgs),
    /// Close a business date (after its cut-off): its records never change afterwards.
    CloseDate(CloseDateArgs),
    /// Net settlement of a business date from its clearing files: positions, the settlement ledger, statements.
    Settle(crate::switch_settle::SettleArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Folder to write into (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Where the switch listens for acquirers.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: String,
    /// Where the development issuer listens (the switch connects to it).
    #[arg(long, default_value = "127.0.0.1:9200")]
    issuer: String,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: SwitchCommand) -> Result<(), CliError> {
    match command {
        SwitchCommand::Init(args) => init(&args),
        SwitchCommand::Clearing(args) => clearing(&args),
        SwitchCommand::CloseDate(args) => close_date(&args),
        SwitchCommand::Settle(args) => crate::switch_settle::settle(&args),
    }
}

pub(crate) fn failure(error: impl std::fmt::Display) -> CliError {
    CliError::Failure(error.to_string())
}

fn init(args: &InitArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(&args.dir)?;
    let config_path = args.dir.join(CONFIG_FILE);
    let lmk_path = args.dir.join(LMK_FILE);
    for path in [&config_path, &lmk_path] {
        if path.exists() && !args.force {
            return Err(CliError::bad_input(format!("{} exists (use --force to replace it)", path.display())));
        }
    }
    let lmk = switch::dev::generate_lmk()?;
    let hsm = hsm::SoftHsm::new(hsm::Secret::new(lmk.expose()))?;
    let network = switch::dev::standard(&hsm, &args.listen, DEV_DATABASE, Path::new(LMK_FILE), &args.issuer)?;
    network.config.validate().map_err(CliError::bad_input)?;
    hsm::soft::write_lmk_file(&lmk_path, &lmk).map_err(|e| CliError::Failure(e.to_string()))?;
    host::write_private(&config_path, network.config.to_toml().as_bytes())?;
    let members: Vec<_> = network
        .config
        .members
        .iter()
        .filter_map(|member| {
            let keys = network.keys(&member.id)?;
            let roles: Vec<&str> = member.roles.iter().map(|r| r.name()).collect();
            Some(json!({
                "id": member.id,
                "name": member.name,
                "roles": roles,
                "endpoint": member.endpoint,
                "zpk_kcv": keys.zpk.kcv(),
                "zak_kcv": keys.zak.kcv(),
            }))
        })
        .collect();
    if args.json {
        outln!(
            "{}",
            json!({
                "config": config_path.display().to_string(),
                "lmk_file": lmk_path.display().to_string(),
                "lmk_check_value": hsm.lmk_check_value(),
                "institution_id": network.config.institution_id,
                "listen": network.config.listen,
                "members": members,
            })
        );
        return Ok(());
    }
    outln!("wrote {} and {}", config_path.display(), lmk_path.display());
    outln!("LMK check value {} (the LMK file is the software HSM's secret: keep it private)", hsm.lmk_check_value());
    outln!("switch {} listens on {}", network.config.institution_id, network.config.listen);
    for member in &members {
        outln!(
            "  member {} {}: roles {}, ZPK KCV {}, ZAK KCV {}{}",
            member["id"].as_str().unwrap_or(""),
            member["name"].as_str().unwrap_or(""),
            member["roles"],
            member["zpk_kcv"].as_str().unwrap_or(""),
            member["zak_kcv"].as_str().unwrap_or(""),
            member["endpoint"].as_str().map(|e| format!(", endpoint {e}")).unwrap_or_default(),
        );
    }
    outln!("start it with: cardnet serve switch --config {}", config_path.display());
    Ok(())
}

/// Run the switch configured in `config_path` until Ctrl-C (or SIGTERM on Unix).
pub async fn serve(config_path: &Path, ops: crate::ops::OpsArgs) -> Result<(), CliError> {
    let config = switch::SwitchConfig::load(config_path).map_err(CliError::bad_input)?;
    let _lock = crate::ops::lock_for_serve(config_path)?;
    let limits = config.server;
    let admin = crate::ops::start_admin("switch", ops.admin_listen.or(config.admin.listen)).await?;
    let hsm = hsm::SoftHsm::from_lmk_file(&config.lmk_file).map_err(CliError::bad_input)?;
    let hsm: Arc<dyn SecurityModule> = Arc::new(hsm);
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    let switch = tokio::task::spawn_blocking(move || switch::Switch::open(&config, hsm))
        .await
        .map_err(failure)?
        .map_err(failure)?;
    let options = switch::ServerOptions { server: limits.server_config(), ..switch::ServerOptions::default() };
    let server = switch::SwitchServer::start(switch, clock, options).await.map_err(|error| match error {
        switch::SwitchError::Io(io) => CliError::from(io),
        other => failure(other),
    })?;
    eprintln!(
        "cardnet switch {} listening on {} ({} issuers); Ctrl-C stops it",
        server.switch().directory().institution_id,
        server.local_addr(),
        server.switch().directory().issuers().len()
    );
    admin.serving(server.stats_handle(), server.readiness());
    let advices = server.switch().clone();
    let issuers: Vec<String> = advices.directory().issuers().iter().map(|issuer| issuer.id.clone()).collect();
    crate::ops::spawn_backlog("switch", move || {
        let journal = advices.journal();
        let count = |issuer: &String| {
            let (pending, dead) = journal.advice_backlog(issuer, crate::ops::BACKLOG_COUNT_MAX)?;
            Ok::<_, sqlstore::Error>((issuer.clone(), pending, dead))
        };
        issuers.iter().map(count).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    });
    let report = crate::stats_command::report(
        "switch",
        server.local_addr(),
        server.stats(),
        config_path,
        limits.stats_interval_ms,
    );
    tokio::select! {
        () = run_until_stopped(&server) => {}
        () = report => {}
    }
    eprintln!("cardnet switch: stopping (answering what is in flight, signing off)");
    server.shutdown().await;
    Ok(())
}

/// Serve until Ctrl-C or SIGTERM; on SIGUSR1 (Unix) change the ZPK and ZAK of every issuer
/// link now, each outcome on stderr — the operator's re-key without a restart (periodic changes
/// are per member: `key_change_interval_ms`).
async fn run_until_stopped(server: &switch::SwitchServer) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut rekey) = signal(SignalKind::user_defined1()) {
            let stop = crate::serve_command::stop_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => return,
                    _ = rekey.recv() => {
                        eprintln!("cardnet switch: SIGUSR1: changing every issuer link's ZPK and ZAK");
                        for (issuer, key, outcome) in server.change_all_keys().await {
                            match outcome {
                                Ok(outcome) => eprintln!("cardnet switch: issuer {issuer} {}: {outcome}", key.name().to_uppercase()),
                                Err(error) => eprintln!("cardnet switch: issuer {issuer} {}: {error}", key.name().to_uppercase()),
                            }
                        }
                    }
                }
            }
        }
    }
    crate::serve_command::stop_signal().await;
}

impl From<switch::SwitchError> for CliError {
    fn from(error: switch::SwitchError) -> CliError {
        match error {
            switch::SwitchError::Config(error) => CliError::bad_input(error),
            other => failure(other),
        }
    }
}

// ---- End of day: `switch clearing` and `switch close-date` ------------------------------------

/// Where clearing files go by default: this folder next to the switch's config file.
const CLEARING_DIR: &str = "clearing";

#[derive(Args)]
pub struct ClearingArgs {
    /// The switch's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The closed business date, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// Folder for the files (default: clearing/ next to the config); they go in DIR/YYYY-MM-DD/.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CloseDateArgs {
    /// The switch's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The business date to close, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// Close it now, before its cut-off (an operator's forced cut-over): later arrivals go to the next date, marked late.
    #[arg(long)]
    early: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn business_date(text: &str) -> Result<switch::BusinessDate, CliError> {
    switch::BusinessDate::parse(text).map_err(|e| CliError::bad_input(format!("--date: {e}")))
}

fn clearing(args: &ClearingArgs) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let date = business_date(&args.date)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => host::config_file::folder(&args.config).join(CLEARING_DIR),
    };
    let run = ::eod::switch_ops::write_clearing(&args.config, date, &out)?;
    let records: u64 = run.members.iter().map(|m| m.records).sum();
    let files: Vec<String> = run.members.iter().flat_map(|m| m.files.iter().map(|f| f.display().to_string())).collect();
    if args.json {
        let members: Vec<_> = run
            .members
            .iter()
            .map(|m| {
                json!({
                    "member": m.member,
                    "records": m.records,
                    "debit_total_minor": m.debit_total_minor,
                    "credit_total_minor": m.credit_total_minor,
                    "settlement_total_minor": m.settlement_total_minor,
                    "files": m.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!(
            "{}",
            json!({
                "date": date.to_string(),
                "dir": run.dir.display().to_string(),
                "members": members,
                "records": records,
                "files_written": files.len(),
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
        return Ok(());
    }
    outln!("clearing {date}: {} member(s), {records} record(s) in {}", run.members.len(), run.dir.display());
    for m in &run.members {
        outln!(
            "  {}: {} record(s), debits {} credits {} settlement {} (minor units)",
            m.member,
            m.records,
            m.debit_total_minor,
            m.credit_total_minor,
            m.settlement_total_minor
        );
    }
    Ok(())
}

fn close_date(args: &CloseDateArgs) -> Result<(), CliError> {
    let date = business_date(&args.date)?;
    let clock: ::eod::SharedClock = Arc::new(clock::SystemClock);
    let outcome = ::eod::switch_ops::close(&args.config, date, args.early, &clock)?;
    let (closed_ms, reason) = match &outcome {
        switch::CloseOutcome::Closed { closed_ms, .. } | switch::CloseOutcome::AlreadyClosed { closed_ms, .. } => {
            (Some(*closed_ms), None)
        }
        switch::CloseOutcome::Refused { reason, .. } => (None, Some(reason.clone())),
    };
    if args.json {
        outln!(
            "{}",
            json!({ "date": date.to_string(), "outcome": outcome.name(), "closed_ms": closed_ms, "reason": reason })
        );
    } else {
        match &reason {
            Some(reason) => outln!("{date}: refused: {reason}"),
            None => outln!("{date}: {}", outcome.name().replace('_', " ")),
        }
    }
    match reason {
        Some(reason) => Err(CliError::bad_input(format!("business date {date} not closed: {reason}"))),
        None => Ok(()),
    }
}
