//! Embedded mode: one process, no external services. SQLite stores, the in-memory gate
//! (warmed from the database at start) and the group-commit log.
//!
//! `EmbeddedApp::build` does everything that can fail before serving (open and migrate
//! the database, secrets, the first admin, bind); `run_until_stopped` serves until the
//! shutdown future resolves, then drains: in-flight requests finish, the last batch
//! commits, the database closes. Metrics are served at `/metrics` on the same port.

use crate::append_waiters::{self, AppendWaiters};
use crate::clock::SystemClock;
use crate::config::{Config, Role};
use crate::instrumented::{
    InstrumentedGate, InstrumentedHasher, InstrumentedLimiter, InstrumentedLog,
};
use crate::request_limit::RequestLimit;
use crate::secrets;
use crate::spawner::TokioSpawner;
use anyhow::Context;
use async_trait::async_trait;
use couponrush_api::{AppContext, DependencyStatus, Readiness};
use couponrush_auth::{AdmissionCodec, PlaceTicketCodec, TokenCodec};
use couponrush_domain::services::{CouponRush, Ports, Sessions, WaitingRoom};
use couponrush_domain::{Password, Username};
use couponrush_memory::{MemoryAttemptLimiter, MemoryGate, MemoryIdempotency, MemoryWaitingLine};
use couponrush_sqlite::{GroupCommitLog, GroupCommitWriter, SqliteStore};
use couponrush_telemetry::error_tracking::ErrorTracking;
use couponrush_telemetry::metrics::{self as telemetry_metrics, Process};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const DATABASE_FILE: &str = "couponrush.db";

/// What start-up created that the operator must learn about once.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub admin_username: String,
    /// Set only when the password was generated (not configured).
    pub generated_admin_password: Option<String>,
}

pub struct EmbeddedApp {
    listener: TcpListener,
    router: axum::Router,
    request_limit: Option<RequestLimit>,
    store: SqliteStore,
    writer_store: SqliteStore,
    writer: GroupCommitWriter,
    sessions: Sessions,
    room: WaitingRoom,
    pub jwt_secret: String,
    /// Reports panics and 5xx answers while the app lives (`sentry_dsn`).
    _error_tracking: Option<ErrorTracking>,
    /// `Some` when this start created the admin account.
    pub first_start: Option<FirstStart>,
}

struct SqliteReadiness(SqliteStore);

#[async_trait]
impl Readiness for SqliteReadiness {
    async fn check(&self) -> Vec<DependencyStatus> {
        vec![DependencyStatus::required("db", self.0.ping().await)]
    }
}

impl EmbeddedApp {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // Before anything resolves a metric handle.
        telemetry_metrics::register(Process::Serve);
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let db_path = config.data_dir.join(DATABASE_FILE);
        let store = couponrush_sqlite::open(&db_path, config.db_max_connections)
            .await
            .with_context(|| format!("opening database {}", db_path.display()))?;
        let jwt_secret = secrets::jwt_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
        let writer_store = couponrush_sqlite::open_writer(&db_path)
            .await
            .with_context(|| format!("opening the writer of {}", db_path.display()))?;
        let (log, writer) = GroupCommitLog::start(&writer_store, config.batch_config());

        let log = Arc::new(log);
        let store_port = Arc::new(store.clone());
        let ports = Ports {
            users: store_port.clone(),
            sessions: store_port.clone(),
            coupons: store_port.clone(),
            issued: store_port,
            gate: Arc::new(InstrumentedGate::new(Arc::new(MemoryGate::new()))),
            log: Arc::new(InstrumentedLog::new(append_waiters::log(
                log.clone(),
                AppendWaiters::new(config.appends_waiting(Role::Embedded)),
            ))),
            drain: log,
            // A record is ACCEPTED only once committed: none can fail afterwards.
            parked: None,
            hasher: Arc::new(InstrumentedHasher::new(Arc::new(config.password_hasher()?))),
            limiter: Arc::new(InstrumentedLimiter::new(Arc::new(
                MemoryAttemptLimiter::new(config.throttle_policy()),
            ))),
            clock: Arc::new(SystemClock),
            spawner: Arc::new(TokioSpawner),
            idempotency: Arc::new(MemoryIdempotency::new()),
            // A new process is a new generation of every line: places from before a
            // restart come back with their tickets.
            line: Arc::new(MemoryWaitingLine::new().with_reseed_grace(config.room_reseed_grace())),
            admissions: Arc::new(AdmissionCodec::new(jwt_secret.as_bytes())),
            places: Arc::new(PlaceTicketCodec::new(jwt_secret.as_bytes())),
        };
        config.warn_about_a_short_reseed_grace();
        let app = CouponRush::new(ports, config.issue_settings(), config.session_settings());

        let first_start = ensure_admin(&app, config).await?;
        let seeded = app
            .issuing
            .warm_gate()
            .await
            .context("rebuilding the gate from the database")?;
        tracing::info!(coupons = seeded, "gate rebuilt from the database");

        let sessions = app.sessions.clone();
        let room = app.room.clone();
        let state = Arc::new(AppContext {
            app,
            tokens: TokenCodec::new(jwt_secret.as_bytes(), config.token_ttl()),
            readiness: Arc::new(SqliteReadiness(store.clone())),
            client_addr: config.client_addr_policy(),
            throttled_answer_delay: config.throttled_answer_delay(),
            failed_events: None,
        });
        let listener = crate::serve::bind(config.bind, config.listen_backlog)
            .with_context(|| format!("binding {}", config.bind))?;
        Ok(Self {
            _error_tracking: config.start_error_tracking("embedded")?,
            listener,
            router: couponrush_api::router(state),
            request_limit: config.request_limit(Role::Embedded),
            store,
            writer_store,
            writer,
            sessions,
            room,
            jwt_secret,
            first_start,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            request_limit,
            store,
            writer_store,
            writer,
            sessions,
            room,
            ..
        } = self;
        let _purge = crate::session_purge::spawn(sessions);
        let room_ticker = crate::room_ticker::spawn(room);
        let pool = store.pool().clone();
        let _pool_gauges = telemetry_metrics::sample_pool(move || (pool.size(), pool.num_idle()));
        crate::serve::serve(listener, router, request_limit, shutdown).await;
        room_ticker.stop().await;
        // The router (and with it the last handle to the log) is gone: the writer
        // commits what is queued and stops.
        writer.finished().await;
        writer_store.close().await;
        store.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

async fn ensure_admin(app: &CouponRush, config: &Config) -> anyhow::Result<Option<FirstStart>> {
    let username = Username::parse(&config.admin_username).context("admin_username")?;
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (secrets::generate_password(), true),
    };
    let created = app
        .accounts
        .ensure_admin(
            username,
            &Password::parse(&password).context("admin_password")?,
        )
        .await
        .context("creating the admin account")?;
    Ok(created.map(|admin| FirstStart {
        admin_username: admin.username.to_string(),
        generated_admin_password: generated.then_some(password),
    }))
}
