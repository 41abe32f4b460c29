//! `cardnet serve switch --config FILE` and `cardnet switch init --dir DIR`: run the network
//! switch, and write a development set-up for it. The switch itself lives in `crates/switch`;
//! this file only reads arguments, files and signals.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use hsm::SecurityModule;
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::{out, outln};

/// The files `switch init` writes, next to each other.
const CONFIG_FILE: &str = "switch.toml";
const LMK_FILE: &str = "lmk.hex";
/// The database a development set-up uses (relative to the config file).
const DEV_DATABASE: &str = "sqlite:switch.db";

#[derive(Subcommand)]
pub enum SwitchCommand {
    /// Write a development configuration with fresh keys: DIR/switch.toml and DIR/lmk.hex.
    Init(InitArgs),
    /// Net settlement of a business date from its clearing files: positions, the settlement ledger, statements.
    Settle(SettleArgs),
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
        SwitchCommand::Settle(args) => settle(&args),
    }
}

fn failure(error: impl std::fmt::Display) -> CliError {
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
pub async fn serve(config_path: &Path) -> Result<(), CliError> {
    let config = switch::SwitchConfig::load(config_path).map_err(CliError::bad_input)?;
    let limits = config.server;
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

/// Clearing files one `switch settle` reads at most (one per member).
const CLEARING_FILES_MAX: usize = 10_000;

#[derive(Args)]
pub struct SettleArgs {
    /// The switch's configuration file (its database and settlement ledger).
    #[arg(long)]
    config: PathBuf,
    /// The business date to settle, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// Where `switch clearing` wrote the files (DIR/YYYY-MM-DD/clearing-<member>.csv); default: clearing/ next to the config.
    #[arg(long)]
    clearing_dir: Option<PathBuf>,
    /// Where the report and statements go (DIR/YYYY-MM-DD/); default: settlement/ next to the config.
    #[arg(long)]
    settlement_dir: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The folder next to the configuration file named `name`.
fn beside_config(config: &Path, name: &str) -> PathBuf {
    config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(name)
}

/// The clearing files of one date, `clearing-<member>.csv`, by member.
fn clearing_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, CliError> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        CliError::bad_input(format!(
            "no clearing files in {} ({e}): run `cardnet switch clearing` for the date first",
            folder.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(member) = name.strip_prefix("clearing-").and_then(|rest| rest.strip_suffix(".csv")) {
            if files.len() == CLEARING_FILES_MAX {
                return Err(CliError::bad_input(format!(
                    "more than {CLEARING_FILES_MAX} clearing files in {}",
                    folder.display()
                )));
            }
            files.push((member.to_owned(), path));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(CliError::bad_input(format!("no clearing-<member>.csv files in {}", folder.display())));
    }
    Ok(files)
}

/// Every record of the date once: from the file of the record's acquirer (each record is in its
/// acquirer's file and its issuer's). The first bad file, header or record ends the stream with
/// an error that names the file and line, before anything is settled.
fn date_records(
    files: Vec<(String, PathBuf)>,
    date: clearing::BusinessDate,
    network: String,
) -> impl Iterator<Item = Result<clearing::ClearingRecord, String>> {
    use clearing::file::Reader;
    let members: std::collections::BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut files = files.into_iter();
    let mut current: Option<(String, PathBuf, Reader<std::io::BufReader<std::fs::File>>)> = None;
    let mut failed = false;
    std::iter::from_fn(move || {
        while !failed {
            if current.is_none() {
                let (member, path) = files.next()?;
                let opened = std::fs::File::open(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|file| {
                        Reader::open(std::io::BufReader::new(file)).map_err(|e| format!("{}: {e}", path.display()))
                    })
                    .and_then(|reader| {
                        let header = reader.header();
                        if header.member != member || header.date != date || header.network != network {
                            return Err(format!(
                                "{}: the header is for member {} on {} from network {}, not {member} on {date} from \
                                 {network}",
                                path.display(),
                                header.member,
                                header.date,
                                header.network
                            ));
                        }
                        Ok(reader)
                    });
                match opened {
                    Ok(reader) => current = Some((member, path, reader)),
                    Err(error) => {
                        failed = true;
                        return Some(Err(error));
                    }
                }
            }
            let (member, path, reader) = current.as_mut()?;
            match reader.next_record() {
                Ok(Some(record)) if record.acquirer == *member => return Some(Ok(record)),
                Ok(Some(record)) if !members.contains(&record.acquirer) => {
                    failed = true;
                    return Some(Err(format!(
                        "{}: record {} names acquirer {}, which has no clearing file",
                        path.display(),
                        record.reference,
                        record.acquirer
                    )));
                }
                Ok(Some(_)) => {}
                Ok(None) => current = None,
                Err(error) => {
                    failed = true;
                    return Some(Err(format!("{}: {error}", path.display())));
                }
            }
        }
        None
    })
}

fn settle(args: &SettleArgs) -> Result<(), CliError> {
    let config = switch::SwitchConfig::load(&args.config).map_err(CliError::bad_input)?;
    let date = clearing::BusinessDate::parse(&args.date).map_err(|e| CliError::bad_input(format!("--date: {e}")))?;
    let clearing_dir = args.clearing_dir.clone().unwrap_or_else(|| beside_config(&args.config, "clearing"));
    let files = clearing_files(&clearing_dir.join(date.to_string()))?;
    let file_count = files.len();
    let db = switch::settlement::open_database(&config.database).map_err(settlement_error)?;
    let mut ledger = switch::settlement::open_ledger(&config.ledger).map_err(settlement_error)?;
    let records = date_records(files, date, config.institution_id.clone());
    let report = switch::settlement::settle_read(&db, &mut ledger, date, &config.institution_id, records)
        .map_err(settlement_error)?;
    let out_dir =
        args.settlement_dir.clone().unwrap_or_else(|| beside_config(&args.config, "settlement")).join(date.to_string());
    let written = switch::settlement::write_settlement_files(&report, &out_dir)?;
    if args.json {
        let mut value = report.to_json();
        if let Some(object) = value.as_object_mut() {
            object.insert("clearing_files".into(), json!(file_count));
            object.insert("report_dir".into(), json!(out_dir.display().to_string()));
            object.insert("files".into(), json!(written.len()));
        }
        crate::output::json(&value)?;
        return Ok(());
    }
    out!("{}", report.to_text());
    outln!("read {file_count} clearing files; wrote {} files to {}", written.len(), out_dir.display());
    Ok(())
}

/// Settlement's errors: the input's (records, files, a settled date's other positions) exit 2.
fn settlement_error(error: switch::settlement::SettlementError) -> CliError {
    use switch::settlement::SettlementError;
    match error {
        SettlementError::Input(_) | SettlementError::Conflict(_) => CliError::bad_input(error),
        other => failure(other),
    }
}
