//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api-docs/openapi.json`.

use crate::{dto, error, routes};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "couponrush", description = "First-come-first-served coupon issuance."),
    paths(
        routes::accounts::signup, routes::accounts::login, routes::accounts::refresh,
        routes::accounts::logout,
        routes::coupons::create, routes::coupons::list, routes::coupons::get, routes::coupons::change_status,
        routes::issue::issue, routes::issue::state,
        routes::me::list, routes::me::use_coupon,
        routes::admin::coupon_stats, routes::admin::failed_events, routes::admin::replay_failed_event,
        routes::health::health, routes::health::ready, routes::metrics::metrics,
    ),
    components(schemas(error::ErrorBody, dto::CouponTypeDto, dto::DiscountTypeDto, dto::CouponStatusDto, dto::PhaseDto, dto::CouponPageResponse)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
