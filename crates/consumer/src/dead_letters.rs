//! The dead-letter consumer: each dead letter gets one more try (the cause may have
//! been fixed meanwhile); what still fails is recorded in the failed-events table, where
//! an admin can inspect and replay it.

use crate::batch::{header, next_batch, offsets_after};
use crate::settings::ConsumerSettings;
use couponrush_domain::ports::{FailedEventStore, IssuePersister};
use couponrush_kafka::{IssueMessage, KafkaConfig, TRACE_ID_HEADER, dlq_headers};
use couponrush_telemetry::metrics::names::CONSUMER_FAILED_EVENTS_TOTAL;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub struct DeadLetterWorker {
    consumer: StreamConsumer,
    persister: Arc<dyn IssuePersister>,
    failed: Arc<dyn FailedEventStore>,
    settings: ConsumerSettings,
}

impl DeadLetterWorker {
    /// Joins `<group>-dlq` on `<topic>-dlq`.
    pub fn new(
        settings: ConsumerSettings,
        persister: Arc<dyn IssuePersister>,
        failed: Arc<dyn FailedEventStore>,
    ) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer = settings
            .client(&KafkaConfig::dlq_group(&settings.group_id))
            .create()?;
        consumer.subscribe(&[settings.kafka.dlq_topic().as_str()])?;
        Ok(Self {
            consumer,
            persister,
            failed,
            settings,
        })
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                () = &mut shutdown => break,
                batch = next_batch(&self.consumer, 100, Duration::from_millis(50)) => batch,
            };
            for m in &batch {
                self.settle(m).await;
            }
            if let Err(e) = self
                .consumer
                .commit(&offsets_after(&batch), CommitMode::Sync)
            {
                tracing::warn!(error = %e, "dead-letter offset commit failed; records will be redelivered");
            }
        }
        tracing::info!("dead-letter consumer stopped");
    }

    /// Persists the letter or records it; retries recording until the table takes it,
    /// so a dead letter is never dropped.
    async fn settle(&self, m: &OwnedMessage) {
        let payload = m.payload().unwrap_or_default();
        let trace = header(m, TRACE_ID_HEADER);
        let trace_id = trace.as_deref().unwrap_or("-");
        let retry_error = match IssueMessage::parse(payload) {
            Ok(request) => match self.persister.persist(&[request]).await {
                Ok(_) => {
                    tracing::info!(trace_id = %trace_id, request_id = %request.request_id, "dead letter persisted on retry");
                    return;
                }
                Err(e) => e.to_string(),
            },
            Err(e) => format!("malformed message: {e}"),
        };
        let first_error = header(m, dlq_headers::ERROR).unwrap_or_default();
        let error = if first_error.is_empty() {
            retry_error
        } else {
            format!("{first_error}; retry: {retry_error}")
        };
        let text = String::from_utf8_lossy(payload);
        let mut attempt = 1;
        loop {
            match self
                .failed
                .record_failed(&text, &error, trace.as_deref())
                .await
            {
                Ok(id) => {
                    metrics::counter!(CONSUMER_FAILED_EVENTS_TOTAL).increment(1);
                    tracing::warn!(trace_id = %trace_id, failed_event = %id, %error, "recorded as failed event");
                    return;
                }
                Err(e) => {
                    attempt += 1;
                    tracing::error!(error = %e, attempt, "cannot record failed event; retrying");
                    tokio::time::sleep(self.settings.retry.backoff(attempt.min(20))).await;
                }
            }
        }
    }
}
