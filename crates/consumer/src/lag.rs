//! Consumer lag: every few seconds, for each issue-topic partition assigned to this
//! consumer, the high watermark minus the group's committed offset, as the gauge
//! `couponrush_consumer_lag_records{topic, partition}`.
//!
//! Only assigned partitions are reported, and a partition that moved to another
//! consumer is set to 0 here, so summing the gauge over every consumer process gives
//! the group's lag without double counting. The rdkafka calls block (network round
//! trips), so they run on the blocking pool.

use couponrush_kafka::offsets::{committed_offsets, list_offsets};
use couponrush_telemetry::metrics::names::CONSUMER_LAG_RECORDS;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How often lag is refreshed.
pub(crate) const LAG_EVERY: Duration = Duration::from_secs(2);
/// Bound on each broker call; a slow broker skips a refresh rather than piling them up.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Refreshes the gauge forever; the worker drops this future when it stops.
pub(crate) async fn report_lag(consumer: Arc<StreamConsumer>, topic: String) {
    let mut reported: BTreeMap<i32, metrics::Gauge> = BTreeMap::new();
    let mut tick = tokio::time::interval(LAG_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let (c, t) = (consumer.clone(), topic.clone());
        let lags = match tokio::task::spawn_blocking(move || lag_by_partition(&c, &t)).await {
            Ok(Ok(lags)) => lags,
            Ok(Err(e)) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot compute consumer lag; will keep trying");
                }
                failing = true;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "consumer lag task failed");
                continue;
            }
        };
        failing = false;
        for (partition, gauge) in &reported {
            if !lags.contains_key(partition) {
                gauge.set(0.0); // moved to another consumer, which reports it now
            }
        }
        reported.retain(|p, _| lags.contains_key(p));
        for (partition, lag) in lags {
            let gauge = reported.entry(partition).or_insert_with(|| {
                metrics::gauge!(CONSUMER_LAG_RECORDS,
                    "topic" => topic.clone(), "partition" => partition.to_string())
            });
            #[allow(clippy::cast_precision_loss)] // exact below 2^53 records
            gauge.set(lag as f64);
        }
    }
}

/// Lag of every partition of `topic` currently assigned to `consumer`: three broker
/// round trips at most (committed offsets, latest offsets, and earliest offsets only if
/// a partition has no commit yet), whatever the number of partitions.
fn lag_by_partition(consumer: &StreamConsumer, topic: &str) -> KafkaResult<BTreeMap<i32, i64>> {
    let mut assigned = TopicPartitionList::new();
    for elem in consumer.assignment()?.elements_for_topic(topic) {
        assigned.add_partition(topic, elem.partition());
    }
    let mut lags = BTreeMap::new();
    if assigned.count() == 0 {
        return Ok(lags);
    }
    let committed = committed_offsets(consumer, &assigned, CALL_TIMEOUT)?;
    let latest = list_offsets(consumer, &assigned, Offset::End, CALL_TIMEOUT)?;
    // No commit yet: the group starts from the earliest record (auto.offset.reset).
    let earliest = if committed.values().any(Option::is_none) {
        list_offsets(consumer, &assigned, Offset::Beginning, CALL_TIMEOUT)?
    } else {
        BTreeMap::new()
    };
    for (partition, high) in latest {
        let Some(high) = high else { continue };
        let from = committed
            .get(&partition)
            .copied()
            .flatten()
            .or_else(|| earliest.get(&partition).copied().flatten());
        if let Some(from) = from {
            lags.insert(partition, (high - from).max(0));
        }
    }
    Ok(lags)
}
