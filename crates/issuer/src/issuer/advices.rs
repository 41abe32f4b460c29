//! Advices (0120, 0220): what the switch approved in the issuer's place, taken as holds.

use super::*;

impl Issuer {
    /// An advice whose decision moves nothing here (a decline, a balance inquiry): recorded
    /// as decided and answered received.
    pub(super) fn record_advice(&self, request: &Message, card: Option<&CardRecord>, decided: &str) -> Decision {
        let mut decision = Decision::new(decided, card);
        decision.auth_code = request.get_str(38).map(str::to_owned);
        decision.state = if codes::is_approved(decided) { EntryState::Recorded } else { EntryState::Declined };
        decision.answer = Some(if card.is_some() { codes::APPROVED } else { codes::INVALID_CARD });
        decision
    }

    /// A stand-in approval of a purchase or pre-authorization: the switch approved on the
    /// issuer's behalf, so the issuer holds the funds as if it had — never declining for
    /// funds (a shortfall is lent from the overdraft account) or limits.
    pub(super) fn stand_in(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        parsed: &Parsed,
        card: Option<&CardRecord>,
        decided: &str,
        now_ms: u64,
    ) -> Result<Decision> {
        let Some(card) = card else { return Ok(self.record_advice(request, None, decided)) };
        let hold_id = transfer_id(TransferRole::Hold, &parsed.key);
        let overdraft_id = transfer_id(TransferRole::StandInOverdraft, &parsed.key);
        let (timeout, code) = self.hold_timeout(parsed.kind);
        let moved = self.money.forced_hold_in(
            tx,
            hold_id,
            overdraft_id,
            card.account_id,
            parsed.amount,
            timeout,
            code,
            card.card_id,
        )?;
        if !matches!(moved, Moved::Done | Moved::AlreadyDone) {
            return Err(IssuerError::Ledger(format!("stand-in hold refused: {moved:?}")));
        }
        let mut decision = Decision::new(decided, Some(card));
        decision.answer = Some(codes::APPROVED);
        decision.auth_code = request.get_str(38).map(str::to_owned);
        decision.state = EntryState::Held;
        decision.transfer_id = Some(hold_id);
        decision.usage = Some((self.business_day(now_ms), amount_i64(parsed.amount), 1));
        decision.new_hold = (moved == Moved::Done).then_some(hold_id);
        Ok(decision)
    }
}
