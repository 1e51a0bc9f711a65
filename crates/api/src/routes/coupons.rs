//! Coupon definitions: create (admin), read, switch on and off (admin).

use crate::dto::{
    ChangeStatusRequest, CouponPageResponse, CouponResponse, CreateCouponRequest, ListCouponsParams,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AdminUser, ApiJson, ApiPath, ApiQuery, AuthUser};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use couponrush_domain::services::ListRequest;
use couponrush_domain::waiting_room::{PrequeueOrder, RoomMode, RoomPolicy};
use couponrush_domain::{CouponId, CouponName, CouponStatus, Discount, NewCoupon, Quantity};
use uuid::Uuid;

#[utoipa::path(post, path = "/api/coupons", operation_id = "createCoupon", tag = "coupons", request_body = CreateCouponRequest,
    security(("bearer" = ["ADMIN"])),
    responses((status = 201, body = CouponResponse,
                headers(("Location" = String, description = "the new coupon's path"))),
              (status = 400, description = "VALIDATION_FAILED, with the field at fault (`expiresAt`: not in the future; `opensAt`: not before `expiresAt`; `discountValue`: a PERCENTAGE over 100)", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiJson(body): ApiJson<CreateCouponRequest>,
) -> Result<Response, ApiError> {
    let new = NewCoupon {
        name: CouponName::parse(&body.name)?,
        coupon_type: body.coupon_type.into(),
        discount: Discount::parse(body.discount_type.as_str(), body.discount_value)?,
        total_quantity: Quantity::new(body.total_quantity)?,
        expires_at: body.expires_at,
        opens_at: body.opens_at,
        status: body.status.map_or(CouponStatus::Active, Into::into),
        room: RoomPolicy {
            mode: body.waiting_room.map_or(RoomMode::default(), Into::into),
            prequeue: body.prequeue.map_or(PrequeueOrder::default(), Into::into),
        },
    };
    let coupon = s.app.catalog.create(new).await?;
    let location = format!("/api/coupons/{}", coupon.id);
    let body = CouponResponse::new(&coupon, Some(0), coupon.created_at);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/coupons", operation_id = "listCoupons", tag = "coupons", security(("bearer" = [])),
    params(ListCouponsParams),
    responses((status = 200, description = "A page of coupons, newest first. Users see ACTIVE coupons that have not ended (upcoming and open ones); admins see every coupon", body = CouponPageResponse),
              (status = 400, description = "INVALID_QUERY: an unknown parameter or value; VALIDATION_FAILED: `limit` outside 1..=100 or a `cursor` this server did not hand out (field says which)", body = ErrorBody)))]
pub async fn list(
    State(s): State<ApiState>,
    AuthUser(caller): AuthUser,
    ApiQuery(params): ApiQuery<ListCouponsParams>,
) -> Result<Json<CouponPageResponse>, ApiError> {
    let page = s
        .app
        .catalog
        .list(
            caller.role,
            ListRequest {
                status: params.status.map(Into::into),
                phase: params.phase.map(Into::into),
                cursor: params.cursor,
                limit: params.limit,
            },
        )
        .await?;
    let now = s.app.catalog.now();
    Ok(Json(CouponPageResponse {
        coupons: page
            .coupons
            .iter()
            .map(|c| CouponResponse::new(c, None, now))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/coupons/{id}", operation_id = "getCoupon", tag = "coupons", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = CouponResponse), (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody)))]
pub async fn get(
    State(s): State<ApiState>,
    _user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CouponResponse>, ApiError> {
    let (coupon, issued) = s.app.catalog.get(CouponId::from_uuid(id)).await?;
    Ok(Json(CouponResponse::new(
        &coupon,
        Some(issued),
        chrono::Utc::now(),
    )))
}

#[utoipa::path(patch, path = "/api/coupons/{id}/status", operation_id = "changeCouponStatus", tag = "coupons", request_body = ChangeStatusRequest,
    security(("bearer" = ["ADMIN"])), params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = CouponResponse),
              (status = 400, description = "VALIDATION_FAILED (field `status`): only ACTIVE and DISABLED can be set", body = ErrorBody),
              (status = 404, description = "COUPON_NOT_FOUND", body = ErrorBody),
              (status = 409, description = "COUPON_EXPIRED", body = ErrorBody)))]
pub async fn change_status(
    State(s): State<ApiState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeStatusRequest>,
) -> Result<Json<CouponResponse>, ApiError> {
    let coupon = s
        .app
        .catalog
        .change_status(CouponId::from_uuid(id), body.status.into())
        .await?;
    Ok(Json(CouponResponse::new(&coupon, None, chrono::Utc::now())))
}
