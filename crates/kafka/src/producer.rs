//! The distributed [`IssueLog`]: an idempotent producer with `acks=all`. `append`
//! returns only when the broker has acknowledged the record, so an ACCEPTED answer is
//! in the log before the caller hears it.
//!
//! The producer heals itself: librdkafka's idempotent producer can end in a fatal state
//! (or, against a broker that lost its producer state, keep timing out after the broker
//! is back). After a fatal error, or after [`REBUILD_AFTER_FAILURES`] failures in a row
//! with no success, the next failing append replaces it with a fresh one (at most once
//! per produce timeout). Records still in flight on the old producer keep it alive until
//! their own answers arrive, so nothing is purged by the swap.
//!
//! The record carries the request's trace id in the `x-global-trace-id` header, taken
//! from the task-local scope the HTTP middleware set (the `IssueLog` port stays free of
//! it), so the consumer can log it with the record.

use crate::config::KafkaConfig;
use crate::message::{IssueMessage, TRACE_ID_HEADER};
use async_trait::async_trait;
use couponrush_domain::IssueRequest;
use couponrush_domain::ports::{IssueLog, LogError};
use couponrush_telemetry::trace::current_trace_id;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

/// Failures in a row (with no success between) after which the producer is replaced.
pub const REBUILD_AFTER_FAILURES: u32 = 3;

pub struct KafkaLog {
    config: KafkaConfig,
    producer: RwLock<Arc<FutureProducer>>,
    failures_in_a_row: AtomicU32,
    rebuilds: AtomicU32,
    /// When the producer was last built; also serialises rebuilds.
    built_at: Mutex<Instant>,
}

impl KafkaLog {
    /// Must be called inside a Tokio runtime.
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: RwLock::new(Arc::new(build_producer(config)?)),
            config: config.clone(),
            failures_in_a_row: AtomicU32::new(0),
            rebuilds: AtomicU32::new(0),
            built_at: Mutex::new(Instant::now()),
        })
    }

    fn current(&self) -> Arc<FutureProducer> {
        self.producer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many producers this log has built beyond the first (for tests and logs).
    pub fn rebuilds(&self) -> u32 {
        self.rebuilds.load(Ordering::Relaxed)
    }

    /// Called after `failed` (the producer that was used) reported an error.
    fn after_failure(&self, failed: &Arc<FutureProducer>) {
        let failures = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        let fatal = failed.client().fatal_error();
        if fatal.is_none() && failures < REBUILD_AFTER_FAILURES {
            return;
        }
        let mut built_at = self.built_at.lock().unwrap_or_else(PoisonError::into_inner);
        // Someone else already replaced it, or it is too young to judge (unless fatal).
        if !Arc::ptr_eq(&self.current(), failed)
            || (fatal.is_none() && built_at.elapsed() < self.config.produce_timeout)
        {
            return;
        }
        match build_producer(&self.config) {
            Ok(fresh) => {
                *self
                    .producer
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
                *built_at = Instant::now();
                self.failures_in_a_row.store(0, Ordering::Relaxed);
                self.rebuilds.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(failures, fatal = ?fatal, "replaced the Kafka producer");
            }
            Err(e) => tracing::error!(error = %e, "could not replace the Kafka producer"),
        }
    }

    /// Whether the broker answers a metadata request (for `/ready`).
    pub async fn ping(&self) -> bool {
        let producer = self.current();
        let topic = self.config.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(
                    Some(&topic),
                    Timeout::After(std::time::Duration::from_secs(2)),
                )
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    /// Sends one record with an optional trace id; `Ok` once acknowledged.
    pub async fn send(
        &self,
        request: &IssueRequest,
        trace_id: Option<&str>,
    ) -> Result<(), LogError> {
        let payload = IssueMessage::from(request).to_json();
        let key = request.user_id.into_uuid();
        let mut record = FutureRecord::to(&self.config.topic)
            .payload(&payload)
            .key(key.as_bytes().as_slice());
        if let Some(trace) = trace_id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: TRACE_ID_HEADER,
                value: Some(trace),
            }));
        }
        let producer = self.current();
        match producer
            .send(record, Timeout::After(self.config.produce_timeout))
            .await
        {
            Ok(_) => {
                self.failures_in_a_row.store(0, Ordering::Relaxed);
                Ok(())
            }
            Err((e, _)) => {
                self.after_failure(&producer);
                Err(LogError::Unavailable(format!("kafka produce: {e}")))
            }
        }
    }

    /// Waits for in-flight records at shutdown.
    pub fn flush(&self) {
        let _ = self
            .current()
            .flush(Timeout::After(self.config.produce_timeout));
    }
}

fn build_producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaError> {
    let timeout_ms = config.produce_timeout.as_millis().max(1).to_string();
    config
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", config.linger_ms.to_string())
        // librdkafka gives up on a record after this long; the append then fails and
        // the reservation is released. Keep it equal to our own bound.
        .set("message.timeout.ms", &timeout_ms)
        .set("request.timeout.ms", &timeout_ms)
        .create()
}

#[async_trait]
impl IssueLog for KafkaLog {
    async fn append(&self, request: IssueRequest) -> Result<(), LogError> {
        let trace = current_trace_id();
        self.send(&request, trace.as_deref()).await
    }
}
