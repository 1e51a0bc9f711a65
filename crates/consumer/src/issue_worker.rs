//! The issue consumer: batch → parse → rate limit → persist (with retries) → dead
//! letters → commit offsets. Offsets are committed only after the database commit and
//! after every dead letter is acknowledged, so a crash anywhere means redelivery, which
//! the persister's idempotence makes harmless.
//!
//! Every batch is handled in a `batch{worker, records}` span; every log line about one
//! record carries its `trace_id` (from the `x-global-trace-id` header the api node set),
//! and each persisted record is logged at DEBUG with it. Metrics: `worker_metrics.rs`;
//! the lag of the assigned partitions is refreshed alongside (`lag.rs`).

use crate::batch::{header, next_batch, offsets_after};
use crate::lag::report_lag;
use crate::settings::ConsumerSettings;
use crate::worker_metrics::WorkerMetrics;
use couponrush_domain::ports::{IssuePersister, PersistOutcome, RateLimiter};
use couponrush_domain::{IssueRequest, StoreError};
use couponrush_kafka::{DeadLetter, DlqPublisher, IssueMessage, TRACE_ID_HEADER};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Running totals, for tests and logs.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    pub consumed: AtomicU64,
    pub inserted: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub retries: AtomicU64,
}

pub struct IssueWorker {
    /// Shared with the lag reporter, which reads its assignment and committed offsets.
    consumer: Arc<StreamConsumer>,
    persister: Arc<dyn IssuePersister>,
    limiter: Option<Arc<dyn RateLimiter>>,
    dlq: DlqPublisher,
    settings: ConsumerSettings,
    pub counters: Arc<WorkerCounters>,
    metrics: WorkerMetrics,
    tag: u32,
}

/// A record that parsed, with what we need to log and dead-letter it.
struct Parsed<'m> {
    request: IssueRequest,
    message: &'m OwnedMessage,
}

