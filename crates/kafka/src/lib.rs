//! Kafka adapters for distributed mode: the issue log an api node appends to before
//! answering ACCEPTED, topic setup, the wire format of an accepted request, and the
//! dead-letter publisher the consumers use.

mod admin;
mod config;
mod dlq;
mod drain;
mod message;
pub mod offsets;
mod producer;

pub use admin::ensure_topics;
pub use config::KafkaConfig;
pub use dlq::{DeadLetter, DlqPublisher, headers as dlq_headers};
pub use drain::KafkaLogDrain;
pub use message::{IssueMessage, TRACE_ID_HEADER};
pub use producer::KafkaLog;
pub use rdkafka;
