//! The issuer's answer to a forwarded request, and its failures: the acquirer's answer made
//! from it (or the switch standing in), the exchange journaled, an advice or a reversal queued.

use super::*;

impl Switch {
    /// The issuer answered: relay it to the acquirer with the acquirer's 11 and 7, 15, and a
    /// MAC under the acquirer's ZAK. An answer with a bad MAC or that does not match is treated
    /// as no answer at all (96, and a reversal if the issuer may have approved).
    pub fn on_issuer_response(&self, pending: PendingExchange, response: Message, now_ms: u64) -> Reply {
        match self.relay(&pending, &response, now_ms) {
            Ok(Some(reply)) => reply,
            Ok(None) => self.no_answer(&pending, Unanswered::Unusable, now_ms),
            Err(error) => {
                tracing::error!(exchange = pending.exchange_id, %error, "switch: cannot relay an issuer response");
                self.no_answer(&pending, Unanswered::Unusable, now_ms)
            }
        }
    }

    pub(super) fn relay(
        &self,
        pending: &PendingExchange,
        response: &Message,
        now_ms: u64,
    ) -> Result<Option<Reply>, SwitchError> {
        let (Some(acquirer), Some(issuer)) =
            (self.directory.acquirer(&pending.acquirer), self.directory.issuer(&pending.issuer))
        else {
            return Err(SwitchError::Internal("a pending exchange names an unknown member".into()));
        };
        if let Err(error) = self.verify_issuer_mac(issuer, response, now_ms) {
            tracing::warn!(issuer = %issuer.id, exchange = pending.exchange_id, %error, "switch: issuer response refused");
            return Ok(None);
        }
        let expected = pending.issuer_request.mti().response();
        let matches = Some(response.mti()) == expected
            && response.get(11) == pending.issuer_request.get(11)
            && response.get_str(39).is_some_and(|code| ResponseCode::new(code).is_ok());
        if !matches {
            tracing::warn!(issuer = %issuer.id, exchange = pending.exchange_id, "switch: issuer response does not match");
            return Ok(None);
        }
        let code = response.get_str(39).unwrap_or(codes::SYSTEM_MALFUNCTION).to_owned();
        let mut out = stripped(response);
        let request = &pending.acquirer_request;
        for field in [7, 11, 33, 100] {
            match request.get(field) {
                Some(value) => out.set(field, value)?,
                None => {
                    out.remove(field);
                }
            }
        }
        // 100 names the issuer that answered, on the acquirer leg too (its request had no 100):
        // the acquirer tells the terminal in field 44 (docs/acquirer.md §2).
        out.set_str(100, &issuer.id)?;
        out.set_str(15, &pending.settlement_date)?;
        network::mac::sign(self.hsm.as_ref(), &acquirer.zak, &mut out)?;
        let auth_code = response.get_str(38).map(str::to_owned);
        transact(&self.db, |tx| {
            let id = pending.exchange_id;
            let outcome = Outcome {
                status: ExchangeStatus::Answered,
                response_code: &code,
                auth_code: auth_code.as_deref(),
                stand_in: false,
                answered_ms: now_ms,
            };
            journal::set_outcome(tx, id, &outcome)?;
            let issuer_latency = now_ms.saturating_sub(pending.received_ms);
            log(
                tx,
                Logged::new(response, Direction::In, Leg::Issuer, &issuer.id).exchange(id).latency(issuer_latency),
                now_ms,
            )?;
            log(
                tx,
                Logged::new(&out, Direction::Out, Leg::Acquirer, &acquirer.id).exchange(id).latency(issuer_latency),
                now_ms,
            )?;
            Ok(())
        })?;
        Ok(Some(Reply::new(out)))
    }

    /// The issuer did not answer (`failure`): stand in if its limits allow, else 91 or 98; a
    /// request the issuer may have acted on and that could have moved money gets a reversal.
    pub fn on_issuer_failure(&self, pending: PendingExchange, failure: LinkFailure, now_ms: u64) -> Reply {
        self.no_answer(&pending, Unanswered::Failure(failure), now_ms)
    }

