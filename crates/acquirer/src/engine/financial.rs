//! Financial requests from terminals (reference §5): checks in their documented order, the
//! original of a follow-up claimed, PIN translated, the network request built and journaled.

use super::*;
use crate::journal::NewTransaction;

/// A terminal's advice (refund, offline completion): sent again until answered.
const ADVICE_MTI: &str = "0220";
/// An advice sent to the switch again.
const ADVICE_REPEAT_MTI: &str = "0221";

impl Acquirer {
    /// The terminal checks shared by financial requests and reversals: signed on (77), MAC
    /// (A0), status (58/03). `Ok(Err(reply))` when one failed.
    pub(crate) fn checked_terminal(
        &self,
        envelope: &Envelope,
        request: &Message,
        now_ms: u64,
    ) -> Result<std::result::Result<(Arc<Known>, WrappedKey), Reply>> {
        let known = match self.known(envelope, request, now_ms)? {
            Ok(known) => known,
            Err(reply) => return Ok(Err(reply)),
        };
        let mak = match (&known.state.mak, known.state.signed_on) {
            (Some(mak), true) => mak.clone(),
            _ => return Ok(Err(self.refuse(envelope, request, None, SIGN_ON_AGAIN, true, now_ms))),
        };
        if self.settings.carries_mac(request.mti().as_str()) {
            match profile::verify(self.hsm.as_ref(), &self.settings, &mak, request) {
                Ok(()) => {}
                Err(profile::MacError::Mismatch) => {
                    return Ok(Err(self.refuse(envelope, request, Some(&mak), codes::MAC_ERROR, true, now_ms)));
                }
                Err(profile::MacError::Failed(error)) => {
                    tracing::error!(%error, "acquirer: MAC check failed in the HSM");
                    return Ok(Err(self.refuse(
                        envelope,
                        request,
                        Some(&mak),
                        codes::SYSTEM_MALFUNCTION,
                        false,
                        now_ms,
                    )));
                }
            }
        }
        if let Some(code) = Self::status_code(&known, request) {
            return Ok(Err(self.refuse(envelope, request, Some(&mak), code, false, now_ms)));
        }
        Ok(Ok((known, mak)))
    }

    pub(super) fn financial(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<Step> {
        let (known, mak) = match self.checked_terminal(envelope, request, now_ms)? {
            Ok(checked) => checked,
            Err(reply) => return Ok(Step::Respond(reply)),
        };
        // Scheme 004: tracks enciphered under the TDK are deciphered in the HSM first.
        let clear;
        let request = match crate::track::clear_tracks(self.hsm.as_ref(), known.state.tdk.as_ref(), request) {
            Ok(Some(message)) => {
                clear = message;
                &clear
            }
            Ok(None) => request,
            Err(code) => return Ok(Step::Respond(self.refuse(envelope, request, Some(&mak), code, false, now_ms))),
        };
        let batch =
            request.get_path("60.2").ok().flatten().and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok());
        if batch != Some(known.state.batch_no) {
            return Ok(Step::Respond(self.refuse(envelope, request, Some(&mak), SIGN_ON_AGAIN, true, now_ms)));
        }
        let Some(kind) = classify(request) else {
            return Ok(Step::Respond(self.refuse(envelope, request, Some(&mak), codes::NOT_SUPPORTED, false, now_ms)));
        };
        let Some(trace) = request.get_str(11).map(str::to_owned) else {
            return Ok(Step::Respond(self.refuse(envelope, request, Some(&mak), codes::FORMAT_ERROR, false, now_ms)));
        };
        let amount_minor = amount_of(request).unwrap_or(0);
        let mut decision =
            transact(&self.db, |tx| self.decide(tx, request, &known, kind, &trace, amount_minor, now_ms));
        if matches!(&decision, Err(AcquirerError::Store(error)) if error.is_unique_violation()) {
            // The same trace arrived twice at once: the second is a duplicate.
            decision = Ok(Decision::Decline(None, codes::DUPLICATE));
        }
        let decision = decision?;
        let (original, code) = match decision {
            Decision::Go(original) => (original, None),
            Decision::Decline(original, code) => (original, Some(code)),
            Decision::Repeat(first) => return self.repeat_answer(envelope, request, &known, &mak, &first, now_ms),
            Decision::Resend(first) => return self.resend_advice(envelope, request, &known, mak, &first, now_ms, true),
            Decision::Expire(first) => {
                return self.resend_advice(envelope, request, &known, mak, &first, now_ms, false);
            }
        };
        let pin_block = match (code, request.get(52)) {
            (None, Some(block)) => match self.translate_pin(&known.state, block, request) {
                Ok(block) => Some(block),
                Err(code) => return self.decline(envelope, request, &known, &mak, kind, &trace, None, code, now_ms),
            },
            _ => None,
        };
        if let Some(code) = code {
            return self.decline(envelope, request, &known, &mak, kind, &trace, original.as_ref(), code, now_ms);
        }
        self.forward(envelope, request, &known, mak, kind, &trace, amount_minor, original.as_ref(), pin_block, now_ms)
    }

