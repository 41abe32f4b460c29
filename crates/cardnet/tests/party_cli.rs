//! The party commands as a person runs them: `cardnet issuer init`, `cardnet issuer card
//! issue|list|block|unblock`, `cardnet switch init`, `cardnet serve issuer` — JSON on stdout,
//! one-line errors with exit 2 for bad input, no full card number outside `card issue`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{ProcessNetwork, cardnet, json};

fn fresh_dir(name: &str) -> PathBuf {
    common::fresh_dir("party-cli", name)
}

#[test]
fn issuer_cards_from_the_command_line() {
    let dir = fresh_dir("issuer");
    let dir_text = dir.to_str().unwrap();
    let init = json(&cardnet(&["issuer", "init", "--dir", dir_text, "--json"]));
    let config = init["config"].as_str().unwrap().to_owned();
    assert_eq!(init["institution_id"], issuer::dev::ISSUER_ID);
    // Its products decline a chip card swiped without fallback, the default (45).
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("chip_swipe = \"decline\"") && !text.contains("chip_swipe = \"allow\""), "{text}");
    // A second init refuses to overwrite.
    let again = cardnet(&["issuer", "init", "--dir", dir_text]);
    assert_eq!(again.status.code(), Some(2));

    let card = json(&cardnet(&[
        "issuer",
        "card",
        "issue",
        "--config",
        &config,
        "--product",
        "debit",
        "--balance",
        "12550",
        "--json",
    ]));
    let pan = card["pan"].as_str().unwrap().to_owned();
    assert!(pan.starts_with(issuer::dev::ISSUER_BIN) && pan.len() >= 16, "the full number, shown this once");
    assert!(card["pin"].as_str().unwrap().chars().all(|c| c.is_ascii_digit()));
    assert_eq!(card["available_minor"], 12550);

    let list = json(&cardnet(&["issuer", "card", "list", "--config", &config, "--json"]));
    let listed = &list["cards"][0];
    assert_eq!(listed["pan"], iso8583::mask::mask_pan(&pan));
    assert_eq!(listed["status"], "active");
    assert!(!String::from_utf8_lossy(&cardnet(&["issuer", "card", "list", "--config", &config]).stdout).contains(&pan));

    let blocked = json(&cardnet(&["issuer", "card", "block", "--config", &config, "--pan", &pan, "--json"]));
    assert_eq!(blocked["status"], "blocked");
    let unblocked = json(&cardnet(&["issuer", "card", "unblock", "--config", &config, "--pan", &pan, "--json"]));
    assert_eq!(unblocked["status"], "active");

    // Bad input: exit 2, one line on stderr, no card number in it.
    for args in [
        vec!["issuer", "card", "issue", "--config", &config, "--product", "platinum"],
        vec!["issuer", "card", "block", "--config", &config, "--pan", "6224240000000000"],
        vec!["issuer", "card", "list", "--config", "/nonexistent/issuer.toml"],
    ] {
        let output = cardnet(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(error.trim().lines().count(), 1, "{error}");
        assert!(!error.contains("6224240000000000"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn switch_init_writes_a_config_that_loads() {
    let dir = fresh_dir("switch");
    let init = json(&cardnet(&["switch", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config_path = dir.join("switch.toml");
    assert!(config_path.exists(), "{init}");
    let config = switch::SwitchConfig::load(&config_path).unwrap();
    assert!(config.members.iter().any(|m| m.id == switch::dev::ACQUIRER_ID));
    let again = cardnet(&["switch", "init", "--dir", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "an existing config is not overwritten");
    let bad = cardnet(&["serve", "switch", "--config", "/nonexistent/switch.toml"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cardnet serve issuer` answers a network sign-on over TCP and stops on SIGTERM.
#[cfg(unix)]
#[test]
fn serve_issuer_answers_sign_on_and_stops_on_sigterm() {
    use std::io::{Read, Write};
    let dir = fresh_dir("serve");
    let init = json(&cardnet(&["issuer", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config_path = init["config"].as_str().unwrap().to_owned();
    // On a port the kernel picks: the issuer logs where it listens.
    common::parties::listen_on_port_zero(std::path::Path::new(&config_path), "127.0.0.1:9200");
    let log = dir.join("issuer.log");
    let (mut child, address) = common::parties::serve("issuer", &config_path, &log);
    let mut stream = std::net::TcpStream::connect(address.expect("the issuer listens")).unwrap();
    let spec = iso8583::builtin::network();
    let sign_on = transport::netmgmt::request(
        &spec,
        transport::NetworkCode::SignOn,
        1,
        &transport::Institution::new("90000000001"),
    )
    .unwrap();
    stream.write_all(&iso8583::encode_framed(&sign_on, &Default::default()).unwrap()).unwrap();
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut body).unwrap();
    let answer = iso8583::decode(&spec, &body).unwrap();
    assert_eq!(answer.mti().as_str(), "0810");
    assert_eq!(answer.get_str(39), Some("00"));
    drop(stream);
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "a graceful stop on SIGTERM: {exit:?}: {stderr}");
    // One log line for the exchange: MTI, STAN, response code, latency.
    let line = stderr.lines().find(|line| line.contains("message") && line.contains("0800")).unwrap_or_default();
    for part in ["stan", "000001", "rc", "00", "latency_us"] {
        assert!(line.contains(part), "{part} in the log line {line:?} of {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cardnet network init`, then every party as a separate process (`cardnet serve issuer`
/// twice, `cardnet serve switch`, `cardnet serve acquirer`), a merchant onboarded and a terminal
/// installed with the CLI, and two clients: an acquirer link straight to the switch, and a POS
/// terminal through the acquirer (sign-on, PIN purchase). The configurations interoperate.
#[cfg(unix)]
#[test]
fn network_init_then_separate_processes_approve_purchases() {
    use std::sync::Arc;
    let network = ProcessNetwork::set_up("party-cli");
    let dir = network.dir.clone();
    // A second init refuses to overwrite.
    assert_eq!(cardnet(&["network", "init", "--dir", dir.to_str().unwrap()]).status.code(), Some(2));
    let card = &network.card;
    let merchant_id = network.merchant_id.clone();
    let issuer_a = network.issuer_a.clone();
    let mut servers = network.start();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (network_code, plain_code, terminal_code) = runtime.block_on(async {
        let hsm = Arc::new(hsm::SoftHsm::from_lmk_file(&dir.join("lmk.hex")).unwrap());
        let link_text = std::fs::read_to_string(dir.join("acquirer-link.toml")).unwrap();
        let value = |key: &str| {
            link_text
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{key} = \"")).map(|v| v.trim_end_matches('"').to_owned()))
                .unwrap()
        };
        let zak = hsm::WrappedKey::from_block(value("zak")).unwrap();
        let zpk = hsm::WrappedKey::from_block(value("zpk")).unwrap();
        let acceptor = network::request::Acceptor {
            acquirer: value("acquirer_id").parse().unwrap(),
            terminal: "TERM0001".parse().unwrap(),
            merchant: "898440154110001".parse().unwrap(),
            mcc: "5411".into(),
            name_location: "CARDNET COFFEE".into(),
        };
        let pan = card["pan"].as_str().unwrap().to_owned();
        let pin_text = card["pin"].as_str().unwrap().to_owned();
        let address: std::net::SocketAddr = value("switch").parse().unwrap();
        // 1. Straight to the switch as the acquirer member. The switch signs on to both issuers
        //    after it starts: retry until it answers 00.
        let mut network_code = String::new();
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let Ok(link) = testnet::acquirer::AcquirerLink::connect(
                address,
                Arc::clone(&hsm) as Arc<dyn hsm::SecurityModule>,
                zak.clone(),
                zpk.clone(),
                acceptor.clone(),
                "156",
                Arc::new(clock::SystemClock),
                5_000,
            )
            .await
            else {
                continue;
            };
            let pin = hsm::Secret::new(pin_text.as_bytes());
            let pin_block =
                hsm::SecurityModule::encrypt_pin(&*hsm, &zpk, hsm::pinblock::PinFormat::Iso0, &pin, &pan).unwrap();
            // The chip card's stripe as a fallback (80): `network init`'s products decline a
            // plain swipe of a chip card (45).
            let input = network::request::CardInput {
                entry: Some(network::request::EntryMode::Fallback),
                track2: Some(card["track2"].as_str().unwrap().to_owned()),
                pin_block: Some(pin_block),
                ..network::request::CardInput::new(network::request::Pan::new(&pan).unwrap())
            };
            match link.transact(network::TransactionKind::Purchase, &input, 12_345, None).await {
                Ok(exchange) => {
                    network_code = exchange.code().unwrap().to_string();
                    if network_code == "00" {
                        break;
                    }
                }
                Err(error) => network_code = error.to_string(),
            }
        }
        // 2. A POS terminal through the acquirer: sign on (keys under the injected TMK), then a
        //    PIN purchase by swipe — declined 45 (use the chip) as a plain swipe, approved as the
        //    fallback after a failed chip read (60.5 = 2).
        let acquirer_address: std::net::SocketAddr = network.acquirer_listen().parse().unwrap();
        let tmk = hsm::Secret::from_vec(common::tmk_clear());
        let mut terminal = testnet::pos::PosTerminal::new("POS00001", &merchant_id, tmk);
        let pos_card = testnet::pos::PosCard {
            pan: pan.clone(),
            track2: Some(card["track2"].as_str().unwrap().to_owned()),
            expiry_yymm: None,
        };
        let mut terminal_code = String::new();
        let mut plain_code = String::new();
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let Ok(client) = testnet::pos::PosClient::connect(acquirer_address, 10_000).await else { continue };
            // The scheme `network init`'s acquirer issues: track 2 enciphered under the TDK.
            let scheme = hsm::SignOnScheme::DoubleWithTdk;
            let Ok(sign_on) = terminal.sign_on_request(scheme) else { continue };
            let Ok(answer) = client.send(&terminal, &sign_on).await else { continue };
            if terminal.accept_sign_on(scheme, &answer).is_err() {
                terminal_code = format!("sign-on {:?}", answer.get_str(39));
                continue;
            }
            let plain = terminal.purchase(&pos_card, 2_000, Some(&pin_text)).unwrap();
            let Ok(declined) = client.send(&terminal, &plain).await else { continue };
            plain_code = declined.get_str(39).unwrap_or("").to_owned();
            if plain_code != "45" {
                continue;
            }
            let mut purchase = terminal.purchase(&pos_card, 2_000, Some(&pin_text)).unwrap();
            let field60 = format!("{}62", purchase.get_str(60).unwrap());
            purchase.set_str(60, &field60).unwrap();
            terminal.mac(&mut purchase).unwrap();
            match client.send(&terminal, &purchase).await {
                Ok(response) => {
                    terminal_code = response.get_str(39).unwrap_or("").to_owned();
                    assert!(terminal.verify(&response), "the acquirer's field 64 verifies under the MAK");
                    if terminal_code == "00" {
                        break;
                    }
                }
                Err(error) => terminal_code = error.to_string(),
            }
        }
        (network_code, plain_code, terminal_code)
    });
    // 3. The terminal application itself, scripted: `cardnet pos run` signs on and sells with the
    //    card as `card issue --json` printed it, then settles with the supervisor's password.
    let (terminal_config, card_file) = network.terminal_files("POS00002");
    let pos = |args: &[&str]| {
        let base = ["pos", "run", "--terminal-config", &terminal_config, "--operator", "01", "--password", "1111"];
        json(&cardnet(&[&base[..], args].concat()))
    };
    let sign_on = pos(&["--json", "sign-on"]);
    assert_eq!(sign_on["response_code"], "00", "{sign_on}");
    let sale = pos(&["--json", "sale", "--amount", "30.00", "--card-file", &card_file, "--chip-fails"]);
    assert_eq!(sale["response_code"], "00", "{sale}");
    assert_eq!(sale["amount_minor"], 3_000);
    assert!(!sale.to_string().contains(card["pan"].as_str().unwrap()), "no full PAN in the output");
    let settle = pos(&["--supervisor-password", "123456", "--json", "settle"]);
    assert_eq!(settle["domestic_balanced"], true, "the host's totals agree: {settle}");
    assert_eq!(settle["next_batch_no"], 2);
    for exit in servers.stop() {
        assert!(exit.success(), "a graceful stop: {exit:?}");
    }
    assert_eq!(network_code, "00", "a purchase straight to the switch");
    assert_eq!(plain_code, "45", "a chip card swiped without fallback: use the chip");
    assert_eq!(terminal_code, "00", "a fallback purchase from a POS terminal through the acquirer");
    // The merchants console shows the batch the acquirer host moved on at settlement: the host's
    // own record, the one place it lives.
    let terminals = json(&cardnet(&["terminal", "list", "--config", &network.acquirer_config, "--json"]));
    let pos00002 = terminals["terminals"].as_array().unwrap().iter().find(|t| t["terminal_id"] == "POS00002");
    let pos00002 = pos00002.unwrap_or_else(|| panic!("POS00002 listed: {terminals}"));
    assert_eq!(
        (&pos00002["batch_no"], &pos00002["settlement_pending"]),
        (&"000002".into(), &false.into()),
        "{pos00002}"
    );
    assert_eq!(pos00002["status"], "active", "the registry heard of the sign-on");
    let list = json(&cardnet(&["issuer", "card", "list", "--config", &issuer_a, "--json"]));
    assert_eq!(list["cards"][0]["available_minor"], 50_000 - 12_345 - 2_000 - 3_000, "all three held at the issuer");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An operator re-keys every issuer link of a running switch with SIGUSR1: each link's ZPK and
/// ZAK change (the switch logs each outcome), the switch keeps serving, and SIGTERM still stops
/// everything cleanly.
#[cfg(unix)]
#[test]
fn sigusr1_rekeys_every_issuer_link_of_a_running_switch() {
    const KEY_CHANGES: usize = 4;
    let network = common::ProcessNetwork::set_up("rekey");
    let logs = network.dir.join("logs");
    let mut servers = network.start_logged(&logs);
    assert!(network.wait_listening(std::time::Duration::from_secs(30)), "the parties listen");
    let log_of = |name: &str| std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default();
    let switch_log = || log_of("switch");
    // The switch has signed on to both issuers (each issuer logs the 0800 it answered 0810).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !["issuer-a", "issuer-b"].iter().all(|name| log_of(name).contains("response_mti=\"0810\""))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let signal = std::process::Command::new("kill").args(["-USR1", &servers.pid(2).to_string()]).status().unwrap();
    assert!(signal.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while switch_log().matches(": activated").count() < KEY_CHANGES && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = switch_log();
    let activated: Vec<&str> = log.lines().filter(|l| l.contains(": activated, check value ")).collect();
    assert_eq!(activated.len(), KEY_CHANGES, "ZPK and ZAK of both issuer links:\n{log}");
    assert_eq!(activated.iter().filter(|l| l.contains(" ZPK: ")).count(), 2, "{log}");
    // Words for the operator, not Rust's debug text of the outcome.
    assert!(!log.contains("Activated {") && !log.contains("Zpk"), "{log}");
    for status in servers.stop() {
        assert!(status.success(), "a graceful stop after the re-key: {status:?}");
    }
    let _ = std::fs::remove_dir_all(&network.dir);
}
