//! Middleware every route runs through: the trace id (outermost, so every log line of
//! the request carries it) and the HTTP metrics.

pub mod http_metrics;
pub mod trace_id;
