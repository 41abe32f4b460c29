//! The whole network on loopback for the integration tests: [`provision::local`]'s network
//! (the parties' production servers) with the layout's constants and the key ceremony under
//! the names the tests use, and an [`TestNetwork::issuer`] that fails the test instead of
//! returning an error.

use std::ops::{Deref, DerefMut};

pub use provision::ceremony::{NetworkConfigs, generate};
pub use provision::layout::{ACQUIRER_ID, CURRENCY, ISSUER_A, ISSUER_B, ISSUER_BINS, ISSUER_IDS, SWITCH_ID};
use provision::local::LocalNetwork;
pub use provision::local::{LocalIssuer as TestIssuer, NetworkOptions, blocking};

/// A [`LocalNetwork`] for a test.
pub struct TestNetwork(LocalNetwork);

impl Deref for TestNetwork {
    type Target = LocalNetwork;

    fn deref(&self) -> &LocalNetwork {
        &self.0
    }
}

impl DerefMut for TestNetwork {
    fn deref_mut(&mut self) -> &mut LocalNetwork {
        &mut self.0
    }
}

impl TestNetwork {
    /// Build the keys and configurations, start both issuers (behind their proxies) and the switch.
    pub async fn start(options: NetworkOptions) -> provision::Result<TestNetwork> {
        LocalNetwork::start(options).await.map(TestNetwork)
    }

    /// The issuer core of issuer `index` (one of the layout's constants).
    #[allow(clippy::panic)] // Test support: a wrong index is the test's mistake, shown at once.
    pub fn issuer(&self, index: usize) -> &issuer::Issuer {
        match self.0.issuer(index) {
            Ok(issuer) => issuer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Stop everything and drop the PostgreSQL schemas this network made.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}