    pub(super) fn no_answer(&self, pending: &PendingExchange, why: Unanswered, now_ms: u64) -> Reply {
        let acquirer = self.directory.acquirer(&pending.acquirer);
        match self.stand_in_or_decline(pending, why, now_ms) {
            Ok(reply) => reply,
            Err(error) => {
                tracing::error!(exchange = pending.exchange_id, %error, "switch: cannot record an unanswered request");
                Reply::new(self.answer(
                    &pending.acquirer_request,
                    acquirer,
                    codes::SYSTEM_MALFUNCTION,
                    None,
                    &pending.settlement_date,
                ))
            }
        }
    }

    pub(super) fn stand_in_or_decline(
        &self,
        pending: &PendingExchange,
        why: Unanswered,
        now_ms: u64,
    ) -> Result<Reply, SwitchError> {
        let acquirer = self
            .directory
            .acquirer(&pending.acquirer)
            .ok_or_else(|| SwitchError::Internal("a pending exchange names an unknown acquirer".into()))?;
        let issuer = self.directory.issuer(&pending.issuer);
        let id = pending.exchange_id;
        transact(&self.db, |tx| {
            let mut queued = false;
            // What the issuer may have acted on is undone first, so a stand-in advice queued
            // behind it is the only decision left standing.
            if why.maybe_delivered() && pending.kind.moves_money() {
                let original = OriginalData::of_request(&pending.issuer_request)?;
                let leg = IssuerLeg {
                    mti: original.mti.clone(),
                    stan: original.stan.clone(),
                    time: original.transmission_time.clone(),
                };
                let mut reversal = Message::new(Arc::clone(&self.spec), Mti::parse(REVERSAL_MTI)?);
                copy_fields(&pending.issuer_request, &mut reversal, &ADVICE_FIELDS)?;
                // Why: no answer in time. The issuer honours a timeout reversal even of a refund.
                reversal.set_str(39, codes::ISSUER_TIMEOUT)?;
                reversal.set_str(7, &network::transmission_time(now_ms))?;
                reversal.set_str(11, &stan_text(store::next_id(tx, SEQ_STAN)?))?;
                original.set_field90(&mut reversal)?;
                let key = reversal_key(&pending.issuer, &leg);
                queued |= self
                    .queue_advice(tx, &reversal, &pending.issuer, key, id, AdvicePurpose::TimeoutReversal, now_ms)?
                    .is_some();
            }
            // Never in the stead of an issuer for a transaction its acquirer has already reversed
            // (its 0420 came while the issuer's answer was awaited): the advice would post at
            // the issuer after the reversal there, and stand while everyone else has it reversed
            // (found by the simulation, seed 10150: a completion).
            let reversed = journal::acquirer_reversed_in(tx, id)?;
            let stand_in = match (issuer, why) {
                (Some(issuer), Unanswered::Failure(_)) if !reversed => self.stand_in(tx, pending, issuer, now_ms)?,
                _ => None,
            };
            let (code, auth_code, status) = match &stand_in {
                Some(auth_code) => (codes::APPROVED, Some(auth_code.as_str()), ExchangeStatus::StandIn),
                None => (why.response_code(), None, ExchangeStatus::NoAnswer),
            };
            if let Some(auth_code) = &stand_in {
                let mut advice = Message::new(Arc::clone(&self.spec), advice_mti(pending.issuer_request.mti())?);
                copy_fields(&pending.issuer_request, &mut advice, &ADVICE_FIELDS)?;
                advice.set_str(7, &network::transmission_time(now_ms))?;
                advice.set_str(11, &stan_text(store::next_id(tx, SEQ_STAN)?))?;
                advice.set_str(38, auth_code)?;
                advice.set_str(39, codes::APPROVED)?;
                self.queue_advice(
                    tx,
                    &advice,
                    &pending.issuer,
                    format!("stand-in:{id}"),
                    id,
                    AdvicePurpose::StandIn,
                    now_ms,
                )?;
                // From now on the issuer knows this transaction by the advice.
                let (stan, time) = (advice.get_str(11).unwrap_or_default(), advice.get_str(7).unwrap_or_default());
                journal::set_issuer_leg(tx, id, &pending.issuer, advice.mti().as_str(), stan, time)?;
                queued = true;
            } else if !why.maybe_delivered() {
                // Never sent: there is nothing at the issuer for a later reversal to undo.
                tx.execute(
                    "UPDATE switch_exchanges SET iss_mti = NULL, iss_stan = NULL, iss_time = NULL WHERE id = $1",
                    &[store::int(id)?],
                )?;
            }
            let response =
                self.answer(&pending.acquirer_request, Some(acquirer), code, auth_code, &pending.settlement_date);
            let outcome =
                Outcome { status, response_code: code, auth_code, stand_in: stand_in.is_some(), answered_ms: now_ms };
            journal::set_outcome(tx, id, &outcome)?;
            let latency = now_ms.saturating_sub(pending.received_ms);
            log(
                tx,
                Logged::new(&response, Direction::Out, Leg::Acquirer, &acquirer.id).exchange(id).latency(latency),
                now_ms,
            )?;
            tracing::info!(exchange = id, issuer = %pending.issuer, ?why, code, "switch: issuer did not answer");
            Ok(Reply { response, queued_for: queued.then(|| pending.issuer.clone()) })
        })
    }

