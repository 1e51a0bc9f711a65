//! `GET /metrics`: the process's metrics as Prometheus text.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use couponrush_telemetry::metrics as registry;

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics() -> impl IntoResponse {
    ([(CONTENT_TYPE, registry::CONTENT_TYPE)], registry::render())
}
