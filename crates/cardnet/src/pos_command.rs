//! `cardnet pos --terminal-config FILE [--operator NN --password P] [--cards FILE…] [--lang zh|en]`
//! (or `cardnet pos interactive …`): the terminal UI (`crates/pos-tui`) for a person at the
//! keyboard, with the test cards of card files (`cardnet issuer card issue --json --out F`).
//!
//! `cardnet pos init --dir DIR --terminal ID --merchant MID --host ADDR --tmk-components C1,C2`:
//! install a terminal — its TMK injected from the components `cardnet terminal add` printed, its
//! configuration and TMK file written to DIR/ID/ (owner-only), the TMK's check value printed to
//! compare with the acquirer's. Everywhere `--terminal-config FILE` is taken, `--terminal ID
//! [--dir DIR]` finds an installed terminal instead, and `--host ADDR` replaces its primary host.
//!
//! `cardnet pos run --terminal-config FILE <command>`: the scripted terminal (issue 7) over the
//! terminal core (`crates/terminal`). Each command powers the terminal on (self-check), logs the
//! operator in, signs on and sends any pending reversal when needed, does its one thing and
//! prints the outcome; with `--json`, exactly one JSON object: {"transaction", "approved",
//! "response_code", "message", "rrn", "auth_code", "trace", "batch_no", "amount_minor",
//! "balance" (a balance inquiry's {"available_minor", "ledger_minor", "currency",
//! "currency_numeric"}; the plain output prints `available 1,000.00 CNY (ledger …)`), "pan_masked", "operator", "reversal_pending", "sign_on_needed", "host",
//! "failover", "notices"} (settle: the totals, field 48, balanced flags and the next batch).
//! An approved transaction's object also has "receipt": both copies of the slip (签购单) as
//! printed, in `--lang zh|en` (default zh), card number masked; `reprint` prints the last slip
//! again with the reprint marker (from the terminal's journal, no network); `parameters` runs
//! the parameter download (0800/360) that gives the slips the merchant's name; `journal
//! [--batch N]` prints the batch journal (open or closed batches, masked), the terminal's side of
//! reconciliation; `operator list` and `operator set --number NN [--role cashier|supervisor]
//! --new-password P` (with `--supervisor-password`) manage the operators, without the host.
//!
//! A test card is given with `--card-file` (the card file `cardnet issuer card issue --json`
//! prints: pan, pin, track2, expiry and, for the chip, chip_track2, card_sequence,
//! icc_master_key_ac and atc) or with `--card PAN [--track2 …] [--expiry YYMM]`. `--entry chip`
//! and `tap` read the simulated chip (`crates/cardsim`): field 55 with an ARQC over the
//! transaction, the card's ATC advanced and written back to the card file; an inserted card
//! checks the issuer's ARPC and refuses a forged one (then the terminal reverses, 06). A chip
//! card (service code 2xx/6xx) swiped is refused ("insert the chip") unless its chip cannot be
//! read (`--chip-fails`, or `"chip_fails": true` in the card file): then the swipe goes out as
//! a fallback (22 = 02x, 60.5 = 2).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand};
use hsm::Secret;
use serde_json::{Value, json};
use terminal::{Card, EntryMode, Kind, Original, Pos, SimCard, Terminal, TerminalConfig, TerminalError, TxnRequest};

use crate::cli_error::CliError;
use crate::output::{out, outln};

/// `cardnet pos [--terminal-config FILE …]` (interactive, the default) or `cardnet pos run …` /
/// `cardnet pos interactive …`. Implemented by hand over [`PosSubcommand`] so that `pos` itself
/// takes the interactive mode's options (main.rs declares `pos` as a subcommand group).
pub enum PosCommand {
    Run(Box<RunArgs>),
    Interactive(InteractiveArgs),
    Init(Box<InitArgs>),
}

