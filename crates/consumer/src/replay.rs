//! Replaying a failed event from the admin API: the payload is an issue message as it
//! was on the topic; decode it, persist it, mark the event REPLAYED.

use async_trait::async_trait;
use couponrush_domain::StoreError;
use couponrush_domain::ports::{
    FailedEvent, FailedEventReplayer, FailedEventStore, IssuePersister, ReplayError,
};
use couponrush_kafka::IssueMessage;
use std::sync::Arc;

pub struct KafkaPayloadReplayer {
    pub failed: Arc<dyn FailedEventStore>,
    pub persister: Arc<dyn IssuePersister>,
}

#[async_trait]
impl FailedEventReplayer for KafkaPayloadReplayer {
    async fn replay(&self, id: uuid::Uuid) -> Result<FailedEvent, ReplayError> {
        let event = self
            .failed
            .find_failed(id)
            .await?
            .ok_or(ReplayError::NotFound)?;
        let request = IssueMessage::parse(event.payload.as_bytes())
            .map_err(|e| ReplayError::NotReplayable(format!("malformed payload: {e}")))?;
        match self.persister.persist(&[request]).await {
            Ok(_) => {}
            Err(StoreError::Conflict(why)) | Err(StoreError::Corrupt(why)) => {
                return Err(ReplayError::NotReplayable(why));
            }
            Err(e) => return Err(e.into()),
        }
        self.failed.mark_replayed(id).await?;
        self.failed
            .find_failed(id)
            .await?
            .ok_or(ReplayError::NotFound)
    }
}
