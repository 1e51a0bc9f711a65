//! Topic setup: create the issue topic and its dead-letter topic if missing.

use crate::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Creates `topic` and `<topic>-dlq` with the configured partitions; existing topics
/// are left as they are.
pub async fn ensure_topics(config: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let dlq = config.dlq_topic();
    let topics = [
        NewTopic::new(&config.topic, config.partitions, TopicReplication::Fixed(1)),
        NewTopic::new(&dlq, config.partitions, TopicReplication::Fixed(1)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(%topic, ?code, "cannot create topic"));
            }
        }
    }
    Ok(())
}
