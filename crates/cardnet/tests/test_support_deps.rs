//! No party crate nor the binary depends on test support (issue 14): every crate's Cargo.toml
//! is read and the dependencies it builds with — `[dependencies]` and
//! `[target.'…'.dependencies]`, not `[dev-dependencies]` — must name no crate of
//! [`TEST_SUPPORT`]. `cargo tree -p cardnet --edges normal | grep testnet` says the same of the
//! binary; this covers every crate at once and needs no cargo.

use std::path::{Path, PathBuf};

/// The workspace's test-support crates, by dependency key and by package name.
const TEST_SUPPORT: [&str; 2] = ["testnet", "cardnet-testnet"];

/// The names a manifest's build dependencies go by (its keys in every dependencies table that
/// is not a dev- or build-dependencies one, and `[dependencies.NAME]` headers).
fn build_dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let header = line.trim_start_matches('[').trim_end_matches(']').trim();
            let table =
                header.rsplit_once("dependencies").map(|(before, after)| (before, after.trim_start_matches('.')));
            in_dependencies = false;
            if let Some((before, name)) = table {
                let normal = !before.ends_with("dev-") && !before.ends_with("build-");
                let at_top = before.is_empty() || before.starts_with("target.");
                if normal && at_top {
                    if name.is_empty() {
                        in_dependencies = true;
                    } else {
                        names.push(name.to_owned());
                    }
                }
            }
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            let key = line.split(['=', '.']).next().unwrap_or("").trim().trim_matches('"');
            names.push(key.to_owned());
            // `name = { package = "…" }`: the package counts too.
            if let Some((_, rest)) = line.split_once("package") {
                let package = rest.trim_start_matches([' ', '=']).split('"').nth(1).unwrap_or("");
                names.push(package.to_owned());
            }
        }
    }
    names
}

fn manifests() -> Vec<(String, PathBuf)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if manifest.exists() {
            found.push((dir.file_name().unwrap().to_string_lossy().into_owned(), manifest));
        }
    }
    found.sort();
    found
}

#[test]
fn no_crate_builds_with_test_support() {
    let manifests = manifests();
    let names: Vec<&str> = manifests.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["cardnet", "switch", "issuer", "acquirer", "terminal", "provision", "testnet"] {
        assert!(names.contains(&expected), "crates/{expected} was read: {names:?}");
    }
    for (name, manifest) in &manifests {
        if TEST_SUPPORT.contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(manifest).unwrap();
        let dependencies = build_dependencies(&text);
        let support: Vec<&String> = dependencies.iter().filter(|d| TEST_SUPPORT.contains(&d.as_str())).collect();
        assert!(
            support.is_empty(),
            "crates/{name} builds with test support {support:?}: move it to [dev-dependencies]"
        );
    }
}

#[test]
fn the_reader_finds_test_support_where_it_is_built_with() {
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nhsm.workspace = true\n# testnet, no\n\
                    helper = { path = \"../t\", package = \"cardnet-testnet\" }\n\n\
                    [dev-dependencies]\nproptest.workspace = true\n";
    let names = build_dependencies(manifest);
    assert!(names.contains(&"hsm".to_owned()) && names.contains(&"cardnet-testnet".to_owned()), "{names:?}");
    assert!(!names.contains(&"proptest".to_owned()), "{names:?}");
    assert!(build_dependencies("[dependencies.testnet]\npath = \"x\"\n").contains(&"testnet".to_owned()));
    let target = build_dependencies("[target.'cfg(unix)'.dependencies]\ntestnet = { path = \"x\" }\n");
    assert!(target.contains(&"testnet".to_owned()), "{target:?}");
    assert!(build_dependencies("[dev-dependencies]\ntestnet.workspace = true\n").is_empty());
    assert!(build_dependencies("[build-dependencies]\ntestnet.workspace = true\n").is_empty());
    assert!(build_dependencies("[workspace.dependencies]\ntestnet = { path = \"x\" }\n").is_empty());
}
