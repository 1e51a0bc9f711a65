//! The consumer process of distributed mode. Accepted requests arrive from Kafka in
//! batches; the batch takes permits from the global rate limiter, is persisted in one
//! idempotent transaction, and only then are its offsets committed. Failures retry with
//! exponential backoff; what still fails goes to the dead-letter topic, whose own
//! consumer tries once more and records the rest as failed events, whose users keep
//! their units until an admin replays them.

mod batch;
mod dead_letters;
mod issue_worker;
mod lag;
mod parked;
mod replay;
mod retry;
mod settings;
mod worker_metrics;

pub use dead_letters::DeadLetterWorker;
pub use issue_worker::{IssueWorker, WorkerCounters};
pub use parked::DeadLetteredHolders;
pub use replay::KafkaPayloadReplayer;
pub use retry::RetryPolicy;
pub use settings::ConsumerSettings;