    /// Amount, limits, original and risk, read in one transaction. Nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decide(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        known: &Known,
        kind: PosKind,
        trace: &str,
        amount_minor: u64,
        now_ms: u64,
    ) -> Result<Decision> {
        let terminal_id = &known.terminal.terminal_id;
        if let Some(first) = journal::by_trace(tx, terminal_id, known.state.batch_no, trace)? {
            // An advice (0220) the terminal sends again until it hears back: the same advice
            // (kind, amount) is answered as the first copy was once that has its answer; until
            // then, and for anything else under a used trace, a duplicate (94).
            let same_advice = request.mti().as_str() == ADVICE_MTI
                && first.terminal_mti == ADVICE_MTI
                && first.kind == kind.name()
                && first.amount_minor == amount_minor;
            if !same_advice {
                return Ok(Decision::Decline(None, codes::DUPLICATE));
            }
            // A "pending" row long past the switch timeout lost its forward in a crash (nothing
            // can still be waiting for it); "timeout" and "failed" rows had no answer either.
            let stale = now_ms >= first.received_ms.saturating_add(self.settings.switch_timeout_ms.saturating_mul(2));
            let network_advice = PosKind::from_name(&first.kind).is_some_and(PosKind::is_advice);
            return Ok(match (first.status.as_str(), stale, network_advice) {
                ("pending", false, _) => Decision::Decline(None, codes::DUPLICATE),
                ("pending", true, false) => Decision::Expire(Box::new(first)),
                ("pending" | "timeout" | "failed", _, true) => Decision::Resend(Box::new(first)),
                _ => Decision::Repeat(Box::new(first)),
            });
        }
        if kind != PosKind::Balance && amount_minor == 0 {
            return Ok(Decision::Decline(None, codes::INVALID_AMOUNT));
        }
        if kind.takes_money()
            && let Some(max) = known.merchant.single_max_minor
            && amount_minor > max
        {
            return Ok(Decision::Decline(None, codes::AMOUNT_LIMIT));
        }
        let mut original = None;
        if !kind.original_kinds().is_empty() {
            let found = self.find_original(tx, request, known, kind)?;
            let Some(found) = found else { return Ok(Decision::Decline(None, codes::ORIGINAL_NOT_FOUND)) };
            if let Some(code) = lane_check(kind, &found, terminal_id, &known.merchant) {
                return Ok(Decision::Decline(None, code));
            }
            if let Some(code) = original_check(kind, &found, request, amount_minor) {
                return Ok(Decision::Decline(Some(found), code));
            }
            original = Some(found);
        }
        if kind.takes_money() {
            let day_start_ms = now_ms - now_ms % MS_PER_DAY;
            let (today, count) = journal::merchant_day(tx, &known.merchant.merchant_id, day_start_ms)?;
            let card = pan_of(request).and_then(|pan| domain::Pan::new(&pan).ok());
            let context = RiskContext {
                terminal: &known.terminal,
                merchant: &known.merchant,
                kind,
                amount_minor,
                merchant_today_minor: today,
                merchant_today_count: count,
                card: card.as_ref(),
                entry_mode: crate::entry::entry_mode(request),
                now_ms,
            };
            if let Some(code) = self.risk.check(&context) {
                return Ok(Decision::Decline(original, code));
            }
        }
        Ok(Decision::Go(original))
    }

    /// The original named by 61 (batch + trace) at this terminal, or — for a refund at another
    /// terminal of the merchant — by 37 (RRN) at this merchant; of a kind `kind` may refer to.
    pub(super) fn find_original(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        known: &Known,
        kind: PosKind,
    ) -> Result<Option<TransactionRecord>> {
        let text = |path: &str| {
            request.get_path(path).ok().flatten().and_then(|v| std::str::from_utf8(v).ok()).map(str::to_owned)
        };
        let mut candidates = Vec::new();
        if let (Some(batch), Some(trace)) = (text("61.1"), text("61.2"))
            && let Ok(batch) = batch.parse::<u32>()
        {
            candidates.extend(journal::by_trace(tx, &known.terminal.terminal_id, batch, &trace)?);
        }
        // 61 may name another kind of transaction at this terminal (another lane's trace
        // numbers are its own): only an original of the right kind stops the search by 37.
        candidates.retain(|t| t.pos_kind().is_some_and(|k| kind.original_kinds().contains(&k)));
        if candidates.is_empty()
            && let Some(rrn) = request.get_str(37)
        {
            candidates.extend(journal::by_rrn(tx, &known.merchant.merchant_id, rrn)?);
        }
        Ok(candidates.into_iter().find(|t| t.pos_kind().is_some_and(|k| kind.original_kinds().contains(&k))))
    }

    pub(super) fn translate_pin(
        &self,
        state: &TerminalState,
        block: &[u8],
        request: &Message,
    ) -> std::result::Result<Vec<u8>, &'static str> {
        let (Some(pik), Some(pan)) = (state.pik.as_ref(), pan_of(request)) else { return Err(PIN_FORMAT_ERROR) };
        let translation = PinTranslation {
            source_key: pik,
            source_format: PinFormat::Iso0,
            pin_block: block,
            pan: &pan,
            target_key: &self.settings.zpk,
            target_format: PinFormat::Iso0,
        };
        self.hsm.translate_pin(&translation).map_err(|error| {
            tracing::info!(%error, "acquirer: PIN block does not translate");
            PIN_FORMAT_ERROR
        })
    }

    /// The card organisation of a terminal request, sent in 63.1 and kept with the
    /// transaction: the one the card's BIN names (`[pos.card_organisations]`), else the
    /// acquirer's own for its own currency; a transaction in another currency counts as foreign.
    /// The terminal settles by the 63.1 it received, the host by what it kept: they agree.
    pub(super) fn card_org(&self, request: &Message) -> String {
        let by_bin = pan_of(request).map(|pan| self.settings.organisation_of(&pan).to_owned());
        match by_bin {
            Some(organisation) if organisation != self.settings.card_organisation => organisation,
            _ if request.get_str(49).is_none_or(|c| c == self.settings.currency) => {
                self.settings.card_organisation.clone()
            }
            _ => FOREIGN_ORGANISATION.to_owned(),
        }
    }

    /// What a request at the network keeps: the terminal's request and the network request
    /// without PIN, track and chip data (and the terminal's MAC), and the network request so
    /// kept, encrypted under the DEK, for the journal (a later terminal reversal's 0420).
    fn kept(&self, request: &Message, network_request: &Message) -> Result<(Message, Message, Vec<u8>)> {
        let mut kept_terminal = request.clone();
        let mut kept_network = network_request.clone();
        for field in SECRET_FIELDS {
            kept_terminal.remove(field);
            kept_network.remove(field);
        }
        kept_terminal.remove(profile::MAC_FIELD);
        let payload = self.hsm.encrypt_data(&self.settings.dek, &kept_network.encode()?)?;
        Ok((kept_terminal, kept_network, payload))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_transaction(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        known: &Known,
        kind: PosKind,
        trace: &str,
        status: &str,
        code: Option<&str>,
        original: Option<&TransactionRecord>,
        network: Option<(&Message, Vec<u8>)>,
        now_ms: u64,
    ) -> Result<u64> {
        let (network, network_payload) = network.unzip();
        let record = NewTransaction {
            terminal_id: &known.terminal.terminal_id,
            merchant_id: &known.merchant.merchant_id,
            batch_no: known.state.batch_no,
            trace,
            terminal_mti: request.mti(),
            kind,
            processing_code: request.get_str(3),
            amount_minor: amount_of(request).unwrap_or(0),
            currency: request.get_str(49).unwrap_or(&self.settings.currency),
            pan_masked: masked_pan(request),
            card_org: self.card_org(request),
            rrn: network.and_then(|n| n.get_str(37)),
            response_code: code,
            status,
            network: network.map(|n| (n.mti(), n.get_str(11), n.get_str(7))),
            original_id: original.map(|o| o.id),
            received_ms: now_ms,
            answered_ms: code.map(|_| now_ms),
            card_kind: pan_of(request).map(|pan| self.settings.card_kind_of(&pan).name()),
            network_payload,
            risk_card: pan_of(request)
                .and_then(|pan| domain::Pan::new(&pan).ok())
                .and_then(|pan| self.risk.card_hash(&pan)),
        };
        Ok(journal::insert_request(tx, &record)?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn decline(
        &self,
        envelope: &Envelope,
        request: &Message,
        known: &Known,
        mak: &WrappedKey,
        kind: PosKind,
        trace: &str,
        original: Option<&TransactionRecord>,
        code: &'static str,
        now_ms: u64,
    ) -> Result<Step> {
        let mut response = self.answer(request, code, None, now_ms);
        response.set_str(63, &self.card_org(request))?;
        self.sign_response(&mut response, Some(mak));
        let duplicate = code == codes::DUPLICATE;
        transact(&self.db, |tx| {
            // A duplicate trace keeps the first transaction's row; only the messages are kept.
            let id = if duplicate {
                None
            } else {
                Some(self.insert_transaction(
                    tx,
                    request,
                    known,
                    kind,
                    trace,
                    "declined",
                    Some(code),
                    original,
                    None,
                    now_ms,
                )?)
            };
            Ok(journal::log_exchange(tx, id, request, &response, now_ms)?)
        })?;
        tracing::info!(terminal = %known.terminal.terminal_id, kind = kind.name(), code, "acquirer: declined");
        Ok(Step::Respond(Reply {
            envelope: self.reply_envelope(envelope, known.state.sign_on_required),
            response,
            reversal_queued: false,
        }))
    }

    /// The answer to an advice sent again: the first copy's code, and its 37 and 38; nothing new
    /// toward the network, no new row (the exchange is journaled against the first).
    fn repeat_answer(
        &self,
        envelope: &Envelope,
        request: &Message,
        known: &Known,
        mak: &WrappedKey,
        first: &TransactionRecord,
        now_ms: u64,
    ) -> Result<Step> {
        let code = first.response_code.map_or(codes::SYSTEM_MALFUNCTION.to_owned(), |c| c.to_string());
        let mut response = self.answer(request, &code, None, now_ms);
        if let Some(rrn) = &first.rrn {
            response.set_str(37, &rrn.to_string())?;
        }
        if let Some(auth_code) = first.auth_code.as_deref().filter(|_| codes::is_approved(&code)) {
            response.set_str(38, auth_code)?;
        }
        response.set_str(63, &first.card_org)?;
        self.sign_response(&mut response, Some(mak));
        transact(&self.db, |tx| Ok(journal::log_exchange(tx, Some(first.id), request, &response, now_ms)?))?;
        tracing::info!(terminal = %known.terminal.terminal_id, trace = %first.trace, code, "acquirer: an advice again");
        Ok(Step::Respond(Reply {
            envelope: self.reply_envelope(envelope, known.state.sign_on_required),
            response,
            reversal_queued: false,
        }))
    }

    /// An advice whose first copy the switch never answered here. `resend`: to the switch again,
    /// its network request as first sent, as a repeat (0221, the same 11 and 7, fresh MAC), which
    /// the switch answers as it answered the first copy or decides if it never had it; the
    /// answer completes the same row ([`Acquirer::complete`]). Otherwise (a network request, a
    /// crash lost its forward) it fails as a timeout: reversed at the network, answered 98.
    #[allow(clippy::too_many_arguments)]
    fn resend_advice(
        &self,
        envelope: &Envelope,
        request: &Message,
        known: &Known,
        mak: WrappedKey,
        first: &TransactionRecord,
        now_ms: u64,
        resend: bool,
    ) -> Result<Step> {
        let kind = PosKind::from_name(&first.kind)
            .ok_or_else(|| AcquirerError::Internal(format!("transaction {}: kind {:?}", first.id, first.kind)))?;
        let forward = transact(&self.db, |tx| {
            let mut network_request = self.rebuild_network_original(tx, first)?;
            if resend {
                network_request.set_mti(iso8583::Mti::parse(ADVICE_REPEAT_MTI)?);
                network_request.remove(network::mac::MAC_FIELD);
                network::mac::sign(self.hsm.as_ref(), &self.settings.zak, &mut network_request)?;
                journal::log(tx, Some(first.id), Flow::ToNetwork, &network_request, now_ms)?;
            }
            journal::log(tx, Some(first.id), Flow::FromTerminal, request, now_ms)?;
            let (kept_terminal, kept_network, _) = self.kept(request, &network_request)?;
            Ok(Forward {
                network_request,
                pending: Pending {
                    transaction_id: first.id,
                    terminal_id: known.terminal.terminal_id.clone(),
                    kind,
                    envelope: *envelope,
                    terminal_request: kept_terminal,
                    network_request: kept_network,
                    mak: mak.clone(),
                    sign_on_required: known.state.sign_on_required,
                    card_organisation: self.card_org(request),
                },
            })
        })?;
        if !resend {
            tracing::warn!(terminal = %known.terminal.terminal_id, trace = %first.trace, "acquirer: an advice's lost forward expires");
            return Ok(Step::Respond(self.fail_pending(forward.pending, codes::ISSUER_TIMEOUT, true, None, now_ms)));
        }
        tracing::info!(terminal = %known.terminal.terminal_id, trace = %first.trace, "acquirer: an advice to the switch again");
        Ok(Step::Forward(Box::new(forward)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &self,
        envelope: &Envelope,
        request: &Message,
        known: &Known,
        mak: WrappedKey,
        kind: PosKind,
        trace: &str,
        amount_minor: u64,
        original: Option<&TransactionRecord>,
        pin_block: Option<Vec<u8>>,
        now_ms: u64,
    ) -> Result<Step> {
        let Some(pan) = pan_of(request).and_then(|pan| network::request::Pan::new(&pan).ok()) else {
            return self.decline(envelope, request, known, &mak, kind, trace, original, codes::FORMAT_ERROR, now_ms);
        };
        let entry = crate::entry::entry_mode(request);
        let card = CardInput {
            pan,
            entry,
            expiry_yymm: request.get_str(14).map(str::to_owned),
            track2: request.get_str(35).map(|t| t.replace(['D', 'd'], "=")),
            sequence_number: request.get_str(23).map(str::to_owned),
            icc_data: request.get(55).map(<[u8]>::to_vec),
            pin_block,
        };
        let acceptor = Acceptor {
            acquirer: network::request::InstitutionId::new(&self.settings.institution_id)
                .map_err(network::Error::from)?,
            terminal: network::request::TerminalId::new(&known.terminal.terminal_id).map_err(network::Error::from)?,
            merchant: network::request::MerchantId::new(&known.merchant.merchant_id).map_err(network::Error::from)?,
            mcc: known.merchant.mcc.clone(),
            name_location: name_location(&known.merchant, &self.settings.country),
        };
        let original_data = original.and_then(|o| o.network_original(&self.settings.institution_id));
        if original.is_some() && original_data.is_none() {
            return self.decline(
                envelope,
                request,
                known,
                &mak,
                kind,
                trace,
                original,
                codes::ORIGINAL_NOT_FOUND,
                now_ms,
            );
        }
        let currency = request.get_str(49).unwrap_or(&self.settings.currency).to_owned();
        let network_spec = Arc::clone(&self.network_spec);
        let step = transact(&self.db, |tx| {
            // Checked again, atomically with journaling this request as pending (crate::originals).
            if let Some(original) = original
                && let Some(code) = claim(tx, original.id, kind, request, amount_minor)?
            {
                return Ok(Err(code));
            }
            let stan = format!("{:06}", (store::next_id(tx, store::SEQ_STAN)?.saturating_sub(1)) % STAN_MAX + 1);
            let rrn = network::time::rrn(now_ms, &stan);
            let mut network_request = network::request::build(
                &network_spec,
                &TransactionRequest {
                    kind: kind.network_kind(),
                    acceptor: &acceptor,
                    card: &card,
                    amount_minor,
                    currency: &currency,
                    stan: network::request::Stan::parse(&stan).map_err(network::Error::from)?,
                    rrn: network::request::Rrn::new(&rrn).map_err(network::Error::from)?,
                    now_ms,
                    original: original_data.as_ref(),
                },
            )?;
            kind.row().network.set_mti(&mut network_request)?;
            network::mac::sign(self.hsm.as_ref(), &self.settings.zak, &mut network_request)?;
            let (kept_terminal, kept_network, payload) = self.kept(request, &network_request)?;
            let sent = Some((&network_request, payload));
            let id =
                self.insert_transaction(tx, request, known, kind, trace, "pending", None, original, sent, now_ms)?;
            journal::log(tx, Some(id), Flow::FromTerminal, request, now_ms)?;
            journal::log(tx, Some(id), Flow::ToNetwork, &network_request, now_ms)?;
            Ok(Ok(Forward {
                network_request,
                pending: Pending {
                    transaction_id: id,
                    terminal_id: known.terminal.terminal_id.clone(),
                    kind,
                    envelope: *envelope,
                    terminal_request: kept_terminal,
                    network_request: kept_network,
                    mak: mak.clone(),
                    sign_on_required: known.state.sign_on_required,
                    card_organisation: self.card_org(request),
                },
            }))
        })?;
        match step {
            Ok(step) => Ok(Step::Forward(Box::new(step))),
            Err(code) => self.decline(envelope, request, known, &mak, kind, trace, original, code, now_ms),
        }
    }
}