    /// Stand-in: approve on the issuer's behalf when its STIP settings allow this transaction
    /// (kind, currency, no unverifiable PIN, amount, the card's usage today). Counts the usage
    /// and returns the approval code (field 38).
    pub(super) fn stand_in(
        &self,
        tx: &mut Tx<'_>,
        pending: &PendingExchange,
        issuer: &Member,
        now_ms: u64,
    ) -> Result<Option<String>, SwitchError> {
        let Some(stip) = &issuer.stip else { return Ok(None) };
        let kind = match pending.kind {
            TransactionKind::Purchase => StipKind::Purchase,
            TransactionKind::PreAuthorization => StipKind::PreAuth,
            TransactionKind::Completion => StipKind::Completion,
            _ => return Ok(None),
        };
        let request = &pending.acquirer_request;
        let amount = request.get_u64(4).unwrap_or(0);
        let eligible = stip.kinds.contains(&kind)
            && request.get_str(49) == Some(stip.currency.as_str())
            && (stip.with_pin || !pending.had_pin)
            && amount > 0
            && amount <= stip.amount_max_minor;
        if !eligible {
            return Ok(None);
        }
        let day = (now_ms / MS_PER_DAY).to_string();
        let (used_amount, used_count) = store::stip_usage(tx, &pending.card_key, &day)?;
        let within = used_amount.saturating_add(amount) <= stip.daily_amount_max_minor
            && used_count.saturating_add(1) <= stip.daily_count_max;
        if !within {
            return Ok(None);
        }
        store::add_stip_usage(tx, &pending.card_key, &day, amount)?;
        // "S" marks a switch approval; five digits from the switch's own sequence.
        let code = format!("S{:05}", store::next_id(tx, SEQ_AUTH_CODE)? % 100_000);
        Ok(Some(code))
    }

    /// Field 128 of a message from `issuer`: under the link's current ZAK, or the one a key
    /// change replaced while its grace lasts (an answer to a request sent before the switch-over
    /// comes MAC'd with the key the request had).
    pub(super) fn verify_issuer_mac(
        &self,
        issuer: &Member,
        message: &Message,
        now_ms: u64,
    ) -> Result<(), network::Error> {
        let mut result = Err(network::Error::Mac);
        for zak in self.links.accepted(issuer, WorkingKey::Zak, now_ms, self.directory.key_grace_ms) {
            result = network::mac::verify(self.hsm.as_ref(), &zak, message);
            if !matches!(result, Err(network::Error::Mac)) {
                return result;
            }
        }
        result
    }
}
