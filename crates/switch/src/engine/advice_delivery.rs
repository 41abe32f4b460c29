//! Delivery of the advices (0220, 0420 and their repeats) the switch owes its issuers, from its
//! store-and-forward queue: due entries, answers recorded, retries and expiry.

use super::*;

impl Switch {
    /// The advices due to `issuer` now, oldest first, ready to send; stops at the first one
    /// still waiting for its retry so the issuer sees them in the order they were queued.
    pub fn due_advices(&self, issuer: &str, now_ms: u64) -> Result<Vec<OutboundAdvice>, SwitchError> {
        let member =
            self.directory.issuer(issuer).ok_or_else(|| SwitchError::Internal(format!("no issuer {issuer}")))?;
        transact(&self.db, |tx| {
            let entries = self.queue.head_of_line(tx, issuer, now_ms, ADVICE_BATCH_MAX)?;
            let mut out = Vec::with_capacity(entries.len());
            for entry in entries {
                let record = journal::get_advice(tx, entry.id.0)?;
                let message = self
                    .hsm
                    .decrypt_data(&self.directory.dek, &entry.payload)
                    .map_err(SwitchError::from)
                    .and_then(|clear| Ok(iso8583::decode(&self.spec, clear.expose())?));
                let (Some(record), Ok(mut message)) = (record, message) else {
                    // Unreadable (a DEK that changed, a row edited by hand): set aside for an
                    // operator rather than block every advice behind it.
                    tracing::error!(issuer, entry = %entry.id, "switch: advice unreadable, marked dead");
                    self.queue.give_up(tx, entry.id)?;
                    continue;
                };
                if saf::is_repeat(entry.attempts)
                    && let Some(repeat) = message.mti().repeat()
                {
                    message.set_mti(repeat);
                }
                network::mac::sign(self.hsm.as_ref(), &self.links.current(member, WorkingKey::Zak), &mut message)?;
                out.push(OutboundAdvice {
                    id: entry.id,
                    issuer: issuer.to_owned(),
                    exchange_id: record.exchange_id,
                    purpose: record.purpose,
                    attempts: entry.attempts,
                    message,
                });
            }
            Ok(out)
        })
    }

    /// The issuer answered an advice. Acknowledged on a matching 0x30 with a good MAC and a
    /// response code other than "try again" (91, 96); otherwise counted as a failed attempt.
    pub fn advice_answered(
        &self,
        advice: &OutboundAdvice,
        response: &Message,
        now_ms: u64,
    ) -> Result<AdviceOutcome, SwitchError> {
        let issuer = self
            .directory
            .issuer(&advice.issuer)
            .ok_or_else(|| SwitchError::Internal(format!("no issuer {}", advice.issuer)))?;
        let mac_ok = self.verify_issuer_mac(issuer, response, now_ms).is_ok();
        // A code that is not one (the journal keeps a `ResponseCode`) counts as no answer.
        let code = response.get_str(39).filter(|code| ResponseCode::new(code).is_ok()).map(str::to_owned);
        let matches =
            Some(response.mti()) == advice.message.mti().response() && response.get(11) == advice.message.get(11);
        let accepted = mac_ok && matches && code.as_deref().is_some_and(|c| !ADVICE_RETRY_CODES.contains(&c));
        let config = self.saf_config();
        transact(&self.db, |tx| {
            let sent = Logged::new(&advice.message, Direction::Out, Leg::Issuer, &advice.issuer);
            log(tx, sent.exchange(advice.exchange_id).advice(advice.id.0), now_ms)?;
            let answer = Logged::new(response, Direction::In, Leg::Issuer, &advice.issuer);
            log(tx, answer.exchange(advice.exchange_id).advice(advice.id.0), now_ms)?;
            match (&code, accepted) {
                (Some(code), true) => {
                    self.queue.acknowledged(tx, advice.id)?;
                    journal::advice_answered(tx, advice.id.0, code, now_ms)?;
                    Ok(AdviceOutcome::Acknowledged(code.clone()))
                }
                _ => Ok(AdviceOutcome::Retry(failed_attempt(tx, &self.queue, &config, advice, now_ms)?)),
            }
        })
    }

    /// An advice went unanswered (timeout, link lost): retried later with backoff.
    pub fn advice_failed(&self, advice: &OutboundAdvice, now_ms: u64) -> Result<EntryState, SwitchError> {
        let config = self.saf_config();
        transact(&self.db, |tx| {
            let sent = Logged::new(&advice.message, Direction::Out, Leg::Issuer, &advice.issuer);
            log(tx, sent.exchange(advice.exchange_id).advice(advice.id.0), now_ms)?;
            failed_attempt(tx, &self.queue, &config, advice, now_ms)
        })
    }
}
