//! `cardnet console serve|user …`: the web console over a network folder, and its users.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output;

/// The console's database beside the network's configurations unless told otherwise.
const DEFAULT_DATABASE_FILE: &str = "console.db";
/// Who the audit trail names for a user added from the command line.
const CLI_ACTOR: &str = "cli";

#[derive(Subcommand)]
pub enum ConsoleCommand {
    /// Serve the web console over a network folder until Ctrl-C (prints `console on http://ADDR`).
    Serve(ServeArgs),
    /// The console's users: `cardnet console user add|list`.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Args)]
pub struct ServeArgs {
    /// The network folder `cardnet network init` wrote (switch.toml, acquirer.toml, issuer-<id>.toml).
    #[arg(long)]
    dir: PathBuf,
    /// The address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The console's own database URL (sqlite:PATH or postgres://…#schema); default NETDIR/console.db.
    #[arg(long)]
    database: Option<String>,
    /// The parties' log files (*.log) the network page tails; default NETDIR/logs when it exists.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Mark cookies Secure (HTTPS only): for a console served behind a TLS-terminating proxy.
    #[arg(long)]
    secure_cookies: bool,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin, or generated and printed with --generate.
    Add(AddArgs),
    /// List the users (name, role, merchant).
    List(ListArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Operator,
    Merchant,
}

/// Where the console's database is: `--database`, or `--dir`'s console.db.
#[derive(Args)]
struct DatabaseArgs {
    /// The network folder whose console.db holds the users.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The console's database URL instead of NETDIR/console.db.
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// The user's login name (letters, digits, '.', '_', '-', '@').
    #[arg(long)]
    name: String,
    /// operator (the whole network) or merchant (only its own data; needs --merchant).
    #[arg(long, value_enum)]
    role: RoleArg,
    /// The merchant id (field 42) a merchant user sees.
    #[arg(long)]
    merchant: Option<String>,
    /// Generate a password and print it instead of reading one from stdin.
    #[arg(long)]
    generate: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: ConsoleCommand) -> Result<(), CliError> {
    match command {
        ConsoleCommand::Serve(args) => serve(args),
        ConsoleCommand::User(UserCommand::Add(args)) => add_user(args),
        ConsoleCommand::User(UserCommand::List(args)) => list_users(args),
    }
}

fn console_error(error: console::ConsoleError) -> CliError {
    if error.is_bad_input() { CliError::bad_input(error) } else { CliError::Failure(error.to_string()) }
}

fn database_url(dir: Option<&Path>, database: Option<String>) -> Result<String, CliError> {
    match (database, dir) {
        (Some(url), _) => Ok(url),
        (None, Some(dir)) => Ok(format!("sqlite:{}", dir.join(DEFAULT_DATABASE_FILE).display())),
        (None, None) => Err(CliError::bad_input("give --dir NETDIR (its console.db) or --database URL")),
    }
}

fn open_store(db: DatabaseArgs) -> Result<console::Store, CliError> {
    console::Store::open(&database_url(db.dir.as_deref(), db.database)?).map_err(console_error)
}

fn serve(args: ServeArgs) -> Result<(), CliError> {
    let mut data = console::netdata::NetData::open(&args.dir).map_err(console_error)?;
    let default_logs = args.dir.join("logs");
    let logs = match args.log_dir {
        Some(dir) if !dir.is_dir() => {
            return Err(CliError::bad_input(format!("--log-dir {}: not a folder", dir.display())));
        }
        Some(dir) => Some(dir),
        None if default_logs.is_dir() => Some(default_logs),
        None => None,
    };
    if let Some(dir) = &logs {
        data = data.with_logs(dir.clone());
    }
    let store = console::Store::open(&database_url(Some(&args.dir), args.database)?).map_err(console_error)?;
    let mut console = console::Console::new(store, Arc::new(data), Arc::new(clock::SystemClock));
    console.secure_cookies = args.secure_cookies;
    // The parties' admin endpoints, for the network's /metrics, are named in the same logs.
    console.party_logs = logs;
    let console = Arc::new(console);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("the console's runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| CliError::bad_input(format!("--listen {}: {e}", args.listen)))?;
        let address = listener.local_addr()?;
        output::line(format_args!("console on http://{address}"))?;
        console::serve(listener, console, stop_signal()).await?;
        Ok(())
    })
}

/// Ctrl-C, or SIGTERM on Unix (how a service manager stops it).
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn add_user(args: AddArgs) -> Result<(), CliError> {
    let role = match (args.role, args.merchant) {
        (RoleArg::Operator, None) => console::Role::Operator,
        (RoleArg::Operator, Some(_)) => return Err(CliError::bad_input("--merchant is for --role merchant only")),
        (RoleArg::Merchant, Some(id)) => console::Role::Merchant(id),
        (RoleArg::Merchant, None) => return Err(CliError::bad_input("--role merchant needs --merchant ID")),
    };
    let password =
        if args.generate { console::auth::generate_password().map_err(console_error)? } else { read_password()? };
    let store = open_store(args.db)?;
    let now_ms = clock::Clock::now_ms(&clock::SystemClock);
    let user = console::add_user(&store, console::HashCost::DEFAULT, now_ms, CLI_ACTOR, &args.name, &role, &password)
        .map_err(console_error)?;
    let generated = args.generate.then_some(password.as_str());
    if args.json {
        let mut value = json!({ "name": user.name, "role": user.role.name(), "merchant": user.role.merchant_id() });
        if let Some(password) = generated {
            value["password"] = json!(password);
        }
        return output::json(&value);
    }
    output::line(format_args!("user {} added ({})", user.name, user.role.name()))?;
    if let Some(password) = generated {
        output::line(format_args!("password: {password}"))?;
    }
    Ok(())
}

/// The first line of stdin, without its line end.
fn read_password() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(console::limits::PASSWORD_BYTES_MAX as u64 + 2)
        .read_to_string(&mut text)
        .map_err(|e| CliError::bad_input(format!("the password on stdin: {e}")))?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(CliError::bad_input("no password on stdin (or use --generate)"));
    }
    Ok(password)
}

fn list_users(args: ListArgs) -> Result<(), CliError> {
    let users = open_store(args.db)?.users().map_err(console_error)?;
    if args.json {
        let users: Vec<_> = users
            .iter()
            .map(|u| json!({ "name": u.name, "role": u.role.name(), "merchant": u.role.merchant_id(), "created_ms": u.created_ms }))
            .collect();
        return output::json(&json!({ "users": users }));
    }
    for user in &users {
        let merchant = user.role.merchant_id().map(|m| format!(" {m}")).unwrap_or_default();
        output::line(format_args!("{} {}{merchant}", user.name, user.role.name()))?;
    }
    Ok(())
}
