//! What the switch takes over and owes to an issuer: an advice or a reversal from the
//! acquirer, journaled, queued (encrypted) to the issuer and answered at once; and the queueing
//! of the switch's own advices. Each new exchange is written whole by one insert — its issuer
//! leg and its answer are known before it is.

use super::*;

impl Switch {
    /// Encrypt and queue `message` (no MAC: it is signed when sent) to `issuer` under `key`;
    /// `None` when the key was queued already.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn queue_advice(
        &self,
        tx: &mut Tx<'_>,
        message: &Message,
        issuer: &str,
        key: String,
        exchange_id: u64,
        purpose: AdvicePurpose,
        now_ms: u64,
    ) -> Result<Option<EntryId>, SwitchError> {
        let clear = stripped(message).encode()?;
        let payload = self.hsm.encrypt_data(&self.directory.dek, &clear)?;
        let expires_at_ms = Some(now_ms.saturating_add(self.directory.advices.expiry_ms));
        let entry = NewEntry { key, destination: issuer.to_owned(), payload, expires_at_ms };
        let (id, added) = self.queue.enqueue(tx, &self.saf_config(), &entry, now_ms)?;
        if !added {
            return Ok(None);
        }
        journal::insert_advice(
            tx,
            &NewAdvice {
                id: id.0,
                exchange_id,
                issuer,
                purpose,
                mti: message.mti().as_str(),
                issuer_stan: message.get_str(11).unwrap_or_default(),
                issuer_time: message.get_str(7).unwrap_or_default(),
                queued_ms: now_ms,
            },
        )?;
        Ok(Some(id))
    }

    /// An advice from the acquirer (a completion 0220, say): journaled, queued to the issuer
    /// and answered at once; the switch owes its delivery from now on.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept_advice(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        acquirer: &Member,
        issuer: &Member,
        new: &NewExchange,
        original_leg: Option<&IssuerLeg>,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let id = journal::next_exchange_id(tx)?;
        let mut advice = self.issuer_copy(tx, request, issuer, original_leg, &new.settlement_date, now_ms)?;
        // The first send is the original MTI (0220), whatever the acquirer's attempt was.
        advice.set_mti(first_send_mti(request.mti()));
        self.queue_advice(tx, &advice, &issuer.id, format!("advice:{id}"), id, AdvicePurpose::AcquirerAdvice, now_ms)?;
        let row =
            ExchangeRow::new(new, ExchangeStatus::Queued).issuer_leg(Some(IssuerLegRef::sent(&issuer.id, &advice)));
        self.finish_queued(tx, request, acquirer, (id, row), Some(&issuer.id), now_ms)
    }

    /// An 0420/0421 from the acquirer. If the switch sent the original to an issuer, an 0420
    /// naming the issuer-leg original is queued (once per original, whoever asked first: the
    /// switch's own timeout reversal or the acquirer); otherwise it is recorded only. Either way
    /// the answer is 00: the switch has taken the reversal over.
    pub(super) fn accept_reversal(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        acquirer: &Member,
        new: &NewExchange,
        original: Option<&Exchange>,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let target = original.and_then(|o| {
            let leg = issuer_leg_of(o)?;
            let issuer = self.directory.issuer(o.issuer.as_ref()?.as_str())?;
            Some((leg, issuer))
        });
        let id = journal::next_exchange_id(tx)?;
        let Some((leg, issuer)) = target else {
            let mut recorded = new.clone();
            recorded.issuer = None;
            let row = ExchangeRow::new(&recorded, ExchangeStatus::Recorded);
            return self.finish_queued(tx, request, acquirer, (id, row), None, now_ms);
        };
        let mut new = new.clone();
        new.issuer = Some(issuer.id.clone());
        let mut reversal = self.issuer_copy(tx, request, issuer, Some(&leg), &new.settlement_date, now_ms)?;
        reversal.set_mti(Mti::parse(REVERSAL_MTI)?);
        let key = reversal_key(&issuer.id, &leg);
        let queued =
            self.queue_advice(tx, &reversal, &issuer.id, key, id, AdvicePurpose::AcquirerReversal, now_ms)?.is_some();
        // Queued before (by the switch's timeout or an earlier 0420): this exchange has no
        // issuer leg of its own.
        let leg = queued.then(|| IssuerLegRef::sent(&issuer.id, &reversal));
        let row = ExchangeRow::new(&new, ExchangeStatus::Queued).issuer_leg(leg);
        self.finish_queued(tx, request, acquirer, (id, row), queued.then_some(issuer.id.as_str()), now_ms)
    }

    /// Journal the exchange as answered 00 with both acquirer-leg messages; the answer.
    fn finish_queued(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        acquirer: &Member,
        (id, row): (u64, ExchangeRow<'_>),
        queued_for: Option<&str>,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let settlement_date = row.settlement_date();
        let response = self.answer(request, Some(acquirer), codes::APPROVED, None, settlement_date);
        let outcome = Outcome {
            status: row.status(),
            response_code: codes::APPROVED,
            auth_code: None,
            stand_in: false,
            answered_ms: now_ms,
        };
        journal::insert_exchange(tx, id, &row.answered(&outcome))?;
        log(tx, Logged::new(request, Direction::In, Leg::Acquirer, &acquirer.id).exchange(id), now_ms)?;
        log(tx, Logged::new(&response, Direction::Out, Leg::Acquirer, &acquirer.id).exchange(id).latency(0), now_ms)?;
        Ok(Step::Respond(Reply { response, queued_for: queued_for.map(str::to_owned) }))
    }
}
