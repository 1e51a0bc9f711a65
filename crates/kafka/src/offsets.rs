//! Partition offsets read from the broker: what the consumer-lag gauge and the log
//! drain compare. The rdkafka calls block (network round trips): run them on the
//! blocking pool.
//!
//! High watermarks come from one ListOffsets request for all partitions
//! (`offsets_for_times` at "latest") rather than `fetch_watermarks`, which asks per
//! partition, twice, and took ~0.5 s per partition against the test broker.

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::Duration;

/// The earliest or latest offset of each partition in `partitions` (one topic).
pub fn list_offsets<C: Consumer>(
    consumer: &C,
    partitions: &TopicPartitionList,
    at: Offset,
    timeout: Duration,
) -> KafkaResult<BTreeMap<i32, Option<i64>>> {
    let mut query = partitions.clone();
    query.set_all_offsets(at)?;
    let topic = topic_of(partitions);
    Ok(offsets(
        &consumer.offsets_for_times(query, timeout)?,
        &topic,
    ))
}

/// The group's committed offset of each partition in `partitions`.
pub fn committed_offsets<C: Consumer>(
    consumer: &C,
    partitions: &TopicPartitionList,
    timeout: Duration,
) -> KafkaResult<BTreeMap<i32, Option<i64>>> {
    let topic = topic_of(partitions);
    Ok(offsets(
        &consumer.committed_offsets(partitions.clone(), timeout)?,
        &topic,
    ))
}

/// Every partition of `topic`, from the broker's metadata.
pub fn all_partitions<C: Consumer>(
    consumer: &C,
    topic: &str,
    timeout: Duration,
) -> KafkaResult<TopicPartitionList> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut list = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            list.add_partition(topic, p.id());
        }
    }
    Ok(list)
}

/// The topic of a one-topic partition list.
fn topic_of(partitions: &TopicPartitionList) -> String {
    partitions
        .elements()
        .first()
        .map(|e| e.topic().to_owned())
        .unwrap_or_default()
}

/// Partition → offset, `None` where the broker had none (or answered an error).
pub fn offsets(list: &TopicPartitionList, topic: &str) -> BTreeMap<i32, Option<i64>> {
    list.elements_for_topic(topic)
        .iter()
        .map(|e| {
            let offset = match (e.error(), e.offset()) {
                (Ok(()), Offset::Offset(o)) if o >= 0 => Some(o),
                _ => None,
            };
            (e.partition(), offset)
        })
        .collect()
}
