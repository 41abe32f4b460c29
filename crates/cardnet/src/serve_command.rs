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
    let (ServeCommand::Switch { config, ops }
    | ServeCommand::Acquirer { config, ops }
    | ServeCommand::Issuer { config, ops }) = &command;
    let _log = crate::ops::init_logging(ops.log_format);
    let runtime = if uses_postgres(config) {
        // The PostgreSQL client blocks on a runtime of its own, which it cannot do on a thread
        // that drives this one: the core gets a thread of its own (`host::Pipeline::start`).
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        // Connections and core on one thread: no hand-off between threads per message.
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }
    .map_err(|e| CliError::Failure(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        match command {
            ServeCommand::Switch { config, ops } => crate::switch_command::serve(&config, ops).await,
            ServeCommand::Issuer { config, ops } => crate::issuer_command::serve(&config, ops).await,
            ServeCommand::Acquirer { config, ops } => crate::acquirer_command::serve(&config, ops).await,
        }
    })
}

/// Whether any store the configuration at `path` names is on PostgreSQL (a `postgres://` or
/// `postgresql://` value anywhere in it). An unreadable file says no: loading it again reports
/// why.
fn uses_postgres(path: &std::path::Path) -> bool {
    fn any_postgres(value: &toml::Value) -> bool {
        match value {
            toml::Value::String(text) => text.starts_with("postgres://") || text.starts_with("postgresql://"),
            toml::Value::Array(items) => items.iter().any(any_postgres),
            toml::Value::Table(table) => table.values().any(any_postgres),
            _ => false,
        }
    }
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|table| table.values().any(any_postgres))
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

#[cfg(test)]
mod tests {
    use super::uses_postgres;

    #[test]
    fn a_postgres_store_anywhere_in_the_configuration_is_seen() {
        let dir = std::env::temp_dir().join(format!("cardnet-serve-flavor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let sqlite = file("a.toml", "database = \"sqlite:a.db\"\n[server]\nlisten = \"127.0.0.1:0\"\n");
        let ledger_on_pg =
            file("b.toml", "database = \"sqlite:b.db\"\nledger = \"postgres://postgres@127.0.0.1/test#b\"\n");
        let nested = file("c.toml", "[store]\nurl = \"postgresql://u@h/d#c\"\n");
        assert!(!uses_postgres(&sqlite));
        assert!(uses_postgres(&ledger_on_pg) && uses_postgres(&nested));
        assert!(!uses_postgres(&dir.join("missing.toml")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
