//! The dead-letter publisher: a record that could not be persisted (malformed, or still
//! failing after retries) goes to `<topic>-dlq` unchanged, with why in headers.

use crate::config::KafkaConfig;
use crate::message::TRACE_ID_HEADER;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

/// Header names on dead letters.
pub mod headers {
    pub const ERROR: &str = "x-error";
    pub const SOURCE_PARTITION: &str = "x-source-partition";
    pub const SOURCE_OFFSET: &str = "x-source-offset";
}

/// One record on its way to the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub payload: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub error: String,
    pub trace_id: Option<String>,
    pub partition: i32,
    pub offset: i64,
}

pub struct DlqPublisher {
    producer: FutureProducer,
    topic: String,
}

impl DlqPublisher {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let producer = config.producer_client().create()?;
        Ok(Self {
            producer,
            topic: config.dlq_topic(),
        })
    }

    /// `Ok` once the broker acknowledged the dead letter.
    pub async fn publish(&self, letter: &DeadLetter) -> Result<(), KafkaError> {
        let (partition, offset) = (letter.partition.to_string(), letter.offset.to_string());
        let mut hdrs = OwnedHeaders::new()
            .insert(Header {
                key: headers::ERROR,
                value: Some(letter.error.as_str()),
            })
            .insert(Header {
                key: headers::SOURCE_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: headers::SOURCE_OFFSET,
                value: Some(offset.as_str()),
            });
        if let Some(trace) = &letter.trace_id {
            hdrs = hdrs.insert(Header {
                key: TRACE_ID_HEADER,
                value: Some(trace.as_str()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .payload(letter.payload.as_slice())
            .headers(hdrs);
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        self.producer
            .send(record, Timeout::After(std::time::Duration::from_secs(10)))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}
