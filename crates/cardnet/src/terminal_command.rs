//! `cardnet terminal ...`: install terminals under an active merchant and give them their
//! terminal master key (TMK); list and disable them.
//!
//! `terminal add` is the one place a TMK leaves as clear components, for the key-injection
//! ceremony that asked for them: printed once, each with its own check value, never stored
//! (the registry keeps the TMK only under the LMK). With `--json` each subcommand prints
//! exactly one JSON object; errors are one line on stderr, exit status 2 for bad input.

use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use hsm::{Secret, WrappedKey};
use merchants::{NewTerminal, Registry, TmkDelivery, TmkExport, TmkImport, TmkSource};
use serde_json::{Value, json};

use crate::cli_error::CliError;
use crate::merchant_command::{host_batch, open, terminal_json};

/// Components a generated TMK is split into when `terminal add` is given no key option.
const TMK_COMPONENTS_DEFAULT: usize = 2;

#[derive(Subcommand)]
pub enum TerminalCommand {
    /// Register a terminal under an active merchant, with a generated or imported TMK.
    Add(AddArgs),
    /// List terminals (all, or one merchant's) with status, TMK check value and batch.
    List(ListArgs),
    /// Take a terminal out of service.
    Disable(DisableArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("tmk").args(["tmk_components", "tmk_under_kek", "import_components", "import_under_kek"])))]
pub struct AddArgs {
    /// The acquirer's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The 15-digit merchant id.
    #[arg(long, value_name = "MID")]
    merchant: String,
    /// The terminal id: 8 letters or digits (field 41).
    #[arg(long, value_name = "TID")]
    terminal: String,
    /// The terminal's model, for the registry (PAX A920, say).
    #[arg(long)]
    model: Option<String>,
    /// The terminal's serial number, for the registry.
    #[arg(long)]
    serial: Option<String>,
    /// Generate a TMK and print it as 2 or 3 clear components (the default, with 2).
    #[arg(long, value_name = "N")]
    tmk_components: Option<usize>,
    /// Generate a TMK and print it encrypted under this KEK (a ZMK or TMK key block under the LMK).
    #[arg(long, value_name = "KEYBLOCK")]
    tmk_under_kek: Option<String>,
    /// Inject a known TMK from its 2 or 3 components, hex, comma-separated.
    #[arg(long, value_name = "C1,C2[,C3]")]
    import_components: Option<String>,
    /// Inject a known TMK encrypted (ECB) under the KEK given with --kek, hex.
    #[arg(long, value_name = "HEX", requires = "kek")]
    import_under_kek: Option<String>,
    /// The KEK (a key block under the LMK) --import-under-kek is encrypted under.
    #[arg(long, value_name = "KEYBLOCK")]
    kek: Option<String>,
    /// Print one JSON object: {"terminal": {...}, "tmk": {"kcv", "components": [{"component",
    /// "kcv"}], "under_kek": null | {"kek_kcv", "encrypted", "key_block"}}}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// Only this merchant's terminals.
    #[arg(long, value_name = "MID")]
    merchant: Option<String>,
    /// Print one JSON object: {"terminals": [{"terminal_id", "merchant_id", "model", "serial",
    /// "status", "tmk_kcv", "batch_no", "last_sign_on_ms", "settlement_pending", ...}]}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DisableArgs {
    /// The acquirer's configuration file (its `database` and `lmk_file`).
    #[arg(long)]
    config: PathBuf,
    /// The 8-character terminal id.
    #[arg(long, value_name = "TID")]
    terminal: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: TerminalCommand) -> Result<(), CliError> {
    match command {
        TerminalCommand::Add(args) => add(args),
        TerminalCommand::List(args) => list(args),
        TerminalCommand::Disable(args) => disable(args),
    }
}

fn key_block(text: &str, what: &str) -> Result<WrappedKey, CliError> {
    WrappedKey::from_block(text.trim()).map_err(|e| CliError::bad_input(format!("{what}: {e}")))
}

/// Hex to bytes; the error names the argument, never its value (it may be key material).
fn key_hex(text: &str, what: &str) -> Result<Vec<u8>, CliError> {
    merchants::hex_decode(text.trim()).ok_or_else(|| CliError::bad_input(format!("{what} is not hex digits")))
}

