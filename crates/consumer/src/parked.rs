//! [`ParkedHolders`] from the failed-events table: each event still FAILED is an issue
//! message as it was on the topic, so its (coupon, user) is a holder answered ACCEPTED
//! whose unit waits for the replay. Decoded here, beside the replayer that decodes the
//! same payloads.

use async_trait::async_trait;
use couponrush_domain::ports::{FailedEventStore, LogDrain, ParkedHolders};
use couponrush_domain::{CouponId, StoreError, UserId};
use couponrush_kafka::IssueMessage;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub struct DeadLetteredHolders {
    /// The dead-letter topic as its consumers see it ([`couponrush_kafka::KafkaLogDrain::dead_letters`]):
    /// a dead letter still in that topic is not in the table yet.
    pub dead_letters: Arc<dyn LogDrain>,
    pub failed: Arc<dyn FailedEventStore>,
}

#[async_trait]
impl ParkedHolders for DeadLetteredHolders {
    async fn parked(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, HashSet<UserId>>, StoreError> {
        self.dead_letters.drained().await?;
        let wanted: HashSet<CouponId> = coupons.iter().copied().collect();
        let mut parked: HashMap<CouponId, HashSet<UserId>> = HashMap::new();
        for event in self.failed.pending_failed().await? {
            // A payload that does not decode was never an accepted request (garbage on
            // the topic): it holds no unit, and its replay is refused anyway.
            let Ok(request) = IssueMessage::parse(event.payload.as_bytes()) else {
                continue;
            };
            if wanted.contains(&request.coupon_id) {
                parked
                    .entry(request.coupon_id)
                    .or_default()
                    .insert(request.user_id);
            }
        }
        Ok(parked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponrush_domain::ports::FailedEvent;
    use couponrush_domain::{IssueRequest, RequestId};
    use std::sync::Mutex;

    /// Plays the dead-letter drain and the table, and notes the order of the calls.
    #[derive(Default)]
    struct Table {
        payloads: Vec<String>,
        calls: Mutex<Vec<&'static str>>,
    }

    #[async_trait]
    impl LogDrain for Table {
        async fn drained(&self) -> Result<(), StoreError> {
            self.calls.lock().unwrap().push("drain");
            Ok(())
        }
    }

    #[async_trait]
    impl FailedEventStore for Table {
        async fn record_failed(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
        ) -> Result<uuid::Uuid, StoreError> {
            unimplemented!()
        }
        async fn list_failed(&self, _: u32) -> Result<Vec<FailedEvent>, StoreError> {
            unimplemented!()
        }
        async fn pending_failed(&self) -> Result<Vec<FailedEvent>, StoreError> {
            self.calls.lock().unwrap().push("pending");
            let at = Default::default(); // the epoch: times play no part here
            Ok(self
                .payloads
                .iter()
                .map(|payload| FailedEvent {
                    id: uuid::Uuid::now_v7(),
                    payload: payload.clone(),
                    error: "refused".into(),
                    trace_id: None,
                    status: "FAILED".into(),
                    created_at: at,
                    updated_at: at,
                })
                .collect())
        }
        async fn find_failed(&self, _: uuid::Uuid) -> Result<Option<FailedEvent>, StoreError> {
            unimplemented!()
        }
        async fn mark_replayed(&self, _: uuid::Uuid) -> Result<bool, StoreError> {
            unimplemented!()
        }
    }

    fn payload(coupon: CouponId, user: UserId) -> String {
        let request = IssueRequest {
            request_id: RequestId::new(),
            user_id: user,
            coupon_id: coupon,
            requested_at: Default::default(),
        };
        String::from_utf8(IssueMessage::from(&request).to_json()).unwrap()
    }

    #[tokio::test]
    async fn the_users_of_decodable_pending_events_of_the_coupons_asked_are_parked() {
        let (asked, other) = (CouponId::new(), CouponId::new());
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let table = Arc::new(Table {
            payloads: vec![
                payload(asked, a),
                "{not json".into(),
                payload(other, b),
                payload(asked, c),
                payload(asked, a), // the same record dead-lettered twice
            ],
            ..Table::default()
        });
        let holders = DeadLetteredHolders {
            dead_letters: table.clone(),
            failed: table.clone(),
        };
        let parked = holders.parked(&[asked]).await.unwrap();
        assert_eq!(parked, HashMap::from([(asked, HashSet::from([a, c]))]));
        assert_eq!(
            *table.calls.lock().unwrap(),
            ["drain", "pending"],
            "dead letters still in the topic are waited for before the table is read"
        );
    }
}
