//! Use cases. Each service holds the ports it needs and nothing else; [`CouponRush`]
//! bundles them so the HTTP layer gets one value per process.

pub mod accounts;
pub mod catalog;
mod coupon_cache;
pub mod gate_seeding;
pub mod issuing;
pub mod pipeline;
pub mod reconciling;
pub mod sessions;
mod single_flight;
pub mod waiting_room;
pub mod wallet;

pub use accounts::{Accounts, LoginError, SignupError};
pub use catalog::{Catalog, CatalogError, CouponPage, ListRequest};
pub use coupon_cache::CouponCache;
pub use gate_seeding::{GateSeeding, SeedError};
pub use issuing::{Answered, CouponStats, IssueError, Issuing};
pub use pipeline::Pipeline;
pub use reconciling::{Reconciler, Reconciliation, SettledCoupons};
pub use sessions::{IssuedRefresh, Refreshed, SessionError, Sessions};
pub use waiting_room::{QueueStatus, Queued, RoomAnswer, RoomReport, RoomSettings, WaitingRoom};
pub use wallet::{UseError, Wallet};

use crate::ports::{
    AdmissionSigner, AttemptLimiter, Clock, CouponStore, IdempotencyStore, IssueGate, IssueLog,
    IssuedCouponStore, LogDrain, ParkedHolders, PasswordHasher, PlaceSigner, SessionStore, Spawner,
    UserStore, WaitingLine,
};
use std::sync::Arc;
use std::time::Duration;

/// Every port a couponrush process needs, chosen by the wiring for its mode.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub coupons: Arc<dyn CouponStore>,
    pub issued: Arc<dyn IssuedCouponStore>,
    pub gate: Arc<dyn IssueGate>,
    pub log: Arc<dyn IssueLog>,
    /// What a lost gate waits for before it is rebuilt from the store.
    pub drain: Arc<dyn LogDrain>,
    /// Users whose accepted record waits as a failed event (distributed mode): a gate
    /// rebuilt from the store keeps their units. `None` where records cannot fail
    /// after ACCEPTED (embedded mode).
    pub parked: Option<Arc<dyn ParkedHolders>>,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Failed-login and signup counters (shared by every api node in distributed mode).
    pub limiter: Arc<dyn AttemptLimiter>,
    /// Refresh tokens (in the database every api node shares).
    pub sessions: Arc<dyn SessionStore>,
    pub clock: Arc<dyn Clock>,
    pub spawner: Arc<dyn Spawner>,
    /// Idempotency keys of issue requests (shared by every api node in distributed mode).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The waiting rooms' lines (shared by every api node in distributed mode).
    pub line: Arc<dyn WaitingLine>,
    /// Signs and checks the waiting room's admission tokens.
    pub admissions: Arc<dyn AdmissionSigner>,
    /// Signs and checks the waiting room's place tickets.
    pub places: Arc<dyn PlaceSigner>,
}

/// All use cases of one process.
#[derive(Clone)]
pub struct CouponRush {
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub catalog: Catalog,
    pub issuing: Issuing,
    /// The front door of the issue path: the waiting room, then `issuing`.
    pub room: WaitingRoom,
    pub wallet: Wallet,
    pub pipeline: Pipeline,
}

/// The issue path's tunables.
#[derive(Debug, Clone, Copy)]
pub struct IssueSettings {
    /// Bounds how long a status change made by another process takes to reach this
    /// one's issue path; changes made here are seen at once.
    pub coupon_cache_ttl: Duration,
    /// Longest a request waits for its coupon's gate to be seeded before it is answered
    /// 503 (the seed goes on for the others).
    pub gate_seed_wait: Duration,
    /// How long an idempotency key and its answer are kept.
    pub idempotency_key_ttl: Duration,
    pub room: RoomSettings,
}

/// How long signed-in sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Lifetime of each refresh token; a refresh hands out a new one for as long again.
    pub refresh_token_ttl: Duration,
}

impl CouponRush {
    pub fn new(ports: Ports, settings: IssueSettings, session: SessionSettings) -> Self {
        let cache = Arc::new(CouponCache::new(
            settings.coupon_cache_ttl,
            ports.coupons.clone(),
            ports.spawner.clone(),
        ));
        let seeding = Arc::new(GateSeeding::new(
            ports.issued.clone(),
            ports.gate.clone(),
            ports.drain.clone(),
            ports.parked.clone(),
            ports.clock.clone(),
            settings.gate_seed_wait,
        ));
        let issuing = Issuing::new(
            &ports,
            cache.clone(),
            seeding.clone(),
            settings.idempotency_key_ttl,
        );
        Self {
            accounts: Accounts::new(
                ports.users.clone(),
                ports.hasher.clone(),
                ports.limiter.clone(),
                ports.clock.clone(),
            ),
            sessions: Sessions::new(
                ports.sessions.clone(),
                ports.clock.clone(),
                session.refresh_token_ttl,
            ),
            catalog: Catalog::new(
                ports.coupons.clone(),
                cache.clone(),
                seeding.clone(),
                ports.line.clone(),
                ports.clock.clone(),
            ),
            issuing: issuing.clone(),
            room: WaitingRoom::new(issuing, &ports, settings.room),
            pipeline: Pipeline::new(ports.drain.clone()),
            wallet: Wallet::new(ports.coupons, ports.issued, ports.clock),
        }
    }
}
