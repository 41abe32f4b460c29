//! The network's answer to a forwarded request, and its failures: the terminal's answer built
//! from it, the journal updated, a reversal queued when no usable answer came.

use super::*;

impl Acquirer {
    /// The switch answered `pending`'s request with `response`.
    pub fn on_network_response(&self, pending: Pending, response: Message, now_ms: u64) -> Reply {
        let verified = network::mac::verify(self.hsm.as_ref(), &self.settings.zak, &response);
        let matches = response.mti().as_str()
            == pending.network_request.mti().response().map(|m| m.as_str().to_owned()).unwrap_or_default()
            && response.get_str(11) == pending.network_request.get_str(11);
        if verified.is_err() || !matches {
            // An answer that cannot be trusted: the network may have approved, so the request
            // is reversed and the terminal told the system failed.
            tracing::warn!(transaction = pending.transaction_id, "acquirer: the switch's answer does not verify");
            return self.fail_pending(pending, codes::SYSTEM_MALFUNCTION, true, Some(&response), now_ms);
        }
        if response.get_str(39) == Some(codes::DUPLICATE) {
            // 94 answers a copy of a request the switch already holds, not this request: the
            // original may be approved at the issuer. No usable answer, so it is reversed (found
            // by the simulation of issue 15, whose client must do the same).
            tracing::warn!(transaction = pending.transaction_id, "acquirer: the switch answered 94 (duplicate)");
            return self.fail_pending(pending, codes::SYSTEM_MALFUNCTION, true, Some(&response), now_ms);
        }
        match self.complete(&pending, &response, now_ms) {
            Ok(reply) => reply,
            Err(error) => {
                tracing::error!(transaction = pending.transaction_id, %error, "acquirer: cannot record the answer");
                self.fail_pending(pending, codes::SYSTEM_MALFUNCTION, true, Some(&response), now_ms)
            }
        }
    }

    pub(super) fn complete(&self, pending: &Pending, response: &Message, now_ms: u64) -> Result<Reply> {
        // A field 39 that is no response code (the journal keeps a `domain::ResponseCode`) is
        // answered as a malfunction, like a missing one.
        let code = response
            .get_str(39)
            .filter(|code| domain::ResponseCode::new(code).is_ok())
            .unwrap_or(codes::SYSTEM_MALFUNCTION)
            .to_owned();
        let approved = codes::is_approved(&code);
        let auth_code = response.get_str(38).map(str::to_owned);
        let mut terminal_response = self.answer(&pending.terminal_request, &code, None, now_ms);
        for field in [37u8, 38, 15] {
            if let Some(value) =
                response.get(field).or_else(|| pending.network_request.get(field).filter(|_| field == 37))
            {
                terminal_response.set(field, value)?;
            }
        }
        if let Some(balance) = response.get_str(54) {
            crate::answer::set_balance(&mut terminal_response, balance);
        }
        if let Some(icc) = response.get(55) {
            let _ = terminal_response.set(55, icc);
        }
        if let Some(field44) = crate::answer::field44(response, &self.settings.institution_id) {
            let _ = terminal_response.set_str(44, &field44);
        }
        terminal_response.set_str(63, &pending.card_organisation)?;
        self.sign_response(&mut terminal_response, Some(&pending.mak));
        let amount = amount_of(&pending.terminal_request).unwrap_or(0);
        let answer = journal::NetworkAnswer {
            approved,
            response_code: &code,
            auth_code: auth_code.as_deref(),
            settlement_date: response.get_str(15),
            issuer_id: response.get_str(100),
        };
        transact(&self.db, |tx| {
            let record = journal::answer_state(tx, pending.transaction_id)?;
            let reversed = record.as_ref().is_some_and(|r| r.reversed);
            // An advice sent again may be answered twice (both copies' answers came): its
            // effects apply once, with its first approval.
            let approved_before = record.as_ref().is_some_and(|r| r.status == "approved");
            journal::set_answer(tx, pending.transaction_id, &answer, now_ms)?;
            if approved && !reversed && !approved_before {
                apply_effects(tx, pending.kind, record.as_ref().and_then(|r| r.original_id), amount, true)?;
                // The batch now holds an approval: settlement state, in this same commit.
                journal::mark_settlement_pending(tx, &pending.terminal_id)?;
            }
            journal::log(tx, Some(pending.transaction_id), Flow::FromNetwork, response, now_ms)?;
            journal::log(tx, Some(pending.transaction_id), Flow::ToTerminal, &terminal_response, now_ms)?;
            Ok(())
        })?;
        if pending.kind.takes_money() {
            // After the commit: the risk rules hear what the network said (wrong PINs).
            let card = pan_of(&pending.network_request).and_then(|pan| domain::Pan::new(&pan).ok());
            self.risk.answered(&crate::risk::RiskAnswer {
                terminal_id: &pending.terminal_id,
                card: card.as_ref(),
                response_code: &code,
                now_ms,
            });
        }
        tracing::info!(transaction = pending.transaction_id, kind = pending.kind.name(), code, "acquirer: answered");
        Ok(Reply {
            envelope: self.reply_envelope(&pending.envelope, pending.sign_on_required),
            response: terminal_response,
            reversal_queued: false,
        })
    }

