//! `cardnet demo`: the whole network in one process, over real TCP on loopback — a switch and
//! two issuer banks running their production servers on SQLite files, an acquirer link and
//! simulated cards — through a day of transactions, declines and failures; then the acquirer
//! host with a merchant and POS terminal POS00001 (the terminal core and its TCP shell): sign-on,
//! a chip sale with PIN and its slip, a tap sale voided by the supervisor, and the terminal's
//! settlement with the acquirer.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use network::TransactionKind;
use network::codes;
use network::request::{CardInput, EntryMode};
use provision::card::SimCard;
use provision::layout::{ISSUER_A, ISSUER_B};
use provision::link::{AcquirerLink, Exchange};
use provision::local::{LocalIssuer, LocalNetwork, NetworkOptions, blocking};
use serde_json::{Value, json};

use crate::cli_error::CliError;
use crate::output::outln;

mod folder;
use folder::DemoFolder;

mod business_day;

#[derive(Args)]
pub struct DemoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Keep the databases and every party's configuration in DIR (default: a temp folder, removed).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Replace what an earlier run left in --dir (without it, a folder that holds anything is refused).
    #[arg(long, requires = "dir")]
    force: bool,
    /// The guided tour instead of the business day: one scripted case after another in one process.
    #[arg(long)]
    tour: bool,
    /// A short day (16 terminals, 30 transactions each): under a minute.
    #[arg(long, conflicts_with = "tour")]
    fast: bool,
    /// Virtual terminals working at once (default 50; 16 with --fast).
    #[arg(long, value_name = "N", conflicts_with = "tour")]
    terminals: Option<usize>,
    /// Transactions per terminal (default 80; 30 with --fast).
    #[arg(long, value_name = "N", conflicts_with = "tour")]
    transactions: Option<usize>,
    /// No issuer stops answering during the day.
    #[arg(long, conflicts_with = "tour")]
    no_faults: bool,
    /// End after the summary instead of serving the console over the day until Ctrl-C (--json always ends).
    #[arg(long, conflicts_with = "tour")]
    exit: bool,
    /// The seed of the day's mix (the same seed, the same transactions asked for).
    #[arg(long, default_value_t = 2026, conflicts_with = "tour")]
    seed: u64,
}

/// The switch's wait for an issuer in the demo (the "slow issuer" step waits twice this).
const ISSUER_TIMEOUT_MS: u64 = 1_500;
/// How long the demo waits for an advice to be delivered.
const DELIVERY_WAIT_MS: u64 = 15_000;

fn failure(what: &str) -> impl Fn(&dyn std::fmt::Display) -> CliError + '_ {
    move |e| CliError::Failure(format!("demo: {what}: {e}"))
}

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    if !args.tour {
        return business_day::run(args);
    }
    let folder = DemoFolder::prepare(args.dir, args.force)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failure("runtime")(&e))?;
    let dir = folder.path.clone();
    let temporary = folder.is_temporary();
    let outcome = runtime.block_on(async {
        tokio::select! {
            // Polled first, so the signal handlers are in place before the folder is made.
            biased;
            status = folder::interrupt() => Err(status),
            result = demo(dir, args.json, temporary) => Ok(result),
        }
    });
    // The parties' tasks hold the databases open: stop them before the folder goes.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        // On success or error the folder is dropped (a temporary one removed) on return.
        Ok(result) => end_of_day(&folder.path, temporary, result?),
        Err(status) => {
            eprintln!("cardnet demo: interrupted; {}", folder.interrupted());
            std::process::exit(i32::from(status));
        }
    }
}

