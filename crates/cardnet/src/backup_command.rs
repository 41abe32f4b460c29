//! `cardnet backup --config PARTY.toml --out FILE` and `cardnet restore --config PARTY.toml
//! --from FILE --force`: a party's SQLite database copied while it runs (SQLite's online
//! backup, `sqlstore::backup`), and put back while it is stopped; `--store ledger` for the
//! switch's and the acquirer's separate ledger store. A PostgreSQL database is
//! backed up with `pg_dump`: the commands print how and exit 2. docs/operations.md, "Backup and
//! restore".

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Args)]
pub struct BackupArgs {
    /// The party's configuration (switch, issuer or acquirer); its `database` is copied.
    #[arg(long)]
    config: PathBuf,
    /// The backup file to write (must not exist; owner-only).
    #[arg(long)]
    out: PathBuf,
    /// Which of the party's stores: its database, or the switch's or acquirer's separate ledger.
    #[arg(long, value_enum, default_value_t = Store::Database)]
    store: Store,
    /// Print one JSON object: party, database, file, bytes, pages, integrity.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The party's configuration (switch, issuer or acquirer); its `database` is replaced.
    #[arg(long)]
    config: PathBuf,
    /// The backup file `cardnet backup` wrote (checked before anything is replaced).
    #[arg(long)]
    from: PathBuf,
    /// Replace the party's existing database (every change since the backup is lost).
    #[arg(long)]
    force: bool,
    /// Which of the party's stores: its database, or the switch's or acquirer's separate ledger.
    #[arg(long, value_enum, default_value_t = Store::Database)]
    store: Store,
    /// Print one JSON object: party, database, file, bytes, pages, integrity.
    #[arg(long)]
    json: bool,
}

/// A party's stores: each a database URL in its configuration.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// `database`: journals, cards, merchants and terminals (and the issuer's ledger).
    Database,
    /// `ledger`: the switch's settlement ledger, the acquirer's merchant ledger.
    Ledger,
}

/// The party a configuration file is for, and the URL of its `store` (paths resolved).
fn party_store(config: &Path, store: Store) -> Result<(&'static str, String), CliError> {
    let (party, database, ledger) = party_database(config)?;
    match (store, ledger) {
        (Store::Database, _) => Ok((party, database)),
        (Store::Ledger, Some(ledger)) => Ok((party, ledger)),
        (Store::Ledger, None) => {
            Err(CliError::bad_input(format!("the {party}'s ledger is in its database: leave out --store ledger")))
        }
    }
}

/// The party, its `database` and its separate `ledger` store (none for the issuer).
fn party_database(config: &Path) -> Result<(&'static str, String, Option<String>), CliError> {
    let as_switch = match switch::SwitchConfig::load(config) {
        Ok(switch) => return Ok(("switch", switch.database, Some(switch.ledger))),
        Err(error) => error.to_string(),
    };
    let as_issuer = match issuer::IssuerConfig::load(config) {
        Ok(issuer) if issuer.ledger.is_some() => {
            return Err(CliError::bad_input(format!(
                "{}: this issuer keeps its ledger in a separate store (`ledger = …`); stop it and copy both \
                 databases, or move to one database first (docs/operations.md)",
                config.display()
            )));
        }
        Ok(issuer) => return Ok(("issuer", issuer.database, None)),
        Err(error) => error.to_string(),
    };
    let as_acquirer = match acquirer::AcquirerConfig::load(config) {
        Ok(acquirer) => return Ok(("acquirer", acquirer.database, Some(acquirer.ledger))),
        Err(error) => error.to_string(),
    };
    Err(CliError::bad_input(format!(
        "{}: not a switch, issuer or acquirer configuration (as a switch's: {as_switch}; as an issuer's: \
         {as_issuer}; as an acquirer's: {as_acquirer})",
        config.display()
    )))
}

/// The SQLite file of `database`, or exit 2 with the way to back up what has none.
fn sqlite_file(party: &str, database: &str) -> Result<PathBuf, CliError> {
    if let Some(file) = sqlstore::backup::sqlite_file(database) {
        return Ok(file);
    }
    if database.starts_with("postgres") {
        let schema = database.rsplit_once('#').map_or("public", |(_, schema)| schema);
        return Err(CliError::bad_input(format!(
            "the {party}'s database is PostgreSQL (schema {schema}): back it up with \
             `pg_dump --format=custom --schema={schema} --file=FILE DBNAME` and restore with \
             `pg_restore --clean --if-exists --schema={schema} --dbname=DBNAME FILE` while the {party} is stopped"
        )));
    }
    Err(CliError::bad_input(format!("the {party}'s database {database:?} is in memory: nothing to back up")))
}

/// What was copied: one JSON object under `--json`, else one line.
fn report(
    json_output: bool,
    what: &str,
    party: &str,
    database: &Path,
    file: &Path,
    copied: sqlstore::backup::Copied,
) -> Result<(), CliError> {
    if json_output {
        return crate::output::json(&json!({
            "party": party,
            "database": database.display().to_string(),
            "file": file.display().to_string(),
            "bytes": copied.bytes,
            "pages": copied.pages,
            "integrity": "ok",
        }));
    }
    let direction = if what == "backed up" { "to" } else { "from" };
    outln!(
        "{what} the {party}'s database {} {direction} {}: {} bytes, {} pages, integrity ok",
        database.display(),
        file.display(),
        copied.bytes,
        copied.pages
    );
    Ok(())
}

pub fn backup(args: BackupArgs) -> Result<(), CliError> {
    let (party, database) = party_store(&args.config, args.store)?;
    let file = sqlite_file(party, &database)?;
    if args.out.exists() {
        return Err(CliError::bad_input(format!("{} exists: name a new file", args.out.display())));
    }
    let copied = sqlstore::backup::backup_to(&file, &args.out).map_err(CliError::bad_input)?;
    report(args.json, "backed up", party, &file, &args.out, copied)
}

pub fn restore(args: RestoreArgs) -> Result<(), CliError> {
    let (party, database) = party_store(&args.config, args.store)?;
    let file = sqlite_file(party, &database)?;
    // Held until the restore is done: the party cannot start meanwhile.
    let _lock = crate::ops::hold_serve_lock(&args.config).map_err(|refused| match refused {
        crate::ops::LockRefused::Held(_) => CliError::bad_input(format!(
            "the {party} is running with {} (it holds {}): stop it before restoring",
            args.config.display(),
            crate::ops::serve_lock_path(&args.config).display()
        )),
        crate::ops::LockRefused::Unavailable(why) => {
            CliError::bad_input(format!("cannot tell whether the {party} is running, so not restoring: {why}"))
        }
    })?;
    sqlstore::backup::integrity_check(&args.from).map_err(|e| {
        CliError::bad_input(format!("not restored, {} is not a sound backup: {e}", args.from.display()))
    })?;
    if file.exists() && !args.force {
        return Err(CliError::bad_input(format!(
            "{} exists: --force replaces it (every change since the backup is lost)",
            file.display()
        )));
    }
    let copied = sqlstore::backup::restore_from(&args.from, &file).map_err(|e| CliError::Failure(e.to_string()))?;
    report(args.json, "restored", party, &file, &args.from, copied)
}
