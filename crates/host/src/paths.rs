//! Relative paths in a configuration file mean "beside the file", so a configuration works
//! wherever it is run from: these make them absolute against the file's folder.

use std::path::{Path, PathBuf};

/// Make a relative `path` relative to `base` (the configuration file's folder).
pub fn resolve_path(base: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        *path = base.join(&*path);
    }
}

/// Make the file of a relative SQLite store URL relative to `base`: `sqlite:PATH`, or a bare
/// path, which `sqlstore::Database::open` also takes as a SQLite file (so every party reads
/// the same setting the same way). Other URLs (`sqlite::memory:`, an absolute path,
/// `postgres://…`) stay as written.
pub fn resolve_sqlite_url(base: &Path, url: &mut String) {
    let path = url.strip_prefix("sqlite:").or_else(|| (!url.contains("://")).then_some(url.as_str()));
    if let Some(path) = path
        && path != ":memory:"
        && Path::new(path).is_relative()
    {
        *url = format!("sqlite:{}", base.join(path).display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_move_under_the_base() {
        let base = Path::new("/srv/party");
        let mut path = PathBuf::from("lmk.hex");
        resolve_path(base, &mut path);
        assert_eq!(path, Path::new("/srv/party/lmk.hex"));
        let mut absolute = PathBuf::from("/keys/lmk.hex");
        resolve_path(base, &mut absolute);
        assert_eq!(absolute, Path::new("/keys/lmk.hex"));
    }

    #[test]
    fn a_bare_relative_path_is_a_sqlite_file() {
        let mut url = "party.db".to_owned();
        resolve_sqlite_url(Path::new("/srv/party"), &mut url);
        assert_eq!(url, "sqlite:/srv/party/party.db");
    }

    #[test]
    fn only_relative_sqlite_files_move() {
        let base = Path::new("/srv/party");
        let resolved = |url: &str| {
            let mut url = url.to_owned();
            resolve_sqlite_url(base, &mut url);
            url
        };
        assert_eq!(resolved("sqlite:party.db"), "sqlite:/srv/party/party.db");
        assert_eq!(resolved("sqlite:/var/party.db"), "sqlite:/var/party.db");
        assert_eq!(resolved("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(resolved("postgres://u@h/db#party"), "postgres://u@h/db#party");
    }
}
