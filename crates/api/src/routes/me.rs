//! The caller's own coupons.

use crate::dto::{OwnedCouponResponse, UsedCouponResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, AuthUser};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use couponrush_domain::CouponId;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/me/coupons", operation_id = "listMyCoupons", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = [OwnedCouponResponse])))]
pub async fn list(
    State(s): State<ApiState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<OwnedCouponResponse>>, ApiError> {
    let now = chrono::Utc::now();
    let owned = s.app.wallet.list(user.user_id).await?;
    Ok(Json(
        owned
            .iter()
            .map(|o| OwnedCouponResponse::new(o, now))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/coupons/{id}/use", operation_id = "useCoupon", tag = "me", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "coupon id")),
    responses((status = 200, body = UsedCouponResponse),
              (status = 404, description = "NOT_ISSUED", body = ErrorBody),
              (status = 409, description = "ALREADY_USED or COUPON_EXPIRED", body = ErrorBody)))]
pub async fn use_coupon(
    State(s): State<ApiState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UsedCouponResponse>, ApiError> {
    let used = s
        .app
        .wallet
        .use_coupon(user.user_id, CouponId::from_uuid(id))
        .await?;
    Ok(Json(UsedCouponResponse {
        issued_coupon_id: used.id.into_uuid(),
        coupon_id: used.coupon_id.into_uuid(),
        issued_at: used.issued_at,
        used_at: used.used_at,
    }))
}
