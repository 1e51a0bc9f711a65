//! The issue consumer's metric handles, resolved once per worker so the per-batch path
//! does no registry lookups. Names are the contract of `docs/METRICS.md`.

use couponrush_telemetry::metrics::names::{
    CONSUMER_BATCH_DURATION_SECONDS, CONSUMER_BATCH_RECORDS, CONSUMER_DLQ_PUBLISHED_TOTAL,
    CONSUMER_POLL_INTERVAL_SECONDS, CONSUMER_RATE_LIMIT_WAIT_SECONDS, CONSUMER_RECORDS_TOTAL,
    CONSUMER_RETRIES_TOTAL, CONSUMER_ROWS_DUPLICATE_TOTAL, CONSUMER_ROWS_INSERTED_TOTAL,
};
use metrics::{Counter, Histogram};

pub(crate) struct WorkerMetrics {
    pub records: Counter,
    pub batch_records: Histogram,
    pub batch_duration: Histogram,
    pub poll_interval: Histogram,
    pub rate_limit_wait: Histogram,
    pub inserted: Counter,
    pub duplicates: Counter,
    pub retries: Counter,
    pub dlq_published: Counter,
}

impl WorkerMetrics {
    /// Resolves the handles from the process's recorder (install it first).
    pub fn new() -> Self {
        Self {
            records: metrics::counter!(CONSUMER_RECORDS_TOTAL),
            batch_records: metrics::histogram!(CONSUMER_BATCH_RECORDS),
            batch_duration: metrics::histogram!(CONSUMER_BATCH_DURATION_SECONDS),
            poll_interval: metrics::histogram!(CONSUMER_POLL_INTERVAL_SECONDS),
            rate_limit_wait: metrics::histogram!(CONSUMER_RATE_LIMIT_WAIT_SECONDS),
            inserted: metrics::counter!(CONSUMER_ROWS_INSERTED_TOTAL),
            duplicates: metrics::counter!(CONSUMER_ROWS_DUPLICATE_TOTAL),
            retries: metrics::counter!(CONSUMER_RETRIES_TOTAL),
            dlq_published: metrics::counter!(CONSUMER_DLQ_PUBLISHED_TOTAL),
        }
    }
}
