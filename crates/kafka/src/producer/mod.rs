//! The distributed [`IssueLog`]: a producer with `acks=all` (idempotent only if
//! `KafkaConfig::idempotence` says so). `append` returns only when the broker has
//! acknowledged the record, so an ACCEPTED answer is in the log before the caller
//! hears it. Without idempotence a retry may write a record twice or out of order;
//! the consumers insert it once and count it once, so that costs a no-op insert.
//!
//! A failed append says whether the record may still be in the log (see `delivery.rs`):
//! `LogError::Unavailable` when librdkafka is sure it is not (the caller releases its
//! reservation), `LogError::Indeterminate` when the broker may have written it (the
//! reservation is kept: releasing it could let a later request take a unit this record
//! will consume).
//!
//! The producer heals itself: an idempotent librdkafka producer can end in a fatal
//! state (or, against a broker that lost its producer state, keep timing out after the
//! broker is back). After a fatal error, or after [`REBUILD_AFTER_FAILURES`] failures in a row
//! with no success, the next failing append replaces it with a fresh one (at most once
//! per produce timeout). Records still in flight on the old producer keep it alive until
//! their own answers arrive, so nothing is purged by the swap.
//!
//! The record carries the request's trace id in the `x-global-trace-id` header, taken
//! from the task-local scope the HTTP middleware set (the `IssueLog` port stays free of
//! it), so the consumer can log it with the record.

mod delivery;

use crate::config::KafkaConfig;
use crate::message::{IssueMessage, TRACE_ID_HEADER};
use async_trait::async_trait;
use couponrush_domain::IssueRequest;
use couponrush_domain::ports::{IssueLog, LogError};
use couponrush_telemetry::trace::current_trace_id;
use delivery::{Delivery, Reports};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Failures in a row (with no success between) after which the producer is replaced.
pub const REBUILD_AFTER_FAILURES: u32 = 3;

/// How long a full local queue is waited out (in steps) before the append fails.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(2);

/// Beyond `message.timeout.ms`, how long to wait for a delivery report that librdkafka
/// owes us before treating the record as possibly persisted.
const REPORT_GRACE: Duration = Duration::from_secs(5);

type IssueProducer = ThreadedProducer<Reports>;

pub struct KafkaLog {
    config: KafkaConfig,
    producer: RwLock<Arc<IssueProducer>>,
    failures_in_a_row: AtomicU32,
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
            built_at: Mutex::new(Instant::now()),
        })
    }

    fn current(&self) -> Arc<IssueProducer> {
        self.producer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Called after `failed` (the producer that was used) reported an error.
    fn after_failure(&self, failed: &Arc<IssueProducer>) {
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
                .fetch_metadata(Some(&topic), Timeout::After(Duration::from_secs(2)))
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
        let producer = self.current();
        let delivery = self.deliver(&producer, request, trace_id).await;
        match delivery {
            Delivery::Persisted => {
                // Read first: every append succeeds in the normal case, and a store on
                // each would bounce this cache line between the worker threads.
                if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
                    self.failures_in_a_row.store(0, Ordering::Relaxed);
                }
                Ok(())
            }
            Delivery::NotPersisted(e) => {
                self.after_failure(&producer);
                Err(LogError::Unavailable(format!("kafka produce: {e}")))
            }
            Delivery::PossiblyPersisted(e) => {
                self.after_failure(&producer);
                Err(LogError::Indeterminate(format!("kafka produce: {e}")))
            }
        }
    }

    /// Enqueues the record (waiting out a full local queue within the produce timeout)
    /// and awaits its delivery report.
    async fn deliver(
        &self,
        producer: &IssueProducer,
        request: &IssueRequest,
        trace_id: Option<&str>,
    ) -> Delivery {
        let payload = IssueMessage::from(request).to_json();
        let key = request.user_id.into_uuid();
        let deadline = tokio::time::Instant::now() + self.config.produce_timeout;
        let (report, answer) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(&self.config.topic, Box::new(report))
            .payload(&payload)
            .key(key.as_bytes().as_slice());
        if let Some(trace) = trace_id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: TRACE_ID_HEADER,
                value: Some(trace),
            }));
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if tokio::time::Instant::now() < deadline =>
                {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                // Never handed to librdkafka: certainly not in the log.
                Err((e, _)) => return Delivery::NotPersisted(e),
            }
        }
        // librdkafka reports every record within message.timeout.ms; the grace covers a
        // report that is late, and a missing one is treated as the ambiguous case.
        let bound = self.config.produce_timeout + REPORT_GRACE;
        match tokio::time::timeout(bound, answer).await {
            Ok(Ok(delivery)) => delivery,
            Ok(Err(_)) | Err(_) => Delivery::PossiblyPersisted(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            )),
        }
    }

    /// Waits for in-flight records at shutdown.
    pub fn flush(&self) {
        let _ = self
            .current()
            .flush(Timeout::After(self.config.produce_timeout));
    }
}

fn build_producer(config: &KafkaConfig) -> Result<IssueProducer, KafkaError> {
    let timeout_ms = config.produce_timeout.as_millis().max(1).to_string();
    config
        .producer_client()
        .set("linger.ms", config.linger_ms.to_string())
        // librdkafka gives up on a record after this long; the append then fails. Keep it
        // equal to our own bound.
        .set("message.timeout.ms", &timeout_ms)
        .set("request.timeout.ms", &timeout_ms)
        .create_with_context(Reports)
}

#[async_trait]
impl IssueLog for KafkaLog {
    async fn append(&self, request: IssueRequest) -> Result<(), LogError> {
        let trace = current_trace_id();
        self.send(&request, trace.as_deref()).await
    }
}
