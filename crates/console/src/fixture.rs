//! A fixed data source for the handler tests: two acquirers; at the first two merchants (one
//! named with markup), their transactions, one alert; at the second a merchant of its own, a
//! merchant with the same id as the first acquirer's `MERCHANT_A` (two registries may issue one
//! id), their transactions under the same row ids as the first's, and an alert with id 1 too.

use crate::data::{
    AcquirerAlert, AcquirerFigures, AlertAction, AlertChange, ApplicationRow, BatchRow, ClearedRow, ConsoleData,
    ExceptionChange, ExceptionRow, MerchantDetail, MerchantRef, MerchantRow, MinuteFigures, PartyStatus, PathMessage,
    PayoutRow, SettlementView, StatementFile, TerminalRow, TrailRow, TxnDetail, TxnFilter, TxnRow,
};
use crate::error::ConsoleError;

/// The first acquirer (`acquirer.toml`) and the second.
pub const ACQUIRER_A: &str = "10000000344";
pub const ACQUIRER_B: &str = "10000000788";
/// The second acquirer's own merchant.
pub const MERCHANT_C: &str = "898440154110001";

pub const MERCHANT_A: &str = "898310048160001";
pub const MERCHANT_B: &str = "898310048160002";
/// The one settled date.
pub const SETTLED_DATE: &str = "2026-12-04";
/// 2026-12-05 10:00:00 UTC.
pub const NOW_MS: u64 = 1_796_464_800_000;

pub struct Fixture {
    pub rows: Vec<TxnRow>,
    /// (acquirer, alert with its trail): changed in memory by the console's actions.
    pub cases: std::sync::Mutex<Vec<(String, risk::cases::AlertDetail)>>,
    /// The exceptions resolved by the console's actions (the one exception, 7, open at first).
    pub resolved: std::sync::Mutex<Vec<u64>>,
}

