//! Terminals (安装): registration under an active merchant, the terminal master key (TMK), and
//! the sign-ons the POS host reports (an installed terminal becomes active). The terminal's
//! batch and settlement state are the POS host's own (`acquirer_terminals`), not kept here.
//!
//! A TMK is generated or imported in the HSM and stored only as its key block under the LMK.
//! Clear components leave once, in the [`TmkDelivery`] of the call that asked for them (the
//! key-injection ceremony); nothing of them is stored, logged or put in an error.

use hsm::{KeyAlgorithm, KeyType, Secret, WrappedKey};

use crate::error::{MerchantError, Result};
use crate::limits::{LIST_MAX, TERMINAL_ID_LEN, TERMINAL_TEXT_CHARS_MAX, TMK_COMPONENTS_MAX, TMK_COMPONENTS_MIN};
use crate::registry::{ACTOR_OPERATOR, Registry, clean_opt_text};
use crate::store::{self, TERMINAL_COLUMNS, int};
use crate::types::{
    MerchantRecord, MerchantStatus, NewTerminal, Subject, TerminalRecord, TerminalStatus, TmkComponent, TmkDelivery,
    TmkExport, TmkImport, TmkSource, TmkUnderKek,
};

/// Why `terminal_id` is not a terminal id: exactly 8 ASCII letters or digits (field 41 is ans8;
/// cardnet keeps to letters and digits so an id survives every terminal's keyboard and
/// receipt). Case matters.
pub fn validate_terminal_id(terminal_id: &str) -> std::result::Result<(), String> {
    if terminal_id.len() != TERMINAL_ID_LEN || !terminal_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("a terminal id is {TERMINAL_ID_LEN} ASCII letters or digits"));
    }
    Ok(())
}

fn checked_terminal_id(terminal_id: &str) -> Result<&str> {
    validate_terminal_id(terminal_id).map_err(MerchantError::input)?;
    Ok(terminal_id)
}

/// The TMK's algorithm from a key length: double or triple length TDES (a single-DES TMK
/// protects nothing worth protecting and is refused).
fn tmk_algorithm(len: usize) -> Result<KeyAlgorithm> {
    match len {
        16 => Ok(KeyAlgorithm::Tdes2),
        24 => Ok(KeyAlgorithm::Tdes3),
        _ => Err(MerchantError::input("a TMK is 16 or 24 bytes (32 or 48 hex digits)")),
    }
}

fn check_kek(kek: &WrappedKey) -> Result<()> {
    if !kek.key_type().is_kek() {
        return Err(MerchantError::input("the KEK must be a ZMK or TMK key block under the LMK"));
    }
    Ok(())
}

fn check_component_count(count: usize) -> Result<()> {
    if !(TMK_COMPONENTS_MIN..=TMK_COMPONENTS_MAX).contains(&count) {
        return Err(MerchantError::input(format!(
            "a TMK has {TMK_COMPONENTS_MIN} to {TMK_COMPONENTS_MAX} components (one per key custodian)"
        )));
    }
    Ok(())
}

