//! What each user was answered: the history a fault run is judged by.
//!
//! Every request of the run is one [`Answer`]. Its [`Kind`] says what the answer lets
//! the judge conclude about the unit: taken (ACCEPTED), held already (ALREADY_ISSUED),
//! not taken (SOLD_OUT, a refusal that reserves nothing, a request that never reached a
//! server), or unknown (no answer, a timeout, `ISSUE_OUTCOME_UNKNOWN`, an error without
//! a code).

use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Accepted,
    AlreadyIssued,
    SoldOut,
    /// A definite refusal that reserved nothing (503 `ISSUE_UNAVAILABLE` or
    /// `SERVER_BUSY`, a 4xx).
    Refused,
    /// The connection was refused: the request never reached a server.
    NotDelivered,
    /// The effect is unknown: no answer in time, a broken connection,
    /// `ISSUE_OUTCOME_UNKNOWN`, a 5xx without a known code.
    Unknown,
}

impl Kind {
    /// A definite answer from a serving node (what "answering again" waits for).
    pub fn is_definite(self) -> bool {
        matches!(self, Self::Accepted | Self::AlreadyIssued | Self::SoldOut)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub user: Uuid,
    /// Milliseconds after the run's start.
    pub sent_ms: u64,
    pub done_ms: u64,
    /// HTTP status, 0 if none came.
    pub status: u16,
    pub kind: Kind,
    /// The result or error code, or what went wrong on the client's side.
    pub detail: String,
}

/// How an issue answer reads: status and body of `POST /api/coupons/{id}/issue`.
pub fn classify(status: u16, body: &[u8]) -> (Kind, String) {
    #[derive(serde::Deserialize)]
    struct Body {
        result: Option<String>,
        code: Option<String>,
    }
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let result = parsed.as_ref().and_then(|b| b.result.clone());
    let code = parsed.and_then(|b| b.code);
    let kind = match (status, result.as_deref(), code.as_deref()) {
        (202, Some("ACCEPTED"), _) => Kind::Accepted,
        (200, Some("ALREADY_ISSUED"), _) => Kind::AlreadyIssued,
        (200, Some("SOLD_OUT"), _) => Kind::SoldOut,
        // A place in the waiting room's line (an AUTO room turned on by the fault's
        // latency): nothing reserved, like any refusal.
        (200, Some("QUEUED"), _) => Kind::Refused,
        (503, _, Some("ISSUE_OUTCOME_UNKNOWN")) => Kind::Unknown,
        // Nothing reserved: the gate or log refused, or (SERVER_BUSY) the request never
        // got a turn to run.
        (503, _, Some("ISSUE_UNAVAILABLE" | "SERVER_BUSY")) => Kind::Refused,
        // A 4xx is refused before anything is reserved (validation, auth, not active).
        (400..=499, _, Some(_)) => Kind::Refused,
        _ => Kind::Unknown,
    };
    let detail = result.or(code).unwrap_or_else(|| format!("HTTP {status}"));
    (kind, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_the_api_documents_them() {
        let k = |s, b: &str| classify(s, b.as_bytes()).0;
        assert_eq!(k(202, r#"{"result":"ACCEPTED"}"#), Kind::Accepted);
        assert_eq!(k(200, r#"{"result":"SOLD_OUT"}"#), Kind::SoldOut);
        assert_eq!(
            k(
                200,
                r#"{"result":"QUEUED","position":3,"pollAfterMs":1000}"#
            ),
            Kind::Refused
        );
        assert_eq!(
            k(200, r#"{"result":"ALREADY_ISSUED"}"#),
            Kind::AlreadyIssued
        );
        assert_eq!(
            k(503, r#"{"code":"ISSUE_UNAVAILABLE","message":"x"}"#),
            Kind::Refused
        );
        assert_eq!(
            k(503, r#"{"code":"SERVER_BUSY","message":"x"}"#),
            Kind::Refused
        );
        assert_eq!(
            k(503, r#"{"code":"ISSUE_OUTCOME_UNKNOWN","message":"x"}"#),
            Kind::Unknown
        );
        assert_eq!(
            k(409, r#"{"code":"COUPON_NOT_ACTIVE","message":"x"}"#),
            Kind::Refused
        );
        assert_eq!(k(502, "bad gateway"), Kind::Unknown);
        assert_eq!(k(200, r#"{"result":"MAYBE"}"#), Kind::Unknown);
    }
}
