//! `cardnet iso8583 ...`: decode, encode and inspect messages with a built-in or user spec.

use std::io::Read;
use std::sync::Arc;

use clap::{Args, Subcommand};
use iso8583::json::JsonOptions;
use iso8583::limits::{FRAME_BYTES_MAX, SPEC_FILE_BYTES_MAX};
use iso8583::{Spec, builtin, dump, hex, json};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::{out, outln};

#[derive(Subcommand)]
pub enum Iso8583Command {
    /// Decode a message given as hex (or `-` for stdin) into a readable, masked dump.
    Decode(DecodeArgs),
    /// Encode a message given as JSON (or `-` for stdin, as printed by `decode --json --unmask`) into hex.
    Encode(EncodeArgs),
    /// List the built-in specs.
    Specs(SpecsArgs),
    /// Print a spec (built-in name or file) as TOML, compiled and checked.
    Spec(SpecArgs),
}

#[derive(Args)]
pub struct SpecChoice {
    /// Built-in spec (cup-pos, iso87-ascii, network) or a TOML/JSON spec file.
    #[arg(long, default_value = "cup-pos")]
    spec: String,
    /// The input carries the spec's framing (length prefix, TPDU, header).
    #[arg(long)]
    framed: bool,
}

#[derive(Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    choice: SpecChoice,
    /// Print one JSON object: {"mti", "tpdu", "header", "fields"}.
    #[arg(long)]
    json: bool,
    /// Show PANs, tracks, PIN blocks, keys and MACs in clear (trusted test data only).
    #[arg(long)]
    unmask: bool,
    /// The message as hex (spaces allowed), or `-` to read it from stdin.
    hex: String,
}

#[derive(Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    choice: SpecChoice,
    /// Print {"hex": ..., "bytes": n} instead of bare hex.
    #[arg(long)]
    json: bool,
    /// Accepted for symmetry with `decode --unmask`: encoding always needs the clear values.
    #[arg(long)]
    unmask: bool,
    /// The message as JSON, or `-` to read it from stdin.
    input: String,
}

#[derive(Args)]
pub struct SpecsArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SpecArgs {
    /// Built-in name or file path.
    name: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: Iso8583Command) -> Result<(), CliError> {
    match command {
        Iso8583Command::Decode(args) => decode(args),
        Iso8583Command::Encode(args) => encode(args),
        Iso8583Command::Specs(args) => specs(args),
        Iso8583Command::Spec(args) => spec(args),
    }
}

fn load_spec(name: &str) -> Result<Arc<Spec>, CliError> {
    if builtin::names().any(|n| n == name) {
        return Ok(builtin::by_name(name)?);
    }
    let path = std::path::Path::new(name);
    if !path.exists() {
        return Err(CliError::bad_input(format!(
            "spec {name:?} is neither a built-in spec ({}) nor a file",
            builtin::names().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(Arc::new(Spec::from_path(path)?))
}

/// The argument, or stdin when it is `-`, bounded so a runaway pipe cannot exhaust memory.
fn read_input(argument: &str, bytes_max: usize) -> Result<String, CliError> {
    if argument != "-" {
        return Ok(argument.to_owned());
    }
    let mut text = String::new();
    std::io::stdin().take(bytes_max as u64 + 1).read_to_string(&mut text)?;
    if text.len() > bytes_max {
        return Err(CliError::bad_input(format!("input larger than {bytes_max} bytes")));
    }
    Ok(text)
}

fn decode(args: DecodeArgs) -> Result<(), CliError> {
    let spec = load_spec(&args.choice.spec)?;
    let text = read_input(&args.hex, FRAME_BYTES_MAX * 3)?;
    let compact: String = text.split_whitespace().collect();
    let bytes = hex::decode(&compact).map_err(|e| CliError::bad_input(format!("input is not hex: {e}")))?;
    let (envelope, message) = if args.choice.framed {
        let (envelope, message) = iso8583::decode_framed(&spec, &bytes)?;
        (Some(envelope), message)
    } else {
        (None, iso8583::decode(&spec, &bytes)?)
    };
    if args.json {
        let value = json::to_json(&message, envelope.as_ref(), JsonOptions { unmask: args.unmask });
        outln!("{value}");
    } else {
        let options = dump::DumpOptions { unmask: args.unmask, envelope };
        out!("{}", dump::dump(&message, &options));
    }
    Ok(())
}

fn encode(args: EncodeArgs) -> Result<(), CliError> {
    let spec = load_spec(&args.choice.spec)?;
    let text = read_input(&args.input, FRAME_BYTES_MAX * 8)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CliError::bad_input(format!("input is not JSON: {e}")))?;
    let (envelope, message) = json::from_json(&spec, &value).map_err(|error| {
        let hint =
            if text.contains('*') { " (the input looks masked: decode with --unmask to get clear values)" } else { "" };
        CliError::bad_input(format!("{error}{hint}"))
    })?;
    let bytes = if args.choice.framed { iso8583::encode_framed(&message, &envelope)? } else { message.encode()? };
    let hex = hex::encode(&bytes);
    if args.json {
        outln!("{}", json!({"hex": hex, "bytes": bytes.len()}));
    } else {
        outln!("{hex}");
    }
    Ok(())
}

fn specs(args: SpecsArgs) -> Result<(), CliError> {
    let list: Vec<_> = builtin::names()
        .map(|name| {
            let spec = builtin::by_name(name)?;
            Ok(json!({"name": name, "description": spec.description, "fields": spec.fields().count()}))
        })
        .collect::<Result<_, CliError>>()?;
    if args.json {
        outln!("{}", json!({"specs": list}));
    } else {
        for item in &list {
            outln!(
                "{:<12} {:>3} fields  {}",
                item["name"].as_str().unwrap_or(""),
                item["fields"],
                item["description"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

fn spec(args: SpecArgs) -> Result<(), CliError> {
    let text = match builtin::SOURCES.iter().find(|(name, _)| *name == args.name) {
        Some((_, text)) => (*text).to_owned(),
        None => {
            let path = std::path::Path::new(&args.name);
            let metadata = std::fs::metadata(path).map_err(|e| CliError::bad_input(format!("{}: {e}", args.name)))?;
            if metadata.len() > SPEC_FILE_BYTES_MAX as u64 {
                return Err(CliError::bad_input(format!("{}: larger than {SPEC_FILE_BYTES_MAX} bytes", args.name)));
            }
            std::fs::read_to_string(path).map_err(|e| CliError::bad_input(format!("{}: {e}", args.name)))?
        }
    };
    let compiled = load_spec(&args.name)?;
    if args.json {
        outln!(
            "{}",
            json!({"name": compiled.name, "description": compiled.description, "fields": compiled.fields().count(), "source": text})
        );
    } else {
        out!("{text}");
    }
    Ok(())
}
