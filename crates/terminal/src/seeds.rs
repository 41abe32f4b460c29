//! Operator seeds in the configuration file (`[[operators]]`): keyed hashes only, so the file
//! gives away no password. A seed's hash is the one the journal keeps for an operator,
//! `hsm::data::keyed_hash(storage key, salt ‖ number ‖ 0 ‖ password)`, with an empty salt: the
//! storage key is secret and unique to the terminal (derived from its TMK), so a hash is
//! useless without the device. A journal seeded from these hashes takes them as they are.
//!
//! Older files held clear passwords (`password = "…"`): the terminal hashes them at power-on
//! and rewrites the file's `[[operators]]` tables (the rest of the file is kept as written);
//! setting an operator rewrites that operator's seed, so the file never keeps an old password.

use std::path::Path;

use hsm::Secret;

use crate::config::{OperatorSeed, TerminalConfig};
use crate::{Result, TerminalError};

/// Hex digits of a seed's `password_hash` (a 16-byte CMAC).
pub const PASSWORD_HASH_HEX_DIGITS: usize = 32;
/// The table header of one seed.
const SEED_TABLE: &str = "[[operators]]";

/// The keyed hash of operator `number`'s `password` under `salt` (empty for seeds).
pub(crate) fn operator_hash(storage_key: &Secret, salt: &[u8], number: &str, password: &Secret) -> Result<Vec<u8>> {
    let mut input = Vec::with_capacity(salt.len() + number.len() + 1 + password.len());
    input.extend_from_slice(salt);
    input.extend_from_slice(number.as_bytes());
    input.push(0);
    input.extend_from_slice(password.expose());
    // A Secret, so the password's copy is zeroized when it drops.
    let input = Secret::from_vec(input);
    Ok(hsm::data::keyed_hash(storage_key.expose(), input.expose())?)
}

/// A seed for `number` holding only the hash of `password`.
pub(crate) fn hashed_seed(storage_key: &Secret, number: &str, role: &str, password: &Secret) -> Result<OperatorSeed> {
    let hash = operator_hash(storage_key, &[], number, password)?;
    Ok(OperatorSeed {
        number: number.to_owned(),
        role: role.to_owned(),
        password: None,
        password_hash: Some(iso8583::hex::encode(&hash)),
    })
}

/// Replace every clear password in `seeds` by its hash; true when one was replaced.
pub(crate) fn hash_clear_seeds(storage_key: &Secret, seeds: &mut [OperatorSeed]) -> Result<bool> {
    let mut changed = false;
    for seed in seeds.iter_mut() {
        if let Some(password) = seed.password.take() {
            let password = Secret::from_vec(password.into_bytes());
            *seed = hashed_seed(storage_key, &seed.number, &seed.role, &password)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// The hash bytes of a seed (checked by `check_operator_seeds` before).
pub(crate) fn seed_hash_bytes(seed: &OperatorSeed) -> Result<Vec<u8>> {
    let bad = || TerminalError::Config(format!("operator {}: password_hash is not hex", seed.number));
    let hex = seed.password_hash.as_deref().ok_or_else(bad)?;
    iso8583::hex::decode(hex).map_err(|_| bad())
}

/// The `[[operators]]` tables of `seeds`, as the configuration file holds them.
pub(crate) fn render_seeds(seeds: &[OperatorSeed]) -> String {
    let quote = host::quote;
    let mut text = String::new();
    for seed in seeds {
        text.push_str(&format!("\n{SEED_TABLE}\nnumber = {}\nrole = {}\n", quote(&seed.number), quote(&seed.role)));
        if let Some(hash) = &seed.password_hash {
            text.push_str(&format!("password_hash = {}\n", quote(hash)));
        }
    }
    text
}

/// Rewrite the `[[operators]]` tables of the configuration file at `path` with `seeds`
/// (atomically, owner-only), keeping every other line. Refused if the result would not read
/// back with exactly these seeds and no clear password.
pub(crate) fn write_seeds(path: &Path, seeds: &[OperatorSeed]) -> Result<()> {
    let failed = |why: String| {
        TerminalError::Config(format!("{}: the operators' password hashes could not be written: {why}", path.display()))
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let mut kept = String::with_capacity(text.len());
    let mut in_seed = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_seed = trimmed.starts_with(SEED_TABLE);
        }
        if !in_seed {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let new_text = format!("{}\n{}", kept.trim_end(), render_seeds(seeds).trim_start_matches('\n'));
    let check: TerminalConfig = host::config_file::parse_toml_file(path, &new_text).map_err(failed)?;
    let same = check.operators.len() == seeds.len()
        && check.operators.iter().zip(seeds).all(|(a, b)| a.number == b.number && a.password_hash == b.password_hash)
        && check.operators.iter().all(|s| s.password.is_none());
    if !same {
        return Err(failed("write the operators as [[operators]] tables".into()));
    }
    host::private_file::replace_private(path, new_text.as_bytes()).map_err(|e| failed(e.to_string()))
}
