//! The scenarios: a rush (`rush.rs`), a constant arrival rate (`rate.rs`) and a waiting
//! room (`waiting_room.rs`), all made of issue requests (`issue.rs`) whose users follow
//! the coupon's waiting room when it is on (`room.rs`), and constant load on `/health`
//! (`health.rs`), the server's ceiling to compare the issue path against.

pub mod health;
pub mod issue;
pub mod rate;
pub mod room;
pub mod rush;
pub mod waiting_room;
