//! Liveness and readiness.

use crate::dto::{HealthResponse, ReadyResponse};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Liveness: the process serves HTTP. Also the ceiling the benchmarks compare against.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "ops", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// Readiness: 200 `ready` when every dependency answers, 200 `degraded` when only
/// dependencies the process can work without are down (an api node without MariaDB
/// still issues), 503 `not_ready` when a required one is down; `checks` names each.
#[utoipa::path(get, path = "/ready", operation_id = "ready", tag = "ops",
    responses((status = 200, description = "ready or degraded", body = ReadyResponse),
        (status = 503, description = "a required dependency is down", body = ReadyResponse)))]
pub async fn ready(State(s): State<ApiState>) -> (StatusCode, Json<ReadyResponse>) {
    let checks = s.readiness.check().await;
    let required_up = checks.iter().all(|c| c.up || c.optional);
    let all_up = checks.iter().all(|c| c.up);
    let body = ReadyResponse {
        status: match (required_up, all_up) {
            (true, true) => "ready",
            (true, false) => "degraded",
            (false, _) => "not_ready",
        },
        checks: checks
            .iter()
            .map(|c| (c.name, if c.up { "up" } else { "down" }))
            .collect(),
    };
    (
        if required_up {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}
