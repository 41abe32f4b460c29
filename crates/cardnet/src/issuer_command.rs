//! `cardnet issuer ...`: set up a development issuer host and manage its cards; and
//! [`serve`], which `cardnet serve issuer --config FILE` runs.
//!
//! `card issue` is the one place a full card number (with its PIN and CVV2) is shown: it is
//! the card being handed over. Everything else shows masked PANs. With `--json` every
//! subcommand prints exactly one JSON object; errors are one line on stderr, exit status 2
//! for bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use issuer::{CardRef, CardStatus, CardSummary, IssuedCard, Issuer, IssuerConfig, IssuerError};
use serde_json::{Value, json};

use crate::cli_error::CliError;

#[path = "issuer_posting_command.rs"]
mod posting;

#[derive(Subcommand)]
pub enum IssuerCommand {
    /// Write a development issuer in a folder: issuer.toml (fresh keys under a fresh LMK),
    /// lmk.hex, and its two databases.
    Init(InitArgs),
    /// Issue, list, block and unblock cards.
    #[command(subcommand)]
    Card(CardCommand),
    /// Post the switch's clearing file: holds posted, follow-ups confirmed, the rest forced or
    /// flagged; a file that does not check is refused whole (exit 2).
    PostClearing(posting::PostClearingArgs),
    /// List what each record cleared on a date became here (the posting result).
    Postings(posting::PostingsArgs),
    /// List the holds standing, or with --expired those that expired uncleared.
    Holds(posting::HoldsArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing; an existing issuer.toml is not overwritten).
    #[arg(long)]
    dir: PathBuf,
    /// The issuer's 11-digit institution id.
    #[arg(long, default_value = issuer::dev::ISSUER_ID)]
    institution: String,
    /// The BIN the development products issue under (6 to 11 digits).
    #[arg(long, default_value = issuer::dev::ISSUER_BIN)]
    bin: String,
    /// Print one JSON object: {"config", "lmk_file", "institution_id", "listen", "database",
    /// "ledger" (null: the ledger is in the database), "lmk_check_value", "products"}.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum CardCommand {
    /// Issue a card and print its number, expiry, PIN, CVV2 and tracks (shown this once).
    Issue(IssueArgs),
    /// List the cards, masked, with their status and balances.
    List(ListArgs),
    /// Block a card (transactions are declined 62).
    Block(StatusArgs),
    /// Make a card active again and reset its wrong-PIN counter.
    Unblock(StatusArgs),
}

