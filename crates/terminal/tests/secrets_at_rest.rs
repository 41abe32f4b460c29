//! What the terminal leaves on disk: operator passwords in its configuration only as keyed
//! hashes (an old file with clear ones rewritten at power-on, `set_operator` replacing the
//! seed's hash), and its journal files owner-only.

use std::path::{Path, PathBuf};

use hsm::Secret;
use terminal::{Role, Terminal, TerminalConfig};

const TMK: [u8; 16] = [0x33; 16];

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cardnet-terminal-rest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A configuration as older versions wrote it: the seeded passwords in clear.
fn write_clear_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("tmk.hex"), iso8583::hex::encode(&TMK)).unwrap();
    let kcv = terminal::keys::tmk_kcv(&Secret::new(&TMK)).unwrap();
    let text = format!(
        "# hand-written\nterminal_id = \"POS00001\"\nmerchant_id = \"898440158120001\"\nprimary = \"127.0.0.1:9\"\n\
         tmk_file = \"tmk.hex\"\ntmk_kcv = \"{kcv}\"\njournal = \"terminal.db\"\nkey_scheme = \"003\"\n\
         [[operators]]\nnumber = \"00\"\nrole = \"supervisor\"\npassword = \"123456\"\n\
         [[operators]]\nnumber = \"01\"\nrole = \"cashier\"\npassword = \"0101\"\n"
    );
    let path = dir.join("terminal.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn remove_journal(dir: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("terminal.db{suffix}")));
    }
}

fn assert_no_clear_password(path: &Path, passwords: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    for password in passwords {
        assert!(!text.contains(password), "clear password {password} in {text}");
    }
    assert!(!text.contains("password ="), "{text}");
    assert!(text.contains("password_hash"), "{text}");
}

#[test]
fn an_old_configuration_with_clear_passwords_is_rewritten_with_keyed_hashes() {
    let dir = dir("migrate");
    let path = write_clear_config(&dir);
    let mut terminal = Terminal::open(TerminalConfig::load(&path).unwrap()).unwrap();
    assert_eq!(terminal.log_in("01", &Secret::new(b"0101")).unwrap(), Role::Cashier);
    drop(terminal);
    assert_no_clear_password(&path, &["123456", "0101"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The hashes alone seed a new journal with the same passwords.
    remove_journal(&dir);
    let mut terminal = Terminal::open(TerminalConfig::load(&path).unwrap()).unwrap();
    assert!(terminal.log_in("01", &Secret::new(b"9999")).is_err());
    assert_eq!(terminal.log_in("01", &Secret::new(b"0101")).unwrap(), Role::Cashier);
    terminal.authorise_supervisor(Some(&Secret::new(b"123456"))).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn setting_an_operator_replaces_the_seed_in_the_configuration() {
    let dir = dir("set");
    let path = write_clear_config(&dir);
    let terminal = Terminal::open(TerminalConfig::load(&path).unwrap()).unwrap();
    let supervisor = Secret::new(b"123456");
    terminal.set_operator(&supervisor, "01", Role::Cashier, &Secret::new(b"4321")).unwrap();
    terminal.set_operator(&supervisor, "02", Role::Cashier, &Secret::new(b"2222")).unwrap();
    drop(terminal);
    assert_no_clear_password(&path, &["123456", "0101", "4321", "2222"]);
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("# hand-written\n"), "the rest of the file is kept");
    remove_journal(&dir);
    let mut terminal = Terminal::open(TerminalConfig::load(&path).unwrap()).unwrap();
    assert!(terminal.log_in("01", &Secret::new(b"0101")).is_err(), "the old password is gone");
    assert_eq!(terminal.log_in("01", &Secret::new(b"4321")).unwrap(), Role::Cashier);
    assert_eq!(terminal.log_in("02", &Secret::new(b"2222")).unwrap(), Role::Cashier);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn journal_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = dir("modes");
    let path = write_clear_config(&dir);
    let terminal = Terminal::open(TerminalConfig::load(&path).unwrap()).unwrap();
    terminal.set_operator(&Secret::new(b"123456"), "02", Role::Cashier, &Secret::new(b"2222")).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("terminal.db{suffix}"));
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "{}", file.display());
    }
    drop(terminal);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_seed_without_a_usable_hash_is_refused_by_name() {
    let dir = dir("bad-hash");
    let path = write_clear_config(&dir);
    let text = std::fs::read_to_string(&path).unwrap().replace("password = \"0101\"", "password_hash = \"0101\"");
    std::fs::write(&path, text).unwrap();
    let error = Terminal::open(TerminalConfig::load(&path).unwrap()).unwrap_err().to_string();
    assert!(error.contains("operator 01: password_hash is 32 hex digits"), "{error}");
    assert!(!error.contains("123456"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
