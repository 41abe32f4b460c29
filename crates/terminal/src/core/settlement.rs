//! Settlement (§6): the batch's totals for field 48, the 0500 and its answer, the batch upload
//! (0320) and closing the batch.

use super::*;

/// §6 totals: domestic (63.1 `CUP`) and foreign, debit and credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SettlementTotals {
    pub domestic_debit_minor: u64,
    pub domestic_debit_count: u64,
    pub domestic_credit_minor: u64,
    pub domestic_credit_count: u64,
    pub foreign_debit_minor: u64,
    pub foreign_debit_count: u64,
    pub foreign_credit_minor: u64,
    pub foreign_credit_count: u64,
}

impl SettlementTotals {
    /// Field 48: amount n12, count n3 (debit, credit), result `0`, domestic then foreign.
    pub fn field48(&self) -> String {
        format!(
            "{:012}{:03}{:012}{:03}0{:012}{:03}{:012}{:03}0",
            self.domestic_debit_minor,
            self.domestic_debit_count % 1000,
            self.domestic_credit_minor,
            self.domestic_credit_count % 1000,
            self.foreign_debit_minor,
            self.foreign_debit_count % 1000,
            self.foreign_credit_minor,
            self.foreign_credit_count % 1000,
        )
    }
}

impl Terminal {
    /// Totals of the open batch (§6).
    pub fn totals(&self) -> Result<SettlementTotals> {
        let mut t = SettlementTotals::default();
        for entry in self.entries()? {
            let Some(debit) = Kind::settlement_side(entry.kind.name()) else { continue };
            let domestic = entry.organisation.as_deref().is_none_or(|o| o == "CUP");
            let (amount, count) = match (domestic, debit) {
                (true, true) => (&mut t.domestic_debit_minor, &mut t.domestic_debit_count),
                (true, false) => (&mut t.domestic_credit_minor, &mut t.domestic_credit_count),
                (false, true) => (&mut t.foreign_debit_minor, &mut t.foreign_debit_count),
                (false, false) => (&mut t.foreign_credit_minor, &mut t.foreign_credit_count),
            };
            *amount = amount.saturating_add(entry.amount_minor);
            *count += 1;
        }
        Ok(t)
    }

    /// 0500 of the open batch; the supervisor's password authorises it.
    pub fn settlement_request(&mut self, supervisor_password: Option<&Secret>) -> Result<(Outgoing, SettlementTotals)> {
        self.authorise_supervisor(supervisor_password)?;
        self.nothing_owed()?;
        let totals = self.totals()?;
        let trace = self.next_trace();
        let mut m = self.message("0500", &trace)?;
        m.set_str(48, &totals.field48()).map_err(codec("48"))?;
        m.set_str(49, CURRENCY_CNY).map_err(codec("49"))?;
        m.set_str(60, &format!("00{:06}201", self.state.batch_no)).map_err(codec("60"))?;
        m.set_str(63, &self.operator63()).map_err(codec("63"))?;
        self.save_state()?;
        Ok((self.outgoing(m, Purpose::Settlement, trace), totals))
    }

    /// The 0510's result digits: (domestic, foreign) balanced?
    pub fn on_settlement_response(&mut self, response: &Message) -> Result<(bool, bool)> {
        let code = response.get_str(39).unwrap_or("");
        if code != "00" {
            return Err(TerminalError::State(format!("settlement answered {code}: {}", response_text(code))));
        }
        let field48 = response.get_str(48).unwrap_or("");
        let digit = |i: usize| field48.as_bytes().get(i).copied();
        Ok((digit(30) == Some(b'1'), digit(61).is_none_or(|d| d == b'1' || d == b'0')))
    }

    /// The batch upload (§6). Balanced: each chip approval with its TC in field 55 (0320/203,
    /// one per message), then the 0320/207 end. Unbalanced: stripe and keyed records in 0320/201
    /// messages of up to 8, each chip approval in its own 0320/205, then the 0320/202 end. A
    /// chip record's 0320 carries the record's own trace in 11 (the host files it under it).
    pub fn upload_requests(&mut self, balanced: bool) -> Result<Vec<Outgoing>> {
        let batch = self.state.batch_no;
        let records: Vec<JournalEntry> =
            self.entries()?.into_iter().filter(|e| Kind::settlement_side(e.kind.name()).is_some()).collect();
        let (chip_records, stripe_records): (Vec<&JournalEntry>, Vec<&JournalEntry>) =
            records.iter().partition(|e| e.icc_upload.is_some());
        let mut out = Vec::new();
        if !balanced {
            for chunk in stripe_records.chunks(UPLOAD_RECORDS_MAX) {
                let trace = self.next_trace();
                let mut m = self.message("0320", &trace)?;
                let mut f48 = format!("{:02}", chunk.len());
                for e in chunk {
                    let flag = if e.organisation.as_deref().is_none_or(|o| o == "CUP") { "00" } else { "01" };
                    f48.push_str(&format!("{flag}{}{:0>20}{:012}", e.trace, e.pan.as_str(), e.amount_minor));
                }
                m.set_str(48, &f48).map_err(codec("48"))?;
                m.set_str(60, &format!("00{batch:06}201")).map_err(codec("60"))?;
                out.push(self.outgoing(m, Purpose::Upload, trace));
            }
        }
        let chip_code = if balanced { "203" } else { "205" };
        for e in &chip_records {
            let icc =
                e.icc_upload.as_deref().map(iso8583::hex::decode).transpose().map_err(|_| {
                    TerminalError::Store(format!("journal record {}: its chip data is not hex", e.trace))
                })?;
            let mut m = self.message("0320", &e.trace.to_string())?;
            m.set_str(2, e.pan.as_str()).map_err(codec("2"))?;
            m.set_str(4, &format!("{:012}", e.amount_minor)).map_err(codec("4"))?;
            if let Some(icc) = &icc {
                m.set(55, icc).map_err(codec("55"))?;
            }
            m.set_str(60, &format!("00{batch:06}{chip_code}")).map_err(codec("60"))?;
            out.push(self.outgoing(m, Purpose::Upload, e.trace.to_string()));
        }
        let trace = self.next_trace();
        let mut m = self.message("0320", &trace)?;
        m.set_str(48, &format!("{:04}", records.len() % 10_000)).map_err(codec("48"))?;
        m.set_str(60, &format!("00{batch:06}{}", if balanced { "207" } else { "202" })).map_err(codec("60"))?;
        out.push(self.outgoing(m, Purpose::Upload, trace));
        self.save_state()?;
        Ok(out)
    }

    /// Close the batch: the next batch number (the host moved at the 0500; the next sign-on's
    /// 60.2 confirms it). The closed batch's records stay on disk under their batch number.
    pub fn close_batch(&mut self) -> Result<u32> {
        self.state.batch_no = if self.state.batch_no >= BATCH_MAX { 1 } else { self.state.batch_no + 1 };
        self.save_state()?;
        Ok(self.state.batch_no)
    }
}
