//! Starts real couponrush servers for tests: the same wiring as the binary, on a random
//! port, against a fresh data directory, with typed helpers for the API.

pub mod browser;
mod client;
mod counting;
mod distributed;
mod embedded;
pub mod prometheus;
mod room;
mod rush;

pub use client::{CouponSpec, Reply, scrape};
pub use counting::CountingStore;
pub use couponrush_testenv as env;
pub use distributed::{ConsumerHandle, Distributed, TEST_JWT_SECRET, start_consumer, test_config};
pub use embedded::{
    ADMIN_PASSWORD, ADMIN_USERNAME, ALLOW_ISSUE_INSERTS, REFUSE_ISSUE_INSERTS, TestApp,
};
pub use prometheus::Exposition;
pub use room::AdmittedWait;
pub use rush::RushTally;
