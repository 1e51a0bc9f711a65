//! The HTTP API, the same in every mode: routes, the auth extractors, the one error
//! mapping and the OpenAPI document. Which adapters stand behind the use cases is the
//! wiring's business (`cli`), not this crate's.

pub mod client_addr;
pub mod constraints;
pub mod dto;
pub mod error;
pub mod error_code;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod state;

pub use client_addr::{ClientAddr, ClientAddrPolicy};
pub use error::{ApiError, ErrorCode};
pub use state::{ApiState, AppContext, DependencyStatus, FailedEvents, Readiness};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use routes::{accounts, admin, coupons, docs, health, issue, me, metrics};
use tower_http::catch_panic::CatchPanicLayer;

/// Paths whose requests never wait for a turn when a process bounds the requests it
/// runs at once (`max_requests_in_flight`): the probes and `/metrics` (a busy process is
/// alive, and a probe stuck behind the crowd would take a healthy node out of rotation),
/// and signing in, which has bounds of its own (the hash pool's queue, the throttles'
/// deliberately held 429s), and the pages (compiled-in files: a person must get the page
/// of an event that is opening). Exact paths, or prefixes ending in `/` (longer than
/// `/` itself, which is the page's exact path).
const NEVER_WAITING: [&str; 7] = [
    pages::INDEX_PATH,
    pages::ASSETS_PREFIX,
    "/health",
    "/ready",
    "/metrics",
    "/api/auth/",
    "/api/users/signup",
];

/// Whether a request for `path` waits for its turn past `max_requests_in_flight` (and
/// may be answered 503 `SERVER_BUSY`).
pub fn waits_for_a_turn(path: &str) -> bool {
    !NEVER_WAITING.iter().any(|p| {
        if p.len() > 1 && p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == *p
        }
    })
}

/// Request bodies larger than this are refused with 413 PAYLOAD_TOO_LARGE.
pub const BODY_LIMIT_BYTES: usize = 16 * 1024;

pub fn router(state: ApiState) -> Router {
    let routes = Router::new()
        .route("/api/users/signup", post(accounts::signup))
        .route("/api/auth/login", post(accounts::login))
        .route("/api/auth/refresh", post(accounts::refresh))
        .route("/api/auth/logout", post(accounts::logout))
        .route("/api/coupons", post(coupons::create).get(coupons::list))
        .route("/api/coupons/{id}", get(coupons::get))
        .route("/api/coupons/{id}/status", patch(coupons::change_status))
        .route(
            "/api/coupons/{id}/issue",
            post(issue::issue).get(issue::state),
        )
        .route("/api/coupons/{id}/queue", get(issue::queue))
        .route("/api/coupons/{id}/use", post(me::use_coupon))
        .route("/api/me/coupons", get(me::list))
        .route("/api/admin/coupons/{id}/stats", get(admin::coupon_stats))
        .route(
            "/api/admin/coupons/{id}/waiting-room",
            get(admin::room_state).put(admin::configure_room),
        )
        .route("/api/admin/pipeline", get(admin::pipeline))
        .route("/api/admin/failed-events", get(admin::failed_events))
        .route(
            "/api/admin/failed-events/{id}/replay",
            post(admin::replay_failed_event),
        )
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route(docs::DOCUMENT_PATH, get(docs::document))
        .route("/api-docs", get(docs::to_page))
        .route(docs::PAGE_PATH, get(docs::page))
        .route("/api-docs/{file}", get(docs::asset))
        .merge(pages::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    with_edge_layers(routes).with_state(state)
}

/// What every request of the API passes through around its handler: the body limit,
/// the panic catcher, HTTP metrics and error tracking, the trace id. Public so a test
/// can put a route of its own (one that panics) behind the very same edge.
pub fn with_edge_layers<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        // Layers added with `Router::layer` run after routing, so `MatchedPath` is
        // known; outside the panic catcher, so a panic counts as the 500 it becomes.
        .layer(from_fn(middleware::http_metrics::http_metrics))
        // Outermost: every log line of the request, the metrics' included, has its id.
        .layer(from_fn(middleware::trace_id::trace_id))
}

/// The admin port of processes that serve no API (`couponrush consumer`): liveness and
/// metrics, without the API's HTTP metrics (scrapes are not traffic worth counting).
pub fn ops_router() -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

/// A panic is a bug; the caller still gets the JSON error shape, and the log gets the detail.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    let mut response = ApiError::new(ErrorCode::InternalError, "internal error").into_response();
    response
        .extensions_mut()
        .insert(error::PanicMessage(detail));
    response
}

#[cfg(test)]
mod tests {
    use super::waits_for_a_turn;

    #[test]
    fn probes_metrics_and_signing_in_never_wait() {
        for path in [
            "/health",
            "/ready",
            "/metrics",
            "/api/auth/login",
            "/api/auth/refresh",
            "/api/users/signup",
            "/",
            "/assets/app.js",
        ] {
            assert!(!waits_for_a_turn(path), "{path}");
        }
        for path in [
            "/api/coupons/1/issue",
            "/api/me/coupons",
            "/healthz",
            "/api/authx",
            "/api/coupons",
        ] {
            assert!(waits_for_a_turn(path), "{path}");
        }
    }
}
