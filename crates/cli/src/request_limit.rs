//! A bound on the requests a process works on at once. Past it a request waits for its
//! turn, in arrival order, before the router runs anything of it.
//!
//! When an event opens, each of 10,000 users may have a request in flight, and every
//! request the router runs holds its middleware's and handler's futures (an issue
//! request also its wait for the durable commit): in heaptrack at 10,000 such requests,
//! the trace-id and metrics middleware and the issue handler alone held 39 MB, 4 KB a
//! request beyond its connection. Two cores and one writer do not work
//! faster with more requests at once, so a waiting request holds only its connection
//! and its head until a turn frees up, and the process's memory follows the limit
//! rather than the crowd.
//!
//! Not limited: the probes and `/metrics` (a busy process is alive, and a probe stuck
//! behind the crowd would take a healthy node out of rotation), and signing in, which
//! has bounds of its own (the hash pool's queue answers `AUTH_BUSY` at once, throttled
//! attempts are held 250 ms on purpose) and whose held answers must not take turns from
//! the issue path.
//!
//! A request still waiting after `max_wait` is answered 503 `SERVER_BUSY` with
//! `Retry-After: 1`: nothing of it ran, so retrying is safe.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use couponrush_api::ApiError;
use couponrush_telemetry::metrics::names::{HTTP_REQUESTS_SHED_TOTAL, HTTP_REQUESTS_WAITING};
use couponrush_telemetry::trace;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone, Debug)]
pub struct RequestLimit {
    turns: Arc<Semaphore>,
    max_wait: Duration,
}

/// What a waiting request got: a turn (held until its answer is ready), or a refusal
/// after waiting too long.
pub enum Turn {
    Granted(OwnedSemaphorePermit),
    Refused,
}

impl RequestLimit {
    /// At most `max_in_flight` requests at once (at least one), each waiting at most
    /// `max_wait` for its turn.
    pub fn new(max_in_flight: usize, max_wait: Duration) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_wait,
        }
    }

    /// Which requests wait: the API crate's rule, which its OpenAPI document follows.
    pub fn applies_to(path: &str) -> bool {
        couponrush_api::waits_for_a_turn(path)
    }

    /// A free turn at once, if there is one.
    pub fn try_turn(&self) -> Option<OwnedSemaphorePermit> {
        self.turns.clone().try_acquire_owned().ok()
    }

    /// Waits for a turn (Tokio's semaphore is fair: turns go in arrival order).
    pub async fn wait_turn(&self) -> Turn {
        let _waiting = Waiting::enter();
        match tokio::time::timeout(self.max_wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Turn::Granted(permit),
            // Timed out (the semaphore is never closed).
            _ => {
                metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
                Turn::Refused
            }
        }
    }
}

/// 503 `SERVER_BUSY` for a request that waited too long. It never reached the router,
/// so the trace id is echoed here as the router's middleware would.
pub fn busy<B>(request: &Request<B>) -> Response {
    let headers = request.headers();
    let id = trace::from_headers(
        headers.get(trace::HEADER).map(HeaderValue::as_bytes),
        headers.get(trace::TRACEPARENT).map(HeaderValue::as_bytes),
    )
    .unwrap_or_else(trace::generate);
    tracing::warn!(trace_id = %id, path = request.uri().path(), "no turn within request_queue_timeout_ms: 503 SERVER_BUSY");
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVER_BUSY",
        "the server is at its limit of requests in flight and nothing was done; retry",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static(trace::HEADER), value);
    }
    response
}

/// Counts a request waiting for its turn until dropped (also when its client left).
struct Waiting;

impl Waiting {
    fn enter() -> Self {
        metrics::gauge!(HTTP_REQUESTS_WAITING).increment(1.0);
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!(HTTP_REQUESTS_WAITING).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_signing_in_never_wait() {
        for path in [
            "/health",
            "/ready",
            "/metrics",
            "/api/auth/login",
            "/api/auth/refresh",
            "/api/users/signup",
        ] {
            assert!(!RequestLimit::applies_to(path), "{path}");
        }
        for path in [
            "/api/coupons/1/issue",
            "/api/me/coupons",
            "/healthz",
            "/api/authx",
            "/",
        ] {
            assert!(RequestLimit::applies_to(path), "{path}");
        }
    }

    #[tokio::test]
    async fn turns_go_in_arrival_order_and_a_long_wait_is_refused() {
        let limit = RequestLimit::new(1, Duration::from_millis(50));
        let first = limit.try_turn().expect("a free turn");
        assert!(limit.try_turn().is_none(), "one at a time");
        assert!(matches!(limit.wait_turn().await, Turn::Refused));
        drop(first);
        assert!(matches!(limit.wait_turn().await, Turn::Granted(_)));
    }
}
