//! Observability for every couponrush process, set up in one place:
//!
//! - [`logs`]: the tracing subscriber (human text or JSON lines; span fields such as
//!   `trace_id` appear in both), and [`capture`] for tests that assert on log lines;
//! - [`metrics`]: the one Prometheus recorder per process, the metric names of
//!   `docs/METRICS.md` and what each process registers;
//! - [`trace`]: the trace id that follows a request from HTTP through Kafka into the
//!   consumer's logs.

pub mod capture;
pub mod error_tracking;
pub mod logs;
pub mod metrics;
pub mod trace;

pub use logs::{LogFormat, init};
