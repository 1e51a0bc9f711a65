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
        routes::issue::issue, routes::issue::state, routes::issue::queue,
        routes::me::list, routes::me::use_coupon,
        routes::admin::coupon_stats, routes::admin::room_state, routes::admin::configure_room, routes::admin::pipeline, routes::admin::failed_events, routes::admin::replay_failed_event,
        routes::health::health, routes::health::ready, routes::metrics::metrics,
    ),
    components(schemas(error::ErrorBody, dto::CouponTypeDto, dto::DiscountTypeDto, dto::CouponStatusDto, dto::PhaseDto, dto::CouponPageResponse, dto::RoomModeDto, dto::PrequeueDto)),
    modifiers(&BearerAuth, &ServerBusy)
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

/// Every operation whose requests may wait for a turn can be answered 503 `SERVER_BUSY`
/// (`crate::waits_for_a_turn`): added to each here rather than to every annotation, so
/// the document follows the rule the server applies.
struct ServerBusy;

const SERVER_BUSY: &str = "SERVER_BUSY: the process was at `max_requests_in_flight` for `request_queue_timeout_ms` and nothing of the request ran; retry after the Retry-After header's seconds";

impl Modify for ServerBusy {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in &mut openapi.paths.paths {
            // Path templates (`{id}`) never decide the rule, whose entries are fixed.
            if !crate::waits_for_a_turn(path) {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                match responses.get_mut("503") {
                    Some(RefOr::T(existing)) => {
                        if !existing.description.contains("SERVER_BUSY") {
                            existing.description.push_str(". ");
                            existing.description.push_str(SERVER_BUSY);
                        }
                    }
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        let busy = ResponseBuilder::new()
                            .description(SERVER_BUSY)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build();
                        responses.insert("503".into(), RefOr::T(busy));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy_503(doc: &serde_json::Value, path: &str, method: &str) -> Option<String> {
        doc["paths"][path][method]["responses"]["503"]["description"]
            .as_str()
            .filter(|d| d.contains("SERVER_BUSY"))
            .map(str::to_owned)
    }

    #[test]
    fn every_operation_that_may_wait_documents_server_busy_and_no_other_does() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (path, method) in [
            ("/api/coupons/{id}/issue", "post"),
            ("/api/coupons", "get"),
            ("/api/coupons", "post"),
            ("/api/me/coupons", "get"),
            ("/api/admin/coupons/{id}/stats", "get"),
        ] {
            assert!(busy_503(&doc, path, method).is_some(), "{method} {path}");
        }
        let issue = busy_503(&doc, "/api/coupons/{id}/issue", "post").unwrap();
        assert!(issue.contains("ISSUE_UNAVAILABLE"), "kept: {issue}");
        for (path, method) in [
            ("/health", "get"),
            ("/ready", "get"),
            ("/metrics", "get"),
            ("/api/auth/login", "post"),
            ("/api/users/signup", "post"),
        ] {
            assert!(busy_503(&doc, path, method).is_none(), "{method} {path}");
        }
    }
}
