//! In-memory adapters. Embedded mode runs on them, so they are held to the same
//! contracts as the networked adapters.

mod gate;
mod idempotency;

pub use gate::MemoryGate;
pub use idempotency::MemoryIdempotency;
