//! The deterministic simulation of a cardnet network (issue 15, first slice).
//!
//! One process, one thread: the real party cores (`switch::Switch`, `issuer::Issuer`) behind
//! the party contract (`host::Party`, through [`node::PartyNode`]), each on its own SQLite
//! database, driven by a discrete-event loop ([`driver::Sim`]) over a simulated clock
//! (`clock::ManualClock`) and simulated links ([`link::LinkConfig`]: latency, loss,
//! duplication, optional reordering). Every random choice comes from the seed
//! ([`rng::Rng`]), the HSM's included (`hsm::entropy`), so a seed replays a run byte for byte
//! ([`trace::Trace`]). Parties crash (losing their memory) and restart from their databases;
//! links are partitioned for a while. A run checks its invariants at the end ([`run::run`]).
//!
//! Not yet: the acquirer host and the terminal core (the client is an acquirer member's
//! switch link, [`client`]), connection cuts, a crash inside a commit (storage that loses
//! unsynced writes), clock skew.

pub mod check;
pub mod driver;
pub mod link;
pub mod node;
pub mod pos;
pub mod rng;
pub mod run;
pub mod trace;
pub mod world;

pub use link::LinkConfig;
pub use run::{SimOptions, SimReport, replay_command, run};
