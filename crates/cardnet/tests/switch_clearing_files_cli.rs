//! `cardnet switch clearing` writes one file per member and form, owner-only, and a rerun gives
//! byte-identical files. Needs `clearing::file::Writer` (implemented by the clearing-file work of
//! issue 13): run after merging it.

mod common;

use common::{cardnet, fresh_dir, json};

#[test]
fn clearing_files_per_member_are_private_and_a_rerun_is_byte_identical() {
    let dir = fresh_dir("switch-eod", "clearing-files");
    json(&cardnet(&["switch", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = dir.join("switch.toml");
    let config = config.to_str().unwrap();
    json(&cardnet(&["switch", "close-date", "--config", config, "--date", "2020-02-03", "--json"]));

    let run = || json(&cardnet(&["switch", "clearing", "--config", config, "--date", "2020-02-03", "--json"]));
    let first = run();
    assert_eq!(first["date"], "2020-02-03");
    assert_eq!(first["records"], 0);
    // The development set-up: one acquirer, one issuer; each gets a header and a trailer.
    let members = first["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{first}");
    assert_eq!(first["files_written"], 4);
    let folder = dir.join("clearing").join("2020-02-03");
    let mut files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let contents: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    #[cfg(unix)]
    for file in &files {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600, "{}", file.display());
    }
    for (file, bytes) in files.iter().zip(&contents) {
        let (_, records, trailer) = clearing::file::read_all(std::io::BufReader::new(&bytes[..])).unwrap();
        assert!(records.is_empty() && trailer.records == 0, "{}", file.display());
    }
    run();
    let again: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(again, contents, "a rerun is byte-identical");
    let _ = std::fs::remove_dir_all(&dir);
}
