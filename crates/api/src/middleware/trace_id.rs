//! The trace id of a request: the caller's `X-Global-Trace-Id` (or the trace id of a
//! W3C `traceparent`), else a fresh one. It is echoed in the response's
//! `X-Global-Trace-Id`, every log line of the request carries it (the request runs in
//! an `http{trace_id=…}` span), and the Kafka producer reads it from the task-local
//! scope to put it on the record, from where the consumer logs it.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use couponrush_telemetry::trace;
use std::sync::Arc;
use tracing::Instrument;

static HEADER: HeaderName = HeaderName::from_static(trace::HEADER);

pub async fn trace_id(req: Request, next: Next) -> Response {
    let id: Arc<str> = of_request(req.headers()).into();
    let span = tracing::info_span!("http", trace_id = %id);
    let mut response = trace::scope(id.clone(), next.run(req))
        .instrument(span)
        .await;
    echo(&mut response, &id);
    response
}

/// The request's trace id: the caller's, or the trace id of its `traceparent`, or a
/// fresh one.
pub fn of_request(headers: &HeaderMap) -> String {
    trace::from_headers(
        headers.get(&HEADER).map(HeaderValue::as_bytes),
        headers.get(trace::TRACEPARENT).map(HeaderValue::as_bytes),
    )
    .unwrap_or_else(trace::generate)
}

/// Puts the trace id on the answer (`X-Global-Trace-Id`).
pub fn echo(response: &mut Response, id: &str) {
    // Accepted and generated ids are header-safe by construction.
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(HEADER.clone(), value);
    }
}
