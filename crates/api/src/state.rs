//! What every handler can reach: the use cases, the token codec and readiness probes.

use crate::client_addr::ClientAddrPolicy;
use async_trait::async_trait;
use couponrush_auth::TokenCodec;
use couponrush_domain::ports::{FailedEventReplayer, FailedEventStore};
use couponrush_domain::services::CouponRush;
use std::sync::Arc;

/// One dependency's answer for `/ready`.
#[derive(Debug, Clone)]
pub struct DependencyStatus {
    pub name: &'static str,
    pub up: bool,
    /// Whether the process can do its work without it. An api node issues without the
    /// database (the records wait in the log), so a load balancer must not take every
    /// node out of rotation when MariaDB is away: the node answers 200 `degraded`.
    pub optional: bool,
}

impl DependencyStatus {
    pub fn required(name: &'static str, up: bool) -> Self {
        Self {
            name,
            up,
            optional: false,
        }
    }

    pub fn optional(name: &'static str, up: bool) -> Self {
        Self {
            name,
            up,
            optional: true,
        }
    }
}

/// Checks the process's dependencies (database, Redis, Kafka …) for `/ready`.
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn check(&self) -> Vec<DependencyStatus>;
}

/// Shared by every handler. Behind one `Arc` ([`ApiState`]) because axum clones the
/// state for each extractor of each request: cloning the codec (keys, validation sets)
/// and every use case's ports per request showed up as ~15% of CPU in malloc/free.
pub struct AppContext {
    pub app: CouponRush,
    pub tokens: TokenCodec,
    pub readiness: Arc<dyn Readiness>,
    /// Whose header names the client when sign-in attempts are counted.
    pub client_addr: ClientAddrPolicy,
    /// How long a 429 `TOO_MANY_ATTEMPTS` is held before it is sent (a tarpit): a
    /// guessing client on N connections then sends at most N / delay requests a second,
    /// where answering at once let it take as much of the box as any request flood.
    pub throttled_answer_delay: std::time::Duration,
    /// Distributed mode only: the end of the dead-letter path. `None` in embedded mode,
    /// where a failed write is answered 503 and nothing is left behind.
    pub failed_events: Option<FailedEvents>,
}

#[derive(Clone)]
pub struct FailedEvents {
    pub store: Arc<dyn FailedEventStore>,
    pub replayer: Arc<dyn FailedEventReplayer>,
}

/// What the router carries: one atomic increment per clone.
pub type ApiState = Arc<AppContext>;
