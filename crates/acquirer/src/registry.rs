//! [`TerminalDirectory`] over the merchants registry (`crates/merchants`): the acquirer reads
//! terminals and merchants from it and reports sign-ons to it (the batch and settlement state
//! are the acquirer's own, `acquirer_terminals`).
//! Both keep their tables in the acquirer's one database (`merchants_*`, `acquirer_*`).

use crate::directory::{MerchantRecord, MerchantStatus, TerminalDirectory, TerminalRecord, TerminalStatus};

impl TerminalDirectory for merchants::Registry {
    fn terminal_with_merchant(&self, terminal_id: &str) -> Result<Option<(TerminalRecord, MerchantRecord)>, String> {
        let found = merchants::Registry::terminal_with_merchant(self, terminal_id).map_err(|e| e.to_string())?;
        Ok(found.map(|(terminal, merchant)| {
            let status = match terminal.status {
                merchants::types::TerminalStatus::Installed => TerminalStatus::Installed,
                merchants::types::TerminalStatus::Active => TerminalStatus::Active,
                merchants::types::TerminalStatus::Disabled => TerminalStatus::Disabled,
            };
            let merchant_status = match merchant.status {
                merchants::types::MerchantStatus::Active => MerchantStatus::Active,
                _ => MerchantStatus::Inactive,
            };
            // A limit of 0 in the registry means none.
            let limit = |value: u64| (value > 0).then_some(value);
            (
                TerminalRecord {
                    terminal_id: terminal.terminal_id,
                    merchant_id: terminal.merchant_id,
                    status,
                    tmk: terminal.tmk,
                    batch_no: merchants::limits::BATCH_NO_FIRST,
                },
                MerchantRecord {
                    merchant_id: merchant.merchant_id,
                    name: merchant.name,
                    mcc: merchant.mcc,
                    city: merchant.city,
                    status: merchant_status,
                    single_max_minor: limit(merchant.limits.single_max_minor),
                    daily_max_minor: limit(merchant.limits.daily_max_minor),
                    void_any_terminal: merchant.void_any_terminal,
                    onboarded_ms: Some(merchant.activated_ms),
                },
            )
        }))
    }

    /// This process's registry changes ([`merchants::change_count`]) with the database's data
    /// version (other connections' commits); none on PostgreSQL, which has no data version.
    fn version(&self) -> Option<u128> {
        let changes = merchants::change_count();
        let data = self.database().data_version().ok()??;
        Some((u128::from(changes) << 64) | u128::from(data as u64))
    }

    fn record_sign_on(&self, terminal_id: &str, now_ms: u64) -> Result<(), String> {
        merchants::Registry::record_sign_on(self, terminal_id, now_ms).map(|_| ()).map_err(|e| e.to_string())
    }
}
