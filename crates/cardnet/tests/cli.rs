//! The `cardnet` binary as a user scripts it: exit codes, one JSON object with --json,
//! one-line errors, and the decode | encode round trip.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const V1: &str = include_str!("../../iso8583/tests/data/v1.hex");

fn cardnet(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn decode_prints_a_masked_dump() {
    let output = cardnet(&["iso8583", "decode", "--spec", "cup-pos", "--framed", V1.trim()], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("MTI     0200"));
    assert!(text.contains("622424******0113"));
    assert!(!text.contains("6224242900000113"));
    assert!(text.contains("9F26") && text.contains("95BBE372271DDA7C"), "TLV tags one per line");
    assert!(text.contains("60.1") && text.contains("[22]"));
}

#[test]
fn decode_json_then_encode_gives_v1_back() {
    let decoded = cardnet(&["iso8583", "decode", "--spec", "cup-pos", "--framed", "--json", "--unmask", "-"], Some(V1));
    assert!(decoded.status.success(), "{}", stderr(&decoded));
    let json = stdout(&decoded);
    assert_eq!(json.trim().lines().count(), 1, "one JSON object");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["mti"], "0200");
    assert_eq!(value["tpdu"], "6000060000");
    assert_eq!(value["header"], "603100311003");
    assert_eq!(value["fields"]["2"], "6224242900000113");
    assert_eq!(value["fields"]["3"], "000000");
    assert_eq!(value["fields"]["55"]["9F26"], "95BBE372271DDA7C");
    assert_eq!(value["fields"]["60"]["1"], "22");
    assert_eq!(value["fields"]["60"]["2"], "000024");
    let encoded = cardnet(&["iso8583", "encode", "--spec", "cup-pos", "--framed", "--unmask", "-"], Some(&json));
    assert!(encoded.status.success(), "{}", stderr(&encoded));
    assert_eq!(stdout(&encoded).trim(), V1.trim());
}

#[test]
fn masked_json_hides_secrets_and_cannot_be_encoded() {
    let decoded = cardnet(&["iso8583", "decode", "--framed", "--json", V1.trim()], None);
    let json = stdout(&decoded);
    assert!(json.contains("622424******0113") && !json.contains("6224242900000113"));
    assert!(!json.contains("D1EEF419D0AE2609"), "PIN block");
    let encoded = cardnet(&["iso8583", "encode", "--framed", "-"], Some(&json));
    assert_eq!(encoded.status.code(), Some(2));
    assert!(stderr(&encoded).contains("--unmask"), "{}", stderr(&encoded));
}

#[test]
fn bad_input_is_one_line_naming_field_and_offset_with_exit_2() {
    let truncated = &V1.trim()[..200];
    let output = cardnet(&["iso8583", "decode", "--spec", "cup-pos", "--framed", truncated], None);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert_eq!(error.trim().lines().count(), 1, "{error}");
    assert!(error.contains("at byte"), "{error}");
    let body_cut = "0200702406C020C19A311662";
    let output = cardnet(&["iso8583", "decode", body_cut], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("field 2 at byte 11"), "{}", stderr(&output));
    for args in [
        vec!["iso8583", "decode", "XYZ"],
        vec!["iso8583", "decode", "--spec", "nope", "0800"],
        vec!["iso8583", "encode", "{not json"],
        vec!["iso8583", "encode", r#"{"mti":"0200","fields":{"3":"12"}}"#],
        vec!["iso8583", "frobnicate"],
    ] {
        let output = cardnet(&args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).is_empty());
    }
}

#[test]
fn specs_report_as_json() {
    let output = cardnet(&["iso8583", "specs", "--json"], None);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<_> =
        value["specs"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["cup-pos", "iso87-ascii", "network"]);
}

