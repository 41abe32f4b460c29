//! End of day, the part every party shares: what a business date is and when it ends
//! ([`date`]), the clearing record the switch produces and the members read ([`record`]), its
//! two file forms with a checked trailer ([`file`]), the network's fees ([`fees`]) and the
//! multilateral net positions they settle to ([`net`]).
//!
//! Plain logic, no I/O beyond `std::io::{Read, Write}` streams: the switch writes files with it,
//! the issuer and acquirer read them, reconciliation and the simulation use the same types.

pub mod date;
pub mod fees;
pub mod file;
#[doc(hidden)]
pub mod fuzzing;
pub mod net;
pub mod record;
pub mod synthetic;

pub use date::{BusinessDate, CutOff, DateError};
pub use fees::{CardKind, FeeRate, FeeSchedule, Fees};
pub use net::{NetPositions, Position};
pub use record::{ClearingRecord, TxnCode};
