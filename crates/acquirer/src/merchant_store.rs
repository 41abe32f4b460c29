//! The tables of merchant settlement (issue 13): each transaction's card kind and issuer, the
//! runs, the payouts they made, the items each payout settled (so an item is paid once, and a
//! later void gives back exactly the fee its original was charged), the network side posted per
//! date, and the funds-arrival notices with their delivery attempts.

/// Migration name: after `acquirer-v2` (crate::store).
pub(crate) const MIGRATION_V3: &str = "acquirer-v3-merchant-settlement";

pub(crate) const DDL_V3: &[&str] = &[
    // `debit` or `credit`, from the BIN table at the request (`[pos.card_kinds]`).
    "ALTER TABLE acquirer_transactions ADD COLUMN card_kind TEXT",
    // The issuer the switch routed to (field 100 of its answer): the statement's 发卡行.
    "ALTER TABLE acquirer_transactions ADD COLUMN issuer_id TEXT",
    "CREATE INDEX acquirer_transactions_settlement ON acquirer_transactions (settlement_date, status)",
    // One row per (business date, cycle): `final` is the day's last run, `HH:MM` a D0 cycle.
    "CREATE TABLE acquirer_settlement_runs (
        id BIGINT PRIMARY KEY,
        business_date TEXT NOT NULL,
        cycle TEXT NOT NULL,
        merchants BIGINT NOT NULL,
        items BIGINT NOT NULL,
        created_ms BIGINT NOT NULL
    )",
    "CREATE UNIQUE INDEX acquirer_settlement_runs_key ON acquirer_settlement_runs (business_date, cycle)",
    // One row per merchant and currency of a run: the statement's summary and the payout.
    "CREATE TABLE acquirer_payouts (
        id BIGINT PRIMARY KEY,
        run_id BIGINT NOT NULL,
        business_date TEXT NOT NULL,
        cycle TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        settlement_cycle TEXT NOT NULL,
        gross_minor BIGINT NOT NULL,
        voids_minor BIGINT NOT NULL,
        refunds_minor BIGINT NOT NULL,
        fee_minor BIGINT NOT NULL,
        adjustments_minor BIGINT NOT NULL,
        net_minor BIGINT NOT NULL,
        items BIGINT NOT NULL,
        payout_date TEXT NOT NULL,
        bank_code TEXT NOT NULL,
        account_no TEXT NOT NULL,
        reference TEXT NOT NULL
    )",
    "CREATE UNIQUE INDEX acquirer_payouts_key ON acquirer_payouts (business_date, cycle, merchant_id, currency)",
    // Each journal item settled, once: (transaction, role) — a purchase and its reversal are two
    // roles of one row. The fee is what this item moved (+ charged, − given back).
    "CREATE TABLE acquirer_settled_items (
        transaction_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        payout_id BIGINT NOT NULL,
        amount_minor BIGINT NOT NULL,
        fee_minor BIGINT NOT NULL,
        PRIMARY KEY (transaction_id, role)
    )",
    "CREATE INDEX acquirer_settled_items_payout ON acquirer_settled_items (payout_id)",
    // The network side of a date, posted once from its clearing file (the tie).
    "CREATE TABLE acquirer_network_postings (
        business_date TEXT NOT NULL,
        currency TEXT NOT NULL,
        records BIGINT NOT NULL,
        settlement_minor BIGINT NOT NULL,
        interchange_minor BIGINT NOT NULL,
        network_fee_minor BIGINT NOT NULL,
        adjustments_minor BIGINT NOT NULL,
        posted_ms BIGINT NOT NULL,
        PRIMARY KEY (business_date, currency)
    )",
    // 到账通知: one per payout; `pending` until a webhook answered 2xx (`delivered`), `dead`
    // after the attempts allowed, `stored` when the merchant has no webhook.
    "CREATE TABLE acquirer_notices (
        id BIGINT PRIMARY KEY,
        payout_id BIGINT NOT NULL UNIQUE,
        merchant_id TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        delivered_ms BIGINT
    )",
    "CREATE INDEX acquirer_notices_due ON acquirer_notices (state, next_attempt_ms, id)",
    "CREATE TABLE acquirer_notice_attempts (
        notice_id BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        status BIGINT,
        error TEXT,
        PRIMARY KEY (notice_id, attempt)
    )",
];
