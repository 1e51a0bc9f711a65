//! Handlers, one module per resource. Each is thin: parse → use case → map the result.

pub mod accounts;
pub mod admin;
pub mod coupons;
pub mod docs;
pub mod health;
pub mod issue;
pub mod me;
pub mod metrics;
