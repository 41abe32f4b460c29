//! The switch's end of day, as calls on [`Switch`]: close a business date, its status, the
//! clearing records of a closed date, and the cut-over message (0800/201) announcing the next
//! date. The logic lives in [`crate::business_date`], [`crate::clearing_records`] and
//! [`crate::cutover`]; this file only binds it to the switch's database and configuration.

use std::sync::Arc;

use clearing::{BusinessDate, ClearingRecord};
use iso8583::{Message, Mti};

use crate::business_date::{self, CloseOutcome, DateStatus};
use crate::clearing_records::ClearingRecords;
use crate::engine::{Switch, transact};
use crate::error::SwitchError;
use crate::store::{self, SEQ_STAN};

impl Switch {
    /// Close `date` at `now_ms` (the switch's clock): refused before its cut-off, a no-op when
    /// closed already ([`crate::business_date`]).
    pub fn close_business_date(&self, date: BusinessDate, now_ms: u64) -> Result<CloseOutcome, SwitchError> {
        business_date::close(&self.db, self.directory.cutoff, date, now_ms, self.directory.issuer_timeout_ms, false)
    }

    /// Close `date` now, before its cut-off if need be (an operator's forced cut-over): the
    /// current date or an earlier one, never a date still to come. Whatever arrives for it
    /// afterwards goes to the next date, marked late.
    pub fn close_business_date_early(&self, date: BusinessDate, now_ms: u64) -> Result<CloseOutcome, SwitchError> {
        business_date::close(&self.db, self.directory.cutoff, date, now_ms, self.directory.issuer_timeout_ms, true)
    }

    /// Where `date` stands: open or closed, when, and whether its cut-over was sent.
    pub fn business_date_status(&self, date: BusinessDate) -> Result<DateStatus, SwitchError> {
        business_date::status(&self.db, self.directory.cutoff, date)
    }

    /// The business date an exchange arriving at `now_ms` would naturally get (before any
    /// closed date moves it on).
    pub fn natural_business_date(&self, now_ms: u64) -> BusinessDate {
        self.directory.cutoff.business_date(now_ms)
    }

    /// The clearing records of `date` in reference order, `exceptions` (dispute records, in
    /// reference order) merged in: a stream read page by page ([`crate::clearing_records`]).
    /// It reads whatever the date holds; callers that publish files check that the date is
    /// closed first ([`Switch::business_date_status`]).
    pub fn clearing_records<X>(&self, date: BusinessDate, exceptions: X) -> ClearingRecords<X::IntoIter>
    where
        X: IntoIterator<Item = Result<ClearingRecord, SwitchError>>,
    {
        ClearingRecords::new(self.db.clone(), Arc::clone(&self.directory), date, exceptions.into_iter())
    }

    /// The members a clearing run of `date` writes files for: every configured acquirer and
    /// issuer, and any other member named by the date's journal, sorted by id.
    pub fn clearing_members(&self, date: BusinessDate) -> Result<Vec<String>, SwitchError> {
        let mut members: Vec<String> =
            self.directory.acquirers().into_iter().chain(self.directory.issuers()).map(|m| m.id.clone()).collect();
        let named = transact(&self.db, |tx| {
            let rows = tx.query(
                "SELECT acquirer FROM switch_exchanges WHERE business_date = $1 AND response_code = '00' \
                 UNION SELECT issuer FROM switch_exchanges WHERE business_date = $1 AND response_code = '00' \
                 AND issuer IS NOT NULL",
                &[date.to_string().into()],
            )?;
            Ok(rows.iter().map(|row| row.text(0)).collect::<sqlstore::Result<Vec<String>>>()?)
        })?;
        members.extend(named);
        members.sort();
        members.dedup();
        Ok(members)
    }

    /// Closed dates whose cut-over has not been sent yet, oldest first.
    pub fn cutovers_due(&self) -> Result<Vec<BusinessDate>, SwitchError> {
        business_date::cutovers_due(&self.db)
    }

    /// Record that the cut-over after `closed` went out (to every member link that was up).
    pub fn cutover_sent(&self, closed: BusinessDate, now_ms: u64) -> Result<(), SwitchError> {
        business_date::cutover_sent(&self.db, closed, now_ms)
    }

    /// The 0800/201 announcing the date after `closed`: 7 now, 11 from the switch's STAN
    /// sequence, 32 and 33 the switch, 70 = 201, 15 the new date's MMDD. No MAC: network
    /// management messages carry none on this network (as sign-on and echo).
    pub fn cutover_request(&self, closed: BusinessDate, now_ms: u64) -> Result<Message, SwitchError> {
        let stan = transact(&self.db, |tx| Ok(store::next_id(tx, SEQ_STAN)?))?;
        let mut message = Message::new(Arc::clone(&self.spec), Mti::parse(transport::netmgmt::MTI_REQUEST)?);
        message.set_str(7, &network::transmission_time(now_ms))?;
        message.set_str(11, &format!("{:06}", (stan.saturating_sub(1)) % crate::limits::STAN_MAX + 1))?;
        message.set_str(15, &closed.next().mmdd())?;
        message.set_str(32, &self.directory.institution_id)?;
        message.set_str(33, &self.directory.institution_id)?;
        message.set_str(70, transport::NetworkCode::CutOver.code())?;
        Ok(message)
    }
}
