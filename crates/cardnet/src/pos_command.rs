//! `cardnet pos --terminal-config FILE [--operator NN --password P] [--cards FILE…] [--lang zh|en]`
//! (or `cardnet pos interactive …`): the terminal UI (`crates/pos-tui`) for a person at the
//! keyboard, with the test cards `cardnet issuer card issue --json` printed.
//!
//! `cardnet pos run --terminal-config FILE <command>`: the scripted terminal (issue 7) over the
//! terminal core (`crates/terminal`). Each command powers the terminal on (self-check), logs the
//! operator in, signs on and sends any pending reversal when needed, does its one thing and
//! prints the outcome; with `--json`, exactly one JSON object: {"transaction", "approved",
//! "response_code", "message", "rrn", "auth_code", "trace", "batch_no", "amount_minor",
//! "balance", "pan_masked", "operator", "reversal_pending", "sign_on_needed", "host",
//! "failover", "notices"} (settle: the totals, field 48, balanced flags and the next batch).
//! An approved transaction's object also has "receipt": both copies of the slip (签购单) as
//! printed, in `--lang zh|en` (default zh), card number masked; `reprint` prints the last slip
//! again with the reprint marker (from the terminal's journal, no network); `parameters` runs
//! the parameter download (0800/360) that gives the slips the merchant's name.
//!
//! A test card is given with `--card-file` (the card file `cardnet issuer card issue --json`
//! prints: pan, pin, track2, expiry and, for the chip, chip_track2, card_sequence,
//! icc_master_key_ac and atc) or with `--card PAN [--track2 …] [--expiry YYMM]`. `--entry chip`
//! and `tap` read the simulated chip (`crates/cardsim`): field 55 with an ARQC over the
//! transaction, the card's ATC advanced and written back to the card file; an inserted card
//! checks the issuer's ARPC and refuses a forged one (then the terminal reverses, 06).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand};
use hsm::Secret;
use serde_json::{Value, json};
use terminal::{Card, Entry, Kind, Original, Pos, SimCard, Terminal, TerminalConfig, TerminalError, TxnRequest};

use crate::cli_error::CliError;

/// `cardnet pos [--terminal-config FILE …]` (interactive, the default) or `cardnet pos run …` /
/// `cardnet pos interactive …`. Implemented by hand over [`PosSubcommand`] so that `pos` itself
/// takes the interactive mode's options (main.rs declares `pos` as a subcommand group).
pub enum PosCommand {
    Run(Box<RunArgs>),
    Interactive(InteractiveArgs),
}

#[derive(Subcommand)]
enum PosSubcommand {
    /// Run one terminal command non-interactively (scripts and tests).
    Run(Box<RunArgs>),
    /// The terminal UI for a person at the keyboard (the default: `cardnet pos --terminal-config FILE`).
    Interactive(InteractiveArgs),
}

impl clap::FromArgMatches for PosCommand {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        if matches.subcommand_name().is_some() {
            return Ok(match PosSubcommand::from_arg_matches_mut(matches)? {
                PosSubcommand::Run(args) => PosCommand::Run(args),
                PosSubcommand::Interactive(args) => PosCommand::Interactive(args),
            });
        }
        InteractiveArgs::from_arg_matches_mut(matches).map(PosCommand::Interactive)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for PosCommand {
    fn augment_subcommands(command: clap::Command) -> clap::Command {
        let command = <InteractiveArgs as Args>::augment_args(command);
        PosSubcommand::augment_subcommands(command)
            .subcommand_required(false)
            .args_conflicts_with_subcommands(true)
            .subcommand_negates_reqs(true)
            .arg_required_else_help(true)
    }

    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        Self::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        PosSubcommand::has_subcommand(name)
    }
}

