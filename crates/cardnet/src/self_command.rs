//! This executable's own commands run as a user runs them, for the set-ups built from them
//! (`cardnet up`'s first start, `cardnet bench e2e`): each a child process whose one JSON
//! object (`--json`) is read back, so a set-up goes through exactly the paths a person's
//! commands take — merchant review, terminal keys, card issuing — and nothing else.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::cli_error::CliError;

/// Characters of a failed command's stderr quoted in the error.
const STDERR_QUOTED_CHARS_MAX: usize = 400;

/// Run `exe args…` and read the one JSON object it printed; an error names the command
/// (its first three words: never a PIN or key given later on its line) and `who` asked.
pub fn cli(who: &str, exe: &Path, args: &[&str]) -> Result<Value, CliError> {
    let output = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CliError::Failure(format!("{who}: running cardnet {}: {e}", first_words(args))))?;
    let what = first_words(args);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let quoted: String = stderr.trim().chars().take(STDERR_QUOTED_CHARS_MAX).collect();
        return Err(CliError::Failure(format!("{who}: set-up `cardnet {what}` failed: {quoted}")));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| CliError::Failure(format!("{who}: set-up `cardnet {what}` printed no JSON object: {e}")))
}

fn first_words(args: &[&str]) -> String {
    args.iter().take(3).copied().collect::<Vec<_>>().join(" ")
}

/// A string field of what a command printed.
pub fn text(who: &str, value: &Value, what: &str) -> Result<String, CliError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Failure(format!("{who}: set-up: no {what} in what cardnet printed")))
}

/// A merchant to onboard.
pub struct MerchantSeed<'a> {
    pub name: &'a str,
    pub mcc: &'a str,
    pub city: &'a str,
    /// `t1` or `d0`.
    pub cycle: &'a str,
}

/// Merchant number `index` applied for, approved and activated through the acquirer's registry
/// (`merchant apply|review|activate`); its id. Each has its own licence (a well-formed unified
/// social credit code) and settlement account: the registry refuses duplicates.
pub fn onboard_merchant(
    who: &str,
    exe: &Path,
    config: &str,
    index: usize,
    seed: &MerchantSeed,
) -> Result<String, CliError> {
    let first17 = format!("913502007760{index:05}");
    let check = merchants::licence::check_character(&first17)
        .ok_or_else(|| CliError::Failure(format!("{who}: no licence number for merchant {index}")))?;
    let licence = format!("{first17}{check}");
    let account = format!("62220202001{index:08}");
    let mut apply = vec!["merchant", "apply", "--config", config, "--name", seed.name, "--licence", &licence];
    apply.extend(["--legal-rep", "Li Lei", "--mcc", seed.mcc, "--city", seed.city, "--country", "CN"]);
    apply.extend(["--bank-code", "102100", "--account", &account, "--volume", "50000000", "--json"]);
    let applied = cli(who, exe, &apply)?;
    let application = applied["application"]["application_id"]
        .as_i64()
        .ok_or_else(|| CliError::Failure(format!("{who}: set-up: `merchant apply` printed no application id")))?
        .to_string();
    let review = ["merchant", "review", "--config", config, "--application", &application, "--approve"];
    cli(who, exe, &[&review[..], &["--reason", "documents checked", "--reviewer", "Wang Fang", "--json"]].concat())?;
    let activate = ["merchant", "activate", "--config", config, "--application", &application];
    let terms = ["--mdr-debit-bp", "50", "--mdr-credit-bp", "60", "--cycle", seed.cycle, "--json"];
    let activated = cli(who, exe, &[&activate[..], &terms[..]].concat())?;
    text(who, &activated["merchant"]["merchant_id"], "merchant id")
}

/// Every `"sqlite:NAME"` store in the configurations directly under `dir` becomes
/// `"URL#<prefix>_<name>"` (a PostgreSQL schema each); returns the schemas.
pub fn stores_to_postgres(dir: &Path, url: &str, prefix: &str) -> Result<Vec<String>, CliError> {
    let mut schemas = Vec::new();
    for path in crate::parties::toml_files(dir)? {
        let mut text = std::fs::read_to_string(&path)?;
        while let Some(start) = text.find("\"sqlite:") {
            let rest = &text[start + 1..];
            let end =
                rest.find('"').ok_or_else(|| CliError::Failure(format!("{}: unclosed string", path.display())))?;
            let name = &rest["sqlite:".len()..end];
            let stem: String = Path::new(name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("store")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
                .collect();
            let schema = format!("{prefix}_{stem}");
            text.replace_range(start..start + end + 2, &format!("\"{url}#{schema}\""));
            schemas.push(schema);
        }
        std::fs::write(&path, text)?;
    }
    schemas.sort();
    schemas.dedup();
    Ok(schemas)
}
