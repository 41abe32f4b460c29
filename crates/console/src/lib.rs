//! cardnet's web console: server-rendered HTML over a network folder's party databases (no
//! front-end build, no JavaScript; charts are inline SVG drawn here). Operators see the
//! network; a merchant sees only its own transactions and dashboard. Logins are the console's
//! own (argon2id hashes in its own database), sessions expire, every form carries a CSRF token,
//! and logins, exports and changes go to an append-only audit trail. docs/console.md says
//! which page shows what.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
mod charts;
pub mod data;
mod error;
pub mod format;
pub mod html;
pub mod limits;
mod login;
pub mod netdata;
mod netdata_acquirer;
mod netdb;
mod netfiles;
mod network_metrics;
mod pages;
mod pages_exceptions;
mod pages_merchant;
mod pages_operator;
mod pages_risk;
mod pages_settlement;
mod pages_statements;
mod pages_txn;
pub mod store;
mod web;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use auth::HashCost;
pub use data::ConsoleData;
pub use error::ConsoleError;
pub use store::{AuditEntry, Role, Store, User};
pub use web::router;

use crate::limits::{SESSION_AGE_MS_MAX, SESSION_IDLE_MS_MAX};

/// The console: its own database, the data it shows, the clock sessions expire by.
pub struct Console {
    pub store: Store,
    pub data: Arc<dyn ConsoleData>,
    pub clock: Arc<dyn clock::Clock>,
    /// The cost of new password hashes.
    pub cost: HashCost,
    /// Cookies marked `Secure`: set when a TLS-terminating proxy serves the console over HTTPS
    /// (browsers refuse `Secure` cookies over plain `http://` to any host but localhost).
    pub secure_cookies: bool,
    /// The parties' log folder: their admin endpoints are found there for `/metrics`
    /// (`network_metrics.rs`); `None`: the console's `/metrics` covers no party.
    pub party_logs: Option<std::path::PathBuf>,
    /// A hash no password matches, checked when a login names no user (equal work).
    dummy_hash: std::sync::OnceLock<String>,
}

impl Console {
    pub fn new(store: Store, data: Arc<dyn ConsoleData>, clock: Arc<dyn clock::Clock>) -> Console {
        Console::with_cost(store, data, clock, HashCost::DEFAULT)
    }

    pub fn with_cost(
        store: Store,
        data: Arc<dyn ConsoleData>,
        clock: Arc<dyn clock::Clock>,
        cost: HashCost,
    ) -> Console {
        Console {
            store,
            data,
            clock,
            cost,
            secure_cookies: false,
            party_logs: None,
            dummy_hash: std::sync::OnceLock::new(),
        }
    }

    fn dummy_hash(&self) -> Result<&str, ConsoleError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash);
        }
        let hash = auth::hash_password(&auth::generate_password()?, self.cost)?;
        Ok(self.dummy_hash.get_or_init(|| hash))
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub(crate) fn session(&self, digest: &str) -> Result<Option<store::Session>, ConsoleError> {
        self.store.session(digest, self.now_ms(), SESSION_IDLE_MS_MAX, SESSION_AGE_MS_MAX)
    }

    /// One line in the audit trail, now.
    pub fn audit(&self, who: &str, action: &str, target: &str, outcome: &str) -> Result<(), ConsoleError> {
        self.store.audit(self.now_ms(), who, action, target, outcome)
    }

    /// Add a user from the users page, audited under `by`.
    pub fn add_user(&self, by: &str, name: &str, role: &Role, password: &str) -> Result<User, ConsoleError> {
        add_user(&self.store, self.cost, self.now_ms(), by, name, role, password)
    }
}

/// Add a user (the CLI and the users page): name and password checked, the password hashed at
/// `cost`, the addition audited under `by` whatever its outcome.
pub fn add_user(
    store: &Store,
    cost: HashCost,
    now_ms: u64,
    by: &str,
    name: &str,
    role: &Role,
    password: &str,
) -> Result<User, ConsoleError> {
    let target = format!("user {name} ({})", role.name());
    let result = auth::check_user_name(name).and_then(|()| {
        if let Role::Merchant(id) = role {
            check_merchant_id(id)?;
        }
        let hash = auth::hash_password(password, cost)?;
        store.add_user(name, role, &hash, now_ms)
    });
    let outcome = match &result {
        Ok(_) => "done".to_owned(),
        Err(error) => format!("refused: {error}"),
    };
    store.audit(now_ms, by, "user.add", &target, &outcome)?;
    result
}

/// A merchant user's binding: a merchant id as field 42 carries it (15 printable characters at
/// most, no spaces inside), bare (the first acquirer's merchant) or as `ACQUIRER:MERCHANT`
/// (the merchant of that acquirer's registry: two acquirers may issue the same id).
pub fn check_merchant_id(id: &str) -> Result<(), ConsoleError> {
    let merchant = data::MerchantRef::parse(id);
    domain::MerchantId::new(&merchant.merchant_id)
        .map(|_| ())
        .map_err(|e| ConsoleError::BadInput(format!("merchant id {id:?}: {e}")))
}

/// Serve `console` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(console)).with_graceful_shutdown(shutdown).await
}
