//! Settings shared by producers, consumers and topic setup.

use rdkafka::ClientConfig;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    /// Partitions of the topic and its dead-letter topic when they are created here.
    pub partitions: i32,
    /// Producer batching delay: a few ms buys large batches under a rush.
    pub linger_ms: u64,
    /// Bound on one append: past it the api node releases the reservation and answers 503.
    pub produce_timeout: Duration,
}

impl KafkaConfig {
    /// `<topic>-dlq`.
    pub fn dlq_topic(&self) -> String {
        format!("{}-dlq", self.topic)
    }

    /// `<group>-dlq`: the group of the dead-letter consumers of the issue consumers'
    /// group `group_id`.
    pub fn dlq_group(group_id: &str) -> String {
        format!("{group_id}-dlq")
    }

    pub(crate) fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        c
    }
}
