//! `cardnet`: one scriptable CLI over the library crates. Commands that report something take
//! `--json` and then print one JSON object on stdout; errors go to stderr with a non-zero exit
//! status (2 for bad input).

/// mimalloc instead of glibc's malloc: see its entry in ARCHITECTURE.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod acquirer_command;
mod backup_command;
mod bench_command;
mod bench_e2e;
mod bench_eod;
mod bench_network;
mod bench_risk;
mod cli_error;
mod console_command;
mod crypto_command;
mod day;
mod demo;
mod dispute_command;
mod eod;
mod iso8583_command;
mod issuer_command;
mod json_log;
mod log_writer;
mod merchant_command;
mod network_command;
mod ops;
mod output;
mod parties;
mod plain;
mod pos_command;
mod risk_aml;
mod risk_command;
mod self_command;
mod serve_command;
mod sim_command;
mod stats_command;
mod switch_command;
mod switch_settle;
mod terminal_command;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli_error::CliError;

#[derive(Parser)]
#[command(
    name = "cardnet",
    version,
    about = "A four-party card payment network: POS terminal, acquirer, switch, issuer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole network on loopback TCP in one process: switch, two issuers, acquirer, a POS terminal.
    Demo(demo::DemoArgs),
    /// The whole network on loopback as separate processes, seeded at the first start; Ctrl-C stops it.
    Up(up::UpArgs),
    /// Decode, encode and inspect ISO 8583 messages.
    #[command(name = "iso8583", subcommand)]
    Iso8583(iso8583_command::Iso8583Command),
    /// A payment-crypto calculator: KCVs, PIN blocks, MACs, DUKPT, EMV, TR-31, CVV, PVV.
    #[command(subcommand)]
    Crypto(crypto_command::CryptoCommand),
    /// Benchmarks: throughput and latency, printed with units in the keys under --json.
    #[command(subcommand)]
    Bench(bench_command::BenchCommand),
    /// Run a party's server: `cardnet serve switch --config FILE`.
    #[command(subcommand)]
    Serve(serve_command::ServeCommand),
    /// A running party's server counters (connections, refusals, timeouts, malformed frames):
    /// `cardnet stats --config FILE [--json]`, from the stats file `cardnet serve` rewrites.
    Stats(stats_command::StatsArgs),
    /// The issuer host's set-up and its cards: `cardnet issuer init`, `cardnet issuer card issue|list|block|unblock`.
    #[command(subcommand)]
    Issuer(issuer_command::IssuerCommand),
    /// A whole development network's configuration, one key ceremony: `cardnet network init`.
    #[command(subcommand)]
    Network(network_command::NetworkCommand),
    /// The acquirer host's set-up: `cardnet acquirer init`.
    #[command(subcommand)]
    Acquirer(acquirer_command::AcquirerCommand),
    /// The POS terminal: `cardnet pos init` installs one; `cardnet pos --terminal ID` is the
    /// cashier's screen; `cardnet pos run --terminal ID <command>` scripts it (sign-on, sale,
    /// balance, void, refund, pre-auth, pre-auth-void, completion, completion-advice,
    /// completion-void, settle, reprint, parameters, journal, operator, sign-off).
    #[command(subcommand)]
    Pos(pos_command::PosCommand),
    /// The acquirer's merchants: apply, review, activate, show, list, suspend, reinstate, close,
    /// voids, change-account, review-change.
    #[command(subcommand)]
    Merchant(merchant_command::MerchantCommand),
    /// The acquirer's terminals and their master keys: `cardnet terminal add|list|disable`.
    #[command(subcommand)]
    Terminal(terminal_command::TerminalCommand),
    /// The network switch's set-up: `cardnet switch init --dir DIR`.
    #[command(subcommand)]
    Switch(switch_command::SwitchCommand),
    /// The switch's exceptions (差错) from reconciliation: `cardnet dispute list|show|resolve --config FILE`.
    #[command(subcommand)]
    Dispute(dispute_command::DisputeCommand),
    /// End of day for a development network: `cardnet eod run --dir NET --date YYYY-MM-DD`
    /// (cut-off, clearing, settlement, issuer posting, merchant settlement, reconciliation).
    #[command(subcommand)]
    Eod(eod::EodCommand),
    /// Reconcile one business date of a network (the end-of-day step alone): `cardnet recon --dir NET --date D`.
    Recon(eod::DayArgs),
    /// The deterministic simulation over many seeds: `cardnet sim --seeds N [--seed S] [--json]`;
    /// a failing seed is printed with the command that replays it.
    Sim(sim_command::SimArgs),
    /// Risk control: `cardnet risk rules check FILE`, `risk backtest`, `risk aml`, `risk alerts list|show|assign|close`.
    #[command(subcommand)]
    Risk(risk_command::RiskCommand),
    /// Copy a party's SQLite database while it runs: `cardnet backup --config FILE --out BACKUP`.
    Backup(backup_command::BackupArgs),
    /// Put a backup back while the party is stopped: `cardnet restore --config FILE --from BACKUP --force`.
    Restore(backup_command::RestoreArgs),
    /// The web console over a network folder: `cardnet console serve --dir NET`, `console user add|list`.
    #[command(subcommand)]
    Console(console_command::ConsoleCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are not errors; usage mistakes are bad input (exit 2).
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Up(args) => up::run(args),
        Command::Iso8583(command) => iso8583_command::run(command),
        Command::Crypto(command) => crypto_command::run(command),
        Command::Bench(command) => bench_command::run(command),
        Command::Serve(command) => serve_command::run(command),
        Command::Stats(args) => stats_command::run(args),
        Command::Switch(command) => switch_command::run(command),
        Command::Issuer(command) => issuer_command::run(command),
        Command::Network(command) => network_command::run(command),
        Command::Acquirer(command) => acquirer_command::run(command),
        Command::Merchant(command) => merchant_command::run(command),
        Command::Pos(command) => pos_command::run(command),
        Command::Terminal(command) => terminal_command::run(command),
        Command::Eod(command) => eod::run(command),
        Command::Recon(args) => eod::recon(args),
        Command::Dispute(command) => dispute_command::run(command),
        Command::Sim(args) => sim_command::run(args),
        Command::Risk(command) => risk_command::run(command),
        Command::Backup(args) => backup_command::backup(args),
        Command::Restore(args) => backup_command::restore(args),
        Command::Console(command) => console_command::run(command),
    };
    match result {
        Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cardnet: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
