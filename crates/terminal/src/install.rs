//! Installing a terminal at a merchant: the TMK injected from its clear components (what a key
//! loading device does with the components the acquirer's `cardnet terminal add` printed) and
//! the terminal's configuration written beside it, so `cardnet pos run --terminal ID` finds
//! them in `DIR/ID/`.

use std::path::{Path, PathBuf};

use hsm::Secret;

use crate::config::{OperatorSeed, TerminalConfig};
use crate::{Result, TerminalError};

/// A TMK comes in 2 or 3 components.
const TMK_COMPONENTS_MIN: usize = 2;
const TMK_COMPONENTS_MAX: usize = 3;
/// Double- or triple-length TDES.
const TMK_BYTES: [usize; 2] = [16, 24];
/// Bytes of the check value a key-injection slip shows (6 hex digits).
const TMK_KCV_BYTES: usize = 3;
/// The terminal's files in its folder.
pub const CONFIG_FILE: &str = "terminal.toml";
pub const TMK_FILE: &str = "tmk.hex";
pub const JOURNAL_FILE: &str = "terminal.db";

/// What the installer types in.
#[derive(Debug, Clone)]
pub struct Installation {
    pub terminal_id: String,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub primary: String,
    pub backup: Option<String>,
    /// 60.3 of the sign-on: 001, 003 or 004.
    pub key_scheme: String,
    /// Operators the empty journal starts with: (number, role, password).
    pub operators: Vec<(String, String, String)>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Installed {
    pub config_path: PathBuf,
    /// The TMK's check value, 6 hex digits: compare it with the acquirer's.
    pub tmk_kcv: String,
}

/// The folder of terminal `terminal_id` under `dir`.
pub fn terminal_dir(dir: &Path, terminal_id: &str) -> PathBuf {
    dir.join(terminal_id)
}

/// Combine the clear components (XOR), check the result, and write `dir/<terminal id>/` with
/// `tmk.hex` and `terminal.toml` (both owner-only). Refuses to replace an installed terminal:
/// its journal and keys belong to that installation.
pub fn install(dir: &Path, installation: &Installation, tmk_components: &[Secret]) -> Result<Installed> {
    let input = |m: &str| TerminalError::Input(m.to_owned());
    if !(TMK_COMPONENTS_MIN..=TMK_COMPONENTS_MAX).contains(&tmk_components.len()) {
        return Err(input("the TMK comes in 2 or 3 components"));
    }
    let length = tmk_components[0].len();
    if !TMK_BYTES.contains(&length) || tmk_components.iter().any(|c| c.len() != length) {
        return Err(input("each TMK component is 32 or 48 hex digits, all of one length"));
    }
    let mut tmk = vec![0u8; length];
    for component in tmk_components {
        for (byte, part) in tmk.iter_mut().zip(component.expose()) {
            *byte ^= part;
        }
    }
    let tmk = Secret::from_vec(tmk);
    let kcv = hsm::kcv::kcv_tdes(tmk.expose())?;
    let tmk_kcv = iso8583::hex::encode(&kcv[..TMK_KCV_BYTES]);

    let quote = host::quote;
    let mut text = format!(
        "# Terminal {} at merchant {}: written by `cardnet pos init`.\n\
         terminal_id = {}\nmerchant_id = {}\nprimary = {}\n",
        installation.terminal_id,
        installation.merchant_id,
        quote(&installation.terminal_id),
        quote(&installation.merchant_id),
        quote(&installation.primary),
    );
    if let Some(backup) = &installation.backup {
        text.push_str(&format!("backup = {}\n", quote(backup)));
    }
    if let Some(name) = &installation.merchant_name {
        text.push_str(&format!("merchant_name = {}\n", quote(name)));
    }
    text.push_str(&format!(
        "tmk_file = {}\ntmk_kcv = {}\njournal = {}\nkey_scheme = {}\n",
        quote(TMK_FILE),
        quote(&tmk_kcv),
        quote(JOURNAL_FILE),
        quote(&installation.key_scheme)
    ));
    // Each password checked as the keypad takes it, then kept only as its keyed hash.
    let clear: Vec<OperatorSeed> = installation
        .operators
        .iter()
        .map(|(number, role, password)| OperatorSeed {
            number: number.clone(),
            role: role.clone(),
            password: Some(password.clone()),
            password_hash: None,
        })
        .collect();
    crate::core::check_operator_seeds(&clear)?;
    let storage_key = crate::keys::storage_key(&tmk)?;
    let mut seeds = clear;
    crate::seeds::hash_clear_seeds(&storage_key, &mut seeds)?;
    text.push_str(&crate::seeds::render_seeds(&seeds));
    // Everything the terminal will check at power-on, checked before anything is written.
    let config: TerminalConfig = host::config_file::parse_toml(&text).map_err(TerminalError::Config)?;
    config.check()?;
    crate::core::check_operator_seeds(&config.operators)?;

    let folder = terminal_dir(dir, &installation.terminal_id);
    let config_path = folder.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(TerminalError::Input(format!(
            "{} exists: terminal {} is installed there already",
            config_path.display(),
            installation.terminal_id
        )));
    }
    std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
    let tmk_path = folder.join(TMK_FILE);
    let tmk_hex = Secret::from_vec(iso8583::hex::encode(tmk.expose()).into_bytes());
    host::write_private(&tmk_path, tmk_hex.expose()).map_err(|e| io_error(&tmk_path, e))?;
    host::write_private(&config_path, text.as_bytes()).map_err(|e| io_error(&config_path, e))?;
    Ok(Installed { config_path, tmk_kcv })
}

