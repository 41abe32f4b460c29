//! Standard output for every command. A reader that closes the pipe early (`cardnet … | head`)
//! ends the command quietly ([`CliError::OutputClosed`]) instead of a panic from `println!`.

use std::fmt;
use std::io::Write;

use serde_json::Value;

use crate::cli_error::CliError;

/// Write `args` and a newline to standard output.
pub fn line(args: fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Write `args` to standard output, no newline.
pub fn text(args: fmt::Arguments<'_>) -> Result<(), CliError> {
    std::io::stdout().lock().write_fmt(args)?;
    Ok(())
}

/// The one JSON object a `--json` command prints.
pub fn json(value: &Value) -> Result<(), CliError> {
    line(format_args!("{value}"))
}

/// `println!` that returns the error (`?` in a function returning `Result<_, CliError>`).
macro_rules! outln {
    () => { $crate::output::line(format_args!(""))? };
    ($($arg:tt)*) => { $crate::output::line(format_args!($($arg)*))? };
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::text(format_args!($($arg)*))? };
}

pub(crate) use {out, outln};
