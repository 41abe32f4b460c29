//! Every command and every option of the CLI has a one-line help (the project's rule for a CLI a
//! person meets first through `--help`).
//!
//! The CLI type lives in the binary, out of a test's reach, so the test walks the command tree
//! the way a user does: `cardnet [PATH] --help` for every subcommand, recursively, reading the
//! `Commands:`, `Arguments:` and `Options:` sections clap prints. An entry with no text after its
//! name (on its line, or indented on the next when clap puts help below) has no help.

mod common;

use std::collections::VecDeque;

use common::cardnet;

/// Placeholder phrases that are not help (the demo's once said "for now: show what is available").
const NOT_HELP: [&str; 3] = ["for now", "todo", "tbd"];

/// One entry of a help section: its name and its help text (empty when it has none).
struct Entry {
    section: String,
    name: String,
    help: String,
}

/// A command or argument at two spaces, or an option (`-h, --help` at two, `--long` alone at
/// six); not a help text's own lines, nor the `- value: meaning` list of an option's values.
fn is_entry(line: &str) -> bool {
    let indent = line.len() - line.trim_start().len();
    let body = line.trim_start();
    let option =
        body.starts_with("--") || (body.starts_with('-') && body[1..].starts_with(|c: char| c.is_ascii_alphanumeric()));
    option || (indent == 2 && !body.starts_with('-'))
}

/// The entries of one `--help` page.
fn entries(page: &str) -> Vec<Entry> {
    let mut found = Vec::new();
    let mut section: Option<String> = None;
    let lines: Vec<&str> = page.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = Some(line.trim_end_matches(':').to_owned());
            continue;
        }
        let Some(section) = &section else { continue };
        // An entry is a command or argument at two spaces, or an option (`-h, --help` at two,
        // `--long` alone at six); deeper lines continue a help text.
        if !is_entry(line) {
            continue;
        }
        let body = line.trim_start();
        let (name, help) = match body.find("  ") {
            Some(at) => (body[..at].to_owned(), body[at..].trim().to_owned()),
            None => (body.to_owned(), String::new()),
        };
        // clap's next-line layout: the help is on the following, more indented line.
        let next = lines.get(index + 1).copied().unwrap_or("");
        let help = if help.is_empty() && !next.trim().is_empty() && !is_entry(next) && !next.ends_with(':') {
            next.trim().to_owned()
        } else {
            help
        };
        // `[default: …]`, `[possible values: …]` and a value list are clap's, not help.
        let help = if help.starts_with('[') || help.starts_with("Possible values") { String::new() } else { help };
        found.push(Entry { section: section.clone(), name, help });
    }
    found
}

#[test]
fn every_command_and_option_has_a_one_line_help() {
    let mut missing = Vec::new();
    let mut queue: VecDeque<Vec<String>> = VecDeque::from([vec![]]);
    let mut pages = 0;
    while let Some(path) = queue.pop_front() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let output = cardnet(&args);
        assert!(output.status.success(), "cardnet {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        let page = String::from_utf8(output.stdout).unwrap();
        pages += 1;
        // The page's first line is the command's own description.
        let about = page.lines().next().unwrap_or("").trim();
        if about.is_empty() || about.starts_with("Usage:") {
            missing.push(format!("cardnet {}: no description", path.join(" ")));
        }
        for entry in entries(&page) {
            let lower = entry.help.to_lowercase();
            if entry.help.is_empty() || NOT_HELP.iter().any(|phrase| lower.contains(phrase)) {
                missing.push(format!(
                    "cardnet {} — {} `{}`: {:?}",
                    path.join(" "),
                    entry.section,
                    entry.name,
                    entry.help
                ));
            }
            if entry.section == "Commands" && entry.name != "help" {
                queue.push_back([path.clone(), vec![entry.name.clone()]].concat());
            }
        }
    }
    assert!(pages > 50, "the walk found only {pages} help pages: is the parser right?");
    assert!(missing.is_empty(), "{} commands or options without help:\n{}", missing.len(), missing.join("\n"));
}

/// `merchant --help` names every merchant command, not a list that has fallen behind.
#[test]
fn merchant_help_names_every_merchant_command() {
    let page = String::from_utf8(cardnet(&["--help"]).stdout).unwrap();
    let line =
        page.lines().find(|line| line.trim_start().starts_with("merchant ")).expect("a merchant line").to_owned();
    let merchant = String::from_utf8(cardnet(&["merchant", "--help"]).stdout).unwrap();
    for entry in entries(&merchant).iter().filter(|e| e.section == "Commands" && e.name != "help") {
        assert!(line.contains(&entry.name), "`cardnet --help` says {line:?}, without {}", entry.name);
    }
}