pub fn txn(id: u64, merchant: &str, minutes_ago: u64, amount_minor: u64, code: &str) -> TxnRow {
    TxnRow {
        acquirer: ACQUIRER_A.into(),
        id,
        received_ms: NOW_MS - minutes_ago * 60_000,
        terminal_id: if merchant == MERCHANT_A { "POS00001".into() } else { "POS00002".into() },
        merchant_id: merchant.into(),
        kind: "purchase".into(),
        amount_minor,
        currency: "156".into(),
        pan_masked: Some(format!("622202******{:04}", 1000 + id)),
        rrn: Some(format!("{:012}", 500_000 + id)),
        trace: format!("{:06}", id),
        net_stan: Some(format!("{:06}", 900 + id)),
        net_time: Some("1205100000".into()),
        auth_code: (code == "00").then(|| format!("A{:05}", id)),
        response_code: Some(code.into()),
        status: if code == "00" { "approved".into() } else { "declined".into() },
        reversed: false,
        voided: false,
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut rows = vec![
            txn(1, MERCHANT_A, 30, 1_250, "00"),
            txn(2, MERCHANT_A, 20, 9_900, "51"),
            txn(3, MERCHANT_B, 10, 777, "00"),
            txn(4, MERCHANT_A, 5, 2_000, "00"),
        ];
        // A day earlier, the prior period of a one-day dashboard.
        rows.push(txn(5, MERCHANT_A, 24 * 60, 1_000, "00"));
        rows[1].merchant_id = MERCHANT_A.into();
        // A value a spreadsheet would run, to check the export guards it.
        rows[3].terminal_id = "=cmd|' /C calc'!A0".into();
        // The second acquirer's journal numbers its rows from 1 too.
        for (id, merchant, minutes_ago, amount) in [(1, MERCHANT_C, 15, 4_200), (2, MERCHANT_A, 12, 3_300)] {
            let mut row = txn(id, merchant, minutes_ago, amount, "00");
            row.acquirer = ACQUIRER_B.into();
            row.terminal_id = format!("POS0000{}", id + 2);
            row.rrn = Some(format!("{:012}", 700_000 + id));
            row.pan_masked = Some(format!("622202******{:04}", 2000 + id));
            rows.push(row);
        }
        let mut second = Fixture::alert_a();
        second.pan_masked = Some("622202******2001".into());
        second.reference = "second-acquirer-ref".into();
        let cases = [(ACQUIRER_A, Fixture::alert_a()), (ACQUIRER_B, second)]
            .into_iter()
            .map(|(acquirer, alert)| (acquirer.to_owned(), Fixture::created(alert)))
            .collect();
        Fixture { rows, cases: std::sync::Mutex::new(cases), resolved: std::sync::Mutex::new(Vec::new()) }
    }

    /// An alert as the risk engine records it: open, one `created` entry in its trail.
    fn created(alert: risk::cases::Alert) -> risk::cases::AlertDetail {
        let audit = vec![risk::cases::AuditEntry {
            seq: 1,
            at_ms: NOW_MS,
            who: "risk-engine".into(),
            action: "created".into(),
            from_status: None,
            to_status: risk::cases::Status::Open,
            note: None,
        }];
        risk::cases::AlertDetail { alert, audit }
    }

    fn cases(&self) -> std::sync::MutexGuard<'_, Vec<(String, risk::cases::AlertDetail)>> {
        self.cases.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConsoleData for Fixture {
    fn acquirers(&self) -> Vec<String> {
        vec![ACQUIRER_A.into(), ACQUIRER_B.into()]
    }

    fn acquirer_figures(&self, from_ms: u64, to_ms: u64) -> Vec<AcquirerFigures> {
        self.acquirers()
            .into_iter()
            .map(|acquirer| {
                let rows = self
                    .rows
                    .iter()
                    .filter(|r| r.acquirer == acquirer && r.received_ms >= from_ms && r.received_ms < to_ms);
                let (transactions, approved) =
                    rows.fold((0, 0), |(all, ok), r| (all + 1, ok + u64::from(r.approved())));
                AcquirerFigures { acquirer, transactions, approved, error: None }
            })
            .collect()
    }

    fn parties(&self) -> Result<Vec<PartyStatus>, ConsoleError> {
        Ok(vec![
            PartyStatus { name: "switch".into(), address: Some("127.0.0.1:1".into()), answers: Some(false) },
            PartyStatus { name: "acquirer".into(), address: None, answers: None },
            PartyStatus { name: format!("acquirer {ACQUIRER_B}"), address: None, answers: None },
        ])
    }

    fn search(&self, filter: &TxnFilter, offset: usize, limit: usize) -> Result<Vec<TxnRow>, ConsoleError> {
        let mut rows: Vec<TxnRow> = self.rows.iter().filter(|r| filter.matches(r)).cloned().collect();
        // Newest first across the acquirers, as `NetData` merges them.
        rows.sort_by_key(|r| std::cmp::Reverse(r.received_ms));
        Ok(rows.into_iter().skip(offset).take(limit).collect())
    }

    fn transaction(&self, acquirer: &str, id: u64) -> Result<Option<TxnDetail>, ConsoleError> {
        let Some(row) = self.rows.iter().find(|r| r.acquirer == acquirer && r.id == id).cloned() else {
            return Ok(None);
        };
        let message = PathMessage {
            party: "switch",
            at_ms: row.received_ms,
            direction: "in".into(),
            leg: "acquirer".into(),
            mti: "0200".into(),
            stan: row.net_stan.clone(),
            processing_code: Some("000000".into()),
            amount_minor: Some(row.amount_minor),
            pan_masked: row.pan_masked.clone(),
            rrn: row.rrn.clone(),
            auth_code: None,
            response_code: None,
        };
        Ok(Some(TxnDetail { row, messages: vec![message], gaps: Vec::new() }))
    }

    fn minutes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<MinuteFigures>, ConsoleError> {
        Ok(self
            .rows
            .iter()
            .filter(|r| r.received_ms >= from_ms && r.received_ms < to_ms)
            .map(|r| MinuteFigures {
                minute_ms: r.received_ms - r.received_ms % 60_000,
                count: 1,
                latency_ms_mean: Some(42),
            })
            .collect())
    }

    fn response_codes(&self, _from_ms: u64, _to_ms: u64) -> Result<Vec<(String, u64)>, ConsoleError> {
        Ok(vec![("00".into(), 3), ("51".into(), 1)])
    }

    fn merchants(&self) -> Result<Vec<MerchantRow>, ConsoleError> {
        Ok(vec![
            merchant_row(ACQUIRER_A, MERCHANT_A, "<script>alert(1)</script> Tea House"),
            merchant_row(ACQUIRER_A, MERCHANT_B, "Noodles"),
            merchant_row(ACQUIRER_B, MERCHANT_A, "Same Id Bakery"),
            merchant_row(ACQUIRER_B, MERCHANT_C, "Huamei Supermarket"),
        ])
    }

    fn merchant(&self, wanted: &MerchantRef) -> Result<Option<MerchantDetail>, ConsoleError> {
        let Some(merchant) = self.merchants()?.into_iter().find(|m| wanted.owns(&m.acquirer, &m.merchant_id)) else {
            return Ok(None);
        };
        Ok(Some(MerchantDetail {
            merchant,
            terminals: vec![TerminalRow {
                terminal_id: "POS00001".into(),
                status: "active".into(),
                model: None,
                last_sign_on_ms: Some(NOW_MS),
                batch_no: Some(1),
                signed_on: Some(true),
            }],
            trail: vec![TrailRow {
                at_ms: NOW_MS,
                subject: "application".into(),
                event: "approved".into(),
                actor: "reviewer".into(),
                reason: "licence checked".into(),
            }],
            batches: vec![BatchRow {
                settled_ms: NOW_MS,
                record: acquirer::SettlementRecord {
                    terminal_id: domain::TerminalId::new("POS00001")
                        .map_err(|e| ConsoleError::Failure(e.to_string()))?,
                    batch_no: 1,
                    terminal_totals: "000000000003250".into(),
                    host_totals: "000000000003250".into(),
                    domestic_result: "1".into(),
                    foreign_result: "1".into(),
                    upload_state: "none".into(),
                },
            }],
        }))
    }

    fn applications(&self) -> Result<Vec<ApplicationRow>, ConsoleError> {
        Ok(vec![ApplicationRow {
            acquirer: ACQUIRER_A.into(),
            application_id: 2,
            business_name: "Dumplings <b>& Co</b>".into(),
            mcc: "5812".into(),
            city: "Hangzhou".into(),
            status: "applied".into(),
            merchant_id: None,
            reviewer: None,
            review_reason: None,
            created_ms: NOW_MS,
        }])
    }

    fn alerts(&self) -> Result<Vec<AcquirerAlert>, ConsoleError> {
        let cases = self.cases();
        Ok(cases
            .iter()
            .map(|(acquirer, d)| AcquirerAlert { acquirer: acquirer.clone(), alert: d.alert.clone() })
            .collect())
    }

    fn alert(&self, acquirer: &str, id: u64) -> Result<Option<risk::cases::AlertDetail>, ConsoleError> {
        Ok(self.cases().iter().find(|(a, d)| a == acquirer && d.alert.id == id).map(|(_, d)| d.clone()))
    }

    /// What `risk::cases_store::Cases::act` does, in memory: the transition table decides.
    fn act_on_alert(
        &self,
        acquirer: &str,
        change: &AlertChange<'_>,
    ) -> Result<Option<risk::cases::Alert>, ConsoleError> {
        let AlertChange { id, by, action, note, now_ms } = *change;
        use risk::cases::{Action, CaseError};
        let mut cases = self.cases();
        let Some((_, detail)) = cases.iter_mut().find(|(a, d)| a == acquirer && d.alert.id == id) else {
            return Ok(None);
        };
        let (kind, assignee) = match action {
            AlertAction::Assign { to } => (Action::Assign, Some(to.clone())),
            AlertAction::Close { fraud: true } => (Action::CloseFraud, None),
            AlertAction::Close { fraud: false } => (Action::CloseNotFraud, None),
        };
        let from = detail.alert.status;
        let Some(to) = risk::cases::next_status(from, kind) else {
            return Err(ConsoleError::BadInput(CaseError::Refused { id, status: from, action: kind }.to_string()));
        };
        if let Some(who) = &assignee {
            risk::cases::check_who(who).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
            detail.alert.assignee = Some(who.clone());
        }
        detail.alert.status = to;
        detail.alert.updated_ms = now_ms;
        let seq = detail.audit.len() as u64 + 1;
        let note = match (&assignee, note) {
            (Some(who), Some(note)) => Some(format!("to {who}: {note}")),
            (Some(who), None) => Some(format!("to {who}")),
            (None, note) => note.map(str::to_owned),
        };
        let entry = risk::cases::AuditEntry {
            seq,
            at_ms: now_ms,
            who: by.into(),
            action: kind.name().into(),
            from_status: Some(from),
            to_status: to,
            note,
        };
        detail.audit.push(entry);
        Ok(Some(detail.alert.clone()))
    }

    fn settled_dates(&self) -> Result<Vec<String>, ConsoleError> {
        Ok(vec![SETTLED_DATE.into()])
    }

    fn settlement(&self, date: &str) -> Result<Option<SettlementView>, ConsoleError> {
        if date != SETTLED_DATE {
            return Ok(None);
        }
        Ok(Some(SettlementView {
            date: date.into(),
            positions: vec![Fixture::position("10000000011", 1_250), Fixture::position("20000000455", -1_250)],
            recon: vec![("matched".into(), "3".into()), ("unmatched".into(), "1".into())],
            recon_items: vec![crate::data::ReconItem {
                class: "missing_at_host".into(),
                resolution: "refund".into(),
                party: "acquirer".into(),
                reason: "=no host record".into(),
                kind: "purchase".into(),
                present: "terminal+clearing".into(),
                rrn: "000000500001".into(),
                terminal_id: "POS00001".into(),
                trace: "000001".into(),
                expected_minor: Some(1_250),
                currency: "156".into(),
            }],
        }))
    }

    fn cleared(&self, date: &str, member: &str) -> Result<Vec<ClearedRow>, ConsoleError> {
        if date != SETTLED_DATE || member != "10000000011" {
            return Ok(Vec::new());
        }
        Ok(vec![ClearedRow {
            exchange_id: 9,
            kind: "purchase".into(),
            rrn: Some("000000500001".into()),
            pan_masked: Some("622202******1001".into()),
            amount_minor: Some(1_250),
            currency: Some("156".into()),
            terminal_id: Some("POS00001".into()),
            merchant_id: Some(MERCHANT_A.into()),
            acquirer: "10000000011".into(),
            issuer: Some("20000000455".into()),
            received_ms: NOW_MS,
        }])
    }

    fn exceptions(&self) -> Result<Vec<ExceptionRow>, ConsoleError> {
        let resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        Ok(std::iter::once(ExceptionRow {
            id: 7,
            date: "2026-12-04".into(),
            class: "missing_at_host".into(),
            stage: "open".into(),
            amount_minor: 1_250,
            currency: "156".into(),
            pan_masked: "622202******1001".into(),
            rrn: Some("000000500001".into()),
            acquirer: "10000000011".into(),
            issuer: "20000000455".into(),
            opened_ms: NOW_MS,
        })
        .filter(|e| !resolved.contains(&e.id))
        .collect())
    }

    /// Every action resolves the exception here (the switch's cycle is its own crate's to
    /// test); a resolved one takes nothing, as the switch's transition table says.
    fn resolve_exception(&self, change: &ExceptionChange<'_>) -> Result<Option<String>, ConsoleError> {
        use switch::disputes::Action;
        let action = Action::from_name(change.action)
            .ok_or_else(|| ConsoleError::BadInput(format!("action {:?} is not one", change.action)))?;
        if change.id != 7 {
            return Ok(None);
        }
        let mut resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        if resolved.contains(&change.id) {
            return Err(ConsoleError::BadInput(format!("exception {} is resolved: nothing is allowed", change.id)));
        }
        if change.reason.trim().is_empty() {
            return Err(ConsoleError::BadInput("reason: empty".into()));
        }
        resolved.push(change.id);
        Ok(Some(format!("{}, now resolved", action.name())))
    }

    /// One payout per acquirer holding the merchant named (`P-…` at the first, `PB-…` at the
    /// second).
    fn payouts(&self, wanted: &MerchantRef) -> Result<Vec<PayoutRow>, ConsoleError> {
        let holders: Vec<String> = self
            .merchants()?
            .into_iter()
            .filter(|m| wanted.owns(&m.acquirer, &m.merchant_id))
            .map(|m| m.acquirer)
            .collect();
        holders.into_iter().map(|acquirer| Fixture::payout(&acquirer, &wanted.merchant_id)).collect()
    }

    fn log_tail(&self) -> Result<Vec<(String, Vec<String>)>, ConsoleError> {
        Ok(vec![("switch.log".into(), vec!["INFO switch: <b>ready</b>".into()])])
    }

    /// The first acquirer's output folder holds A's and B's statements, the second's C's.
    fn statement_files(&self, wanted: &MerchantRef) -> Result<Vec<StatementFile>, ConsoleError> {
        let all = [(ACQUIRER_A, MERCHANT_A), (ACQUIRER_A, MERCHANT_B), (ACQUIRER_B, MERCHANT_C)];
        Ok(all
            .into_iter()
            .filter(|(acquirer, merchant)| wanted.owns(acquirer, merchant))
            .map(|(_, m)| StatementFile { date: SETTLED_DATE.into(), name: format!("statement-{m}-final-156.csv") })
            .filter(|f| crate::data::is_statement_of(&wanted.merchant_id, f))
            .collect())
    }

    fn statement_file(&self, wanted: &MerchantRef, file: &StatementFile) -> Result<Option<Vec<u8>>, ConsoleError> {
        let known = self.statement_files(wanted)?.contains(file);
        Ok(known.then(|| format!("merchant,{}\r\n", wanted.merchant_id).into_bytes()))
    }
}

impl Fixture {
    fn payout(acquirer: &str, merchant_id: &str) -> Result<PayoutRow, ConsoleError> {
        let payout = acquirer::merchant_run::Payout {
            payout_id: 1,
            merchant_id: merchant_id.into(),
            currency: "156".into(),
            settlement_cycle: "t1".into(),
            gross_minor: 3_250,
            voids_minor: 0,
            refunds_minor: 0,
            fee_minor: 16,
            adjustments_minor: 0,
            net_minor: 3_234,
            items: 2,
            payout_date: switch::BusinessDate::parse("2026-12-05").map_err(|e| ConsoleError::Failure(e.to_string()))?,
            bank_code: "102100".into(),
            account_no: "6222020200112233445".into(),
            reference: format!("{}-{merchant_id}", if acquirer == ACQUIRER_A { "P" } else { "PB" }),
        };
        Ok(PayoutRow { acquirer: acquirer.into(), business_date: SETTLED_DATE.into(), cycle: "final".into(), payout })
    }

    fn alert_a() -> risk::cases::Alert {
        risk::cases::Alert {
            id: 1,
            created_ms: NOW_MS,
            updated_ms: NOW_MS,
            party: risk::cases::Party::Acquirer,
            entity_kind: risk::cases::EntityKind::Card,
            entity: "key-00000000000000k1".into(),
            pan_masked: Some("622202******1001".into()),
            reference: "<ref>".into(),
            verdict: "decline".into(),
            response_code: Some("65".into()),
            fired_json: "[\"small_sales_burst\"]".into(),
            score: 100,
            status: risk::cases::Status::Open,
            assignee: None,
        }
    }

    fn position(member: &str, net_minor: i64) -> switch::settlement::MemberSettlement {
        switch::settlement::MemberSettlement {
            member: member.into(),
            currency: "156".into(),
            net_minor,
            receivable_minor: net_minor.max(0),
            payable_minor: (-net_minor).max(0),
            interchange_minor: 0,
            network_fee_minor: 0,
            records: 1,
            opening_minor: 0,
            closing_minor: net_minor,
        }
    }
}

fn merchant_row(acquirer: &str, id: &str, name: &str) -> MerchantRow {
    MerchantRow {
        acquirer: acquirer.into(),
        merchant_id: id.into(),
        name: name.into(),
        status: "active".into(),
        mcc: "5812".into(),
        city: "Shanghai".into(),
        activated_ms: NOW_MS,
    }
}
