//! In-memory adapters. Embedded mode runs on them, so they are held to the same
//! contracts as the networked adapters.

mod attempts;
mod gate;
mod idempotency;
mod waiting_line;

pub use attempts::MemoryAttemptLimiter;
pub use gate::MemoryGate;
pub use idempotency::MemoryIdempotency;
pub use waiting_line::MemoryWaitingLine;
