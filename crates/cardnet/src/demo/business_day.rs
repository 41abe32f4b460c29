//! `cardnet demo` (without `--tour`): a compressed business day on the whole network
//! (`crate::day`) in a folder that is removed afterwards unless `--dir` keeps it. Ctrl-C or
//! SIGTERM stops the parties and removes a temporary folder.

use crate::cli_error::CliError;
use crate::day::DayOptions;
use crate::output::outln;

use super::{DemoArgs, DemoFolder};

/// The day's size by default and with `--fast` (under a minute on two cores, release build).
const TERMINALS_DEFAULT: usize = 50;
const TRANSACTIONS_DEFAULT: usize = 80;
const TERMINALS_FAST: usize = 16;
const TRANSACTIONS_FAST: usize = 30;

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let (terminals, steps) =
        if args.fast { (TERMINALS_FAST, TRANSACTIONS_FAST) } else { (TERMINALS_DEFAULT, TRANSACTIONS_DEFAULT) };
    let folder = DemoFolder::prepare(args.dir.clone(), args.force)?;
    let options = DayOptions {
        dir: folder.path.clone(),
        terminals: args.terminals.unwrap_or(terminals),
        steps: args.transactions.unwrap_or(steps),
        faults: !args.no_faults,
        seed: args.seed,
        quiet: args.json,
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let result = crate::day::run(&options);
        let _ = done_tx.send(());
        result
    });
    let interrupted = wait_or_interrupt(&done_rx)?;
    if let Some(status) = interrupted {
        crate::parties::kill_all_running();
        eprintln!("cardnet demo: interrupted; {}", folder.interrupted());
        std::process::exit(i32::from(status));
    }
    let summary = worker.join().map_err(|_| CliError::Failure("demo: the day stopped unexpectedly".into()))??;
    if args.json {
        return crate::output::json(&summary);
    }
    crate::day::print_text(&summary)?;
    if !args.exit {
        serve_the_console(&folder)?;
    }
    if folder.is_temporary() {
        outln!(
            "\n{} is removed now; `--dir DIR` keeps the network (`cardnet up --dir DIR` runs it again).",
            folder.path.display()
        );
    } else {
        outln!(
            "\nThe network is in {}: `cardnet up --dir {}` runs it again.",
            folder.path.display(),
            folder.path.display()
        );
    }
    Ok(())
}

/// Until the day is done (`None`), or Ctrl-C / SIGTERM (the exit status for it).
fn wait_or_interrupt(done: &std::sync::mpsc::Receiver<()>) -> Result<Option<u8>, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("demo: runtime: {e}")))?;
    Ok(runtime.block_on(async {
        let interrupt = super::folder::interrupt();
        tokio::pin!(interrupt);
        loop {
            tokio::select! {
                status = &mut interrupt => return Some(status),
                () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                    if done.try_recv().is_ok() {
                        return None;
                    }
                }
            }
        }
    }))
}

/// The network up again over the settled day, with the console, until Ctrl-C or SIGTERM.
fn serve_the_console(folder: &DemoFolder) -> Result<(), CliError> {
    let (mut parties, console, users) = crate::day::serve(&folder.path)?;
    outln!("\nThe console: {console}   (Ctrl-C stops the network and the console)");
    for user in users.as_array().into_iter().flatten().take(3) {
        outln!(
            "  log in as {} / {}",
            user["name"].as_str().unwrap_or_default(),
            user["password"].as_str().unwrap_or_default()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("demo: runtime: {e}")))?;
    runtime.block_on(super::folder::interrupt());
    parties.stop();
    Ok(())
}