/// The network stopped, its day goes through end of day (closed early: the demo's day is over
/// before its cut-off): what each bank owes, what the merchant receives, reconciliation.
fn end_of_day(dir: &std::path::Path, temporary: bool, day: Option<Value>) -> Result<(), CliError> {
    let eod = crate::eod::run_day(dir, today(), true)?;
    match day {
        Some(mut value) => {
            value["end_of_day"] = eod;
            crate::output::json(&value)
        }
        None => {
            outln!("\nEnd of day (cutoff, clearing, settlement, issuer posting, merchant settlement, reconciliation):");
            crate::eod::print_text(&eod)?;
            closing_lines(dir, temporary)
        }
    }
}

struct Step {
    label: &'static str,
    card: String,
    amount_minor: u64,
    code: String,
    auth_code: Option<String>,
    note: String,
    latency_ms: u128,
}

struct Demo {
    net: LocalNetwork,
    link: AcquirerLink,
    steps: Vec<Step>,
    json: bool,
}

/// The acquirer host and a POS terminal on the network: the path a purchase takes from the
/// counter. The summary for the JSON object; the text form is printed as it goes.
async fn at_the_terminal(demo: &Demo, dir: &std::path::Path) -> Result<Value, CliError> {
    // The TMK generated in the acquirer's HSM, its components injected into the terminal.
    let tmk = provision::acquirer_host::generated_tmk();
    let host = provision::acquirer_host::start(&demo.net, ISSUER_TIMEOUT_MS * 2, tmk)
        .await
        .map_err(|e| failure("start the acquirer host")(&e))?;
    let mut config = host
        .terminal_config(dir, &host.server.local_addr().to_string())
        .map_err(|e| failure("the terminal's configuration")(&e))?;
    // Every party's configuration beside its database, so the CLI can look at them afterwards.
    folder::write_config(&dir.join("acquirer.toml"), &host.config.to_toml())?;
    let terminal_toml = dir.join("terminal").join("terminal.toml");
    folder::write_config(&terminal_toml, &folder::terminal_toml(&config))?;
    // Powered on from its file, so the terminal rewrites the seeds there as keyed hashes.
    config.source = Some(terminal_toml);
    let mut terminal = terminal::Terminal::open(config).map_err(|e| failure("power on the terminal")(&e))?;
    terminal.log_in("01", &hsm::Secret::new(b"1111")).map_err(|e| failure("log in")(&e))?;
    let supervisor = hsm::Secret::new(b"123456");
    let mut pos = terminal::Pos::new(terminal);
    let dave =
        demo.net.issue(ISSUER_A, issuer::dev::DEBIT_PRODUCT, Some(80_000)).map_err(|e| failure("issue a card")(&e))?;
    if !demo.json {
        outln!(
            "\nAt the counter: merchant {} ({}), terminal {} at the acquirer {}; card {} (debit, 800.00)",
            host.merchant_id,
            provision::acquirer_host::MERCHANT_NAME,
            host.terminal_id,
            host.server.local_addr(),
            dave.pan.masked()
        );
        outln!("  {:<34} {:<19} {:>10}  {:<2} {:<28} {:>6}", "terminal", "card", "amount", "rc", "meaning", "trace");
    }
    let mut steps = Vec::new();
    let terminal_error = |what: &'static str| move |e: terminal::TerminalError| failure(what)(&e);
    let signed_on = pos.sign_on().await.map_err(terminal_error("sign on"))?;
    let parameters = pos.download_parameters().await.map_err(terminal_error("parameter download"))?;
    steps.push(terminal_step(demo.json, "sign-on (keys under the TMK)", &signed_on)?);
    steps.push(terminal_step(demo.json, "parameter download", &parameters)?);

    let pin = Some(hsm::Secret::new(dave.pin.expose()));
    let sale = |entry, amount_minor, pin: Option<hsm::Secret>| -> Result<terminal::TxnRequest, CliError> {
        let card = terminal::Card::read(&dave.card, entry).map_err(terminal_error("read the card"))?;
        Ok(terminal::TxnRequest {
            kind: Some(terminal::Kind::Purchase),
            card: Some(card),
            amount_minor: Some(amount_minor),
            pin,
            ..terminal::TxnRequest::default()
        })
    };
    let chip =
        pos.transact(&sale(terminal::EntryMode::Chip, 4_560, pin.clone())?).await.map_err(terminal_error("sale"))?;
    steps.push(terminal_step(demo.json, "sale, chip inserted + PIN", &chip)?);
    let slip = chip.receipt.as_ref().map(|receipt| {
        let cardholder = receipt::Receipt { copy: receipt::ReceiptCopy::Cardholder, ..receipt.clone() };
        receipt::render(&cardholder, receipt::Lang::Zh)
    });
    if let (Some(slip), false) = (&slip, demo.json) {
        outln!("\n  the cardholder's slip (签购单):");
        for line in slip.lines() {
            outln!("    | {line}");
        }
        outln!();
    }
    let tap =
        pos.transact(&sale(terminal::EntryMode::Contactless, 1_800, pin)?).await.map_err(terminal_error("sale"))?;
    steps.push(terminal_step(demo.json, "sale, contactless", &tap)?);
    let void = terminal::TxnRequest {
        kind: Some(terminal::Kind::Void),
        original_trace: Some(tap.trace.clone()),
        supervisor_password: Some(hsm::Secret::new(supervisor.expose())),
        ..terminal::TxnRequest::default()
    };
    let voided = pos.transact(&void).await.map_err(terminal_error("void"))?;
    steps.push(terminal_step(demo.json, "void of the contactless sale", &voided)?);
    let settled = pos.settle(&supervisor).await.map_err(terminal_error("settlement"))?;
    let balanced = settled.domestic_balanced && settled.foreign_balanced;
    if !demo.json {
        outln!(
            "  {:<34} debits {} in {}, credits {} in {}: {} with the acquirer; batch {:06} closed, next {:06}",
            "settlement",
            money(settled.totals.domestic_debit_minor as i64),
            settled.totals.domestic_debit_count,
            money(settled.totals.domestic_credit_minor as i64),
            settled.totals.domestic_credit_count,
            if balanced { "balanced" } else { "NOT balanced" },
            settled.batch_no,
            settled.next_batch_no
        );
    }
    host.server.shutdown().await;
    let available_minor = demo.available(ISSUER_A, &dave)?;
    if !demo.json {
        outln!("  the card's available balance at bank A: {} (800.00 − 45.60)", money(available_minor));
    }
    Ok(json!({
        "card_available_minor": available_minor,
        "terminal_id": host.terminal_id,
        "merchant_id": host.merchant_id,
        "steps": steps,
        "slip": slip,
        "settlement": {
            "balanced": balanced,
            "debit_minor": settled.totals.domestic_debit_minor,
            "debit_count": settled.totals.domestic_debit_count,
            "credit_minor": settled.totals.domestic_credit_minor,
            "credit_count": settled.totals.domestic_credit_count,
            "batch_no": settled.batch_no,
            "next_batch_no": settled.next_batch_no,
        },
    }))
}

