//! The rush endpoint and the caller's issue state.
//!
//! Expected outcomes of a rush (SOLD_OUT, ALREADY_ISSUED) are 200 with a result, as in
//! the seed, so load tools do not count them as errors; ACCEPTED is 202.

use crate::dto::{
    IssueHeaders, IssueResponse, IssueStateResponse, QueueHeaders, QueueStatusResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, AuthUser};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use couponrush_domain::services::{IssueError, QueueStatus, RoomAnswer};
use couponrush_domain::{CouponId, IdempotencyKey, IssueOutcome, ValidationError};
use couponrush_telemetry::metrics::names::{
    ISSUE_OUTCOMES_TOTAL, ROOM_POLLS_TOTAL, ROOM_WAIT_SECONDS,
};
use uuid::Uuid;

/// The request header naming an idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The request header carrying the waiting room's admission token.
pub const ADMISSION_TOKEN: &str = "admission-token";
/// The request header carrying the place ticket of the caller's last QUEUED or WAITING
/// answer.
pub const PLACE_TICKET: &str = "place-ticket";
/// The answer header that marks an answer given again for a repeated key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

#[utoipa::path(post, path = "/api/coupons/{id}/issue", operation_id = "issueCoupon", tag = "issue", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id"), IssueHeaders),
    responses((status = 202, description = "ACCEPTED: reserved and durably recorded", body = IssueResponse,
                headers(("Idempotent-Replayed" = String, description = "`true` when this is the kept answer of an earlier request with the same Idempotency-Key"))),
              (status = 200, description = "SOLD_OUT or ALREADY_ISSUED; or QUEUED with `position`, `etaSeconds`, `beyondStock`, `pollAfterMs` and `placeTicket` while the waiting room is on", body = IssueResponse,
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
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(raw) => Some(
            raw.to_str()
                .map_err(|_| {
                    ValidationError::new("Idempotency-Key", "must be visible ASCII characters")
                })
                .and_then(IdempotencyKey::parse)?,
        ),
    };
    // An unreadable token or ticket is none: the caller is put in line (at the back,
    // for a ticket), not refused.
    let admission = headers.get(ADMISSION_TOKEN).and_then(|v| v.to_str().ok());
    let ticket = headers.get(PLACE_TICKET).and_then(|v| v.to_str().ok());
    let answered = s
        .app
        .room
        .issue(coupon, user.user_id, admission, ticket, key)
        .await;
    count_outcome(&answered);
    let answered = match answered? {
        RoomAnswer::Issued(answered) => answered,
        RoomAnswer::Queued(queued) => {
            return Ok((
                StatusCode::OK,
                Json(IssueResponse {
                    result: "QUEUED",
                    position: Some(queued.position),
                    eta_seconds: Some(queued.estimate.eta_seconds),
                    beyond_stock: Some(queued.estimate.beyond_stock),
                    poll_after_ms: Some(queued.estimate.poll_after.as_millis() as u64),
                    place_ticket: queued.ticket,
                }),
            )
                .into_response());
        }
    };
    let status = if answered.outcome == IssueOutcome::Accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        Json(IssueResponse {
            result: answered.outcome.as_str(),
            ..IssueResponse::default()
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
fn count_outcome(result: &Result<RoomAnswer, IssueError>) {
    let counter = match result.as_ref().map(|a| match a {
        RoomAnswer::Issued(answered) => Some(answered.outcome),
        RoomAnswer::Queued(_) => None,
    }) {
        Ok(None) => metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "queued"),
        Ok(Some(IssueOutcome::Accepted)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "accepted")
        }
        Ok(Some(IssueOutcome::SoldOut)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "sold_out")
        }
        Ok(Some(IssueOutcome::AlreadyIssued)) => {
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

#[utoipa::path(get, path = "/api/coupons/{id}/issue", operation_id = "getIssueState", tag = "issue", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = IssueStateResponse), (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/coupons/{id}/queue", operation_id = "pollQueue", tag = "issue", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id"), QueueHeaders),
    responses((status = 200, description = "Where the caller stands in the coupon's waiting line. The poll is the heartbeat: a waiter who does not poll for `abandon_after_secs` loses the place. O(log n) on the server", body = QueueStatusResponse),
              (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody),
              (status = 503, description = "ISSUE_UNAVAILABLE: the line's store cannot be reached; retry after the Retry-After header's seconds", body = ErrorBody)))]
pub async fn queue(
    State(s): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<Json<QueueStatusResponse>, ApiError> {
    let coupon = CouponId::from_uuid(id);
    // As for the issue request: an unreadable ticket is none.
    let ticket = headers.get(PLACE_TICKET).and_then(|v| v.to_str().ok());
    let status = s.app.room.poll(coupon, user.user_id, ticket).await?;
    let bare = |status| QueueStatusResponse {
        status,
        position: None,
        eta_seconds: None,
        beyond_stock: None,
        poll_after_ms: None,
        place_ticket: None,
        admission_token: None,
        valid_until: None,
    };
    let label = match &status {
        QueueStatus::Waiting(_) => "waiting",
        QueueStatus::Admitted { .. } => "admitted",
        QueueStatus::SoldOut => "sold_out",
        QueueStatus::Expired => "expired",
        QueueStatus::NotInQueue => "not_in_queue",
    };
    metrics::counter!(ROOM_POLLS_TOTAL, "status" => label).increment(1);
    Ok(Json(match status {
        QueueStatus::Waiting(queued) => QueueStatusResponse {
            position: Some(queued.position),
            eta_seconds: Some(queued.estimate.eta_seconds),
            beyond_stock: Some(queued.estimate.beyond_stock),
            poll_after_ms: Some(queued.estimate.poll_after.as_millis() as u64),
            place_ticket: queued.ticket,
            ..bare("WAITING")
        },
        QueueStatus::Admitted {
            token,
            valid_until_ms,
            waited,
        } => {
            if let Some(waited) = waited {
                // Once per admission: only the poll that tells it carries the wait.
                metrics::histogram!(ROOM_WAIT_SECONDS, "coupon" => coupon.to_string())
                    .record(waited.as_secs_f64());
            }
            QueueStatusResponse {
                admission_token: Some(token),
                valid_until: chrono::DateTime::from_timestamp_millis(valid_until_ms),
                ..bare("ADMITTED")
            }
        }
        QueueStatus::SoldOut => bare("SOLD_OUT"),
        QueueStatus::Expired => bare("EXPIRED"),
        QueueStatus::NotInQueue => bare("NOT_IN_QUEUE"),
    }))
}
