//! `cardnet up`'s one configuration: where the network keeps its data, where it listens, what
//! the first start seeds. Built in (`cardnet up config` prints it, commented) and replaced
//! field by field by `--config FILE`; options on the command line win over both.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli_error::CliError;

/// Largest configuration file read.
const CONFIG_BYTES_MAX: u64 = 64 * 1024;
/// Bounds of what a first start seeds: a demonstration network, not a load test.
pub const MERCHANTS_MAX: usize = 50;
pub const TERMINALS_PER_MERCHANT_MAX: usize = 20;
pub const CARDS_PER_ISSUER_MAX: usize = 200;

/// The built-in configuration, as `cardnet up config` prints it.
pub const DEFAULT_TOML: &str = r#"# cardnet up: the whole network on loopback (a switch, two issuer banks, two acquirer hosts).
# Every party keeps its own database in `dir` (SQLite files) or, with `database_url`, in its
# own PostgreSQL schema.

# The network's folder (relative to the working directory): configurations, keys (owner-only),
# databases, logs, test cards and terminals.
dir = "cardnet-data"

# The switch's port on 127.0.0.1; the issuers listen on the next two, the acquirers (for
# terminals) on the third and fourth. 0: the kernel picks free ports at every start, and every
# file that names a party is pointed at where it listens.
port = 9100

# postgres://user@host:port/database puts every party's stores in PostgreSQL (a schema each);
# empty: SQLite files in `dir`. Chosen at the first start.
database_url = ""

# The web console (operators and merchants; /metrics covers the whole network).
console = "127.0.0.1:9180"

# What the first start puts on the network, through the same commands a person uses: merchants
# applied for, reviewed and activated (alternately at the two acquirers); their terminals registered and keyed (installed under
# dir/terminals/); cards issued at each issuer with their PINs (dir/cards/).
[seed]
merchants = 4
terminals_per_merchant = 2
cards_per_issuer = 6
"#;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpConfig {
    pub dir: PathBuf,
    pub port: u16,
    #[serde(default)]
    pub database_url: String,
    /// Where the web console listens (with `port = 0`, a port the kernel picks).
    pub console: String,
    pub seed: Seed,
}

/// A file's own fields: what it leaves out keeps the built-in value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialConfig {
    dir: Option<PathBuf>,
    port: Option<u16>,
    database_url: Option<String>,
    console: Option<String>,
    seed: Option<PartialSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialSeed {
    merchants: Option<usize>,
    terminals_per_merchant: Option<usize>,
    cards_per_issuer: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub merchants: usize,
    pub terminals_per_merchant: usize,
    pub cards_per_issuer: usize,
}

impl UpConfig {
    /// The built-in configuration.
    pub fn built_in() -> UpConfig {
        // The text is a constant checked by a test: it always parses.
        parse(DEFAULT_TOML, Path::new("(built in)"))
            .unwrap_or_else(|_| unreachable!("the built-in configuration parses"))
    }

    /// `path`'s configuration; a field it leaves out keeps its built-in value.
    pub fn load(path: &Path) -> Result<UpConfig, CliError> {
        let text = host::config_file::read(path, CONFIG_BYTES_MAX).map_err(CliError::bad_input)?;
        let own: PartialConfig = host::config_file::parse_toml_file(path, &text).map_err(CliError::bad_input)?;
        let mut config = UpConfig::built_in();
        config.dir = own.dir.unwrap_or(config.dir);
        config.port = own.port.unwrap_or(config.port);
        config.database_url = own.database_url.unwrap_or(config.database_url);
        config.console = own.console.unwrap_or(config.console);
        if let Some(seed) = own.seed {
            config.seed.merchants = seed.merchants.unwrap_or(config.seed.merchants);
            config.seed.terminals_per_merchant =
                seed.terminals_per_merchant.unwrap_or(config.seed.terminals_per_merchant);
            config.seed.cards_per_issuer = seed.cards_per_issuer.unwrap_or(config.seed.cards_per_issuer);
        }
        Ok(config)
    }

    /// Refuse what cannot be set up.
    pub fn check(&self) -> Result<(), CliError> {
        let seed = &self.seed;
        let within = |n: usize, max: usize| (1..=max).contains(&n);
        if !within(seed.merchants, MERCHANTS_MAX)
            || !within(seed.terminals_per_merchant, TERMINALS_PER_MERCHANT_MAX)
            || !within(seed.cards_per_issuer, CARDS_PER_ISSUER_MAX)
        {
            return Err(CliError::bad_input(format!(
                "[seed]: merchants 1 to {MERCHANTS_MAX}, terminals_per_merchant 1 to {TERMINALS_PER_MERCHANT_MAX}, \
                 cards_per_issuer 1 to {CARDS_PER_ISSUER_MAX}"
            )));
        }
        if self.port != 0 && self.port > u16::MAX - 4 {
            return Err(CliError::bad_input("port must leave room for four ports after it"));
        }
        if !self.database_url.is_empty() && !self.database_url.starts_with("postgres://") {
            return Err(CliError::bad_input("database_url must be empty or postgres://…"));
        }
        Ok(())
    }
}

fn parse(text: &str, path: &Path) -> Result<UpConfig, CliError> {
    toml::from_str(text).map_err(|e| CliError::bad_input(format!("--config {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_configuration_parses_and_checks() {
        let config = UpConfig::built_in();
        assert_eq!(config.port, 9100);
        assert_eq!(config.seed.merchants, 4);
        config.check().unwrap();
    }

    #[test]
    fn a_file_replaces_only_what_it_names_and_unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("cardnet-up-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("up.toml");
        std::fs::write(&path, "port = 0\n[seed]\nmerchants = 2\n").unwrap();
        let config = UpConfig::load(&path).unwrap();
        assert_eq!((config.port, config.seed.merchants, config.seed.cards_per_issuer), (0, 2, 6));
        std::fs::write(&path, "prot = 0\n").unwrap();
        assert!(UpConfig::load(&path).is_err());
        std::fs::write(&path, "[seed]\nmerchants = 0\n").unwrap();
        assert!(UpConfig::load(&path).unwrap().check().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
