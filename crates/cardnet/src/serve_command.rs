//! `cardnet serve <party> --config FILE`: run one party's server until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli_error::CliError;

#[derive(Subcommand)]
pub enum ServeCommand {
    /// The network switch: acquirers connect to it; it connects to the issuers.
    Switch {
        /// The switch's configuration (`cardnet switch init` writes one).
        #[arg(long)]
        config: PathBuf,
    },
    /// The acquirer host: terminals connect to it (UnionPay POS dialect); it connects to the switch.
    Acquirer {
        /// The acquirer's configuration (`cardnet acquirer init` writes one).
        #[arg(long)]
        config: PathBuf,
    },
    /// An issuer host: the switch connects to it.
    Issuer {
        /// The issuer's configuration (`cardnet issuer init` writes one).
        #[arg(long)]
        config: PathBuf,
    },
}

pub fn run(command: ServeCommand) -> Result<(), CliError> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        match command {
            ServeCommand::Switch { config } => crate::switch_command::serve(&config).await,
            ServeCommand::Issuer { config } => crate::issuer_command::serve(&config).await,
            ServeCommand::Acquirer { config } => crate::acquirer_command::serve(&config).await,
        }
    })
}

/// One line per message exchange on stderr (the transport writes them through `tracing`);
/// `RUST_LOG`-style filtering is left out to keep the dependency small: everything at INFO.
fn init_logging() {
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).try_init();
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
