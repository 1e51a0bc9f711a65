//! The distributed [`IssueLog`]: an idempotent producer with `acks=all`. `append`
//! returns only when the broker has acknowledged the record, so an ACCEPTED answer is
//! in the log before the caller hears it.
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

pub struct KafkaLog {
    producer: FutureProducer,
    topic: String,
    timeout: std::time::Duration,
}

impl KafkaLog {
    /// Must be called inside a Tokio runtime.
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let timeout_ms = config.produce_timeout.as_millis().max(1).to_string();
        let producer: FutureProducer = config
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", config.linger_ms.to_string())
            // librdkafka gives up on a record after this long; the append then fails and
            // the reservation is released. Keep it equal to our own bound.
            .set("message.timeout.ms", &timeout_ms)
            .set("request.timeout.ms", &timeout_ms)
            .create()?;
        Ok(Self {
            producer,
            topic: config.topic.clone(),
            timeout: config.produce_timeout,
        })
    }

    /// Whether the broker answers a metadata request (for `/ready`).
    pub async fn ping(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
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
        let mut record = FutureRecord::to(&self.topic)
            .payload(&payload)
            .key(key.as_bytes().as_slice());
        if let Some(trace) = trace_id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: TRACE_ID_HEADER,
                value: Some(trace),
            }));
        }
        self.producer
            .send(record, Timeout::After(self.timeout))
            .await
            .map(|_| ())
            .map_err(|(e, _)| LogError::Unavailable(format!("kafka produce: {e}")))
    }

    /// Waits for in-flight records at shutdown.
    pub fn flush(&self) {
        let _ = self.producer.flush(Timeout::After(self.timeout));
    }
}

#[async_trait]
impl IssueLog for KafkaLog {
    async fn append(&self, request: IssueRequest) -> Result<(), LogError> {
        let trace = current_trace_id();
        self.send(&request, trace.as_deref()).await
    }
}
