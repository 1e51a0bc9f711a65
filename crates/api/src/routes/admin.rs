//! Operator views: where a coupon's stock stands (used by the load generator's verdict),
//! and the failed events of distributed mode with their replay.

use crate::dto::{
    ConfigureRoomRequest, CouponStatsResponse, FailedEventResponse, ListQuery, PipelineResponse,
    RoomStateResponse,
};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{AdminUser, ApiJson, ApiPath, ApiQuery};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;

use couponrush_domain::ports::ReplayError;
use couponrush_domain::services::RoomReport;
use couponrush_domain::waiting_room::{RateBounds, RoomPolicy};
use couponrush_domain::{Coupon, CouponId, ValidationError};
use uuid::Uuid;

#[utoipa::path(get, path = "/api/admin/coupons/{id}/stats", operation_id = "getCouponStats", tag = "admin", security(("bearer" = ["ADMIN"])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = CouponStatsResponse), (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody)))]
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

#[utoipa::path(get, path = "/api/admin/pipeline", operation_id = "getPipeline", tag = "admin", security(("bearer" = ["ADMIN"])),
    responses((status = 200, description = "How far the consumers are behind the issue log", body = PipelineResponse),
              (status = 503, description = "STORE_UNAVAILABLE: the broker cannot be asked now", body = ErrorBody)))]
pub async fn pipeline(
    State(s): State<ApiState>,
    _admin: AdminUser,
) -> Result<Json<PipelineResponse>, ApiError> {
    Ok(Json(PipelineResponse {
        consumer_lag: s.app.pipeline.consumer_lag().await?,
    }))
}

#[utoipa::path(get, path = "/api/admin/failed-events", operation_id = "listFailedEvents", tag = "admin", security(("bearer" = ["ADMIN"])), params(ListQuery),
    responses((status = 200, body = [FailedEventResponse])))]
pub async fn failed_events(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ListQuery>,
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

#[utoipa::path(post, path = "/api/admin/failed-events/{id}/replay", operation_id = "replayFailedEvent", tag = "admin", security(("bearer" = ["ADMIN"])),
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
            ErrorCode::FailedEventNotFound,
            "no failed event with this id",
        )
    };
    let failed = s.failed_events.as_ref().ok_or_else(not_found)?;
    match failed.replayer.replay(id).await {
        Ok(event) => Ok(Json(event.into())),
        Err(ReplayError::NotFound) => Err(not_found()),
        Err(e @ ReplayError::NotReplayable(_)) => {
            Err(ApiError::new(ErrorCode::NotReplayable, e.to_string()))
        }
        Err(ReplayError::Store(e)) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/api/admin/coupons/{id}/waiting-room", operation_id = "getWaitingRoom", tag = "admin", security(("bearer" = ["ADMIN"])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, description = "The room as the answering node saw it at its last tick", body = RoomStateResponse),
              (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody),
              (status = 503, description = "ISSUE_UNAVAILABLE: the line's store cannot be reached", body = ErrorBody)))]
pub async fn room_state(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RoomStateResponse>, ApiError> {
    let coupon = CouponId::from_uuid(id);
    let definition = s.app.catalog.find(coupon).await?;
    let report = s.app.room.report(coupon).await?;
    Ok(Json(room_state_response(&definition, &report)))
}

#[utoipa::path(put, path = "/api/admin/coupons/{id}/waiting-room", operation_id = "configureWaitingRoom", tag = "admin", security(("bearer" = ["ADMIN"])),
    params(("id" = Uuid, Path, description = "coupon id")), request_body = ConfigureRoomRequest,
    responses((status = 200, body = RoomStateResponse),
              (status = 400, description = "VALIDATION_FAILED: rates out of 1 ≤ minRate ≤ maxRate ≤ 1,000,000, or only one of them given", body = ErrorBody),
              (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody),
              (status = 503, description = "ISSUE_UNAVAILABLE: the line's store cannot be reached", body = ErrorBody)))]
pub async fn configure_room(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ConfigureRoomRequest>,
) -> Result<Json<RoomStateResponse>, ApiError> {
    let coupon = CouponId::from_uuid(id);
    let bounds = match (body.min_rate, body.max_rate) {
        (Some(min), Some(max)) => Some(Some(RateBounds::new(min, max)?)),
        (None, None) if body.reset_rates => Some(None),
        (None, None) => None,
        _ => {
            return Err(
                ValidationError::new("minRate", "minRate and maxRate are set together").into(),
            );
        }
    };
    let mut definition = s.app.catalog.find(coupon).await?;
    if body.mode.is_some() || body.prequeue.is_some() {
        let policy = RoomPolicy {
            mode: body.mode.map_or(definition.room.mode, Into::into),
            prequeue: body.prequeue.map_or(definition.room.prequeue, Into::into),
        };
        definition = s.app.catalog.set_room_policy(coupon, policy).await?;
    }
    if let Some(bounds) = bounds {
        s.app.room.set_bounds(coupon, bounds).await?;
    }
    let report = s.app.room.report(coupon).await?;
    Ok(Json(room_state_response(&definition, &report)))
}

fn room_state_response(coupon: &Coupon, r: &RoomReport) -> RoomStateResponse {
    RoomStateResponse {
        coupon_id: coupon.id.into_uuid(),
        mode: coupon.room.mode.as_str(),
        prequeue: coupon.room.prequeue.as_str(),
        state: r.switch.as_str(),
        waiting: r.waiting,
        admitted_total: r.admitted_total,
        abandoned_total: r.abandoned_total,
        admission_rate: r.rate,
        admitted_per_second: r.admitted_per_sec,
        min_rate: r.bounds.min,
        max_rate: r.bounds.max,
        p95_ms: r.p95.map(|p| p.as_secs_f64() * 1000.0),
        target_p95_ms: r.target_p95.as_secs_f64() * 1000.0,
        remaining: r.remaining,
    }
}
