//! The core suite on PostgreSQL: one schema per scenario, dropped afterwards. Skipped (loudly)
//! unless CARDNET_TEST_PG names a server, e.g. `postgres://postgres@127.0.0.1:5432/test`.

mod common;

use sqlstore::Database;

fn run(url: &str, name: &str, scenario: fn(Database)) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let schema = format!("merchants_{name}_{}_{nanos}", std::process::id());
    let db = Database::connect_postgres(url, &schema).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(db)));
    sqlstore::drop_postgres_schema(url, &schema).unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn core_suite_on_postgres() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set");
        return;
    };
    for (name, scenario) in common::SUITE {
        run(&url, name, scenario);
    }
}
