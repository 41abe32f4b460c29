//! The chip's part of a transaction: the CDOL1 data the terminal gives it, and after an
//! approval its EXTERNAL AUTHENTICATE and second GENERATE AC.

use super::*;

impl Terminal {
    /// The CDOL1 data this terminal gives a chip: amount, CNY, China, today's date (the
    /// terminal's clock, UTC), the transaction type and a fresh unpredictable number.
    pub(super) fn chip_terminal_data(
        &self,
        amount_minor: u64,
        transaction_type: TransactionType,
    ) -> Result<TerminalData> {
        let now = clock::UtcDateTime::from_ms(self.clock.now_ms());
        let random = Secret::random(UNPREDICTABLE_NUMBER_BYTES)?;
        let mut unpredictable_number = [0u8; UNPREDICTABLE_NUMBER_BYTES];
        unpredictable_number.copy_from_slice(random.expose());
        Ok(TerminalData {
            amount_minor,
            currency: CURRENCY_CNY.into(),
            country: COUNTRY_CHINA.into(),
            date_yymmdd: format!("{:02}{}", now.year.rem_euclid(100), now.mmdd()),
            transaction_type,
            unpredictable_number,
        })
    }

    /// The chip's part of an approval: for an inserted card whose issuer sent tag 91, EXTERNAL
    /// AUTHENTICATE and, accepted, the second GENERATE AC's TC; `Err(())` when the card refuses
    /// (the approval does not stand). `Ok(field 55)` for the batch upload: the TC, or the ARQC
    /// sent (a tapped card, or an issuer that skipped issuer authentication, as EMV lets it);
    /// `Ok(None)` for a stripe or keyed card.
    pub(super) fn complete_chip(
        &self,
        out: &Outgoing,
        response: &Message,
        code: &str,
    ) -> std::result::Result<Option<Vec<u8>>, ()> {
        let (Some(chip), Ok(Some(issuer_authentication_data))) = (&out.chip, response.get_path("55.91")) else {
            return Ok(out.icc_sent.clone());
        };
        let mut card = chip.lock().map_err(|_| ())?;
        if !card.external_authenticate(issuer_authentication_data).unwrap_or(false) {
            return Err(());
        }
        let bytes = code.as_bytes();
        let arc = [bytes.first().copied().unwrap_or(b'0'), bytes.get(1).copied().unwrap_or(b'0')];
        card.complete_transaction(arc).map(Some).map_err(|_| ())
    }
}
