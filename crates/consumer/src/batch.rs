//! Reading a batch: the first record waits as long as it takes, the rest only until
//! `max_wait` after it or `max_records`, whichever comes first.

use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) async fn next_batch(
    consumer: &StreamConsumer,
    max_records: usize,
    max_wait: Duration,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::with_capacity(max_records);
    loop {
        match consumer.recv().await {
            Ok(m) => {
                batch.push(m.detach());
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka receive failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let deadline = tokio::time::Instant::now() + max_wait;
    while batch.len() < max_records {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(m.detach()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "kafka receive failed");
                break;
            }
            Err(_) => break,
        }
    }
    batch
}

/// Offsets to commit after a batch: per partition, one past the highest offset seen.
pub(crate) fn offsets_after(batch: &[OwnedMessage]) -> TopicPartitionList {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for m in batch {
        let e = next.entry((m.topic(), m.partition())).or_insert(0);
        *e = (*e).max(m.offset() + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        // Adding a partition to a fresh list cannot fail.
        let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(offset));
    }
    tpl
}

pub(crate) fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