#[derive(Args)]
pub struct InteractiveArgs {
    /// The terminal's configuration (TOML: ids, hosts, TMK file and check value, journal).
    #[arg(long, value_name = "FILE")]
    terminal_config: PathBuf,
    /// The operator (two digits) at the keyboard.
    #[arg(long, default_value = "01")]
    operator: String,
    /// The operator's password (without it, transactions ask to log in).
    #[arg(long, value_name = "DIGITS")]
    password: Option<String>,
    /// Test cards, each file as `cardnet issuer card issue --json` prints it (one card, or a
    /// JSON array of them).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    cards: Vec<PathBuf>,
    /// The language of the slips: zh (中文) or en.
    #[arg(long, default_value = "zh", value_parser = parse_lang)]
    lang: receipt::Lang,
}

#[derive(Args)]
pub struct RunArgs {
    /// The terminal's configuration (TOML: ids, hosts, TMK file and check value, journal).
    #[arg(long, value_name = "FILE")]
    terminal_config: PathBuf,
    /// The operator (two digits) doing it; 01 unless given.
    #[arg(long, default_value = "01")]
    operator: String,
    /// The operator's password.
    #[arg(long, value_name = "DIGITS")]
    password: Option<String>,
    /// The supervisor's password: void, refund, pre-auth void and settle need it.
    #[arg(long, value_name = "DIGITS")]
    supervisor_password: Option<String>,
    /// Print one JSON object.
    #[arg(long, global = true)]
    json: bool,
    /// The language of the slips: zh (中文) or en.
    #[arg(long, global = true, default_value = "zh", value_parser = parse_lang)]
    lang: receipt::Lang,
    #[command(subcommand)]
    command: PosAction,
}

#[derive(Args, Clone)]
pub struct CardArgs {
    /// A card as `cardnet issuer card issue --json` prints it.
    #[arg(long, value_name = "FILE", conflicts_with = "card")]
    card_file: Option<PathBuf>,
    /// The card number (with --track2 for a swipe, --expiry for keyed entry).
    #[arg(long, value_name = "PAN")]
    card: Option<String>,
    #[arg(long)]
    track2: Option<String>,
    /// YYMM.
    #[arg(long)]
    expiry: Option<String>,
    /// swipe, chip, tap or keyed (default: swipe with a track 2, else keyed).
    #[arg(long)]
    entry: Option<String>,
    /// The PIN the cardholder types (`card-file`: its PIN unless --no-pin).
    #[arg(long)]
    pin: Option<String>,
    #[arg(long)]
    no_pin: bool,
}

#[derive(Subcommand)]
pub enum PosAction {
    SignOn,
    Sale {
        /// Yuan with up to two decimals: 12.34.
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        card: CardArgs,
    },
    Balance {
        #[command(flatten)]
        card: CardArgs,
    },
    Void {
        #[arg(long)]
        trace: String,
    },
    Refund {
        #[arg(long)]
        amount: String,
        /// The original sale's trace in the open batch.
        #[arg(long, conflicts_with = "rrn")]
        trace: Option<String>,
        /// An earlier batch's sale: its RRN, batch and trace (and the card).
        #[arg(long, requires_all = ["original_batch", "original_trace"])]
        rrn: Option<String>,
        #[arg(long)]
        original_batch: Option<u32>,
        #[arg(long)]
        original_trace: Option<String>,
        #[command(flatten)]
        card: CardArgs,
    },
    PreAuth {
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        card: CardArgs,
    },
    PreAuthVoid {
        #[arg(long)]
        trace: String,
    },
    Completion {
        #[arg(long)]
        trace: String,
        #[arg(long)]
        amount: String,
    },
    /// Completion advice (0220, 完成通知): a completion the merchant did offline, told to the host.
    CompletionAdvice {
        #[arg(long)]
        trace: String,
        #[arg(long)]
        amount: String,
    },
    Settle,
    SignOff,
    /// Print the last slip again, marked as a reprint.
    Reprint,
    /// Parameter download (0800/360): the merchant's name for the slips.
    Parameters,
}

fn parse_lang(text: &str) -> Result<receipt::Lang, String> {
    text.parse().map_err(|e: receipt::UnknownLang| e.to_string())
}

