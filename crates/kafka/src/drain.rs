//! [`KafkaLogDrain`]: how an api node waits, before rebuilding a gate Redis lost, until
//! every record that could still change the persisted holders has been persisted.
//!
//! 1. Wait out the produce timeout (and a margin): an append that began before the wait
//!    has by then been written or failed, and only written ones were answered ACCEPTED.
//! 2. Read the topic's end offsets: every record of a reservation made before the loss
//!    is below them.
//! 3. Poll the consumer group's committed offsets until they reach those ends on every
//!    partition. Consumers commit only after the database commit (or the dead-letter
//!    ack), so from then on the database holds every such record.
//!
//! The wait lasts the produce timeout plus the consumers' lag: minutes if they are
//! throttled or down. That is the price of never promising a unit twice; the caller
//! answers 503 meanwhile. This node never joins the group: it only asks the group
//! coordinator for committed offsets.
//!
//! [`KafkaLogDrain::dead_letters`] drains the dead-letter topic the same way, for
//! reconciliation: once the issue log is drained, every dead letter of its records is
//! in that topic (consumers commit after the dead letter's ack), and once the
//! dead-letter consumers committed past it, each is persisted or a failed event.

use crate::config::KafkaConfig;
use crate::offsets::{all_partitions, committed_offsets, list_offsets};
use async_trait::async_trait;
use couponrush_domain::StoreError;
use couponrush_domain::ports::LogDrain;
use rdkafka::Offset;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Past the produce timeout: the broker may still be writing a request that reached it
/// just before the producer gave up on it.
const SETTLE_MARGIN: Duration = Duration::from_secs(1);
/// Between two reads of the committed offsets.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// How often a drain that is still waiting says how far behind the consumers are.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Bound on each broker call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct KafkaLogDrain {
    consumer: Arc<BaseConsumer>,
    topic: String,
    settle: Duration,
}

impl KafkaLogDrain {
    /// A drain of `config.topic` as consumed by `group_id`.
    pub fn new(config: &KafkaConfig, group_id: &str) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer = config
            .client()
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self {
            consumer: Arc::new(consumer),
            topic: config.topic.clone(),
            settle: config.produce_timeout + SETTLE_MARGIN,
        })
    }

    /// A drain of the dead-letter topic as consumed by the dead-letter consumers of
    /// `group_id`. No settling wait: dead letters are published by consumers, which wait
    /// for the ack before they commit, so none is still being written once the issue
    /// log is drained.
    pub fn dead_letters(config: &KafkaConfig, group_id: &str) -> Result<Self, KafkaError> {
        let mut drain = Self::new(
            &KafkaConfig {
                topic: config.dlq_topic(),
                ..config.clone()
            },
            &KafkaConfig::dlq_group(group_id),
        )?;
        drain.settle = Duration::ZERO;
        Ok(drain)
    }

    /// The log's extent now: every partition's first and next offset.
    async fn ends(&self) -> Result<Ends, StoreError> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        let ends = blocking(move || {
            let partitions = all_partitions(&*consumer, &topic, CALL_TIMEOUT)?;
            let known = |m: BTreeMap<i32, Option<i64>>| -> BTreeMap<i32, i64> {
                m.into_iter().filter_map(|(p, o)| Some((p, o?))).collect()
            };
            let end = known(list_offsets(
                &*consumer,
                &partitions,
                Offset::End,
                CALL_TIMEOUT,
            )?);
            let start = known(list_offsets(
                &*consumer,
                &partitions,
                Offset::Beginning,
                CALL_TIMEOUT,
            )?);
            Ok(Ends {
                partitions,
                start,
                end,
            })
        })
        .await?;
        if ends.end.len() < ends.partitions.count() {
            return Err(StoreError::Unavailable(format!(
                "the broker gave end offsets for {} of {} partitions of {}",
                ends.end.len(),
                ends.partitions.count(),
                self.topic
            )));
        }
        Ok(ends)
    }

    /// Records between the group's committed offsets and `ends`, summed over partitions.
    async fn behind_ends(&self, ends: &Ends) -> Result<i64, StoreError> {
        let (consumer, partitions) = (self.consumer.clone(), ends.partitions.clone());
        let committed =
            blocking(move || committed_offsets(&*consumer, &partitions, CALL_TIMEOUT)).await?;
        Ok(ends
            .end
            .iter()
            .map(|(p, &end)| {
                // No commit yet: the group starts from the log's start.
                let from = committed
                    .get(p)
                    .copied()
                    .flatten()
                    .or(ends.start.get(p).copied())
                    .unwrap_or(0);
                (end - from).max(0)
            })
            .sum())
    }
}

/// The log's extent at one moment.
struct Ends {
    partitions: rdkafka::TopicPartitionList,
    start: BTreeMap<i32, i64>,
    end: BTreeMap<i32, i64>,
}

#[async_trait]
impl LogDrain for KafkaLogDrain {
    async fn behind(&self) -> Result<Option<u64>, StoreError> {
        let ends = self.ends().await?;
        let behind = self.behind_ends(&ends).await?;
        Ok(Some(u64::try_from(behind).unwrap_or(0)))
    }

    async fn drained(&self) -> Result<(), StoreError> {
        tokio::time::sleep(self.settle).await;
        let ends = self.ends().await?;
        let began = Instant::now();
        let mut reported = began;
        loop {
            let behind = self.behind_ends(&ends).await?;
            if behind == 0 {
                tracing::info!(topic = %self.topic, waited_ms = began.elapsed().as_millis() as u64,
                    "log drained: every record appended before the drain began is consumed");
                return Ok(());
            }
            if reported.elapsed() >= REPORT_EVERY {
                tracing::warn!(topic = %self.topic, records_behind = behind,
                    waited_s = began.elapsed().as_secs(), "still draining the log (before a gate is rebuilt or reconciled)");
                reported = Instant::now();
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StoreError::Unavailable(format!("log drain task failed: {e}")))?
        .map_err(|e| StoreError::Unavailable(format!("reading the issue log's offsets: {e}")))
}
