//! `cardnet crypto ...`: the payment-crypto calculator (being written).

use clap::Subcommand;

use crate::cli_error::CliError;

#[derive(Subcommand)]
pub enum CryptoCommand {}

pub fn run(command: CryptoCommand) -> Result<(), CliError> {
    match command {}
}