impl IssueWorker {
    /// Joins the consumer group and subscribes to the issue topic.
    pub fn new(
        settings: ConsumerSettings,
        persister: Arc<dyn IssuePersister>,
        limiter: Option<Arc<dyn RateLimiter>>,
    ) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer = settings.client(&settings.group_id).create()?;
        consumer.subscribe(&[settings.kafka.topic.as_str()])?;
        let dlq = DlqPublisher::new(&settings.kafka)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            persister,
            limiter,
            dlq,
            settings,
            counters: Arc::default(),
            metrics: WorkerMetrics::new(),
            tag: worker_tag(),
        })
    }

    /// Consumes until `shutdown` resolves; the batch in hand is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let lag = report_lag(self.consumer.clone(), self.settings.kafka.topic.clone());
        let consume = async {
            tokio::pin!(shutdown);
            let mut last_end: Option<Instant> = None;
            loop {
                let batch = tokio::select! {
                    () = &mut shutdown => break,
                    batch = next_batch(&self.consumer, self.settings.batch_max_records, self.settings.batch_max_wait) => batch,
                };
                let started = Instant::now();
                if let Some(end) = last_end {
                    self.metrics.poll_interval.record(started - end);
                }
                let span = tracing::info_span!("batch", worker = self.tag, records = batch.len());
                self.handle(&batch).instrument(span).await;
                let end = Instant::now();
                self.metrics.batch_duration.record(end - started);
                last_end = Some(end);
            }
        };
        tokio::select! {
            () = consume => {}
            () = lag => {}
        }
        tracing::info!("issue consumer stopped");
    }

    async fn handle(&self, batch: &[OwnedMessage]) {
        let n = batch.len() as u64;
        self.counters.consumed.fetch_add(n, Ordering::Relaxed);
        self.metrics.records.increment(n);
        #[allow(clippy::cast_precision_loss)] // at most batch_max_records
        self.metrics.batch_records.record(n as f64);
        if tracing::enabled!(tracing::Level::DEBUG) {
            let spans: Vec<String> = batch
                .iter()
                .map(|m| format!("{}@{}", m.partition(), m.offset()))
                .collect();
            tracing::debug!(worker = self.tag, records = ?spans, "batch received");
        }
        let mut letters = Vec::new();
        let mut parsed = Vec::with_capacity(batch.len());
        for m in batch {
            match IssueMessage::parse(m.payload().unwrap_or_default()) {
                Ok(request) => parsed.push(Parsed {
                    request,
                    message: m,
                }),
                Err(e) => letters.push(dead_letter(m, format!("malformed message: {e}"))),
            }
        }
        if !parsed.is_empty() {
            self.take_permits(parsed.len()).await;
            letters.extend(self.persist_all(&parsed).await);
        }
        for letter in &letters {
            self.publish_dead_letter(letter).await;
            self.metrics.dlq_published.increment(1);
        }
        self.counters
            .dead_lettered
            .fetch_add(letters.len() as u64, Ordering::Relaxed);
        let offsets = offsets_after(batch);
        tracing::debug!(worker = self.tag, ?offsets, "committing");
        if let Err(e) = self.consumer.commit(&offsets, CommitMode::Sync) {
            // Typically a partition revoked by a rebalance: its new owner re-reads from
            // the last commit, and redelivery is a no-op.
            tracing::warn!(error = %e, "offset commit failed; records will be redelivered");
        }
    }

    async fn take_permits(&self, n: usize) {
        let Some(limiter) = &self.limiter else { return };
        let started = Instant::now();
        let mut left = u32::try_from(n).unwrap_or(u32::MAX);
        while left > 0 {
            match limiter.try_acquire(left).await {
                Ok(None) => left = 0,
                Ok(Some(wait)) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
                Err(e) => {
                    // The limiter protects the database; without it, slow down instead of stalling.
                    tracing::warn!(error = %e, "rate limiter unavailable; pausing briefly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    left = 0;
                }
            }
        }
        self.metrics.rate_limit_wait.record(started.elapsed());
    }

    /// Persists the batch; if the batch is refused as a whole, persists record by record
    /// to find the offenders. Returns the dead letters.
    async fn persist_all(&self, parsed: &[Parsed<'_>]) -> Vec<DeadLetter> {
        let requests: Vec<IssueRequest> = parsed.iter().map(|p| p.request).collect();
        match self.persist_with_retry(&requests).await {
            Ok(outcome) => {
                self.count(outcome);
                tracing::debug!(
                    rows = requests.len(),
                    inserted = outcome.inserted,
                    "batch persisted"
                );
                if tracing::enabled!(tracing::Level::DEBUG) {
                    for p in parsed {
                        log_persisted(p);
                    }
                }
                Vec::new()
            }
            Err(e) if requests.len() == 1 => vec![self.letter_for(&parsed[0], &e)],
            Err(batch_error) => {
                tracing::warn!(error = %batch_error, rows = requests.len(), "batch refused; persisting one by one");
                let mut letters = Vec::new();
                for p in parsed {
                    // Retries of this one record log inside its span, so with its trace id.
                    let span = tracing::info_span!("record",
                        trace_id = %header(p.message, TRACE_ID_HEADER).as_deref().unwrap_or("-"),
                        request_id = %p.request.request_id);
                    let result = self
                        .persist_with_retry(std::slice::from_ref(&p.request))
                        .instrument(span)
                        .await;
                    match result {
                        Ok(outcome) => {
                            self.count(outcome);
                            log_persisted(p);
                        }
                        Err(e) => letters.push(self.letter_for(p, &e)),
                    }
                }
                letters
            }
        }
    }

    fn letter_for(&self, p: &Parsed<'_>, e: &StoreError) -> DeadLetter {
        let trace = header(p.message, TRACE_ID_HEADER);
        tracing::warn!(trace_id = %trace.as_deref().unwrap_or("-"), request_id = %p.request.request_id,
            error = %e, "record goes to the dead-letter topic");
        dead_letter(p.message, e.to_string())
    }

    fn count(&self, o: PersistOutcome) {
        self.counters
            .inserted
            .fetch_add(o.inserted, Ordering::Relaxed);
        self.counters
            .duplicates
            .fetch_add(o.duplicates, Ordering::Relaxed);
        self.metrics.inserted.increment(o.inserted);
        self.metrics.duplicates.increment(o.duplicates);
    }

    /// `Unavailable` is retried with backoff up to the policy's attempts, `Unreachable` for as
    /// long as it lasts; a refusal (`Conflict`, `Corrupt`) is final.
    async fn persist_with_retry(
        &self,
        requests: &[IssueRequest],
    ) -> Result<PersistOutcome, StoreError> {
        let policy = self.settings.retry;
        let mut attempt = 1;
        let mut waits = 1;
        loop {
            let wait = match self.persister.persist(requests).await {
                Err(StoreError::Unavailable(e)) if attempt < policy.max_attempts => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "persist failed; retrying");
                    policy.backoff(attempt)
                }
                // The database does not answer at all: dead-lettering could not help (the
                // failed-events table is in the same database), so wait it out; the
                // offsets stay where they are, so stopping meanwhile loses nothing.
                Err(StoreError::Unreachable(e)) => {
                    waits += 1;
                    tracing::warn!(error = %e, waits, "database unreachable; waiting for it");
                    policy.backoff(waits)
                }
                other => return other,
            };
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.metrics.retries.increment(1);
            tokio::time::sleep(wait).await;
        }
    }

    /// A dead letter must be acknowledged before the offset moves past it; keep trying.
    async fn publish_dead_letter(&self, letter: &DeadLetter) {
        let mut attempt = 1;
        while let Err(e) = self.dlq.publish(letter).await {
            attempt += 1;
            tracing::error!(error = %e, attempt, "dead-letter publish failed; retrying");
            tokio::time::sleep(self.settings.retry.backoff(attempt.min(20))).await;
        }
    }
}

/// One DEBUG line per persisted record (inserted, or already there on redelivery),
/// with the trace id its api node received: the end of the request's trail.
fn log_persisted(p: &Parsed<'_>) {
    let trace = header(p.message, TRACE_ID_HEADER);
    tracing::debug!(
        trace_id = %trace.as_deref().unwrap_or("-"),
        request_id = %p.request.request_id,
        coupon_id = %p.request.coupon_id,
        partition = p.message.partition(),
        offset = p.message.offset(),
        "record persisted"
    );
}

fn dead_letter(m: &OwnedMessage, error: String) -> DeadLetter {
    DeadLetter {
        payload: m.payload().unwrap_or_default().to_vec(),
        key: m.key().map(<[u8]>::to_vec),
        error,
        trace_id: header(m, TRACE_ID_HEADER),
        partition: m.partition(),
        offset: m.offset(),
    }
}

/// A short random id telling this worker's log lines from another's in the same group.
fn worker_tag() -> u32 {
    // Truncation is the point: 32 random bits are plenty to tell workers apart.
    #[allow(clippy::cast_possible_truncation)]
    let tag = uuid::Uuid::new_v4().as_u128() as u32;
    tag
}