    /// The switch did not answer `pending`'s request.
    pub fn on_network_failure(&self, pending: Pending, failure: LinkFailure, now_ms: u64) -> Reply {
        let (code, maybe_delivered) = match failure {
            LinkFailure::Unavailable => (codes::ISSUER_DOWN, false),
            LinkFailure::Timeout => (codes::ISSUER_TIMEOUT, true),
            LinkFailure::LinkLost => (codes::ISSUER_DOWN, true),
        };
        self.fail_pending(pending, code, maybe_delivered, None, now_ms)
    }

    /// Answer the terminal `code`; when the network may have acted on the request, queue its
    /// reversal (0420) in the same transaction that records the failure.
    pub(super) fn fail_pending(
        &self,
        pending: Pending,
        code: &str,
        maybe_delivered: bool,
        response: Option<&Message>,
        now_ms: u64,
    ) -> Reply {
        let mut terminal_response = self.answer(&pending.terminal_request, code, None, now_ms);
        let _ = terminal_response.set_str(63, &pending.card_organisation);
        self.sign_response(&mut terminal_response, Some(&pending.mak));
        // An advice is answered by the switch at once and never reversed: the terminal sends it
        // again until it hears back. A balance inquiry moved nothing (crate::reversal_rules).
        let reverse = maybe_delivered && pending.kind.reversed_on_timeout();
        let recorded = transact(&self.db, |tx| {
            journal::set_failed(tx, pending.transaction_id, code, maybe_delivered, now_ms)?;
            let queued = if reverse {
                // The acquirer has no answer it can use: a timeout reversal, whatever the cause.
                let reason = codes::ISSUER_TIMEOUT;
                self.queue_reversal(tx, pending.transaction_id, &pending.network_request, reason, now_ms)?;
                journal::mark_reversed(tx, pending.transaction_id)?;
                true
            } else {
                false
            };
            if let Some(response) = response {
                journal::log(tx, Some(pending.transaction_id), Flow::FromNetwork, response, now_ms)?;
            }
            journal::log(tx, Some(pending.transaction_id), Flow::ToTerminal, &terminal_response, now_ms)?;
            Ok(queued)
        });
        let reversal_queued = match recorded {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(transaction = pending.transaction_id, %error, "acquirer: cannot record a network failure");
                false
            }
        };
        tracing::info!(transaction = pending.transaction_id, code, reversal_queued, "acquirer: no usable answer");
        Reply {
            envelope: self.reply_envelope(&pending.envelope, pending.sign_on_required),
            response: terminal_response,
            reversal_queued,
        }
    }

    /// Queue the 0420 of `network_request` (the request as sent) to the switch under key
    /// `reversal:<id>`, with its record in `acquirer_reversals`; idempotent: a second call for
    /// one transaction keeps the first entry (and takes no STAN).
    pub(crate) fn queue_reversal(
        &self,
        tx: &mut Tx<'_>,
        transaction_id: u64,
        network_request: &Message,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool> {
        if journal::reversal_queued(tx, transaction_id)? {
            return Ok(false);
        }
        let stan = format!("{:06}", (store::next_id(tx, store::SEQ_STAN)?.saturating_sub(1)) % STAN_MAX + 1);
        let mut reversal = network::request::reversal_of(network_request, &stan, now_ms, None)?;
        // 39 carries why (98: no usable answer); switch and issuer honour a reversal of a
        // refund only as a timeout reversal (docs/network-flows.md §5).
        reversal.set_str(39, reason)?;
        let body = reversal.encode()?;
        let payload = self.hsm.encrypt_data(&self.settings.dek, &body)?;
        let entry = saf::NewEntry {
            key: format!("reversal:{transaction_id}"),
            destination: store::SWITCH_DESTINATION.to_owned(),
            payload,
            // Owed until the switch has it: a reversal never expires (an operator sees a Dead one).
            expires_at_ms: None,
        };
        let (id, added) = self.queue.enqueue(tx, &self.settings.reversals.saf_config(), &entry, now_ms)?;
        if !added {
            return Ok(false);
        }
        let net_time = reversal.get_str(7).unwrap_or_default();
        journal::insert_reversal(tx, id.0, transaction_id, &stan, net_time, now_ms)?;
        Ok(true)
    }

    /// The network request of a journaled transaction as it was sent (PIN, track and chip data
    /// removed), from its encrypted copy: what its 0420 is made from.
    pub(crate) fn rebuild_network_original(&self, tx: &mut Tx<'_>, original: &TransactionRecord) -> Result<Message> {
        let payload = journal::network_payload(tx, original.id)?
            .ok_or_else(|| AcquirerError::Internal("a sent transaction without its network request".into()))?;
        let body = self.hsm.decrypt_data(&self.settings.dek, &payload)?;
        Ok(iso8583::decode(&self.network_spec, body.expose())?)
    }
}
