//! The fault matrix (`scripts/faults`): for each fault, a rush of fresh users against
//! real couponrush processes (the binary itself, not an in-process copy, so SIGKILL is
//! real), the fault injected in the middle and healed, then every recorded answer judged
//! against the final state read through the public API and the database.
//!
//! Modules: `fault` (the faults, run sizes), `node` (couponrush processes), `embedded`
//! and `distributed` (deployments), `admin` (the operator's API calls), `crowd` (the
//! users), `history` (what they were answered), `judge` (the guarantees as counts),
//! `run` (one cell), `table` (the matrix as Markdown).

pub mod admin;
pub mod crowd;
pub mod distributed;
pub mod embedded;
pub mod fault;
pub mod history;
pub mod judge;
pub mod node;
pub mod run;
pub mod table;

pub use fault::{Fault, Size};
pub use node::Binary;
pub use run::{Cell, run};

/// The token secret every process of a run shares (minted users, admin).
pub const SECRET: &str = "fault-matrix-secret-of-at-least-32-bytes!";