fn error(e: TerminalError) -> CliError {
    match e {
        TerminalError::Input(_) | TerminalError::Config(_) | TerminalError::SelfCheck(_) | TerminalError::Card(_) => {
            CliError::bad_input(e)
        }
        other => CliError::Failure(other.to_string()),
    }
}

fn secret(text: &Option<String>) -> Option<Secret> {
    text.as_ref().map(|t| Secret::new(t.as_bytes()))
}

/// The card and PIN from the arguments. `None` when no card was given at all.
fn read_card(args: &CardArgs) -> Result<Option<(Card, Option<Secret>)>, CliError> {
    let sim = if let Some(path) = &args.card_file {
        SimCard::load(path).map_err(CliError::bad_input)?
    } else if let Some(pan) = &args.card {
        SimCard::stripe(pan, args.expiry.as_deref().unwrap_or(""), args.track2.as_deref().unwrap_or(""), None)
            .map_err(CliError::bad_input)?
    } else {
        return Ok(None);
    };
    let has_track2 = args.card_file.is_some() || args.track2.is_some();
    let entry = match &args.entry {
        Some(e) => Entry::parse(e).map_err(error)?,
        None if has_track2 => Entry::Swipe,
        None => Entry::Keyed,
    };
    let typed = if args.no_pin { None } else { args.pin.clone().map(|p| Secret::new(p.as_bytes())) };
    let pin = if args.no_pin { None } else { typed.or_else(|| sim.pin().cloned()) };
    let card = Card::read(&Arc::new(Mutex::new(sim)), entry).map_err(error)?;
    Ok(Some((card, pin)))
}

fn amount(text: &str) -> Result<u64, CliError> {
    terminal::amount::parse_minor(text).map_err(error)
}

pub fn run(command: PosCommand) -> Result<(), CliError> {
    match command {
        PosCommand::Run(args) => run_scripted(*args),
        PosCommand::Interactive(args) => run_interactive(args),
    }
}

fn read_test_cards(paths: &[PathBuf]) -> Result<Vec<pos_tui::TestCard>, CliError> {
    let mut cards = Vec::new();
    for path in paths {
        let sims = SimCard::load_all(path).map_err(CliError::bad_input)?;
        cards.extend(sims.into_iter().map(pos_tui::TestCard::from_sim));
    }
    Ok(cards)
}

/// `cardnet pos [interactive] --terminal-config FILE`: the terminal UI.
fn run_interactive(args: InteractiveArgs) -> Result<(), CliError> {
    let cards = read_test_cards(&args.cards)?;
    let config = TerminalConfig::load(&args.terminal_config).map_err(error)?;
    let mut terminal = Terminal::open(config).map_err(error)?;
    if let Some(password) = &args.password {
        terminal.log_in(&args.operator, &Secret::new(password.as_bytes())).map_err(error)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(e.to_string()))?;
    runtime.block_on(pos_tui::driver::run(Pos::new(terminal), cards, args.lang))?;
    Ok(())
}

