//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api-docs/openapi.json`, with the interactive page at `/api-docs`.
//!
//! Annotations list the answers of each handler's own use case; the answers every
//! operation of a kind can give (a JSON body, a path parameter, a bearer token, a turn
//! to wait for) are added by [`CommonAnswers`] from the same rules the extractors and
//! layers apply, so no operation can forget one.

use crate::error::ErrorCode;
use crate::{dto, error, routes};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The security scope that marks an operation for admins only (`AdminUser`).
pub const ADMIN_SCOPE: &str = "ADMIN";

#[derive(OpenApi)]
#[openapi(
    info(title = "couponrush", description = "First-come-first-served coupon issuance. \
Every error answer is an `ErrorBody` whose `code` is one of `ErrorCode`; each response lists the codes it can carry. \
Operations whose security names the `ADMIN` role answer 403 FORBIDDEN to other users."),
    paths(
        routes::accounts::signup, routes::accounts::login, routes::accounts::refresh,
        routes::accounts::logout,
        routes::coupons::create, routes::coupons::list, routes::coupons::get, routes::coupons::change_status,
        routes::issue::issue, routes::issue::state, routes::issue::queue,
        routes::me::list, routes::me::use_coupon,
        routes::admin::coupon_stats, routes::admin::room_state, routes::admin::configure_room, routes::admin::pipeline, routes::admin::failed_events, routes::admin::replay_failed_event,
        routes::health::health, routes::health::ready, routes::metrics::metrics,
    ),
    components(schemas(error::ErrorBody, error::ErrorCode, dto::CouponTypeDto, dto::DiscountTypeDto, dto::CouponStatusDto, dto::PhaseDto, dto::CouponPageResponse, dto::RoomModeDto, dto::PrequeueDto)),
    modifiers(&BearerAuth, &CommonAnswers, &CouponLinks)
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
                    .description(Some(
                        "The `accessToken` of a login. An operation whose requirement names \
                         the ADMIN role needs an admin's token.",
                    ))
                    .build(),
            ),
        );
    }
}

/// What an operation is, as far as the common answers go.
struct Traits<'a> {
    path: &'a str,
    body: bool,
    path_params: bool,
    query: bool,
    authenticated: bool,
    admin: bool,
}

impl<'a> Traits<'a> {
    fn of(path: &'a str, op: &Operation) -> Self {
        let params = op.parameters.as_deref().unwrap_or_default();
        let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
        let scopes: Vec<serde_json::Value> = op
            .security
            .iter()
            .flatten()
            .filter_map(|req| serde_json::to_value(req).ok())
            .collect();
        Self {
            path,
            body: op.request_body.is_some(),
            path_params: has(ParameterIn::Path),
            query: has(ParameterIn::Query),
            authenticated: scopes.iter().any(|s| s.get("bearer").is_some()),
            admin: scopes.iter().any(|s| {
                s["bearer"]
                    .as_array()
                    .is_some_and(|roles| roles.iter().any(|r| r == ADMIN_SCOPE))
            }),
        }
    }
}

/// One rule: which operations can give this code, and why. Each mirrors the code path
/// named in its comment.
struct Rule {
    code: ErrorCode,
    applies: fn(&Traits) -> bool,
    why: &'static str,
}

const RULES: &[Rule] = &[
    // extract::ApiJson
    Rule {
        code: ErrorCode::MalformedJson,
        applies: |t| t.body,
        why: "the body is not JSON",
    },
    Rule {
        code: ErrorCode::InvalidBody,
        applies: |t| t.body,
        why: "JSON of another shape (a missing, unknown or mistyped field)",
    },
    Rule {
        code: ErrorCode::PayloadTooLarge,
        applies: |t| t.body,
        why: "the body is over 16 KiB",
    },
    Rule {
        code: ErrorCode::UnsupportedMediaType,
        applies: |t| t.body,
        why: "the body is not sent as `Content-Type: application/json`",
    },
    // extract::ApiPath, extract::ApiQuery
    Rule {
        code: ErrorCode::InvalidPath,
        applies: |t| t.path_params,
        why: "a path parameter is malformed",
    },
    Rule {
        code: ErrorCode::InvalidQuery,
        applies: |t| t.query,
        why: "an unknown query parameter or a value of the wrong type",
    },
    // extract::AuthUser, extract::AdminUser
    Rule {
        code: ErrorCode::Unauthorized,
        applies: |t| t.authenticated,
        why: "no `Authorization: Bearer <token>` header",
    },
    Rule {
        code: ErrorCode::TokenInvalid,
        applies: |t| t.authenticated,
        why: "the token is not one of ours",
    },
    Rule {
        code: ErrorCode::TokenExpired,
        applies: |t| t.authenticated,
        why: "the token has expired: refresh it",
    },
    Rule {
        code: ErrorCode::Forbidden,
        applies: |t| t.admin,
        why: "the operation needs the ADMIN role",
    },
    // From<StoreError> for ApiError: every use case under /api reads or writes a store.
    Rule {
        code: ErrorCode::StoreUnavailable,
        applies: |t| t.path.starts_with("/api/"),
        why: "a store did not answer; retry after the Retry-After header's seconds",
    },
    // cli::request_limit, for the paths of crate::waits_for_a_turn.
    Rule {
        code: ErrorCode::ServerBusy,
        applies: |t| crate::waits_for_a_turn(t.path),
        why: "the process was at `max_requests_in_flight` for `request_queue_timeout_ms` \
              and nothing of the request ran; retry after the Retry-After header's seconds",
    },
    // The panic catcher (crate::router) and StoreError::Corrupt.
    Rule {
        code: ErrorCode::InternalError,
        applies: |t| t.path.starts_with("/api/"),
        why: "a bug; the log has the detail",
    },
];

