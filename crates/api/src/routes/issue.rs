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
use axum::http::StatusCode;
use couponrush_domain::services::IssueError;
use couponrush_domain::{CouponId, IssueOutcome};
use couponrush_telemetry::metrics::names::ISSUE_OUTCOMES_TOTAL;
use uuid::Uuid;

#[utoipa::path(post, path = "/api/coupons/{id}/issue", tag = "issue", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 202, description = "ACCEPTED: reserved and durably recorded", body = IssueResponse),
              (status = 200, description = "SOLD_OUT or ALREADY_ISSUED", body = IssueResponse),
              (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody),
              (status = 409, description = "COUPON_NOT_ACTIVE", body = ErrorBody),
              (status = 503, description = "ISSUE_UNAVAILABLE: nothing was reserved (the gate, the log, or the coupon's gate still being seeded); retry after the Retry-After header's seconds. ISSUE_OUTCOME_UNKNOWN: the request may have been recorded (the unit stays reserved for the caller); GET the issue state instead of retrying", body = ErrorBody)))]
pub async fn issue(
    State(s): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<IssueResponse>), ApiError> {
    let result = s
        .app
        .issuing
        .issue(CouponId::from_uuid(id), user.user_id)
        .await;
    count_outcome(&result);
    let outcome = result?;
    let status = if outcome == IssueOutcome::Accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(IssueResponse {
            result: outcome.as_str(),
        }),
    ))
}

/// One count per answer of the issue use case (requests refused before it, by the
/// token or path checks, are not issue outcomes). Static keys: no allocation per call.
fn count_outcome(result: &Result<IssueOutcome, IssueError>) {
    let counter = match result {
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
        // A store failure is answered 503 like an unavailable gate or log.
        Err(IssueError::Unavailable(_) | IssueError::Store(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "unavailable")
        }
        Err(IssueError::Indeterminate(_)) => {
            metrics::counter!(ISSUE_OUTCOMES_TOTAL, "result" => "outcome_unknown")
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