fn run_scripted(args: RunArgs) -> Result<(), CliError> {
    let config = TerminalConfig::load(&args.terminal_config).map_err(error)?;
    let mut terminal = Terminal::open(config).map_err(error)?;
    let supervisor = secret(&args.supervisor_password);
    if let Some(password) = &args.password {
        terminal.log_in(&args.operator, &Secret::new(password.as_bytes())).map_err(error)?;
    } else if let Some(password) = &supervisor {
        // The supervisor alone may settle, sign on and sign off.
        terminal.log_in("00", password).map_err(error)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let mut pos = Pos::new(terminal);
    let result = runtime.block_on(act(&mut pos, &args, supervisor));
    let mut value = result?;
    if let Some(object) = value.as_object_mut() {
        object.insert("host".into(), json!(pos.host().map(|h| h.0)));
        object.insert("failover".into(), json!(pos.host().is_some_and(|h| h.1)));
        object.insert("notices".into(), json!(pos.notices()));
    }
    if args.json {
        println!("{value}");
    } else {
        for notice in pos.notices() {
            println!("note: {notice}");
        }
        if let Some(object) = value.as_object() {
            for (key, v) in object.iter().filter(|(k, v)| !v.is_null() && *k != "notices" && *k != "receipt") {
                println!("{key}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            }
            if let Some(text) = object.get("receipt").and_then(Value::as_str) {
                println!();
                print!("{text}");
            }
        }
    }
    Ok(())
}

async fn act(pos: &mut Pos, args: &RunArgs, supervisor: Option<Secret>) -> Result<Value, CliError> {
    let txn = |kind, card: Option<(Card, Option<Secret>)>, amount_minor, trace: Option<String>| {
        let (card, pin) = card.map_or((None, None), |(c, p)| (Some(c), p));
        TxnRequest {
            kind: Some(kind),
            card,
            pin,
            amount_minor,
            original_trace: trace,
            original: None,
            supervisor_password: supervisor.clone(),
        }
    };
    let request = match &args.command {
        PosAction::SignOn => return serde_json::to_value(pos.sign_on().await.map_err(error)?).map_err(json_error),
        PosAction::SignOff => return serde_json::to_value(pos.sign_off().await.map_err(error)?).map_err(json_error),
        PosAction::Parameters => {
            let outcome = pos.download_parameters().await.map_err(error)?;
            let mut value = serde_json::to_value(&outcome).map_err(json_error)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("merchant_name".into(), json!(pos.terminal().merchant_name()));
            }
            return Ok(value);
        }
        PosAction::Reprint => {
            let text = pos.terminal().last_receipt(args.lang).map_err(error)?;
            let text =
                text.ok_or_else(|| CliError::Failure("no slip to reprint: no transaction approved yet".into()))?;
            return Ok(json!({ "transaction": "reprint", "receipt": text }));
        }
        PosAction::Settle => {
            let password =
                supervisor.as_ref().ok_or_else(|| CliError::bad_input("settle needs --supervisor-password"))?;
            return serde_json::to_value(pos.settle(password).await.map_err(error)?).map_err(json_error);
        }
        PosAction::Sale { amount: a, card } => txn(Kind::Purchase, read_card(card)?, Some(amount(a)?), None),
        PosAction::Balance { card } => txn(Kind::Balance, read_card(card)?, None, None),
        PosAction::PreAuth { amount: a, card } => txn(Kind::PreAuth, read_card(card)?, Some(amount(a)?), None),
        PosAction::Void { trace } => txn(Kind::Void, None, None, Some(trace.clone())),
        PosAction::PreAuthVoid { trace } => txn(Kind::PreAuthVoid, None, None, Some(trace.clone())),
        PosAction::Completion { trace, amount: a } => {
            txn(Kind::Completion, None, Some(amount(a)?), Some(trace.clone()))
        }
        PosAction::CompletionAdvice { trace, amount: a } => {
            txn(Kind::CompletionAdvice, None, Some(amount(a)?), Some(trace.clone()))
        }
        PosAction::Refund { amount: a, trace, rrn, original_batch, original_trace, card } => {
            let mut request = txn(Kind::Refund, read_card(card)?, Some(amount(a)?), trace.clone());
            if let (Some(rrn), Some(batch_no), Some(trace)) = (rrn, original_batch, original_trace) {
                request.original = Some(Original {
                    batch_no: *batch_no,
                    trace: trace.clone(),
                    rrn: Some(rrn.clone()),
                    auth_code: None,
                });
            }
            request
        }
    };
    let outcome = pos.transact(&request).await.map_err(error)?;
    let mut value = serde_json::to_value(&outcome).map_err(json_error)?;
    if let (Some(text), Some(object)) = (outcome.receipt_text(args.lang), value.as_object_mut()) {
        object.insert("receipt".into(), json!(text));
    }
    Ok(value)
}

fn json_error(e: serde_json::Error) -> CliError {
    CliError::Failure(format!("json: {e}"))
}
