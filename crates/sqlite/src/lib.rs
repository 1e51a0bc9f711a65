//! SQLite adapters for embedded mode: the stores for users, coupons, issued coupons and
//! refresh-token sessions, the batch persister, and the group-commit issue log that
//! makes an ACCEPTED answer durable by persisting batches through it.

mod by_user;
mod checkpoint;
mod connect;
mod coupons;
mod error;
mod group_commit;
mod issued;
mod persist;
mod rows;
mod sessions;
mod users;

pub use by_user::ByUserConfig;
pub use checkpoint::CheckpointConfig;
pub use connect::{READER_CACHE_KIB, SqliteStore, WRITER_CACHE_KIB, open, open_writer};
pub use group_commit::{BatchConfig, GroupCommitLog, GroupCommitWriter};
pub use issued::{HOLDERS_SELECT, LIST_OWNED_SELECT};
