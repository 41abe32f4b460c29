//! Database files only their owner can read. They hold card data (encrypted or masked), key
//! blocks and journals: nobody else on the machine has any business reading them.
//!
//! SQLite creates a database's `-wal` and `-shm` files with the mode of the main file, so the
//! main file is created 0600 before SQLite opens it; files an older version left wider are
//! tightened.

use std::path::Path;

/// The files SQLite keeps beside a database in WAL mode.
const SIDE_FILE_SUFFIXES: [&str; 2] = ["-wal", "-shm"];

/// Create the SQLite file at `path` owner-only if missing, and make it and its `-wal`/`-shm`
/// files owner-only if they exist. Call before opening the file with SQLite. A no-op off Unix.
pub fn prepare_sqlite_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // `create` without `truncate`: an existing database is opened, never emptied.
        std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path)?;
        let owner_only = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(path, owner_only.clone())?;
        for suffix in SIDE_FILE_SUFFIXES {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            match std::fs::set_permissions(Path::new(&side), owner_only.clone()) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
