//! SQLite adapters for embedded mode: the stores for users, coupons and issued coupons,
//! the batch persister, and the group-commit issue log that makes an ACCEPTED answer
//! durable by persisting batches through it.

mod connect;
mod coupons;
mod error;
mod group_commit;
mod issued;
mod persist;
mod rows;
mod users;

pub use connect::{SqliteStore, open, open_writer};
pub use group_commit::{BatchConfig, GroupCommitLog, GroupCommitWriter};
