//! Redis adapters of distributed mode: [`RedisGate`], the issue gate every api node
//! shares, [`RedisWaitingLine`], the waiting rooms they share, and
//! [`RedisRateLimiter`], the rate limit every consumer instance shares.
//!
//! Each gate step is one Lua script on one multiplexed connection: atomic without
//! locks or transactions, one round trip, and pipelined with every other caller's.
//! Keys are hash-tagged per coupon so every script touches one cluster slot and the
//! same code runs on a Redis Cluster (`connect.rs`; tested against a three-master cluster in
//! `tests/cluster.rs`).

mod attempts;
mod connect;
mod error;
mod gate;
mod idempotency;
mod keys;
pub mod lease;
mod rate_limit;
mod scripts;
mod seed;
mod waiting_line;

pub use attempts::RedisAttemptLimiter;
pub use connect::{RESPONSE_TIMEOUT, RedisConnection, connection, connection_with_timeout};
pub use error::SetupError;
pub use gate::RedisGate;
pub use idempotency::RedisIdempotency;
pub use rate_limit::{RateLimit, RedisRateLimiter};
pub use waiting_line::RedisWaitingLine;
