//! The wire format of an accepted issue request: JSON
//! `{request_id, user_id, coupon_id, requested_at}`, keyed by user id, with the trace id
//! in a header. JSON so an operator can read a topic (or a dead letter) by eye.

use chrono::{DateTime, Utc};
use couponrush_domain::{CouponId, IssueRequest, RequestId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Header carrying the trace id from the HTTP request into the consumer's logs.
pub const TRACE_ID_HEADER: &str = couponrush_telemetry::trace::HEADER;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssueMessage {
    pub request_id: Uuid,
    pub user_id: Uuid,
    pub coupon_id: Uuid,
    pub requested_at: DateTime<Utc>,
}

impl From<&IssueRequest> for IssueMessage {
    fn from(r: &IssueRequest) -> Self {
        Self {
            request_id: r.request_id.into_uuid(),
            user_id: r.user_id.into_uuid(),
            coupon_id: r.coupon_id.into_uuid(),
            requested_at: r.requested_at,
        }
    }
}

impl From<IssueMessage> for IssueRequest {
    fn from(m: IssueMessage) -> Self {
        Self {
            request_id: RequestId::from_uuid(m.request_id),
            user_id: UserId::from_uuid(m.user_id),
            coupon_id: CouponId::from_uuid(m.coupon_id),
            requested_at: m.requested_at,
        }
    }
}

impl IssueMessage {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain struct serializes")
    }

    pub fn parse(payload: &[u8]) -> Result<IssueRequest, serde_json::Error> {
        serde_json::from_slice::<IssueMessage>(payload).map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let r = IssueRequest {
            request_id: RequestId::new(),
            user_id: UserId::new(),
            coupon_id: CouponId::new(),
            requested_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
        };
        let bytes = IssueMessage::from(&r).to_json();
        assert_eq!(IssueMessage::parse(&bytes).unwrap(), r);
        assert!(IssueMessage::parse(b"not json").is_err());
        assert!(IssueMessage::parse(br#"{"request_id":"x"}"#).is_err());
    }
}