fn tmk_source(args: &AddArgs) -> Result<TmkSource, CliError> {
    if let Some(kek) = &args.tmk_under_kek {
        return Ok(TmkSource::Generate(TmkExport::UnderKek(key_block(kek, "--tmk-under-kek")?)));
    }
    if let Some(list) = &args.import_components {
        let components = list
            .split(',')
            .enumerate()
            .map(|(i, part)| key_hex(part, &format!("component {}", i + 1)).map(Secret::from_vec))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(TmkSource::Import(TmkImport::Components(components)));
    }
    if let Some(encrypted) = &args.import_under_kek {
        let kek = args.kek.as_deref().ok_or_else(|| CliError::bad_input("--import-under-kek needs --kek"))?;
        let kek = key_block(kek, "--kek")?;
        let encrypted = key_hex(encrypted, "--import-under-kek")?;
        return Ok(TmkSource::Import(TmkImport::UnderKek { kek, encrypted }));
    }
    Ok(TmkSource::Generate(TmkExport::Components(args.tmk_components.unwrap_or(TMK_COMPONENTS_DEFAULT))))
}

fn delivery_json(delivery: &TmkDelivery) -> Value {
    // The one place clear components become text: the ceremony asked for them.
    let components: Vec<Value> = delivery
        .components
        .iter()
        .map(|c| json!({"component": merchants::hex_encode(c.component.expose()), "kcv": c.kcv}))
        .collect();
    let under_kek = delivery.under_kek.as_ref().map_or(Value::Null, |u| {
        json!({
            "kek_kcv": u.kek_kcv,
            "encrypted": u.encrypted.as_deref().map(merchants::hex_encode),
            "key_block": u.key_block,
        })
    });
    json!({"kcv": delivery.kcv, "components": components, "under_kek": under_kek})
}

fn add(args: AddArgs) -> Result<(), CliError> {
    let source = tmk_source(&args)?;
    let registry = open(&args.config)?;
    let terminal = NewTerminal {
        terminal_id: args.terminal.trim().to_owned(),
        model: args.model.clone(),
        serial: args.serial.clone(),
    };
    let (record, delivery) = registry.add_terminal(args.merchant.trim(), &terminal, &source)?;
    if args.json {
        let terminal = terminal_json(&registry, &record)?;
        return crate::output::json(&json!({"terminal": terminal, "tmk": delivery_json(&delivery)}));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "terminal {} installed under merchant {}", record.terminal_id, record.merchant_id)?;
    writeln!(out, "TMK check value: {}", delivery.kcv)?;
    for (i, component) in delivery.components.iter().enumerate() {
        writeln!(
            out,
            "component {}: {} (check value {})",
            i + 1,
            merchants::hex_encode(component.component.expose()),
            component.kcv
        )?;
    }
    if let Some(under) = &delivery.under_kek {
        writeln!(out, "KEK check value: {}", under.kek_kcv)?;
        if let Some(encrypted) = &under.encrypted {
            writeln!(out, "TMK under the KEK (ECB): {}", merchants::hex_encode(encrypted))?;
        }
        writeln!(out, "TMK under the KEK (TR-31): {}", under.key_block)?;
    }
    if !delivery.components.is_empty() {
        writeln!(out, "(the components are shown only now: one to each key custodian)")?;
    }
    Ok(())
}

/// One line per terminal; its batch and settlement state from the acquirer host's records.
fn terminal_line(registry: &Registry, t: &merchants::TerminalRecord) -> Result<String, CliError> {
    let (batch_no, settlement_pending) = host_batch(registry, &t.terminal_id)?;
    Ok(format!(
        "{}  {}  {:<9}  TMK KCV {}  batch {}  {}",
        t.terminal_id,
        t.merchant_id,
        t.status.name(),
        t.tmk.kcv(),
        batch_no,
        if settlement_pending { "settlement pending" } else { "" }
    ))
}

fn list(args: ListArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let merchant = args.merchant.as_deref().map(str::trim);
    if let Some(merchant_id) = merchant
        && registry.merchant(merchant_id)?.is_none()
    {
        return Err(CliError::bad_input(format!("no merchant {merchant_id}")));
    }
    let terminals = registry.list_terminals(merchant)?;
    if args.json {
        let terminals = terminals.iter().map(|t| terminal_json(&registry, t)).collect::<Result<Vec<_>, _>>()?;
        return crate::output::json(&json!({ "terminals": terminals }));
    }
    let mut out = std::io::stdout().lock();
    if terminals.is_empty() {
        writeln!(out, "no terminals")?;
    }
    for terminal in &terminals {
        writeln!(out, "{}", terminal_line(&registry, terminal)?)?;
    }
    Ok(())
}

fn disable(args: DisableArgs) -> Result<(), CliError> {
    let registry = open(&args.config)?;
    let terminal = registry.disable_terminal(args.terminal.trim())?;
    if args.json {
        return crate::output::json(&terminal_json(&registry, &terminal)?);
    }
    writeln!(std::io::stdout().lock(), "{}", terminal_line(&registry, &terminal)?)?;
    Ok(())
}
