//! The deterministic simulation of a cardnet network (issue 15).
//!
//! One process, one thread: POS terminals — the real terminal core (`terminal::Terminal`, the
//! `host::Client` half of the party contract, each on its own journal, driven in the shell's
//! order by [`pos::PosNode`]) — and the real party cores (`acquirer::Acquirer`,
//! `switch::Switch`, two `issuer::Issuer`s) behind the party contract (`host::Party`, through
//! [`node::PartyNode`]), each on its own SQLite database, driven by a discrete-event loop
//! ([`driver::Sim`]) over a simulated clock (`clock::ManualClock`) and simulated links
//! ([`link::LinkConfig`]: latency, loss, duplication, optional reordering; cup-pos between
//! terminal and acquirer, the network dialect beyond). Every random choice comes from the seed
//! ([`rng::Rng`]), the HSM's, the terminals' and the cards' included (`hsm::entropy`), so a seed
//! replays a run byte for byte ([`trace::Trace`]). The workload is a business day at the
//! terminals ([`workload`]): sign-on; sales by chip, tap or swipe (the stripe after the chip
//! failed) with PINs, some voided, some refunded; balance inquiries; pre-authorizations, some
//! voided, most completed, some completions voided; cards the issuer declines (a mistyped PIN,
//! no funds, expired, lost, blocked); settlement with batch upload halfway and at the end of the
//! day; sign-off. Parties and terminals crash (losing their memory) and restart from their
//! databases; a party's power fails before the commit of the batch it is deciding
//! (`sqlstore::power_cut`); links are partitioned for a while, and connections close under open
//! requests. After every call into a party that committed, the driver reads the core's own
//! invariants ([`node::Node::invariants`]: an issuer's ledger balances and resolves no pending
//! transfer twice). A run checks the rest once the network is quiet ([`check`]) and that the
//! parties agree on the day ([`agree`]: declines with their codes, each issuer's holds, postings
//! and credits per kind, the switch's journal); then (unless `end_of_day` is off) it takes its
//! day through end of day — the `eod` crate's steps, as `cardnet eod run` takes them, on the
//! run's clock ([`eod`]) — and checks the books against what the terminals saw ([`books`]).
//!
//! Not yet: storage that loses writes a commit reported durable, clock skew.

pub mod agree;
pub mod books;
pub mod check;
pub mod driver;
pub mod eod;
pub mod link;
pub mod node;
pub mod pos;
pub mod rng;
pub mod run;
pub mod trace;
pub mod workload;
pub mod world;

pub use link::LinkConfig;
pub use run::{SimOptions, SimReport, replay_command, run};