/// The demo runs the whole network (switch, two issuers, TCP) and reports every step; the
/// response codes are the decisions the script provokes, so a broken party shows here.
#[test]
fn demo_runs_the_network_and_reports_as_json() {
    let directory = std::env::temp_dir().join(format!("cardnet-cli-demo-{}", std::process::id()));
    let output = cardnet(&["demo", "--tour", "--json", "--dir", directory.to_str().unwrap()], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let codes: Vec<&str> =
        value["steps"].as_array().unwrap().iter().map(|s| s["response_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["00", "00", "00", "00", "55", "51", "15", "00", "00", "00", "00", "00", "00", "98"]);
    let notes: Vec<&str> = value["steps"].as_array().unwrap().iter().map(|s| s["note"].as_str().unwrap()).collect();
    assert!(notes.contains(&"the card checks the issuer's ARPC: valid"), "{notes:?}");
    assert!(notes.contains(&"0420 reversal advice delivered; hold released"), "{notes:?}");
    assert_eq!(value["ledgers_balanced"], true);
    // At the counter: sign-on, parameters, chip sale, tap sale, its void — all approved by the
    // acquirer host and the network — then a balanced settlement; the chip sale's slip printed.
    let terminal = &value["terminal"];
    let codes: Vec<&str> =
        terminal["steps"].as_array().unwrap().iter().map(|s| s["response_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["00", "00", "00", "00", "00"], "{terminal}");
    let settlement = &terminal["settlement"];
    assert_eq!(
        (&settlement["balanced"], &settlement["debit_minor"], &settlement["credit_minor"]),
        (&true.into(), &6_360.into(), &1_800.into())
    );
    assert_eq!(terminal["card_available_minor"], 80_000 - 4_560);
    let slip = terminal["slip"].as_str().unwrap();
    assert!(slip.contains("持卡人存根") && slip.contains("/I") && slip.contains("RMB 45.60"), "{slip}");
    // No full card number anywhere in what the demo prints.
    let text = String::from_utf8_lossy(&output.stdout);
    for step in value["steps"].as_array().unwrap() {
        assert!(step["card"].as_str().unwrap().contains("******"));
    }
    assert!(!text.chars().collect::<Vec<_>>().windows(16).any(|w| w.iter().all(char::is_ascii_digit)));
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn a_user_spec_file_can_be_used() {
    let directory = std::env::temp_dir().join(format!("cardnet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("mine.json");
    let spec = r#"{"name":"mine","mti":"ascii","bitmap":{"encoding":"hex","fields_max":64},
        "fields":{"3":{"name":"Processing code","type":"n","len":6},"11":{"name":"STAN","type":"n","len":6}}}"#;
    std::fs::write(&path, spec).unwrap();
    let path_text = path.to_str().unwrap();
    let encoded = cardnet(
        &["iso8583", "encode", "--spec", path_text, r#"{"mti":"0800","fields":{"3":"990000","11":"000001"}}"#],
        None,
    );
    assert!(encoded.status.success(), "{}", stderr(&encoded));
    let hex = stdout(&encoded);
    assert_eq!(hex.trim(), iso8583::hex::encode(b"08002020000000000000990000000001"));
    let decoded = cardnet(&["iso8583", "decode", "--spec", path_text, "--json", hex.trim()], None);
    let value: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value["fields"]["11"], "000001");
    std::fs::remove_dir_all(&directory).unwrap();
}

/// `pos init` injects the TMK from its components and writes the terminal's folder; `pos run
/// --terminal ID` finds it there; wrong input exits 2 naming what was wrong.
#[test]
fn pos_init_installs_a_terminal_that_pos_run_finds_by_id() {
    let dir = std::env::temp_dir().join(format!("cardnet-cli-pos-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let (c1, c2) = ("0123456789ABCDEFFEDCBA9876543210", "1111111111111111AAAAAAAAAAAAAAAA");
    let components = format!("{c1},{c2}");
    let init = |terminal: &str, components: &str| {
        cardnet(
            &[
                "pos",
                "init",
                "--dir",
                dir_arg,
                "--terminal",
                terminal,
                "--merchant",
                "898440158120001",
                "--host",
                "127.0.0.1:1",
                "--tmk-components",
                components,
                "--json",
            ],
            None,
        )
    };
    let output = init("POS00077", &components);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut tmk = iso8583::hex::decode(c1).unwrap();
    for (byte, other) in tmk.iter_mut().zip(iso8583::hex::decode(c2).unwrap()) {
        *byte ^= other;
    }
    let kcv = iso8583::hex::encode(&hsm::kcv::kcv_tdes(&tmk).unwrap()[..3]);
    assert_eq!(value["tmk_kcv"], kcv.as_str());
    assert!(dir.join("POS00077/terminal.toml").exists() && dir.join("POS00077/tmk.hex").exists());

    let again = init("POS00077", &components);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("installed there already"), "{}", stderr(&again));
    let bad = init("POS00078", "0123,4567");
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("TMK component"), "{}", stderr(&bad));

    // Found by id; nothing listens on the --host given, so the sign-on fails as unreachable
    // (exit 1), after the power-on self-check passed.
    let run = cardnet(
        &[
            "pos",
            "run",
            "--dir",
            dir_arg,
            "--terminal",
            "POS00077",
            "--host",
            "127.0.0.1:9",
            "--password",
            "0000",
            "sign-on",
        ],
        None,
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("unreachable") && stderr(&run).contains("127.0.0.1:9"), "{}", stderr(&run));
    let missing = cardnet(&["pos", "run", "--dir", dir_arg, "--terminal", "POS00079", "sign-on"], None);
    assert_eq!(missing.status.code(), Some(2));
    // The cashier's screen without a terminal (stdin and stdout are pipes here): a clear error,
    // nothing written to stdout (no screen set up or put back).
    let screen = cardnet(&["pos", "--dir", dir_arg, "--terminal", "POS00077", "--password", "0000"], None);
    assert!(!screen.status.success());
    assert!(stderr(&screen).contains("needs a terminal"), "{}", stderr(&screen));
    assert!(screen.stdout.is_empty(), "{:?}", stdout(&screen));

    // Operators (local, no host): the supervisor adds cashier 02, who can then log in; a wrong
    // supervisor password changes nothing.
    let pos = |args: &[&str]| {
        let mut all = vec!["pos", "run", "--dir", dir_arg, "--terminal", "POS00077", "--json"];
        all.extend_from_slice(args);
        cardnet(&all, None)
    };
    let set = ["operator", "set", "--number", "02", "--new-password", "2222"];
    let refused = pos(&[&["--supervisor-password", "654321"][..], &set].concat());
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let added = pos(&[&["--supervisor-password", "123456"][..], &set].concat());
    assert!(added.status.success(), "{}", stderr(&added));
    let listed = pos(&["--operator", "02", "--password", "2222", "operator", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let value: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let numbers: Vec<&str> =
        value["operators"].as_array().unwrap().iter().map(|o| o["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["00", "01", "02"]);
    assert_eq!(value["operators"][0]["role"], "supervisor");
    let wrong = pos(&["--operator", "02", "--password", "9999", "operator", "list"]);
    assert_eq!(wrong.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A reader that closes the pipe early (`cardnet … | head`) ends the command quietly: exit 0,
/// no panic message.
#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["iso8583", "spec", "cup-pos"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the command writes (it reads its spec first).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