#[derive(Args)]
pub struct IssueArgs {
    /// The issuer's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// A product of the configuration (the development ones: debit, credit).
    #[arg(long)]
    product: String,
    /// Opening balance of a debit card, in minor units (12550 is 125.50).
    #[arg(long, value_name = "MINOR")]
    balance: Option<u64>,
    /// Print one JSON object, the card file: {"card_id", "product", "pan", "expiry", "pin",
    /// "cvv2", "service_code", "track2", "chip_track2", "card_sequence", "icc_master_key_ac",
    /// "atc", "available_minor"}.
    #[arg(long)]
    json: bool,
    /// Expiry YYMM instead of the product's validity: a test card (one in the past is
    /// declined 54, expired).
    #[arg(long, value_name = "YYMM")]
    expiry: Option<String>,
    /// Also write the card file (the JSON object) to FILE, readable by its owner only: the
    /// simulated card for `cardnet pos` (`--card-file`, `--cards`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ListArgs {
    /// The issuer's configuration file (`cardnet issuer init` or `network init` writes one).
    #[arg(long)]
    config: PathBuf,
    /// Print one JSON object: {"cards": [{"card_id", "pan", "expiry", "product", "kind",
    /// "status", "pin_tries", "ledger_balance_minor", "available_minor"}]} (PANs masked).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("card").required(true).args(["card_id", "pan"]))]
pub struct StatusArgs {
    /// The issuer's configuration file (`cardnet issuer init` or `network init` writes one).
    #[arg(long)]
    config: PathBuf,
    /// The card's id, as `card list` shows it.
    #[arg(long)]
    card_id: Option<i64>,
    /// The card's full number (instead of --card-id).
    #[arg(long)]
    pan: Option<String>,
    /// Print one JSON object: the card as `card list` shows it.
    #[arg(long)]
    json: bool,
}

impl From<IssuerError> for CliError {
    fn from(error: IssuerError) -> CliError {
        if error.is_bad_input() {
            CliError::bad_input(error)
        } else {
            CliError::Failure(error.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

pub fn run(command: IssuerCommand) -> Result<(), CliError> {
    match command {
        IssuerCommand::Init(args) => init(args),
        IssuerCommand::Card(CardCommand::Issue(args)) => issue(args),
        IssuerCommand::Card(CardCommand::List(args)) => list(args),
        IssuerCommand::Card(CardCommand::Block(args)) => set_status(args, false),
        IssuerCommand::Card(CardCommand::Unblock(args)) => set_status(args, true),
        IssuerCommand::PostClearing(args) => posting::post_clearing(args),
        IssuerCommand::Postings(args) => posting::postings(args),
        IssuerCommand::Holds(args) => posting::holds(args),
    }
}

/// `cardnet serve issuer --config FILE`: run the issuer host until Ctrl-C or SIGTERM.
pub async fn serve(config_path: &Path, ops: crate::ops::OpsArgs) -> Result<(), CliError> {
    let config = IssuerConfig::load(config_path)?;
    let _lock = crate::ops::lock_for_serve(config_path)?;
    let limits = config.server;
    let endpoint = crate::ops::start_admin("issuer", ops.admin_listen.or(config.admin.listen)).await?;
    // Borrowed by the callback: the endpoint lives until the server returns.
    let admin = &endpoint;
    // Opening touches the databases: off the async threads (the PostgreSQL client blocks).
    let issuer = tokio::task::spawn_blocking(move || Issuer::open_with_lmk_file(&config))
        .await
        .map_err(|e| CliError::Failure(format!("opening the issuer failed: {e}")))??;
    let issuer = Arc::new(issuer);
    let address = issuer.settings().listen;
    let institution = issuer.settings().institution_id.clone();
    let config_path = config_path.to_owned();
    let on_listening = move |bound, stats: Arc<transport::ServerStats>, ready| {
        eprintln!("cardnet issuer {institution}: listening on {bound} (Ctrl-C stops)");
        admin.serving(Arc::clone(&stats), ready);
        // Ends with the process: the counters are reported until the server returns.
        tokio::spawn(async move {
            crate::stats_command::report("issuer", bound, &stats, &config_path, limits.stats_interval_ms).await;
        });
    };
    let stop = crate::serve_command::stop_signal();
    issuer::server::bind_and_serve(issuer, address, limits.server_config(), stop, on_listening).await?;
    Ok(())
}

fn open(config_path: &Path) -> Result<Issuer, CliError> {
    let config = IssuerConfig::load(config_path)?;
    Ok(Issuer::open_with_lmk_file(&config)?)
}

fn init(args: InitArgs) -> Result<(), CliError> {
    let generated = issuer::dev::generate(&args.institution, &args.bin, &args.dir)?;
    // Open it as `serve` will (from the files just written): both databases are created now,
    // and the folder is known to work.
    Issuer::open_with_lmk_file(&generated.config)?;
    let config = &generated.config;
    let products: Vec<Value> = config
        .products
        .iter()
        .map(|p| json!({"name": p.name, "kind": p.kind.name(), "bin": p.bin, "credit_limit_minor": p.credit_limit_minor}))
        .collect();
    let lmk_check = generated.hsm.lmk_check_value();
    if args.json {
        return crate::output::json(&json!({
            "config": generated.config_path.display().to_string(),
            "lmk_file": config.lmk_file.display().to_string(),
            "institution_id": config.institution_id,
            "listen": config.listen,
            "database": config.database,
            "ledger": config.ledger,
            "lmk_check_value": lmk_check,
            "products": products,
        }));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "config: {}", generated.config_path.display())?;
    writeln!(out, "LMK file: {} (check value {lmk_check}; keep it secret)", config.lmk_file.display())?;
    writeln!(out, "institution: {}", config.institution_id)?;
    writeln!(out, "listen: {}", config.listen)?;
    writeln!(out, "database: {}", config.database)?;
    match &config.ledger {
        Some(ledger) => writeln!(out, "ledger: {ledger}")?,
        None => writeln!(out, "ledger: in the database (one commit per authorization)")?,
    }
    for product in &config.products {
        writeln!(out, "product: {} ({}, BIN {})", product.name, product.kind.name(), product.bin)?;
    }
    Ok(())
}

fn issue(args: IssueArgs) -> Result<(), CliError> {
    let issuer = open(&args.config)?;
    let card = issuer.issue_card_expiring(&args.product, args.balance, args.expiry.as_deref())?;
    let available = issuer.balance(&CardRef::Id(card.card_id))?.available_minor;
    let IssuedCard {
        card_id,
        product,
        pan,
        expiry_yymm,
        pin,
        cvv2,
        service_code,
        track2,
        chip_track2,
        card_sequence,
        icc_master_key_ac,
    } = card;
    // The one place the clear PIN and the chip's key become text: the card (personalised) and
    // its PIN mailer, handed over.
    let pin = String::from_utf8_lossy(pin.expose()).into_owned();
    let card_file = json!({
            "card_id": card_id,
            "product": product,
            "pan": pan.as_str(),
            "expiry": expiry_yymm,
            "pin": pin,
            "cvv2": cvv2,
            "service_code": service_code,
            "track2": track2,
            "chip_track2": chip_track2,
            "card_sequence": card_sequence,
            "icc_master_key_ac": iso8583::hex::encode(icc_master_key_ac.expose()),
            "atc": 0,
            "available_minor": available,
    });
    if let Some(path) = &args.out {
        let mut bytes = serde_json::to_vec_pretty(&card_file).map_err(|e| CliError::Failure(e.to_string()))?;
        bytes.push(b'\n');
        host::write_private(path, &bytes).map_err(|e| CliError::Failure(format!("{}: {e}", path.display())))?;
    }
    if args.json {
        return crate::output::json(&card_file);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "card id: {card_id}")?;
    writeln!(out, "product: {product}")?;
    writeln!(out, "PAN: {pan}")?;
    writeln!(out, "expiry (YYMM): {expiry_yymm}")?;
    writeln!(out, "PIN: {pin}")?;
    writeln!(out, "CVV2: {cvv2}")?;
    writeln!(out, "track 2: {track2}")?;
    writeln!(out, "chip track 2: {chip_track2}")?;
    writeln!(out, "card sequence: {card_sequence}")?;
    writeln!(out, "available: {available}")?;
    if let Some(path) = &args.out {
        writeln!(out, "card file: {} (owner-only: it holds the chip's key and the PIN)", path.display())?;
    }
    writeln!(out, "(the PIN and CVV2 are not stored and are shown only now)")?;
    Ok(())
}

fn summary_json(card: &CardSummary) -> Value {
    json!({
        "card_id": card.card_id,
        "pan": card.pan_masked,
        "expiry": card.expiry_yymm,
        "product": card.product,
        "kind": card.kind.name(),
        "status": card.status.name(),
        "pin_tries": card.pin_tries,
        "ledger_balance_minor": card.ledger_balance_minor,
        "available_minor": card.available_minor,
    })
}

fn summary_line(card: &CardSummary) -> String {
    format!(
        "{:>6}  {}  {}  {:<10} {:<7} {:<8} tries {}  balance {}  available {}",
        card.card_id,
        card.pan_masked,
        card.expiry_yymm,
        card.product,
        card.kind.name(),
        card.status.name(),
        card.pin_tries,
        card.ledger_balance_minor,
        card.available_minor
    )
}

fn list(args: ListArgs) -> Result<(), CliError> {
    let issuer = open(&args.config)?;
    let cards = issuer.list_cards()?;
    if args.json {
        return crate::output::json(&json!({"cards": cards.iter().map(summary_json).collect::<Vec<_>>()}));
    }
    let mut out = std::io::stdout().lock();
    if cards.is_empty() {
        writeln!(out, "no cards")?;
    }
    for card in &cards {
        writeln!(out, "{}", summary_line(card))?;
    }
    Ok(())
}

fn set_status(args: StatusArgs, unblock: bool) -> Result<(), CliError> {
    let issuer = open(&args.config)?;
    let card = match (args.card_id, &args.pan) {
        (Some(id), _) => CardRef::Id(id),
        (None, Some(pan)) => CardRef::Pan(pan.trim().parse().map_err(|e| CliError::bad_input(format!("--pan: {e}")))?),
        (None, None) => return Err(CliError::bad_input("give --card-id or --pan")),
    };
    let summary = if unblock { issuer.unblock(&card)? } else { issuer.set_status(&card, CardStatus::Blocked)? };
    if args.json {
        return crate::output::json(&summary_json(&summary));
    }
    writeln!(std::io::stdout().lock(), "{}", summary_line(&summary))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!("cardnet_issuer_cli_{name}_{}_{nanos}", std::process::id()))
    }

    #[test]
    fn init_issue_list_block_unblock() {
        let dir = temp_dir("flow");
        run(IssuerCommand::Init(InitArgs {
            dir: dir.clone(),
            institution: issuer::dev::ISSUER_ID.into(),
            bin: "622424".into(),
            json: true,
        }))
        .unwrap();
        let config = dir.join(issuer::dev::CONFIG_FILE);
        assert!(config.exists() && dir.join(issuer::dev::LMK_FILE).exists());
        // Not overwritten.
        let again = run(IssuerCommand::Init(InitArgs {
            dir: dir.clone(),
            institution: issuer::dev::ISSUER_ID.into(),
            bin: "622424".into(),
            json: true,
        }));
        assert_eq!(again.unwrap_err().exit_code(), 2);
        let issuer = open(&config).unwrap();
        let card = issuer.issue_card("debit", Some(1_000)).unwrap();
        drop(issuer);
        let block = |unblock: bool, pan: &str| {
            let args = StatusArgs { config: config.clone(), card_id: None, pan: Some(pan.to_owned()), json: true };
            set_status(args, unblock)
        };
        block(false, card.pan.as_str()).unwrap();
        assert_eq!(open(&config).unwrap().card(&CardRef::Id(card.card_id)).unwrap().status, CardStatus::Blocked);
        block(true, card.pan.as_str()).unwrap();
        assert_eq!(open(&config).unwrap().card(&CardRef::Id(card.card_id)).unwrap().status, CardStatus::Active);
        assert_eq!(block(false, "1234").unwrap_err().exit_code(), 2, "not a card number");
        list(ListArgs { config: config.clone(), json: true }).unwrap();
        let unknown_product = issue(IssueArgs {
            config: config.clone(),
            product: "gold".into(),
            balance: None,
            json: true,
            out: None,
            expiry: None,
        });
        assert_eq!(unknown_product.unwrap_err().exit_code(), 2);
        let bad_init = run(IssuerCommand::Init(InitArgs {
            dir: temp_dir("bad"),
            institution: "12".into(),
            bin: "622424".into(),
            json: true,
        }));
        assert_eq!(bad_init.unwrap_err().exit_code(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
