//! Liveness and readiness.

use crate::dto::{HealthResponse, ReadyResponse};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Liveness: the process serves HTTP. Also the ceiling the benchmarks compare against.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// Readiness: every dependency answers.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses((status = 200, body = ReadyResponse), (status = 503, body = ReadyResponse)))]
pub async fn ready(State(s): State<ApiState>) -> (StatusCode, Json<ReadyResponse>) {
    let checks = s.readiness.check().await;
    let all_up = checks.iter().all(|c| c.up);
    let body = ReadyResponse {
        status: if all_up { "ready" } else { "not_ready" },
        checks: checks
            .iter()
            .map(|c| (c.name, if c.up { "up" } else { "down" }))
            .collect(),
    };
    (
        if all_up {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}
