//! MariaDB/MySQL adapters for distributed mode: the stores for users, coupons, issued
//! coupons, failed events and refresh-token sessions, and the batch persister the
//! consumers write through.
//!
//! Migrations are separate from connecting ([`migrate`] vs [`open`]) because in
//! distributed mode many processes connect but one deploy step owns the schema.

mod connect;
mod coupons;
mod error;
mod failed_events;
mod issued;
mod persist;
mod rows;
mod sessions;
mod users;

pub use connect::{MysqlStore, migrate, open};
pub use issued::HOLDERS_SELECT;
