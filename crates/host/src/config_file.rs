//! Reading a configuration file: bounded in size, parsed as TOML with the parser's message on
//! one line, and the folder its relative paths are taken from.

use std::path::Path;

use serde::de::DeserializeOwned;

/// The text of the configuration file at `path`, refused when larger than `bytes_max` (checked
/// before reading). The error is one line that names the file: `PATH: why`.
pub fn read(path: &Path, bytes_max: u64) -> Result<String, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if metadata.len() > bytes_max {
        return Err(format!("{shown}: larger than {bytes_max} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))
}

/// The folder relative paths in the file at `path` are taken from (its parent; `.` when there
/// is none).
pub fn folder(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new("."))
}

/// TOML text as `T`; the error is `LINE:COLUMN: ` and the parser's message on one line (no
/// source excerpt, which could show a value).
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| located(text, &e))
}

/// The TOML text of the file at `path` as `T`; the error is `PATH:LINE:COLUMN: message`, the
/// form editors and terminals jump to.
pub fn parse_toml_file<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| format!("{}:{}", path.display(), located(text, &e)))
}

/// `LINE:COLUMN: message` (1-based; the column counts characters), or the message alone when
/// the parser gives no position.
fn located(text: &str, error: &toml::de::Error) -> String {
    let message = one_line(error.message());
    let Some(start) = error.span().map(|span| span.start.min(text.len())) else { return message };
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("{line}:{column}: {message}")
}

/// `text` with every run of white space (line breaks included) folded to one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
    }

    #[test]
    fn reads_within_the_bound_and_names_the_file() {
        let dir = std::env::temp_dir().join(format!("cardnet-host-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("party.toml");
        std::fs::write(&path, "name = \"x\"\n").unwrap();
        assert_eq!(read(&path, 64).unwrap(), "name = \"x\"\n");
        assert_eq!(read(&path, 4).unwrap_err(), format!("{}: larger than 4 bytes", path.display()));
        let missing = dir.join("missing.toml");
        assert!(read(&missing, 64).unwrap_err().starts_with(&format!("{}: ", missing.display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn folder_of_a_bare_name_is_here() {
        assert_eq!(folder(Path::new("/etc/cardnet/switch.toml")), Path::new("/etc/cardnet"));
        assert_eq!(folder(Path::new("switch.toml")), Path::new(""));
        assert_eq!(folder(Path::new("/")), Path::new("."));
    }

    #[test]
    fn parse_errors_are_one_line() {
        let sample: Sample = parse_toml("name = \"a\"").unwrap();
        assert_eq!(sample.name, "a");
        let error = parse_toml::<Sample>("nmae = \"a\"").unwrap_err();
        assert!(error.starts_with("1:1: ") && error.contains("nmae") && !error.contains('\n'), "{error}");
        let error = parse_toml_file::<Sample>(Path::new("/etc/x.toml"), "\n  name = \"a").unwrap_err();
        assert!(error.starts_with("/etc/x.toml:2:"), "{error}");
        assert!(!error.contains('\n'), "{error}");
        assert_eq!(one_line(" a\n  b\tc "), "a b c");
    }
}
