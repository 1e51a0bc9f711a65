//! Consumer knobs, filled from the one `Config` by the wiring.

use crate::retry::RetryPolicy;
use couponrush_kafka::KafkaConfig;
use rdkafka::ClientConfig;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub kafka: KafkaConfig,
    pub group_id: String,
    pub batch_max_records: usize,
    pub batch_max_wait: Duration,
    pub retry: RetryPolicy,
}

impl ConsumerSettings {
    /// A group member with manual commits and cooperative-sticky assignment: a
    /// rebalance moves only the partitions that must move.
    pub(crate) fn client(&self, group_id: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.kafka.bootstrap_servers)
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        c
    }
}