impl Registry {
    /// Generate a TMK and put it in the form asked for.
    fn generate_and_export(&self, export: &TmkExport) -> Result<(WrappedKey, TmkDelivery)> {
        match export {
            TmkExport::Components(count) => {
                check_component_count(*count)?;
                let tmk = self.hsm.generate_key(KeyType::Tmk, KeyAlgorithm::Tdes2)?;
                let components = self
                    .hsm
                    .export_components(&tmk, *count)?
                    .into_iter()
                    .map(|component| {
                        // The component goes straight into hsm's check value function and out
                        // to its custodian; it is not kept.
                        let kcv = crate::hex::encode(&hsm::kcv::kcv_tdes(component.expose())?);
                        Ok(TmkComponent { component, kcv })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let kcv = tmk.kcv().to_owned();
                Ok((tmk, TmkDelivery { kcv, components, under_kek: None }))
            }
            TmkExport::UnderKek(kek) => {
                check_kek(kek)?;
                let tmk = self.hsm.generate_key(KeyType::Tmk, KeyAlgorithm::Tdes2)?;
                let encrypted = if kek.is_aes() { None } else { Some(self.hsm.export_under_kek(kek, &tmk)?) };
                let key_block = self.hsm.export_key_block(kek, &tmk)?;
                let under_kek = TmkUnderKek { kek_kcv: kek.kcv().to_owned(), encrypted, key_block };
                let kcv = tmk.kcv().to_owned();
                Ok((tmk, TmkDelivery { kcv, components: Vec::new(), under_kek: Some(under_kek) }))
            }
        }
    }

    /// Load a known TMK into the HSM.
    fn import(&self, import: &TmkImport) -> Result<(WrappedKey, TmkDelivery)> {
        let tmk = match import {
            TmkImport::Components(components) => {
                check_component_count(components.len())?;
                let len = components.first().map_or(0, Secret::len);
                if components.iter().any(|component| component.len() != len) {
                    return Err(MerchantError::input("the TMK components differ in length"));
                }
                self.hsm.import_components(KeyType::Tmk, tmk_algorithm(len)?, components)?
            }
            TmkImport::UnderKek { kek, encrypted } => {
                check_kek(kek)?;
                tmk_algorithm(encrypted.len())?;
                self.hsm.import_under_kek(kek, KeyType::Tmk, encrypted)?
            }
        };
        let kcv = tmk.kcv().to_owned();
        Ok((tmk, TmkDelivery { kcv, components: Vec::new(), under_kek: None }))
    }

    fn make_tmk(&self, source: &TmkSource) -> Result<(WrappedKey, TmkDelivery, &'static str)> {
        match source {
            TmkSource::Generate(export) => {
                let (tmk, delivery) = self.generate_and_export(export)?;
                Ok((tmk, delivery, "generated"))
            }
            TmkSource::Import(import) => {
                let (tmk, delivery) = self.import(import)?;
                Ok((tmk, delivery, "imported"))
            }
        }
    }

    /// Register a terminal under an active merchant, with its TMK. The delivery carries the
    /// TMK's check value and, for a generated TMK, its components or its form under the KEK:
    /// shown once, never stored.
    pub fn add_terminal(
        &self,
        merchant_id: &str,
        terminal: &NewTerminal,
        tmk: &TmkSource,
    ) -> Result<(TerminalRecord, TmkDelivery)> {
        let terminal_id = checked_terminal_id(&terminal.terminal_id)?;
        let model = clean_opt_text("terminal model", terminal.model.as_deref(), TERMINAL_TEXT_CHARS_MAX)?;
        let serial = clean_opt_text("terminal serial number", terminal.serial.as_deref(), TERMINAL_TEXT_CHARS_MAX)?;
        // Refuse early, before any key is made, when the answer is already known.
        self.check_can_add(merchant_id, terminal_id)?;
        let (key, delivery, how) = self.make_tmk(tmk)?;
        let now_ms = self.now_ms();
        let record = self.transact(|tx| {
            self.check_can_add_in(tx, merchant_id, terminal_id)?;
            tx.execute(
                &format!(
                    "INSERT INTO merchants_terminals ({TERMINAL_COLUMNS}, tmk_kcv)
                     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, $8)"
                ),
                &[
                    terminal_id.into(),
                    merchant_id.into(),
                    model.clone().into(),
                    serial.clone().into(),
                    TerminalStatus::Installed.name().into(),
                    key.block().into(),
                    int(now_ms),
                    key.kcv().into(),
                ],
            )?;
            let reason = format!("merchant {merchant_id}; TMK {how}, KCV {}", key.kcv());
            store::trail(tx, Subject::Terminal, terminal_id, now_ms, "terminal-added", ACTOR_OPERATOR, &reason)?;
            self.terminal_in(tx, terminal_id)?
                .ok_or_else(|| MerchantError::internal("the terminal just stored is missing"))
        })?;
        Ok((record, delivery))
    }

    fn check_can_add(&self, merchant_id: &str, terminal_id: &str) -> Result<()> {
        self.transact(|tx| self.check_can_add_in(tx, merchant_id, terminal_id))
    }

    fn check_can_add_in(&self, tx: &mut sqlstore::Tx<'_>, merchant_id: &str, terminal_id: &str) -> Result<()> {
        let merchant = self
            .merchant_in(tx, merchant_id)?
            .ok_or_else(|| MerchantError::not_found(format!("no merchant {merchant_id}")))?;
        if merchant.status != MerchantStatus::Active {
            return Err(MerchantError::state(format!(
                "merchant {merchant_id} is {}: terminals are added only under an active merchant",
                merchant.status
            )));
        }
        if let Some(existing) = self.terminal_in(tx, terminal_id)? {
            return Err(MerchantError::state(format!(
                "terminal {terminal_id} is already registered (merchant {})",
                existing.merchant_id
            )));
        }
        Ok(())
    }

    /// A new generated TMK for a registered terminal (re-keying): replaces the stored one. The
    /// terminal must sign on again for working keys under it.
    pub fn generate_tmk(&self, terminal_id: &str, export: &TmkExport) -> Result<(TerminalRecord, TmkDelivery)> {
        let (key, delivery) = self.generate_and_export(export)?;
        let record = self.replace_tmk(terminal_id, &key, "tmk-generated")?;
        Ok((record, delivery))
    }

    /// Load a known TMK (key injection) for a registered terminal: replaces the stored one.
    pub fn import_tmk(&self, terminal_id: &str, import: &TmkImport) -> Result<(TerminalRecord, TmkDelivery)> {
        let (key, delivery) = self.import(import)?;
        let record = self.replace_tmk(terminal_id, &key, "tmk-imported")?;
        Ok((record, delivery))
    }

    fn replace_tmk(&self, terminal_id: &str, key: &WrappedKey, event: &str) -> Result<TerminalRecord> {
        let terminal_id = checked_terminal_id(terminal_id)?;
        let now_ms = self.now_ms();
        self.transact(|tx| {
            let terminal = self.existing_terminal(tx, terminal_id)?;
            if terminal.status == TerminalStatus::Disabled {
                return Err(MerchantError::state(format!("terminal {terminal_id} is disabled")));
            }
            tx.execute(
                "UPDATE merchants_terminals SET tmk_block = $1, tmk_kcv = $2, updated_ms = $3 WHERE terminal_id = $4",
                &[key.block().into(), key.kcv().into(), int(now_ms), terminal_id.into()],
            )?;
            let reason = format!("KCV {} (was {})", key.kcv(), terminal.tmk.kcv());
            store::trail(tx, Subject::Terminal, terminal_id, now_ms, event, ACTOR_OPERATOR, &reason)?;
            self.existing_terminal(tx, terminal_id)
        })
    }

    pub(crate) fn terminal_in(&self, tx: &mut sqlstore::Tx<'_>, terminal_id: &str) -> Result<Option<TerminalRecord>> {
        tx.query_opt(
            &format!("SELECT {TERMINAL_COLUMNS} FROM merchants_terminals WHERE terminal_id = $1"),
            &[terminal_id.into()],
        )?
        .map(|row| store::terminal_from_row(&row))
        .transpose()
    }

    fn existing_terminal(&self, tx: &mut sqlstore::Tx<'_>, terminal_id: &str) -> Result<TerminalRecord> {
        self.terminal_in(tx, terminal_id)?.ok_or_else(|| MerchantError::not_found(format!("no terminal {terminal_id}")))
    }

    /// A terminal by its id (field 41); `None` when unknown (or not a terminal id at all).
    pub fn terminal(&self, terminal_id: &str) -> Result<Option<TerminalRecord>> {
        if validate_terminal_id(terminal_id).is_err() {
            return Ok(None);
        }
        self.transact(|tx| self.terminal_in(tx, terminal_id))
    }

    /// A terminal and its merchant, read together: what the POS host checks each request
    /// against (97 unknown terminal, 03 / 58 merchant or terminal not active).
    pub fn terminal_with_merchant(&self, terminal_id: &str) -> Result<Option<(TerminalRecord, MerchantRecord)>> {
        if validate_terminal_id(terminal_id).is_err() {
            return Ok(None);
        }
        self.read(|tx| {
            let Some(terminal) = self.terminal_in(tx, terminal_id)? else { return Ok(None) };
            let merchant = self
                .merchant_in(tx, &terminal.merchant_id)?
                .ok_or_else(|| MerchantError::internal("a terminal's merchant is missing"))?;
            Ok(Some((terminal, merchant)))
        })
    }

    /// Terminals, of one merchant or all, by id, at most [`LIST_MAX`].
    pub fn list_terminals(&self, merchant_id: Option<&str>) -> Result<Vec<TerminalRecord>> {
        let (filter, params): (&str, Vec<sqlstore::Value>) = match merchant_id {
            Some(merchant_id) => ("WHERE merchant_id = $1", vec![merchant_id.into()]),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT {TERMINAL_COLUMNS} FROM merchants_terminals {filter} ORDER BY terminal_id LIMIT {LIST_MAX}"
        );
        self.transact(|tx| tx.query(&sql, &params)?.iter().map(store::terminal_from_row).collect())
    }

    /// Take a terminal out of service (final). Disabling a disabled terminal changes nothing.
    pub fn disable_terminal(&self, terminal_id: &str) -> Result<TerminalRecord> {
        let terminal_id = checked_terminal_id(terminal_id)?;
        let now_ms = self.now_ms();
        self.transact(|tx| {
            let terminal = self.existing_terminal(tx, terminal_id)?;
            if terminal.status == TerminalStatus::Disabled {
                return Ok(terminal);
            }
            tx.execute(
                "UPDATE merchants_terminals SET status = $1, updated_ms = $2 WHERE terminal_id = $3",
                &[TerminalStatus::Disabled.name().into(), int(now_ms), terminal_id.into()],
            )?;
            store::trail(tx, Subject::Terminal, terminal_id, now_ms, "terminal-disabled", ACTOR_OPERATOR, "")?;
            self.existing_terminal(tx, terminal_id)
        })
    }

    // ---- What the POS host reports -------------------------------------------------------

    /// A successful sign-on at `now_ms`: the terminal becomes active. Refused for a disabled
    /// terminal. (Its batch and settlement state are the POS host's: `acquirer_terminals`.)
    pub fn record_sign_on(&self, terminal_id: &str, now_ms: u64) -> Result<TerminalRecord> {
        let terminal_id = checked_terminal_id(terminal_id)?;
        self.transact(|tx| {
            let terminal = self.existing_terminal(tx, terminal_id)?;
            if terminal.status == TerminalStatus::Disabled {
                return Err(MerchantError::state(format!("terminal {terminal_id} is disabled")));
            }
            tx.execute(
                "UPDATE merchants_terminals SET status = $1, last_sign_on_ms = $2, updated_ms = $2
                 WHERE terminal_id = $3",
                &[TerminalStatus::Active.name().into(), int(now_ms), terminal_id.into()],
            )?;
            self.existing_terminal(tx, terminal_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::validate_terminal_id;

    #[test]
    fn terminal_ids() {
        assert!(validate_terminal_id("12345678").is_ok());
        assert!(validate_terminal_id("POS0001A").is_ok());
        for bad in ["1234567", "123456789", "1234 678", "1234-678", "", "１２３４５６７８"] {
            assert!(validate_terminal_id(bad).is_err(), "{bad:?}");
        }
    }
}
