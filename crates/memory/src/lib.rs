//! In-memory adapters. Embedded mode runs on them, so they are held to the same
//! contracts as the networked adapters.

mod gate;

pub use gate::MemoryGate;