/// Adds the answers of [`RULES`] to every operation they apply to: a status the
/// annotation lists gets the missing codes appended to its description, a status it
/// does not list is added with `ErrorBody`.
struct CommonAnswers;

/// The operations of one path, for the modifiers that walk every operation.
fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            for operation in operations_mut(item) {
                let traits = Traits::of(path, operation);
                let applying: Vec<&Rule> = RULES.iter().filter(|r| (r.applies)(&traits)).collect();
                for rule in applying {
                    add_answer(operation, rule);
                }
            }
        }
    }
}

fn add_answer(operation: &mut Operation, rule: &Rule) {
    let status = rule.code.status().as_u16().to_string();
    let line = format!("{}: {}", rule.code.as_str(), rule.why);
    match operation.responses.responses.get_mut(&status) {
        Some(RefOr::T(existing)) => {
            if !mentions(&existing.description, rule.code) {
                if !existing.description.is_empty() {
                    existing.description.push_str(". ");
                }
                existing.description.push_str(&line);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let answer = ResponseBuilder::new()
                .description(line)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert(status, RefOr::T(answer));
        }
    }
}

/// Whether `text` names `code` as a word (`NOT_FOUND` is not in `COUPON_NOT_FOUND`).
fn mentions(text: &str, code: ErrorCode) -> bool {
    words(text).any(|word| word == code.as_str())
}

/// The upper-case words of `text` (letters, digits and underscores), where codes are.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| w.chars().any(|c| c.is_ascii_uppercase()))
}

/// The document as served: [`ApiDoc`] as JSON, with the links' field names spelled as
/// OpenAPI spells them (utoipa 5.5 serializes `Link` fields in snake case:
/// `operation_id`, `operation_ref`, `request_body`).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let answers = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op["responses"].as_object_mut())
        .flat_map(|answers| answers.values_mut());
    for answer in answers {
        let Some(links) = answer.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
    doc
}

/// Where answers carry a coupon id: (operation, status, runtime expression).
const COUPON_ID_SOURCES: [(&str, &str, &str); 3] = [
    ("createCoupon", "201", "$response.body#/id"),
    ("listCoupons", "200", "$response.body#/coupons/0/id"),
    ("listMyCoupons", "200", "$response.body#/0/coupon/id"),
];

/// Links every answer that carries a coupon id to the operations that take one as
/// `{id}`, so a client (or a fuzzer's stateful phase) can follow from a created or
/// listed coupon to issuing, using and administering it.
struct CouponLinks;

impl Modify for CouponLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        let mut targets = Vec::new();
        for (path, item) in &mut openapi.paths.paths {
            if !path.contains("/coupons/{id}") {
                continue;
            }
            for op in operations_mut(item) {
                targets.extend(op.operation_id.clone());
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for op in operations_mut(item) {
                let Some(id) = op.operation_id.as_deref() else {
                    continue;
                };
                for (_, status, expression) in COUPON_ID_SOURCES.iter().filter(|s| s.0 == id) {
                    let Some(RefOr::T(answer)) = op.responses.responses.get_mut(*status) else {
                        continue;
                    };
                    for target in &targets {
                        let link = LinkBuilder::new()
                            .operation_id(target)
                            .parameter("id", *expression)
                            .build();
                        answer.links.insert(target.clone(), RefOr::T(link));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
