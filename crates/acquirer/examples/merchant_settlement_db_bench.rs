//! Merchant settlement through the database, the ledger and the files: `cargo run --release -p
//! cardnet-acquirer --example merchant_settlement_db_bench -- [MERCHANTS] [TRANSACTIONS]`
//! (default 10,000 merchants, 200,000 transactions) on SQLite files in a temporary folder.
//! Journal rows are inserted directly (approved purchases, a third by credit card); plans are
//! synthetic (no registry). Prints one JSON object with the settlement's wall time.

use std::sync::Arc;

use acquirer::{Acquirer, AcquirerLedger, MerchantPlan, SettleOptions, SettlementConfig};

const DAY_MS: u64 = 1_772_409_600_000; // 2026-03-02T00:00:00Z

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.replace('_', "").parse::<u64>());
    let merchants = args.next().and_then(Result::ok).unwrap_or(10_000).max(1);
    let transactions = args.next().and_then(Result::ok).unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("cardnet-msettle-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hsm = Arc::new(hsm::SoftHsm::generate()?);
    let db_url = format!("sqlite:{}", dir.join("acquirer.db").display());
    let config = acquirer::dev::config(hsm.as_ref(), &db_url, &dir.join("lmk.hex"))?;
    let db = sqlstore::Database::open(&db_url)?;
    let directory = Arc::new(acquirer::MemoryDirectory::new());
    let acquirer = Acquirer::with_database(&config, hsm, db.clone(), directory)?;
    let inserting = std::time::Instant::now();
    db.transaction(|tx| {
        for id in 1..=transactions {
            let merchant = format!("8984401{:08}", id % merchants);
            let kind = if id % 3 == 0 { "credit" } else { "debit" };
            tx.execute(
                "INSERT INTO acquirer_transactions (id, terminal_id, merchant_id, batch_no, trace, terminal_mti, kind, \
                 amount_minor, currency, card_org, status, sent, voided, completed, refunded_minor, reversed, \
                 settlement_date, received_ms, card_kind) VALUES ($1, 'T0000001', $2, 1, $3, '0200', 'purchase', $4, \
                 '156', 'CUP', 'approved', 1, 0, 0, 0, 0, '0302', $5, $6)",
                &[
                    sqlstore::Value::from_u64(id)?,
                    merchant.into(),
                    format!("{id:06}").into(),
                    sqlstore::Value::from_u64(100 + id * 7_919 % 500_000)?,
                    sqlstore::Value::from_u64(DAY_MS + id % 80_000_000)?,
                    kind.into(),
                ],
            )?;
        }
        Ok(())
    })?;
    let insert_ms = inserting.elapsed().as_millis();
    let plan = merchants::FeePlan {
        debit: merchants::DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
        credit: merchants::DiscountRate { rate_bp: 60, cap_minor: None },
    };
    let plans = move |ids: &[String]| -> acquirer::error::Result<Vec<MerchantPlan>> {
        Ok(ids
            .iter()
            .map(|id| MerchantPlan {
                merchant_id: id.clone(),
                name: format!("Store {id}"),
                fee_plan: plan,
                cycle: merchants::SettlementCycle::T1,
                account: merchants::SettlementAccount {
                    bank_code: "102290000001".into(),
                    account_no: format!("6222{id}"),
                },
            })
            .collect())
    };
    let ledger =
        AcquirerLedger::open(&format!("sqlite:{}", dir.join("ledger.db").display()), Arc::new(clock::SystemClock))?;
    let options = SettleOptions {
        date: acquirer::BusinessDate::parse("2026-03-02")?,
        cycle: None,
        clearing: None,
        output_dir: Some(dir.join("settlement")),
        now_ms: DAY_MS + 86_400_000,
    };
    let settling = std::time::Instant::now();
    let run = acquirer.settle_merchants(&options, &plans, &ledger, &SettlementConfig::default())?;
    let settle_ms = settling.elapsed().as_millis();
    let rerun = std::time::Instant::now();
    let again = acquirer.settle_merchants(&options, &plans, &ledger, &SettlementConfig::default())?;
    let rerun_ms = rerun.elapsed().as_millis();
    // The rerun's two parts: resubmitting the ledger postings, and rewriting the files.
    let reposting = std::time::Instant::now();
    acquirer::settlement_outputs::post_payouts(&ledger, &run)?;
    let repost_ms = reposting.elapsed().as_millis();
    println!(
        "{{\"merchants\": {merchants}, \"transactions\": {transactions}, \"payouts\": {}, \"files\": {}, \
         \"transfers\": {}, \"insert_ms\": {insert_ms}, \"settle_ms\": {settle_ms}, \"rerun_ms\": {rerun_ms}, \"repost_ms\": {repost_ms}, \
         \"rerun_already_settled\": {}}}",
        run.payouts.len(),
        run.files.len(),
        run.transfers_made,
        again.already_settled
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