fn io_error(path: &Path, error: std::io::Error) -> TerminalError {
    TerminalError::Config(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation() -> Installation {
        Installation {
            terminal_id: "POS00009".into(),
            merchant_id: "898440158120001".into(),
            merchant_name: Some("Cardnet \"Coffee\"".into()),
            primary: "127.0.0.1:9103".into(),
            backup: None,
            key_scheme: "003".into(),
            operators: vec![
                ("00".into(), "supervisor".into(), "123456".into()),
                ("01".into(), "cashier".into(), "0000".into()),
            ],
        }
    }

    fn components() -> Vec<Secret> {
        vec![Secret::new(&[0x11; 16]), Secret::new(&[0x22; 16])]
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardnet-terminal-install-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn installs_a_terminal_that_passes_its_self_check_and_refuses_to_reinstall() {
        let dir = dir("ok");
        let installed = install(&dir, &installation(), &components()).unwrap();
        let tmk = [0x33u8; 16];
        let expected_kcv = iso8583::hex::encode(&hsm::kcv::kcv_tdes(&tmk).unwrap()[..3]);
        assert_eq!(installed.tmk_kcv, expected_kcv);
        let folder = terminal_dir(&dir, "POS00009");
        assert_eq!(std::fs::read_to_string(folder.join(TMK_FILE)).unwrap(), iso8583::hex::encode(&tmk));
        #[cfg(unix)]
        for file in [TMK_FILE, CONFIG_FILE] {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(folder.join(file)).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
        }
        let text = std::fs::read_to_string(&installed.config_path).unwrap();
        assert!(!text.contains("123456") && !text.contains("\"0000\"") && !text.contains("password ="), "{text}");
        let config = TerminalConfig::load(&installed.config_path).unwrap();
        assert_eq!(config.merchant_name.as_deref(), Some("Cardnet \"Coffee\""));
        let mut terminal = crate::Terminal::open(config).unwrap();
        assert!(terminal.self_check().iter().all(|c| c.ok));
        terminal.log_in("01", &Secret::new(b"0000")).unwrap();
        let again = install(&dir, &installation(), &components()).unwrap_err();
        assert!(again.to_string().contains("installed there already"), "{again}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_components_and_operators_are_refused_before_anything_is_written() {
        let dir = dir("bad");
        let one = vec![Secret::new(&[0x11; 16])];
        assert!(install(&dir, &installation(), &one).is_err());
        let uneven = vec![Secret::new(&[0x11; 16]), Secret::new(&[0x22; 24])];
        assert!(install(&dir, &installation(), &uneven).is_err());
        let mut no_supervisor = installation();
        no_supervisor.operators.remove(0);
        assert!(install(&dir, &no_supervisor, &components()).is_err());
        let mut short_password = installation();
        short_password.operators[1].2 = "12".into();
        assert!(install(&dir, &short_password, &components()).is_err());
        let mut bad_id = installation();
        bad_id.terminal_id = "POS-1".into();
        assert!(install(&dir, &bad_id, &components()).is_err());
        assert!(!dir.exists(), "nothing written");
    }
}
