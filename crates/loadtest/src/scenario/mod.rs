//! The scenarios: a rush (`rush.rs`), a constant arrival rate (`rate.rs`), both made of
//! issue requests (`issue.rs`), and constant load on `/health` (`health.rs`), the server's
//! ceiling to compare the issue path against.

pub mod health;
pub mod issue;
pub mod rate;
pub mod rush;
