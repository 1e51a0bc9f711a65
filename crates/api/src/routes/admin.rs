//! Operator views: where a coupon's stock stands (used by the load generator's verdict),
//! and the failed events of distributed mode with their replay.

use crate::dto::{CouponStatsResponse, FailedEventResponse, ListQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiPath};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use couponrush_domain::CouponId;
use couponrush_domain::ports::ReplayError;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/admin/coupons/{id}/stats", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = CouponStatsResponse), (status = 404, body = ErrorBody)))]
pub async fn coupon_stats(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CouponStatsResponse>, ApiError> {
    let stats = s.app.issuing.stats(CouponId::from_uuid(id)).await?;
    Ok(Json(CouponStatsResponse {
        coupon_id: id,
        total: stats.total,
        reserved_in_gate: stats.reserved_in_gate,
        remaining_in_gate: stats.remaining_in_gate,
        persisted: stats.persisted,
    }))
}

#[utoipa::path(get, path = "/api/admin/failed-events", tag = "admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = [FailedEventResponse])))]
pub async fn failed_events(
    State(s): State<ApiState>,
    _admin: AdminUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<FailedEventResponse>>, ApiError> {
    let Some(failed) = &s.failed_events else {
        return Ok(Json(Vec::new()));
    };
    let events = failed
        .store
        .list_failed(q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(events.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/admin/failed-events/{id}/replay", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "failed event id")),
    responses((status = 200, description = "persisted; now REPLAYED", body = FailedEventResponse),
              (status = 404, description = "FAILED_EVENT_NOT_FOUND", body = ErrorBody),
              (status = 409, description = "NOT_REPLAYABLE", body = ErrorBody)))]
pub async fn replay_failed_event(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<FailedEventResponse>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "FAILED_EVENT_NOT_FOUND",
            "no failed event with this id",
        )
    };
    let failed = s.failed_events.as_ref().ok_or_else(not_found)?;
    match failed.replayer.replay(id).await {
        Ok(event) => Ok(Json(event.into())),
        Err(ReplayError::NotFound) => Err(not_found()),
        Err(e @ ReplayError::NotReplayable(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "NOT_REPLAYABLE",
            e.to_string(),
        )),
        Err(ReplayError::Store(e)) => Err(e.into()),
    }
}
