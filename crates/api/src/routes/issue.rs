//! The rush endpoint and the caller's issue state.
//!
//! Expected outcomes of a rush (SOLD_OUT, ALREADY_ISSUED) are 200 with a result, as in
//! the seed, so load tools do not count them as errors; ACCEPTED is 202.

use crate::dto::{IssueResponse, IssueStateResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, AuthUser};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use couponrush_domain::services::{Answered, IssueError};
use couponrush_domain::{CouponId, IdempotencyKey, IssueOutcome, ValidationError};
use couponrush_telemetry::metrics::names::ISSUE_OUTCOMES_TOTAL;
use uuid::Uuid;

/// The request header naming an idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The answer header that marks an answer given again for a repeated key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

#[utoipa::path(post, path = "/api/coupons/{id}/issue", tag = "issue", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, chosen by the client per attempt to get a coupon. A retry with the same key (same user, same coupon) within `idempotency_key_ttl_secs` (1 h) gets the first answer again, marked `Idempotent-Replayed: true`, without a second attempt. Only ACCEPTED, SOLD_OUT and ALREADY_ISSUED are kept; an error frees the key, so its retry runs again")),
    responses((status = 202, description = "ACCEPTED: reserved and durably recorded", body = IssueResponse,
                headers(("Idempotent-Replayed" = String, description = "`true` when this is the kept answer of an earlier request with the same Idempotency-Key"))),
              (status = 200, description = "SOLD_OUT or ALREADY_ISSUED", body = IssueResponse,
                headers(("Idempotent-Replayed" = String, description = "`true` when this is the kept answer of an earlier request with the same Idempotency-Key"))),
              (status = 400, description = "VALIDATION_FAILED (field `Idempotency-Key`): the key is empty, longer than 255 characters or not visible ASCII", body = ErrorBody),
              (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody),
              (status = 409, description = "COUPON_NOT_ACTIVE; or COUPON_NOT_OPEN: ACTIVE but before its `opensAt`, which the body carries (`opensAt`, RFC 3339) for a countdown; nothing was reserved, ask again from `opensAt` on; or IDEMPOTENCY_KEY_IN_USE: a request with this Idempotency-Key is still running (retry after the Retry-After header's seconds)", body = ErrorBody),
              (status = 422, description = "IDEMPOTENCY_KEY_REUSED: this Idempotency-Key was used for another coupon", body = ErrorBody),
              (status = 503, description = "ISSUE_UNAVAILABLE: nothing was reserved (the gate, the log, or the coupon's gate still being seeded); retry after the Retry-After header's seconds. ISSUE_OUTCOME_UNKNOWN: the request may have been recorded (the unit stays reserved for the caller); GET the issue state instead of retrying", body = ErrorBody)))]
pub async fn issue(
    State(s): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let coupon = CouponId::from_uuid(id);
    let answered = match headers.get(IDEMPOTENCY_KEY) {
        None => s
            .app
            .issuing
            .issue(coupon, user.user_id)
            .await
            .map(|outcome| Answered {
                outcome,
                replayed: false,
            }),
        Some(raw) => {
            let key = raw
                .to_str()
                .map_err(|_| {
                    ValidationError::new("Idempotency-Key", "must be visible ASCII characters")
                })
                .and_then(IdempotencyKey::parse)?;
            s.app
                .issuing
                .issue_with_key(coupon, user.user_id, key)
                .await
        }
    };
    count_outcome(&answered);
    let answered = answered?;
    let status = if answered.outcome == IssueOutcome::Accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        Json(IssueResponse {
            result: answered.outcome.as_str(),
        }),
    )
        .into_response();
    if answered.replayed {
        response.headers_mut().insert(
            IDEMPOTENT_REPLAYED,
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// One count per answer of the issue use case (requests refused before it, by the
/// token or path checks, are not issue outcomes). Static keys: no allocation per call.
fn count_outcome(result: &Result<Answered, IssueError>) {
    let counter = match result.as_ref().map(|a| a.outcome) {
        Ok(IssueOutcome::Accepted) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "accepted")
        }
        Ok(IssueOutcome::SoldOut) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "sold_out")
        }
        Ok(IssueOutcome::AlreadyIssued) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "already_issued")
        }
        Err(IssueError::CouponNotFound) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "not_found")
        }
        Err(IssueError::CouponNotActive(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "not_active")
        }
        Err(IssueError::CouponNotOpen(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "not_open")
        }
        // A store failure is answered 503 like an unavailable gate or log.
        Err(IssueError::Unavailable(_) | IssueError::Store(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "unavailable")
        }
        Err(IssueError::Indeterminate(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "outcome_unknown")
        }
        Err(IssueError::KeyInUse | IssueError::KeyReused(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "key_conflict")
        }
    };
    counter.increment(1);
}

#[utoipa::path(get, path = "/api/coupons/{id}/issue", tag = "issue", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = IssueStateResponse), (status = 404, body = ErrorBody)))]
pub async fn state(
    State(s): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<IssueStateResponse>, ApiError> {
    let state = s
        .app
        .issuing
        .state(CouponId::from_uuid(id), user.user_id)
        .await?;
    Ok(Json(IssueStateResponse {
        state: state.as_str(),
    }))
}
