//! The acquirer host on a test network ([`provision::acquirer_host`]), its terminal's TMK from
//! two known components, so a test can play the terminal with [`tmk_clear`].

use hsm::Secret;
use merchants::{TmkImport, TmkSource};
pub use provision::acquirer_host::{AcquirerHost, MERCHANT_NAME, TERMINAL_ID, licence};
use provision::local::LocalNetwork;

/// The two components of the terminal's TMK (key injection).
pub const TMK_A: [u8; 16] = [0x11; 16];
pub const TMK_B: [u8; 16] = [0x22; 16];

/// The clear TMK: the components XORed (what the terminal holds).
pub fn tmk_clear() -> Secret {
    let bytes: Vec<u8> = TMK_A.iter().zip(TMK_B.iter()).map(|(a, b)| a ^ b).collect();
    Secret::from_vec(bytes)
}

/// Onboard a merchant and terminal POS00001 (TMK from [`TMK_A`] and [`TMK_B`]) and start the
/// acquirer host signed on to the network's switch.
pub async fn start(net: &LocalNetwork, switch_timeout_ms: u64) -> provision::Result<AcquirerHost> {
    let components = TmkImport::Components(vec![Secret::new(&TMK_A), Secret::new(&TMK_B)]);
    provision::acquirer_host::start(net, switch_timeout_ms, TmkSource::Import(components)).await
}
