//! HTTP metrics: requests answered and time to answer by method, route and status, and
//! the requests in flight. The route is the matched template (`/api/coupons/{id}`),
//! never the raw path, so the number of series stays bounded; requests no route
//! matched count as `route="unmatched"`. 5xx answers also go to error tracking
//! (`couponrush_telemetry::error_tracking`), when a DSN is configured.

use crate::error::{ErrorCode, PanicMessage};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use couponrush_telemetry::error_tracking::{self, ServerError};
use couponrush_telemetry::metrics::Occupancy;
use couponrush_telemetry::metrics::names::{
    HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_IN_FLIGHT, HTTP_REQUESTS_TOTAL, UNMATCHED_ROUTE,
};
use couponrush_telemetry::trace::current_trace_id;
use metrics::SharedString;
use std::time::Instant;

pub async fn http_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route: SharedString = match req.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned().into(),
        None => SharedString::const_str(UNMATCHED_ROUTE),
    };
    let _in_flight = Occupancy::enter(HTTP_REQUESTS_IN_FLIGHT);
    let response = next.run(req).await;
    let labels = [
        ("method", SharedString::const_str(method)),
        ("route", route),
        ("status", response.status().as_str().to_owned().into()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(started.elapsed());
    // Error tracking rides here: this is the one place that sees the method, the route
    // template and the status of every answer, and a branch costs nothing on a 2xx.
    if response.status().is_server_error() {
        report(method, &labels[1].1, &response);
    }
    response
}

fn report(method: &str, route: &str, response: &Response) {
    let trace_id = current_trace_id();
    error_tracking::report_server_error(&ServerError {
        method,
        route,
        status: response.status().as_u16(),
        code: response.extensions().get::<ErrorCode>().map(|c| c.as_str()),
        panic: response
            .extensions()
            .get::<PanicMessage>()
            .map(|p| p.0.as_str()),
        trace_id: trace_id.as_deref(),
    });
}

/// Standard methods by name; anything else (hyper accepts extension methods) as
/// `OTHER`, so a client cannot create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
