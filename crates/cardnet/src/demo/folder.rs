//! Where `cardnet demo` keeps its databases and configurations, and what becomes of them. The
//! folder holds an LMK and every party's keys, so a temporary one never outlives the demo: it is
//! removed on success, on error, and on Ctrl-C or SIGTERM. A `--dir` is the user's: the demo
//! never wipes one that holds something unless told to (`--force`).

use std::path::{Path, PathBuf};

use crate::cli_error::CliError;

pub struct DemoFolder {
    pub path: PathBuf,
    /// Made by the demo under the system temp dir: removed when dropped.
    temporary: bool,
}

impl DemoFolder {
    /// `dir` from `--dir`: used when missing or empty, emptied first with `force`, refused
    /// (bad input, exit 2) otherwise. No `dir`: a fresh folder under the system temp dir.
    pub fn prepare(dir: Option<PathBuf>, force: bool) -> Result<DemoFolder, CliError> {
        let Some(path) = dir else {
            let path = std::env::temp_dir().join(format!("cardnet-demo-{}", std::process::id()));
            // Only a folder of an earlier process that had this id: nobody else's.
            let _ = std::fs::remove_dir_all(&path);
            return Ok(DemoFolder { path, temporary: true });
        };
        let holds_something = match std::fs::read_dir(&path) {
            Ok(mut entries) => entries.next().is_some(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(CliError::bad_input(format!("--dir {}: {e}", path.display()))),
        };
        if holds_something {
            if !force {
                return Err(CliError::bad_input(format!(
                    "--dir {} is not empty (an earlier run?): --force replaces what is there",
                    path.display()
                )));
            }
            std::fs::remove_dir_all(&path).map_err(|e| CliError::Failure(format!("--dir {}: {e}", path.display())))?;
        }
        Ok(DemoFolder { path, temporary: false })
    }

    /// After Ctrl-C or SIGTERM: remove a temporary folder now (the process exits without
    /// unwinding) and say what became of it, for the one line on stderr.
    pub fn interrupted(self) -> String {
        let path = self.path.clone();
        if self.temporary {
            drop(self);
            format!("removed {}", path.display())
        } else {
            format!("what was written so far is in {}", path.display())
        }
    }

    pub fn is_temporary(&self) -> bool {
        self.temporary
    }
}

impl Drop for DemoFolder {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Ctrl-C or SIGTERM (on Unix), as the exit status a shell gives a command ended by it:
/// 128 + the signal's number.
pub async fn interrupt() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = terminate.recv() => 143,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    130
}

/// The demo terminal's configuration as `cardnet pos run --terminal-config` reads it (the
/// journal and TMK file beside it), so its batch can be looked at afterwards.
pub fn terminal_toml(config: &terminal::TerminalConfig) -> String {
    let quote = host::quote;
    let path = |p: &Path| quote(&p.display().to_string());
    let mut text = format!(
        "# The demo's terminal {} at merchant {} (the acquirer's address was the demo's).\n\
         terminal_id = {}\nmerchant_id = {}\nprimary = {}\ntmk_file = {}\ntmk_kcv = {}\njournal = {}\n\
         key_scheme = {}\ntimeout_ms = {}\nconnect_timeout_ms = {}\n",
        config.terminal_id,
        config.merchant_id,
        quote(&config.terminal_id),
        quote(&config.merchant_id),
        quote(&config.primary),
        path(&config.tmk_file),
        quote(&config.tmk_kcv),
        path(&config.journal),
        quote(&config.key_scheme),
        config.timeout_ms,
        config.connect_timeout_ms,
    );
    for operator in &config.operators {
        text.push_str(&format!(
            "\n[[operators]]\nnumber = {}\nrole = {}\n",
            quote(&operator.number),
            quote(&operator.role)
        ));
        // A clear seed is replaced by its keyed hash when the terminal powers on from this file
        // (`config.source`), before the demo's first transaction.
        match (&operator.password, &operator.password_hash) {
            (_, Some(hash)) => text.push_str(&format!("password_hash = {}\n", quote(hash))),
            (Some(password), None) => text.push_str(&format!("password = {}\n", quote(password))),
            (None, None) => {}
        }
    }
    text
}

/// Write one configuration file; its path for the list the demo prints.
pub fn write_config(path: &Path, text: &str) -> Result<String, CliError> {
    // Owner-only: a configuration holds key blocks.
    host::write_private(path, text.as_bytes())
        .map_err(|e| CliError::Failure(format!("demo: write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}
