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
//! Which requests wait is the API's rule (`couponrush_api::waits_for_a_turn`: not the
//! probes, `/metrics` or signing in), which its OpenAPI document follows too.
//!
//! A request still waiting after `max_wait` is answered 503 `SERVER_BUSY` with
//! `Retry-After: 1`: nothing of it ran, so retrying is safe.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use couponrush_api::ApiError;
use couponrush_api::middleware::trace_id;
use couponrush_telemetry::metrics::Occupancy;
use couponrush_telemetry::metrics::names::{
    HTTP_REQUESTS_SHED_TOTAL, HTTP_REQUESTS_WAITING, HTTP_TURN_WAIT_SECONDS,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A turn: held until the request's answer is ready.
pub type Turn = OwnedSemaphorePermit;

#[derive(Clone, Debug)]
pub struct RequestLimit {
    turns: Arc<Semaphore>,
    size: usize,
    max_wait: Duration,
    /// A request's durable append may give its turn back (`append_waiters`).
    lends: bool,
}

impl RequestLimit {
    /// At most `max_in_flight` requests at once (at least one), each waiting at most
    /// `max_wait` for its turn.
    pub fn new(max_in_flight: usize, max_wait: Duration) -> Self {
        let size = max_in_flight.max(1);
        Self {
            turns: Arc::new(Semaphore::new(size)),
            size,
            max_wait,
            lends: false,
        }
    }

    /// The same limit, its turns lent to the next request while an append waits, when
    /// `lends` (the process has places for appends waiting without their turn).
    #[must_use]
    pub fn lending(self, lends: bool) -> Self {
        Self { lends, ..self }
    }

    /// Whether a request's turn may be given back before the request ends.
    pub fn lends(&self) -> bool {
        self.lends
    }

    /// How many requests may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A free turn at once, if there is one.
    pub fn try_turn(&self) -> Option<Turn> {
        self.turns.clone().try_acquire_owned().ok()
    }

    /// Waits for a turn (Tokio's semaphore is fair: turns go in arrival order); `None`
    /// after `max_wait`.
    pub async fn wait_turn(&self) -> Option<Turn> {
        let _waiting = Occupancy::enter(HTTP_REQUESTS_WAITING);
        let started = tokio::time::Instant::now();
        let turn = tokio::time::timeout(self.max_wait, self.turns.clone().acquire_owned())
            .await
            .ok()
            // The semaphore is never closed.
            .and_then(Result::ok);
        match turn {
            // The request-duration histogram starts when the router runs the request:
            // this is the part of a client's wait that it does not see.
            Some(_) => metrics::histogram!(HTTP_TURN_WAIT_SECONDS).record(started.elapsed()),
            None => metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1),
        }
        turn
    }
}

/// 503 `SERVER_BUSY` for a request that waited too long. It never reached the router,
/// so the trace id is echoed here as the router's middleware would.
pub fn busy<B>(request: &Request<B>) -> Response {
    let id = trace_id::of_request(request.headers());
    tracing::warn!(trace_id = %id, path = request.uri().path(), "no turn within request_queue_timeout_ms: 503 SERVER_BUSY");
    let mut response = ApiError::server_busy().into_response();
    trace_id::echo(&mut response, &id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_go_in_arrival_order_and_a_long_wait_is_refused() {
        let limit = RequestLimit::new(1, Duration::from_millis(50));
        let first = limit.try_turn().expect("a free turn");
        assert!(limit.try_turn().is_none(), "one at a time");
        assert!(limit.wait_turn().await.is_none(), "refused after max_wait");
        drop(first);
        assert!(limit.wait_turn().await.is_some());
    }
}
