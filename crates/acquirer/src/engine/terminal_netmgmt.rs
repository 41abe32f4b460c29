//! The terminal's network management (reference §4): sign-on with the working keys under its
//! TMK by key scheme, parameter download, sign-off and echo.

use super::*;

impl Acquirer {
    pub(super) fn network_management(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<Reply> {
        let known = match self.known(envelope, request, now_ms)? {
            Ok(known) => known,
            Err(reply) => return Ok(reply),
        };
        if let Some(code) = Self::status_code(&known, request) {
            return Ok(self.refuse(envelope, request, None, code, false, now_ms));
        }
        let network_code = request.get_path("60.3").ok().flatten().and_then(|v| std::str::from_utf8(v).ok());
        match network_code {
            Some(code) if NETWORK_CODE_SIGN_ON.contains(&code) => self.sign_on(envelope, request, &known, code, now_ms),
            Some(NETWORK_CODE_PARAMETERS) => self.parameters(envelope, request, &known, now_ms),
            _ => Ok(self.refuse(envelope, request, None, codes::NOT_SUPPORTED, false, now_ms)),
        }
    }

    pub(super) fn sign_on(
        &self,
        envelope: &Envelope,
        request: &Message,
        known: &Known,
        code: &str,
        now_ms: u64,
    ) -> Result<Reply> {
        let scheme = match SignOnScheme::from_code(code) {
            Ok(scheme) if self.settings.key_schemes.contains(&scheme) => scheme,
            _ => return Ok(self.refuse(envelope, request, None, codes::NOT_SUPPORTED, false, now_ms)),
        };
        let keys = match self.hsm.issue_terminal_keys(&known.terminal.tmk, scheme) {
            Ok(keys) => keys,
            Err(error) => {
                tracing::error!(terminal = %known.terminal.terminal_id, %error, "acquirer: cannot issue sign-on keys");
                return Ok(self.refuse(envelope, request, None, codes::SYSTEM_MALFUNCTION, false, now_ms));
            }
        };
        let Some(field62) = profile::field62(self.settings.field62, scheme, &keys.field62) else {
            return Ok(self.refuse(envelope, request, None, codes::SYSTEM_MALFUNCTION, false, now_ms));
        };
        let batch = known.state.batch_no;
        let mut response = self.answer(request, codes::APPROVED, None, now_ms);
        response.set_str(60, &format!("00{batch:06}{code}"))?;
        response.set(62, &field62)?;
        let terminal_id = known.terminal.terminal_id.clone();
        let working = journal::WorkingKeys {
            terminal_id: &terminal_id,
            scheme: code,
            pik: keys.pik.block(),
            mak: keys.mak.block(),
            tdk: keys.tdk.as_ref().map(WrappedKey::block),
        };
        transact(&self.db, |tx| {
            response.set_str(37, &crate::answer::host_rrn(tx, now_ms)?)?;
            journal::record_sign_on(tx, &working, now_ms)?;
            Ok(journal::log_exchange(tx, None, request, &response, now_ms)?)
        })?;
        // The registry's lifecycle (installed → active) only: the batch is the host's own.
        if let Err(error) = self.directory.record_sign_on(&terminal_id, now_ms) {
            tracing::warn!(terminal = %terminal_id, %error, "acquirer: the registry did not take the sign-on");
        }
        tracing::info!(terminal = %terminal_id, scheme = code, batch, "acquirer: terminal signed on");
        Ok(Reply { envelope: self.reply_envelope(envelope, false), response, reversal_queued: false })
    }

    /// Parameter download (0800/360): field 62 as `tag(2) length(2) value` items, ASCII
    /// (docs/acquirer.md §1): 01 merchant name, 02 merchant id, 03 MCC, 04 city, 05 currency,
    /// 06 acquirer id, 07 single-transaction limit (minor units, 0 = none).
    pub(super) fn parameters(
        &self,
        envelope: &Envelope,
        request: &Message,
        known: &Known,
        now_ms: u64,
    ) -> Result<Reply> {
        let merchant = &known.merchant;
        let limit = merchant.single_max_minor.unwrap_or(0).to_string();
        let mut items = Vec::new();
        for (tag, value) in [
            ("01", merchant.name.as_str()),
            ("02", merchant.merchant_id.as_str()),
            ("03", merchant.mcc.as_str()),
            ("04", merchant.city.as_str()),
            ("05", self.settings.currency.as_str()),
            ("06", self.settings.institution_id.as_str()),
            ("07", limit.as_str()),
        ] {
            // Text in the terminal's character set is GBK on real terminals; cardnet's
            // parameter items are kept ASCII so every terminal reads them.
            let value: String = value.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(99).collect();
            items.extend_from_slice(format!("{tag}{:02}{value}", value.len()).as_bytes());
        }
        let mut response = self.answer(request, codes::APPROVED, None, now_ms);
        response.set_str(60, &format!("00{:06}{NETWORK_CODE_PARAMETERS}", known.state.batch_no))?;
        response.set(62, &items)?;
        transact(&self.db, |tx| Ok(journal::log_exchange(tx, None, request, &response, now_ms)?))?;
        Ok(Reply {
            envelope: self.reply_envelope(envelope, known.state.sign_on_required),
            response,
            reversal_queued: false,
        })
    }

    pub(super) fn sign_off_or_echo(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<Reply> {
        let known = match self.known(envelope, request, now_ms)? {
            Ok(known) => known,
            Err(reply) => return Ok(reply),
        };
        let network_code = request.get_path("60.3").ok().flatten().and_then(|v| std::str::from_utf8(v).ok());
        let response = self.answer(request, codes::APPROVED, None, now_ms);
        let sign_off = match network_code {
            Some(NETWORK_CODE_SIGN_OFF) => true,
            Some(NETWORK_CODE_ECHO) => false,
            _ => return Ok(self.refuse(envelope, request, None, codes::NOT_SUPPORTED, false, now_ms)),
        };
        let terminal_id = known.terminal.terminal_id.clone();
        transact(&self.db, |tx| {
            if sign_off {
                journal::sign_off(tx, &terminal_id, now_ms)?;
            }
            Ok(journal::log_exchange(tx, None, request, &response, now_ms)?)
        })?;
        Ok(Reply {
            envelope: self.reply_envelope(envelope, !sign_off && known.state.sign_on_required),
            response,
            reversal_queued: false,
        })
    }
}
