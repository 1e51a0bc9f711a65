//! Contract suites: the behaviour each port promises, pinned once. An adapter proves
//! itself by running the suite against a fresh instance (a new key prefix, database or
//! in-memory value): `gate` takes a factory and makes one per check; `stores`,
//! `failed_events` and `sessions` take one fresh store and give each check its own ids.

pub mod attempts;
pub mod failed_events;
pub mod gate;
pub mod idempotency;
pub mod sessions;
pub mod stores;
pub mod waiting_line;
