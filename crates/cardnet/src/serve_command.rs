//! `cardnet serve <party> --config FILE`: run one party's server until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli_error::CliError;
use crate::ops::OpsArgs;

#[derive(Subcommand)]
pub enum ServeCommand {
    /// The network switch: acquirers connect to it; it connects to the issuers.
    Switch {
        /// The switch's configuration (`cardnet switch init` writes one).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        ops: OpsArgs,
    },
    /// The acquirer host: terminals connect to it (UnionPay POS dialect); it connects to the switch.
    Acquirer {
        /// The acquirer's configuration (`cardnet acquirer init` writes one).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        ops: OpsArgs,
    },
    /// An issuer host: the switch connects to it.
    Issuer {
        /// The issuer's configuration (`cardnet issuer init` writes one).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        ops: OpsArgs,
    },
}

pub fn run(command: ServeCommand) -> Result<(), CliError> {
    let (ServeCommand::Switch { ops, .. } | ServeCommand::Acquirer { ops, .. } | ServeCommand::Issuer { ops, .. }) =
        &command;
    let _log = crate::ops::init_logging(ops.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        match command {
            ServeCommand::Switch { config, ops } => crate::switch_command::serve(&config, ops).await,
            ServeCommand::Issuer { config, ops } => crate::issuer_command::serve(&config, ops).await,
            ServeCommand::Acquirer { config, ops } => crate::acquirer_command::serve(&config, ops).await,
        }
    })
}

/// Ctrl-C, or SIGTERM on Unix (how a service manager stops a process).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