#[derive(Subcommand)]
enum PosSubcommand {
    /// Run one terminal command non-interactively (scripts and tests).
    Run(Box<RunArgs>),
    /// The terminal UI for a person at the keyboard (the default: `cardnet pos --terminal-config FILE`).
    Interactive(InteractiveArgs),
    /// Install a terminal: inject its TMK from the components `cardnet terminal add` printed
    /// and write its configuration to DIR/<terminal id>/.
    Init(Box<InitArgs>),
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
                PosSubcommand::Init(args) => PosCommand::Init(args),
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

/// Which terminal: its configuration file, or its id under the installation folder
/// (`cardnet pos init`); `--host` replaces the configured primary host.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("which_terminal").args(["terminal_config", "terminal"]).required(true)))]
pub struct TerminalLocation {
    /// The terminal's configuration (TOML: ids, hosts, TMK file and check value, journal).
    #[arg(long, value_name = "FILE")]
    terminal_config: Option<PathBuf>,
    /// The terminal id: its configuration is DIR/ID/terminal.toml (`cardnet pos init`).
    #[arg(long, value_name = "ID")]
    terminal: Option<String>,
    /// The folder terminals are installed under.
    #[arg(long, value_name = "DIR", default_value = "pos")]
    dir: PathBuf,
    /// The acquirer's address (host:port) instead of the configured primary.
    #[arg(long, value_name = "ADDR")]
    host: Option<String>,
}

impl TerminalLocation {
    fn load(&self) -> Result<TerminalConfig, CliError> {
        let path = match (&self.terminal_config, &self.terminal) {
            (Some(path), _) => path.clone(),
            (None, Some(id)) => terminal::install::terminal_dir(&self.dir, id).join(terminal::install::CONFIG_FILE),
            (None, None) => return Err(CliError::bad_input("give --terminal-config FILE or --terminal ID")),
        };
        let mut config = TerminalConfig::load(&path).map_err(error)?;
        if let Some(id) = &self.terminal
            && *id != config.terminal_id
        {
            return Err(CliError::bad_input(format!(
                "{} is terminal {}, not {id}",
                path.display(),
                config.terminal_id
            )));
        }
        if let Some(host) = &self.host {
            config.primary.clone_from(host);
        }
        Ok(config)
    }
}

#[derive(Args)]
pub struct InitArgs {
    /// The folder terminals are installed under: the terminal's files go to DIR/ID/.
    #[arg(long, value_name = "DIR", default_value = "pos")]
    dir: PathBuf,
    /// The terminal id (8 letters or digits), as the acquirer registered it.
    #[arg(long, value_name = "ID")]
    terminal: String,
    /// The 15-digit merchant id.
    #[arg(long, value_name = "MID")]
    merchant: String,
    /// The name slips print until a parameter download gives the acquirer's.
    #[arg(long)]
    merchant_name: Option<String>,
    /// The acquirer's terminal address (host:port).
    #[arg(long, value_name = "ADDR")]
    host: String,
    /// A second acquirer address the terminal fails over to.
    #[arg(long, value_name = "ADDR")]
    backup: Option<String>,
    /// The TMK's 2 or 3 clear components, hex, comma-separated (as `cardnet terminal add` printed them).
    #[arg(long, value_name = "C1,C2[,C3]")]
    tmk_components: String,
    /// 60.3 of the sign-on: 004 (double-length keys and a data key: track 2 enciphered), or
    /// 003 / 001 (double- / single-length keys, track 2 in clear).
    #[arg(long, default_value = "004")]
    key_scheme: String,
    /// The supervisor's (主管, operator 00) first password.
    #[arg(long, value_name = "DIGITS", default_value = "123456")]
    supervisor_password: String,
    /// A cashier and first password, NN:DIGITS; repeatable (default 01:0000).
    #[arg(long, value_name = "NN:DIGITS")]
    cashier: Vec<String>,
    /// Print one JSON object: {"terminal_id", "config", "tmk_kcv"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct InteractiveArgs {
    #[command(flatten)]
    location: TerminalLocation,
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
    #[command(flatten)]
    location: TerminalLocation,
    /// The operator (two digits) doing it; 01 unless given.
    #[arg(long, default_value = "01")]
    operator: String,
    /// The operator's password.
    #[arg(long, value_name = "DIGITS")]
    password: Option<String>,
    /// The supervisor's password: void, refund, pre-auth void, completion void and settle need it.
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
    /// Track 2 equivalent data, digits with `=` as separator (a stripe read).
    #[arg(long)]
    track2: Option<String>,
    /// YYMM.
    #[arg(long)]
    expiry: Option<String>,
    /// swipe, chip, tap or keyed (default: swipe with a track 2, else keyed).
    #[arg(long)]
    entry: Option<String>,
    /// Simulate a chip that cannot be read: chip and tap fail, a swipe goes out as fallback.
    #[arg(long)]
    chip_fails: bool,
    /// The PIN the cardholder types (`card-file`: its PIN unless --no-pin).
    #[arg(long)]
    pin: Option<String>,
    /// No PIN, even when the card file carries one (a card that needs none).
    #[arg(long)]
    no_pin: bool,
}

#[derive(Subcommand)]
pub enum PosAction {
    /// Sign on (0800): working keys under the TMK, a new batch number if the host says so.
    SignOn,
    /// A purchase (消费, 0200): the card by --card-file or --card, the amount in yuan.
    Sale {
        /// Yuan with up to two decimals: 12.34.
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        card: CardArgs,
    },
    /// A balance inquiry (余额查询, 0200/31): the card's available balance.
    Balance {
        #[command(flatten)]
        card: CardArgs,
    },
    /// Void (撤销) a sale of the open batch by its trace; needs --supervisor-password.
    Void {
        /// The original transaction's trace number (6 digits) in the open batch.
        #[arg(long)]
        trace: String,
    },
    /// A refund (退货) of a sale, by its trace or an earlier batch's RRN; needs --supervisor-password.
    Refund {
        /// Yuan with up to two decimals: 12.34.
        #[arg(long)]
        amount: String,
        /// The original sale's trace in the open batch.
        #[arg(long, conflicts_with = "rrn")]
        trace: Option<String>,
        /// An earlier batch's sale: its RRN, batch and trace (and the card).
        #[arg(long, requires_all = ["original_batch", "original_trace"])]
        rrn: Option<String>,
        /// The earlier batch's number (with --rrn).
        #[arg(long)]
        original_batch: Option<u32>,
        /// The original sale's trace in that earlier batch (with --rrn).
        #[arg(long)]
        original_trace: Option<String>,
        #[command(flatten)]
        card: CardArgs,
    },
    /// A pre-authorization (预授权, 0100): a hold on the card for a later completion.
    PreAuth {
        /// Yuan with up to two decimals: 12.34.
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        card: CardArgs,
    },
    /// Void a pre-authorization (预授权撤销) by its trace: the hold released; needs --supervisor-password.
    PreAuthVoid {
        /// The original transaction's trace number (6 digits) in the open batch.
        #[arg(long)]
        trace: String,
    },
    /// Complete a pre-authorization (预授权完成, 0200) by its trace, for up to its amount.
    Completion {
        /// The original transaction's trace number (6 digits) in the open batch.
        #[arg(long)]
        trace: String,
        /// Yuan with up to two decimals: 12.34.
        #[arg(long)]
        amount: String,
    },
    /// Completion advice (0220, 完成通知): a completion the merchant did offline, told to the host.
    CompletionAdvice {
        /// The original transaction's trace number (6 digits) in the open batch.
        #[arg(long)]
        trace: String,
        /// Yuan with up to two decimals: 12.34.
        #[arg(long)]
        amount: String,
    },
    /// Completion void (完成撤销) of a completion in the open batch: its whole amount back.
    CompletionVoid {
        /// The original transaction's trace number (6 digits) in the open batch.
        #[arg(long)]
        trace: String,
    },
    /// Settle the batch (结算, 0500) with the acquirer, uploading it when the totals disagree; needs --supervisor-password.
    Settle,
    /// Sign off (0820): the working keys are dropped until the next sign-on.
    SignOff,
    /// Print the last slip again, marked as a reprint.
    Reprint,
    /// Parameter download (0800/360): the merchant's name for the slips.
    Parameters,
    /// The batch journal (the terminal's side of reconciliation): the open batch, or --batch N.
    Journal {
        /// A closed batch by its number instead of the open one.
        #[arg(long, value_name = "N")]
        batch: Option<u32>,
    },
    /// The terminal's operators: list them, or add one / change a password (supervisor).
    #[command(subcommand)]
    Operator(OperatorAction),
}

#[derive(Subcommand)]
pub enum OperatorAction {
    /// The operators on file (number and role).
    List,
    /// Add an operator or change one's password; needs --supervisor-password.
    Set {
        /// Two digits: 00 is the supervisor by convention.
        #[arg(long, value_name = "NN")]
        number: String,
        /// supervisor or cashier.
        #[arg(long, default_value = "cashier")]
        role: String,
        /// The new password, 4 to 12 digits.
        #[arg(long, value_name = "DIGITS")]
        new_password: String,
    },
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
        Some(e) => terminal::parse_entry(e).map_err(error)?,
        None if has_track2 => EntryMode::Swipe,
        None => EntryMode::Keyed,
    };
    // What the cardholder types: --pin, else the PIN mailer's in the card file; --no-pin: none.
    let pin = match (&args.pin, args.no_pin) {
        (_, true) => None,
        (Some(typed), false) => Some(Secret::new(typed.as_bytes())),
        (None, false) => sim.pin().cloned(),
    };
    let mut sim = sim;
    if args.chip_fails {
        sim.set_chip_fails(true);
    }
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
        PosCommand::Init(args) => run_init(&args),
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

/// `cardnet pos init`: the TMK from its components into the terminal, and its configuration.
fn run_init(args: &InitArgs) -> Result<(), CliError> {
    let components = args
        .tmk_components
        .split(',')
        .map(|part| {
            iso8583::hex::decode(part.trim())
                .map(Secret::from_vec)
                .map_err(|_| CliError::bad_input("--tmk-components: hex, comma-separated"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut operators = vec![("00".to_owned(), "supervisor".to_owned(), args.supervisor_password.clone())];
    let cashiers = if args.cashier.is_empty() { vec!["01:0000".to_owned()] } else { args.cashier.clone() };
    for cashier in &cashiers {
        let (number, password) =
            cashier.split_once(':').ok_or_else(|| CliError::bad_input("--cashier: NN:DIGITS, as 01:0000"))?;
        operators.push((number.to_owned(), "cashier".to_owned(), password.to_owned()));
    }
    let installation = terminal::install::Installation {
        terminal_id: args.terminal.clone(),
        merchant_id: args.merchant.clone(),
        merchant_name: args.merchant_name.clone(),
        primary: args.host.clone(),
        backup: args.backup.clone(),
        key_scheme: args.key_scheme.clone(),
        operators,
    };
    let installed = terminal::install::install(&args.dir, &installation, &components).map_err(error)?;
    let config = installed.config_path.display().to_string();
    if args.json {
        outln!("{}", json!({ "terminal_id": args.terminal, "config": config, "tmk_kcv": installed.tmk_kcv }));
    } else {
        outln!("terminal {} installed: {config}", args.terminal);
        outln!("TMK check value: {} (compare with the acquirer's)", installed.tmk_kcv);
    }
    Ok(())
}

/// `cardnet pos [interactive] --terminal-config FILE`: the terminal UI.
fn run_interactive(args: InteractiveArgs) -> Result<(), CliError> {
    let cards = read_test_cards(&args.cards)?;
    let config = args.location.load()?;
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
    let config = args.location.load()?;
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
        outln!("{value}");
    } else {
        for notice in pos.notices() {
            outln!("note: {notice}");
        }
        if let Some(object) = value.as_object() {
            let mut shown = object.clone();
            if let Some(balance) = shown.get_mut("balance") {
                *balance = Value::String(plain("balance", balance));
            }
            for line in crate::plain::lines(&shown, &["notices", "receipt"]) {
                outln!("{line}");
            }
            if let Some(text) = object.get("receipt").and_then(Value::as_str) {
                outln!();
                out!("{text}");
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
        PosAction::Journal { batch } => {
            let terminal = pos.terminal();
            let batch_no = batch.unwrap_or_else(|| terminal.batch_no());
            let entries = terminal.batch_entries(batch_no).map_err(error)?;
            let list: Vec<Value> = entries.iter().map(journal_json).collect();
            return Ok(json!({ "transaction": "journal", "batch_no": batch_no, "entries": list }));
        }
        PosAction::Operator(OperatorAction::List) => {
            let operators = pos.terminal().operators().map_err(error)?;
            let list: Vec<Value> =
                operators.iter().map(|(number, role)| json!({"number": number, "role": role.name()})).collect();
            return Ok(json!({ "transaction": "operators", "operators": list }));
        }
        PosAction::Operator(OperatorAction::Set { number, role, new_password }) => {
            let password =
                supervisor.as_ref().ok_or_else(|| CliError::bad_input("operator set needs --supervisor-password"))?;
            let role = terminal::Role::parse(role).map_err(error)?;
            pos.terminal()
                .set_operator(password, number, role, &Secret::new(new_password.as_bytes()))
                .map_err(error)?;
            return Ok(json!({ "transaction": "operator", "number": number, "role": role.name(), "set": true }));
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
        PosAction::CompletionVoid { trace } => txn(Kind::CompletionVoid, None, None, Some(trace.clone())),
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

/// A value of the outcome as the plain output prints it: a balance as amounts
/// (`available 1,000.00 CNY (ledger 1,200.00 CNY)`), text as it is, the rest as JSON.
fn plain(key: &str, value: &Value) -> String {
    if key == "balance"
        && let Ok(balance) = serde_json::from_value::<terminal::Balance>(value.clone())
    {
        return balance.to_string();
    }
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// One journal record as `pos run journal` prints it: the card number masked.
fn journal_json(entry: &terminal::JournalEntry) -> Value {
    json!({
        "trace": entry.trace.to_string(),
        "transaction": entry.kind.name(),
        "pan_masked": entry.pan.masked().as_str(),
        "amount_minor": entry.amount_minor,
        "rrn": entry.rrn.map(|rrn| rrn.to_string()),
        "auth_code": entry.auth_code,
        "status": entry.status,
        "entry_mode": entry.entry_mode.map(|mode| mode.as_str()),
        "organisation": entry.organisation,
        "original_trace": entry.original_trace.map(|trace| trace.to_string()),
        "operator": entry.operator,
        "chip_data": entry.icc_upload.is_some(),
    })
}

fn json_error(e: serde_json::Error) -> CliError {
    CliError::Failure(format!("json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balance_prints_as_amounts_and_text_as_it_is() {
        let balance =
            json!({"available_minor": 100_000, "ledger_minor": 120_000, "currency": "CNY", "currency_numeric": 156});
        assert_eq!(plain("balance", &balance), "available 1,000.00 CNY (ledger 1,200.00 CNY)");
        assert_eq!(plain("message", &json!("approved")), "approved");
        assert_eq!(plain("batch_no", &json!(7)), "7");
    }
}
