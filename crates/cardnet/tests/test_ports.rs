//! Tests take their ports from the kernel (bind port 0) and keep what they bound: a port found
//! free and released can be taken by anyone before the party binds it, and on a busy machine
//! (CI, several suites at once) it is. Two checks: the process network's parties listen on port
//! 0 and report where, and no test source picks a port by binding and releasing it.

mod common;

use std::path::{Path, PathBuf};

/// What the tests and test helpers of every crate hold: `crates/*/tests` and `crates/testnet/src`.
fn test_sources() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(crates).unwrap().flatten() {
        found.extend(common::files_under(&entry.path().join("tests"), "rs"));
    }
    found.extend(common::files_under(&crates.join("testnet").join("src"), "rs"));
    found
}

/// The ways a free-looking port is picked: a listener bound only to read its port (a temporary
/// in one expression), a helper named for it, or a run of ports after one found free.
fn picks_a_port(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let temporary = code.contains("bind(") && code.contains(".local_addr()") && code.contains(".port()");
        let helper = code.contains("fn free_port");
        if temporary || helper {
            found.push(format!("line {}: {}", number + 1, line.trim()));
        }
    }
    found
}

#[test]
fn no_test_picks_a_port_by_binding_and_releasing_it() {
    let files = test_sources();
    assert!(files.len() > 20, "found only {} test sources", files.len());
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // This file names the patterns it looks for.
        if file.ends_with("test_ports.rs") {
            continue;
        }
        for hit in picks_a_port(&text) {
            offenders.push(format!("{}: {hit}", file.display()));
        }
    }
    assert!(offenders.is_empty(), "ports picked by bind-and-release:\n{}", offenders.join("\n"));
}

/// `ProcessNetwork`'s parties are configured with port 0 and the addresses the tests use are the
/// ones each process printed when it bound.
#[cfg(unix)]
#[test]
fn the_process_network_listens_on_port_zero() {
    let network = common::ProcessNetwork::set_up("ports");
    for config in [&network.issuer_a, &network.issuer_b, &network.switch_config, &network.acquirer_config] {
        let text = std::fs::read_to_string(config).unwrap();
        let listen = text.lines().find(|line| line.starts_with("listen = ")).unwrap();
        assert_eq!(listen, "listen = \"127.0.0.1:0\"", "{config}");
    }
    let mut servers = network.start();
    let addresses = network.listen_addresses();
    assert_eq!(addresses.len(), 4);
    for address in &addresses {
        let address: std::net::SocketAddr = address.parse().unwrap();
        assert_ne!(address.port(), 0);
        std::net::TcpStream::connect(address).unwrap();
    }
    // Nothing under the network's folder names a port the parties were not given by the kernel.
    for entry in std::fs::read_dir(&network.dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for port in 9100..=9103 {
            assert!(!text.contains(&format!("127.0.0.1:{port}")), "{} names port {port}", entry.path().display());
        }
    }
    for exit in servers.stop() {
        assert!(exit.success(), "a graceful stop: {exit:?}");
    }
    let _ = std::fs::remove_dir_all(&network.dir);
}