/// One terminal answer: printed as a line of the table (text) and kept for the JSON object.
fn terminal_step(json: bool, label: &str, outcome: &terminal::Outcome) -> Result<Value, CliError> {
    if !json {
        outln!(
            "  {:<34} {:<19} {:>10}  {:<2} {:<28} {:>6}",
            label,
            outcome.pan_masked.as_deref().unwrap_or(""),
            outcome.amount_minor.map(|a| money(a as i64)).unwrap_or_default(),
            outcome.code_text(),
            outcome.message,
            outcome.trace
        );
    }
    Ok(json!({
        "transaction": label, "card": outcome.pan_masked, "amount_minor": outcome.amount_minor,
        "response_code": outcome.code_text(), "message": outcome.message, "trace": outcome.trace,
        "rrn": outcome.rrn, "auth_code": outcome.auth_code, "approved": outcome.approved,
    }))
}

fn pin_of(card: &SimCard) -> String {
    String::from_utf8_lossy(card.pin.expose()).into_owned()
}

fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
}

impl Demo {
    fn present(
        &self,
        card: &mut SimCard,
        entry: EntryMode,
        pin: Option<&str>,
        amount: u64,
    ) -> Result<CardInput, CliError> {
        card.present(entry, &provision::card::purchase(amount), pin, self.link.hsm(), self.link.zpk())
            .map_err(|e| failure("card")(&e))
    }

