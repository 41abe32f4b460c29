//! The optional `[admin]` section of a party's configuration: where its admin endpoint
//! (`/metrics`, `/healthz`, `/readyz`; docs/operations.md) listens. Absent: no endpoint unless
//! `cardnet serve … --admin-listen ADDR` asks for one (the option wins over the file).
//!
//! ```toml
//! [admin]
//! listen = "127.0.0.1:9400"   # port 0 picks a free port; `cardnet serve` prints the bound one
//! ```

use std::net::SocketAddr;

use serde::Deserialize;

use crate::toml_text::quote;

/// The `[admin]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// `IP:PORT` of the admin endpoint; a loopback or management address, never the public one.
    pub listen: Option<SocketAddr>,
}

impl AdminSection {
    /// The section as a configuration writes it (nothing when no endpoint is configured).
    pub fn to_toml(&self) -> String {
        match self.listen {
            Some(listen) => format!(
                "\n# The admin endpoint: /metrics, /healthz, /readyz (docs/operations.md).\n[admin]\nlisten = {}\n",
                quote(&listen.to_string())
            ),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        admin: AdminSection,
    }

    #[test]
    fn round_trips_and_refuses_unknown_keys_and_bad_addresses() {
        let section = AdminSection { listen: Some("127.0.0.1:9400".parse().unwrap()) };
        let file: File = toml::from_str(&section.to_toml()).unwrap();
        assert_eq!(file.admin, section);
        assert_eq!(toml::from_str::<File>("").unwrap().admin, AdminSection::default());
        assert!(toml::from_str::<File>("[admin]\nlisten = \"nowhere\"\n").is_err());
        assert!(toml::from_str::<File>("[admin]\nport = 1\n").is_err());
        assert_eq!(AdminSection::default().to_toml(), "");
    }
}
