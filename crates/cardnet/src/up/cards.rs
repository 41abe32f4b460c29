//! `cardnet up cards`: the test cards a first start issued (`cards/` in the data folder), for a
//! person at a terminal: bank, product, number, expiry and PIN. The number is masked unless
//! `--show-pan` asks for it (to key it in); the card file is what `cardnet pos --card-file`
//! takes.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Value, json};

use crate::cli_error::CliError;
use crate::output::outln;

/// Card files read at most (a first start issues at most 2 × `CARDS_PER_ISSUER_MAX`).
const CARD_FILES_MAX: usize = 2 * super::config::CARDS_PER_ISSUER_MAX;
/// Largest card file read.
const CARD_FILE_BYTES_MAX: u64 = 16 * 1024;

#[derive(Args)]
pub struct CardsArgs {
    /// The data folder (default: the built-in configuration's, cardnet-data).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print the whole card numbers (test cards, to key in), not masked.
    #[arg(long)]
    show_pan: bool,
    /// Print one JSON object: {"cards": [...]}.
    #[arg(long)]
    json: bool,
}

/// The card files a first start issued into `dir/cards/`, in file order, each read and parsed
/// (at most [`CARD_FILES_MAX`], each at most [`CARD_FILE_BYTES_MAX`]).
pub fn card_files(dir: &Path) -> Result<Vec<(PathBuf, Value)>, CliError> {
    let folder = dir.join(super::seed::CARDS_DIR);
    let entries = std::fs::read_dir(&folder).map_err(|e| {
        CliError::bad_input(format!("{}: {e} (has `cardnet up` run with this folder?)", folder.display()))
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .take(CARD_FILES_MAX)
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bad = |what: &str| CliError::Failure(format!("{}: {what}", path.display()));
            if std::fs::metadata(&path)?.len() > CARD_FILE_BYTES_MAX {
                return Err(bad("larger than a card file"));
            }
            let card: Value = serde_json::from_slice(&std::fs::read(&path)?).map_err(|e| bad(&e.to_string()))?;
            Ok((path, card))
        })
        .collect()
}

pub fn run(args: &CardsArgs) -> Result<(), CliError> {
    let dir = args.dir.clone().unwrap_or_else(|| super::UpConfig::built_in().dir);
    let files = card_files(&dir)?;
    let mut cards = Vec::with_capacity(files.len());
    for (path, card) in files {
        let bad = |what: &str| CliError::Failure(format!("{}: {what}", path.display()));
        let pan = domain::Pan::new(card["pan"].as_str().unwrap_or_default()).map_err(|e| bad(&e.to_string()))?;
        let bank = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().split('-').nth(1).unwrap_or("?");
        let shown = if args.show_pan { pan.as_str().to_owned() } else { pan.masked().to_string() };
        cards.push(json!({
            "bank": bank.to_uppercase(),
            "card_id": card["card_id"],
            "product": card["product"],
            "pan": shown,
            "expiry": card["expiry"],
            "pin": card["pin"],
            "card_file": path.display().to_string(),
        }));
    }
    if args.json {
        return crate::output::json(&json!({"cards": cards}));
    }
    outln!("{:<5} {:<7} {:<20} {:<6} {:<7} card file", "bank", "product", "card", "expiry", "PIN");
    for card in &cards {
        let s = |key: &str| card[key].as_str().unwrap_or_default().to_owned();
        outln!(
            "{:<5} {:<7} {:<20} {:<6} {:<7} {}",
            s("bank"),
            s("product"),
            s("pan"),
            s("expiry"),
            s("pin"),
            s("card_file")
        );
    }
    Ok(())
}