    /// Send one transaction and record it as a step.
    async fn step(
        &mut self,
        label: &'static str,
        kind: TransactionKind,
        input: &CardInput,
        amount_minor: u64,
        original: Option<&Exchange>,
    ) -> Result<Exchange, CliError> {
        let original_data = original.map(Exchange::original);
        let started = Instant::now();
        let exchange = self
            .link
            .transact(kind, input, amount_minor, original_data.as_ref())
            .await
            .map_err(|e| failure(label)(&e))?;
        self.record(label, &exchange, amount_minor, started, String::new())?;
        Ok(exchange)
    }

    fn record(
        &mut self,
        label: &'static str,
        exchange: &Exchange,
        amount_minor: u64,
        started: Instant,
        note: String,
    ) -> Result<(), CliError> {
        let pan = exchange.request.get_str(2).unwrap_or("");
        let step = Step {
            label,
            card: iso8583::mask::mask_pan(pan),
            amount_minor,
            code: exchange.code().map(|code| code.to_string()).unwrap_or_default(),
            auth_code: exchange.response.get_str(38).map(str::to_owned),
            note,
            latency_ms: started.elapsed().as_millis(),
        };
        if !self.json {
            outln!(
                "  {:<34} {:<19} {:>10}  {:<2} {:<28} {:>5} ms{}",
                step.label,
                step.card,
                money(step.amount_minor as i64),
                step.code,
                codes::meaning(&step.code),
                step.latency_ms,
                if step.note.is_empty() { String::new() } else { format!("  ({})", step.note) }
            );
        }
        self.steps.push(step);
        Ok(())
    }

    fn note_last(&mut self, note: String) -> Result<(), CliError> {
        if !self.json {
            outln!("  {:<34} {note}", "");
        }
        if let Some(last) = self.steps.last_mut() {
            last.note = note;
        }
        Ok(())
    }

    /// Issuer bank `index` of the network.
    fn bank(&self, index: usize) -> Result<&LocalIssuer, CliError> {
        self.net.bank(index).map_err(|e| failure("issuer")(&e))
    }

    fn available(&self, issuer: usize, card: &SimCard) -> Result<i64, CliError> {
        let issuer = &*self.bank(issuer)?.issuer;
        blocking(|| issuer.balance(&issuer::CardRef::Id(card.card_id)))
            .map(|b| b.available_minor)
            .map_err(|e| failure("balance")(&e))
    }

