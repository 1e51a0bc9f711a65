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
    /// `enable.idempotence` of the issue and dead-letter producers. Nothing downstream
    /// needs it: a record written twice is inserted once (`INSERT IGNORE` on (user,
    /// coupon)) and counted once (`issued_count` moves by the rows inserted), and no
    /// reader relies on the order of records within a partition.
    pub idempotence: bool,
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

    /// A producer's client: `acks=all` always (an acknowledged record is on every
    /// in-sync replica), idempotence as configured.
    pub(crate) fn producer_client(&self) -> ClientConfig {
        let mut c = self.client();
        c.set("enable.idempotence", self.idempotence.to_string())
            .set("acks", "all");
        c
    }
}