    async fn wait_delivered(&self, issuer: usize) -> Result<bool, CliError> {
        let server = self.net.switch().ok_or_else(|| CliError::Failure("demo: the switch stopped".into()))?;
        let journal = server.switch().journal().clone();
        let id = self.bank(issuer)?.id.clone();
        let deadline = Instant::now() + std::time::Duration::from_millis(DELIVERY_WAIT_MS);
        while Instant::now() < deadline {
            let counts = blocking(|| journal.advice_counts(&id)).map_err(|e| failure("journal")(&e))?;
            if counts.pending == 0 {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(false)
    }
}

/// The switch and both issuers up and signed on, the acquirer's link connected; what is where
/// printed (text).
async fn start(dir: &std::path::Path, json: bool, temporary: bool) -> Result<Demo, CliError> {
    let options = NetworkOptions { dir: dir.to_path_buf(), issuer_timeout_ms: ISSUER_TIMEOUT_MS, postgres_url: None };
    let net = LocalNetwork::start(options).await.map_err(|e| failure("start the network")(&e))?;
    for index in [ISSUER_A, ISSUER_B] {
        if !net.wait_issuer_ready(index, 10_000).await {
            return Err(CliError::Failure(format!("demo: the switch could not sign on to issuer {index}")));
        }
    }
    let link = net.link("DEMO0001").await.map_err(|e| failure("connect the acquirer")(&e))?;
    let switch_address = net.switch_address().map_err(|e| failure("switch")(&e))?;
    if !json {
        let kept = if temporary { " (removed at the end; --dir keeps them)" } else { "" };
        outln!("cardnet demo: a switch and two issuer banks on loopback TCP, databases in {}{kept}", dir.display());
        outln!("  switch {} at {switch_address}", provision::layout::SWITCH_ID);
        for issuer in &net.issuers {
            outln!("  issuer {} (BIN {}) at {}", issuer.id, issuer.bin, issuer.address);
        }
        outln!("  acquirer {} (terminal DEMO0001)\n", provision::layout::ACQUIRER_ID);
    }
    Ok(Demo { net, link, steps: Vec::new(), json })
}

/// The day; in JSON mode the object to print (end of day adds to it), in text mode `None`.
async fn demo(dir: PathBuf, json: bool, temporary: bool) -> Result<Option<Value>, CliError> {
    let mut demo = start(&dir, json, temporary).await?;

    let issue = |demo: &Demo, issuer: usize, product: &str, balance: Option<u64>| {
        demo.net.issue(issuer, product, balance).map_err(|e| failure("issue a card")(&e))
    };
    let mut alice = issue(&demo, ISSUER_A, issuer::dev::DEBIT_PRODUCT, Some(100_000))?;
    let mut bob = issue(&demo, ISSUER_A, issuer::dev::CREDIT_PRODUCT, None)?;
    let mut carol = issue(&demo, ISSUER_B, issuer::dev::DEBIT_PRODUCT, Some(50_000))?;
    if !json {
        outln!(
            "Cards issued: {} (debit, 1000.00), {} (credit), {} (debit, 500.00 at bank B)\n",
            alice.pan.masked(),
            bob.pan.masked(),
            carol.pan.masked()
        );
        outln!("  {:<34} {:<19} {:>10}  rc meaning                      latency", "transaction", "card", "amount");
    }

    // Approvals, by every entry mode.
    let pin = pin_of(&alice);
    let input = demo.present(&mut alice, EntryMode::Swipe, Some(&pin), 12_800)?;
    let swipe = demo.step("purchase, stripe + PIN", TransactionKind::Purchase, &input, 12_800, None).await?;
    let input = demo.present(&mut alice, EntryMode::Chip, Some(&pin), 5_680)?;
    let chip = demo.step("purchase, chip + PIN", TransactionKind::Purchase, &input, 5_680, None).await?;
    if let Some(arpc) = chip.response.get_path("55.91").ok().flatten() {
        let accepted = alice.verify_arpc(arpc).map_err(|e| failure("ARPC")(&e))?;
        demo.note_last(format!("the card checks the issuer's ARPC: {}", if accepted { "valid" } else { "INVALID" }))?;
    }
    let carol_pin = pin_of(&carol);
    let input = demo.present(&mut carol, EntryMode::Contactless, Some(&carol_pin), 2_300)?;
    demo.step("purchase, contactless (bank B)", TransactionKind::Purchase, &input, 2_300, None).await?;
    let input = demo.present(&mut alice, EntryMode::Swipe, Some(&pin), 0)?;
    let balance = demo.step("balance inquiry", TransactionKind::BalanceInquiry, &input, 0, None).await?;
    let sets = balance.response.get_str(54).and_then(|t| network::balance::AdditionalAmount::parse_all(t).ok());
    let available = sets.unwrap_or_default().into_iter().find(|s| s.amount_type == network::balance::AVAILABLE_BALANCE);
    if let Some(set) = available {
        demo.note_last(format!("field 54: available {}", money(set.amount_minor)))?;
    }

    // Declines.
    let bob_pin = pin_of(&bob);
    let wrong = if bob_pin.starts_with('0') { "111111" } else { "000000" };
    let input = demo.present(&mut bob, EntryMode::Swipe, Some(wrong), 4_500)?;
    demo.step("purchase, wrong PIN", TransactionKind::Purchase, &input, 4_500, None).await?;
    let input = demo.present(&mut carol, EntryMode::Swipe, Some(&carol_pin), 400_000)?;
    demo.step("purchase, more than the balance", TransactionKind::Purchase, &input, 400_000, None).await?;
    let stranger = CardInput {
        entry: Some(EntryMode::Keyed),
        expiry_yymm: Some("3012".into()),
        ..CardInput::new(network::request::Pan::new("4111111111111111").map_err(|e| failure("a stranger's card")(&e))?)
    };
    demo.step("purchase, a BIN no member issues", TransactionKind::Purchase, &stranger, 1_000, None).await?;

    // The pre-authorization family, void, refund, reversal.
    let input = demo.present(&mut bob, EntryMode::Chip, Some(&bob_pin), 30_000)?;
    let preauth =
        demo.step("pre-authorization (hotel)", TransactionKind::PreAuthorization, &input, 30_000, None).await?;
    let input = demo.present(&mut bob, EntryMode::Keyed, None, 28_000)?;
    demo.step("completion, partial", TransactionKind::Completion, &input, 28_000, Some(&preauth)).await?;
    let input = demo.present(&mut alice, EntryMode::Swipe, None, 12_800)?;
    demo.step("void of the stripe purchase", TransactionKind::Void, &input, 12_800, Some(&swipe)).await?;
    let input = demo.present(&mut carol, EntryMode::Swipe, None, 1_000)?;
    demo.step("refund (bank B)", TransactionKind::Refund, &input, 1_000, None).await?;
    let started = Instant::now();
    let reversal = demo.link.reversal(&chip.request, None).map_err(|e| failure("reversal")(&e))?;
    let reversed = demo.link.send(reversal).await.map_err(|e| failure("reversal")(&e))?;
    demo.record("reversal of the chip purchase", &reversed, 5_680, started, String::new())?;

    // Failures: bank B unreachable (stand-in), bank A too slow (timeout and reversal).
    demo.bank(ISSUER_B)?.proxy.set_down(true);
    let input = demo.present(&mut carol, EntryMode::Swipe, None, 4_000)?;
    demo.step("bank B unreachable: stand-in", TransactionKind::Purchase, &input, 4_000, None).await?;
    demo.bank(ISSUER_B)?.proxy.set_down(false);
    let delivered = demo.wait_delivered(ISSUER_B).await?;
    demo.note_last(format!("bank B back: stand-in advice {}", if delivered { "delivered" } else { "still queued" }))?;

    let before = demo.available(ISSUER_A, &alice)?;
    demo.bank(ISSUER_A)?.proxy.set_response_delay_ms(ISSUER_TIMEOUT_MS * 2);
    let input = demo.present(&mut alice, EntryMode::Swipe, Some(&pin), 1_200)?;
    demo.step("bank A too slow: timeout", TransactionKind::Purchase, &input, 1_200, None).await?;
    demo.bank(ISSUER_A)?.proxy.set_response_delay_ms(0);
    let delivered = demo.wait_delivered(ISSUER_A).await?;
    let after = demo.available(ISSUER_A, &alice)?;
    demo.note_last(format!(
        "0420 reversal advice {}; hold {}",
        if delivered { "delivered" } else { "still queued" },
        if after == before { "released" } else { "NOT released" }
    ))?;

    let terminal = at_the_terminal(&demo, &dir).await?;

    let bank = |index: usize| demo.bank(index).map(|bank| bank.id.clone());
    let balances = vec![
        ("alice", bank(ISSUER_A)?, demo.available(ISSUER_A, &alice)?),
        ("bob", bank(ISSUER_A)?, demo.available(ISSUER_A, &bob)?),
        ("carol", bank(ISSUER_B)?, demo.available(ISSUER_B, &carol)?),
    ];
    for index in [ISSUER_A, ISSUER_B] {
        let issuer = &*demo.bank(index)?.issuer;
        blocking(|| issuer.check_ledger()).map_err(|e| failure("ledger invariants")(&e))?;
    }
    finish(demo, &dir, terminal, &balances).await
}

/// Every party's configuration written beside its database, the result printed (one JSON
/// object, or the text's last lines), the network stopped.
async fn finish(
    demo: Demo,
    dir: &std::path::Path,
    terminal: Value,
    balances: &[(&str, String, i64)],
) -> Result<Option<Value>, CliError> {
    let json = demo.json;
    let net = demo.net;
    // The configurations, so the databases can be looked at with the CLI afterwards.
    let mut configs = vec![];
    for issuer in &net.issuers {
        configs.push(folder::write_config(&dir.join(format!("issuer-{}.toml", issuer.id)), &issuer.config.to_toml())?);
    }
    configs.push(folder::write_config(&dir.join("switch.toml"), &net.switch_config.to_toml())?);
    // Written by `at_the_terminal`.
    configs.push(dir.join("acquirer.toml").display().to_string());
    configs.push(dir.join("terminal").join("terminal.toml").display().to_string());
    if json {
        let steps: Vec<Value> = demo
            .steps
            .iter()
            .map(|s| {
                json!({
                    "transaction": s.label, "card": s.card, "amount_minor": s.amount_minor, "currency": provision::layout::CURRENCY,
                    "response_code": s.code, "meaning": codes::meaning(&s.code), "auth_code": s.auth_code,
                    "note": s.note, "latency_ms": s.latency_ms as u64,
                })
            })
            .collect();
        let balances: Vec<Value> = balances
            .iter()
            .map(|(who, issuer, minor)| json!({"card": who, "issuer": issuer, "available_minor": minor}))
            .collect();
        let value = json!({"directory": dir.display().to_string(), "configs": configs, "steps": steps, "terminal": terminal, "available_balances": balances, "ledgers_balanced": true});
        net.shutdown().await;
        return Ok(Some(value));
    } else {
        outln!("\nAvailable balances afterwards (ledger invariants checked: debits = credits):");
        for (who, issuer, minor) in balances {
            outln!("  {who:<6} at {issuer}: {}", money(*minor));
        }
    }
    net.shutdown().await;
    Ok(None)
}

/// The text form's last lines, after end of day: where everything is, or that it is gone.
fn closing_lines(dir: &std::path::Path, temporary: bool) -> Result<(), CliError> {
    if temporary {
        outln!("\n{} is removed now; `--dir DIR` keeps the databases and every party's configuration.", dir.display());
        return Ok(());
    }
    outln!("\nEvery message is in the parties' journals; each party's configuration is in {}:", dir.display());
    let issuer = dir.join(format!("issuer-{}.toml", provision::layout::ISSUER_IDS[ISSUER_A]));
    outln!("  cardnet issuer card list --config {}", issuer.display());
    outln!("  cardnet merchant list --config {}", dir.join("acquirer.toml").display());
    let terminal = dir.join("terminal").join("terminal.toml");
    outln!("  cardnet pos run --terminal-config {} --password 1111 journal --batch 1", terminal.display());
    outln!("  cardnet recon --dir {} --date {}", dir.display(), today());
    Ok(())
}

pub fn today() -> clearing::BusinessDate {
    clearing::BusinessDate::of_utc_ms(clock::Clock::now_ms(&clock::SystemClock))
}
