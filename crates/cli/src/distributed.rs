//! Distributed mode: the seed's architecture. `api` nodes gate in Redis and append to
//! Kafka before answering; `consumer` nodes persist batches to MariaDB. Any number of
//! each run against the same Redis, Kafka and database; the schema is owned by
//! `couponrush migrate`.
//!
//! Metrics: an api node serves `/metrics` on its HTTP port; a consumer node, which has
//! no API, on its admin port (`metrics_bind`, with `/health`).

use crate::append_waiters::{self, AppendWaiters};
use crate::clock::SystemClock;
use crate::config::{Config, Role};
use crate::instrumented::{
    InstrumentedGate, InstrumentedHasher, InstrumentedLimiter, InstrumentedLog,
};
use crate::request_limit::RequestLimit;
use crate::spawner::TokioSpawner;
use anyhow::{Context, bail};
use async_trait::async_trait;
use couponrush_api::{AppContext, DependencyStatus, FailedEvents, Readiness};
use couponrush_auth::{AdmissionCodec, PlaceTicketCodec, TokenCodec};
use couponrush_consumer::{
    ConsumerSettings, DeadLetterWorker, IssueWorker, KafkaPayloadReplayer, RetryPolicy,
    WorkerCounters,
};
use couponrush_domain::ports::{CouponStore, IssuePersister, RateLimiter};
use couponrush_domain::services::{
    CouponRush, Ports, Reconciler, Sessions, SettledCoupons, SignupError, WaitingRoom,
};
use couponrush_domain::{CouponId, CouponStatus, Password, StoreError, Username};
use couponrush_kafka::{KafkaConfig, KafkaLog, KafkaLogDrain};
use couponrush_mysql::MysqlStore;
use couponrush_redis::{
    RateLimit, RedisAttemptLimiter, RedisGate, RedisIdempotency, RedisRateLimiter, RedisWaitingLine,
};
use couponrush_telemetry::error_tracking::ErrorTracking;
use couponrush_telemetry::metrics::names::{self, REDIS_ERRORS_TOTAL};
use couponrush_telemetry::metrics::{self as telemetry_metrics, PoolSampler, Process};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub fn kafka_config(config: &Config) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: config.kafka_bootstrap_servers.clone(),
        topic: config.kafka_topic.clone(),
        partitions: config.kafka_partitions,
        linger_ms: config.kafka_linger_ms,
        produce_timeout: Duration::from_millis(config.kafka_produce_timeout_ms),
        idempotence: config.kafka_idempotence,
    }
}

pub fn consumer_settings(config: &Config) -> ConsumerSettings {
    ConsumerSettings {
        kafka: kafka_config(config),
        group_id: config.consumer_group.clone(),
        batch_max_records: config.consumer_batch_max_records,
        batch_max_wait: Duration::from_millis(config.consumer_batch_max_wait_ms),
        retry: RetryPolicy {
            max_attempts: config.retry_max_attempts,
            base_backoff: Duration::from_millis(config.retry_base_backoff_ms),
            max_backoff: Duration::from_millis(config.retry_max_backoff_ms),
        },
    }
}

/// Every node must verify every other node's tokens: a per-node generated secret
/// would not do.
fn shared_secret(config: &Config) -> anyhow::Result<&str> {
    match config.jwt_secret.as_deref() {
        Some(s) => Ok(s),
        None => bail!(
            "jwt_secret (COUPONRUSH_JWT_SECRET) is required in distributed mode: all nodes share it"
        ),
    }
}

/// Retries `connect` a few times so nodes can start before their dependencies.
async fn with_retries<T, F, Fut, E>(what: &str, mut connect: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let attempts = 10;
    for attempt in 1..=attempts {
        match connect().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < attempts => {
                tracing::warn!(%what, attempt, error = %e, "dependency not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => bail!("{what} is unreachable after {attempts} attempts: {e}"),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Runs the MariaDB migrations (`couponrush migrate`).
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    with_retries("the database", || {
        couponrush_mysql::migrate(&config.database_url)
    })
    .await
}

/// Longest wait for one dependency's answer in `/ready`.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

async fn bounded(probe: impl Future<Output = bool>) -> bool {
    tokio::time::timeout(READY_PROBE_TIMEOUT, probe)
        .await
        .unwrap_or(false)
}

struct DistributedReadiness {
    store: MysqlStore,
    redis: couponrush_redis::RedisConnection,
    log: Arc<KafkaLog>,
}

#[async_trait]
impl Readiness for DistributedReadiness {
    async fn check(&self) -> Vec<DependencyStatus> {
        let mut conn = self.redis.clone();
        let redis_ping = async move {
            let up = redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok();
            if !up {
                metrics::counter!(REDIS_ERRORS_TOTAL).increment(1);
            }
            up
        };
        // A frozen dependency never answers a ping: each probe is bounded, so `/ready`
        // itself answers in time and says which one is down.
        let (db, redis, kafka) = tokio::join!(
            bounded(self.store.ping()),
            bounded(redis_ping),
            bounded(self.log.ping())
        );
        vec![
            // The issue path needs Redis (the gate) and Kafka (the log), not the
            // database: ACCEPTED records wait in the log while it is away.
            DependencyStatus::optional("db", db),
            DependencyStatus::required("redis", redis),
            DependencyStatus::required("kafka", kafka),
        ]
    }
}

/// One api node.
pub struct ApiNode {
    listener: TcpListener,
    router: axum::Router,
    request_limit: Option<RequestLimit>,
    store: MysqlStore,
    log: Arc<KafkaLog>,
    reconciling: Option<PeriodicReconcile>,
    sessions: Sessions,
    room: WaitingRoom,
    pub admin_created: bool,
    /// Reports panics and 5xx answers while the node lives (`sentry_dsn`).
    _error_tracking: Option<ErrorTracking>,
}

impl ApiNode {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // Before anything resolves a metric handle.
        telemetry_metrics::register(Process::Api);
        let secret = shared_secret(config)?.to_owned();
        let store = with_retries("the database", || {
            couponrush_mysql::open(&config.database_url, config.database_max_connections)
        })
        .await?;
        let redis_timeout = Duration::from_millis(config.redis_response_timeout_ms.max(1));
        let redis = with_retries("redis", || {
            couponrush_redis::connection_with_timeout(&config.redis_url, redis_timeout)
        })
        .await?;
        let gate = Arc::new(
            RedisGate::new(redis.clone(), &config.redis_key_prefix).context("redis gate")?,
        );
        let kafka = kafka_config(config);
        with_retries("kafka", || couponrush_kafka::ensure_topics(&kafka)).await?;
        let log = Arc::new(KafkaLog::new(&kafka).context("creating the Kafka producer")?);
        let drain = Arc::new(
            KafkaLogDrain::new(&kafka, &config.consumer_group)
                .context("creating the Kafka client that follows the consumers' offsets")?,
        );
        let reconciler = match config.reconcile_interval_secs {
            0 => None,
            _ => Some(crate::reconcile::reconciler(
                &store,
                gate.clone(),
                drain.clone(),
                &kafka,
                &config.consumer_group,
            )?),
        };
        let reconciling = reconciler.map(|reconciler| PeriodicReconcile {
            reconciler,
            coupons: store.clone(),
            redis: redis.clone(),
            prefix: config.redis_key_prefix.clone(),
            every: Duration::from_secs(config.reconcile_interval_secs),
        });

        let store_port = Arc::new(store.clone());
        let ports = Ports {
            users: store_port.clone(),
            sessions: store_port.clone(),
            coupons: store_port.clone(),
            issued: store_port.clone(),
            gate: Arc::new(InstrumentedGate::new(gate)),
            log: Arc::new(InstrumentedLog::new(append_waiters::log(
                log.clone(),
                AppendWaiters::new(config.appends_waiting(Role::Api)),
            ))),
            drain,
            parked: Some(Arc::new(crate::reconcile::parked_holders(
                &store,
                &kafka,
                &config.consumer_group,
            )?)),
            hasher: Arc::new(InstrumentedHasher::new(Arc::new(config.password_hasher()?))),
            limiter: Arc::new(InstrumentedLimiter::new(Arc::new(
                RedisAttemptLimiter::new(
                    redis.clone(),
                    &config.redis_key_prefix,
                    config.throttle_policy(),
                )
                .context("redis attempt limiter")?,
            ))),
            clock: Arc::new(SystemClock),
            spawner: Arc::new(TokioSpawner),
            idempotency: Arc::new(RedisIdempotency::new(
                redis.clone(),
                &config.redis_key_prefix,
            )),
            line: Arc::new(
                RedisWaitingLine::new(redis.clone(), &config.redis_key_prefix)
                    .context("redis waiting line")?
                    .with_reseed_grace(config.room_reseed_grace()),
            ),
            admissions: Arc::new(AdmissionCodec::new(secret.as_bytes())),
            places: Arc::new(PlaceTicketCodec::new(secret.as_bytes())),
        };
        config.warn_about_a_short_reseed_grace();
        let app = CouponRush::new(ports, config.issue_settings(), config.session_settings());
        let admin_created = ensure_admin(&app, config).await?;
        let sessions = app.sessions.clone();
        let room = app.room.clone();
        let state = Arc::new(AppContext {
            app,
            tokens: TokenCodec::new(secret.as_bytes(), config.token_ttl()),
            readiness: Arc::new(DistributedReadiness {
                store: store.clone(),
                redis,
                log: log.clone(),
            }),
            client_addr: config.client_addr_policy(),
            throttled_answer_delay: config.throttled_answer_delay(),
            failed_events: Some(FailedEvents {
                store: store_port.clone(),
                replayer: Arc::new(KafkaPayloadReplayer {
                    failed: store_port.clone(),
                    persister: store_port,
                }),
            }),
        });
        let listener = crate::serve::bind(config.bind, config.listen_backlog)
            .with_context(|| format!("binding {}", config.bind))?;
        Ok(Self {
            _error_tracking: config.start_error_tracking("api")?,
            listener,
            router: couponrush_api::router(state),
            request_limit: config.request_limit(Role::Api),
            store,
            log,
            reconciling,
            sessions,
            room,
            admin_created,
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
            log,
            reconciling,
            sessions,
            room,
            ..
        } = self;
        let _pool_gauges = sample_pool(&store);
        let _purge = crate::session_purge::spawn(sessions);
        let _room = crate::room_ticker::spawn(room);
        // Dropped (so stopped) when the node stops.
        let _reconciling = reconciling.map(|r| AbortOnDrop(tokio::spawn(r.run())));
        crate::serve::serve(listener, router, request_limit, shutdown).await;
        log.flush();
        store.close().await;
        tracing::info!("api node stopped cleanly");
        Ok(())
    }
}

/// Automatic reconciliation: every `every`, the node that takes the lease reconciles
/// every ACTIVE coupon (see `couponrush_domain::services::reconciling`). Passes on two
/// nodes may overlap when one outlasts its period; that is harmless (a release is
/// idempotent), the lease only keeps every node from draining the log each period.
struct PeriodicReconcile {
    reconciler: Reconciler,
    coupons: MysqlStore,
    redis: couponrush_redis::RedisConnection,
    prefix: String,
    every: Duration,
}

impl PeriodicReconcile {
    async fn run(self) {
        let holder = uuid::Uuid::new_v4().to_string();
        let stranded = metrics::gauge!(names::RECONCILE_STRANDED_UNITS);
        let parked = metrics::gauge!(names::RECONCILE_PARKED_UNITS);
        let returned = metrics::counter!(names::RECONCILE_RETURNED_TOTAL);
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is now: give the node a period to settle
        // A coupon whose event is under way waits for a quiet pass (ten at most).
        let mut settled = SettledCoupons::new(10);
        // Parked units by coupon, from the last pass that looked at it: a deferred
        // coupon's parked units are still there (only a replay frees them).
        let mut parked_by_coupon: HashMap<CouponId, usize> = HashMap::new();
        loop {
            tick.tick().await;
            let lease = couponrush_redis::lease::try_lease(
                &self.redis,
                &self.prefix,
                "reconcile",
                &holder,
                self.every,
            )
            .await;
            match lease {
                Ok(true) => {}
                Ok(false) => continue, // another node's turn
                Err(e) => {
                    tracing::warn!(error = %e, "reconciliation skipped: no lease");
                    continue;
                }
            }
            let pass = async {
                let coupons = self
                    .coupons
                    .list_coupons_with_status(CouponStatus::Active)
                    .await?;
                let reports = self
                    .reconciler
                    .reconcile_settled(&coupons, &mut settled)
                    .await?;
                Ok::<_, StoreError>((coupons, reports))
            };
            match pass.await {
                Ok((coupons, reports)) => {
                    let active: HashSet<CouponId> = coupons.iter().map(|c| c.id).collect();
                    parked_by_coupon.retain(|id, _| active.contains(id));
                    for r in &reports {
                        parked_by_coupon.insert(r.coupon, r.parked.len());
                    }
                    let found: usize = reports.iter().map(|r| r.stranded.len()).sum();
                    let kept: usize = parked_by_coupon.values().sum();
                    let given: u64 = reports.iter().map(|r| r.returned).sum();
                    #[allow(clippy::cast_precision_loss)] // far below 2^53
                    {
                        stranded.set(found as f64);
                        parked.set(kept as f64);
                    }
                    returned.increment(given);
                    tracing::info!(
                        coupons = reports.len(),
                        deferred = settled.deferred(),
                        stranded = found,
                        parked = kept,
                        returned = given,
                        "reconciliation pass done"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconciliation pass failed; the next period tries again")
                }
            }
        }
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The admin must exist once, whichever node starts first. It needs a configured
/// password: a generated one would be printed by one node among many.
async fn ensure_admin(app: &CouponRush, config: &Config) -> anyhow::Result<bool> {
    let Some(password) = &config.admin_password else {
        tracing::info!("admin_password not set: no admin account is created by this node");
        return Ok(false);
    };
    let username = Username::parse(&config.admin_username).context("admin_username")?;
    let password = Password::parse(password).context("admin_password")?;
    match app.accounts.ensure_admin(username, &password).await {
        Ok(created) => Ok(created.is_some()),
        // Another node created it at the same moment.
        Err(SignupError::UsernameTaken) => Ok(false),
        Err(e) => Err(e).context("creating the admin account"),
    }
}

fn sample_pool(store: &MysqlStore) -> PoolSampler {
    let pool = store.pool().clone();
    telemetry_metrics::sample_pool(move || (pool.size(), pool.num_idle()))
}

/// One consumer node: the issue worker, the dead-letter worker, and the admin port.
pub struct ConsumerNode {
    issue: IssueWorker,
    dead_letters: DeadLetterWorker,
    store: MysqlStore,
    admin: TcpListener,
    /// Reports panics while the node lives (`sentry_dsn`).
    _error_tracking: Option<ErrorTracking>,
}

impl ConsumerNode {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // Before anything resolves a metric handle.
        telemetry_metrics::register(Process::Consumer);
        let admin = crate::serve::bind(config.metrics_bind, config.listen_backlog)
            .with_context(|| format!("binding metrics_bind {}", config.metrics_bind))?;
        let store = with_retries("the database", || {
            couponrush_mysql::open(&config.database_url, config.database_max_connections)
        })
        .await?;
        let settings = consumer_settings(config);
        with_retries("kafka", || couponrush_kafka::ensure_topics(&settings.kafka)).await?;
        let limiter: Option<Arc<dyn RateLimiter>> = if config.rate_limit_per_sec > 0 {
            #[allow(clippy::cast_precision_loss)] // rates are far below 2^52
            let limit = RateLimit::new(config.rate_limit_per_sec as f64, config.rate_limit_burst)
                .context("rate limit settings")?;
            let limiter = with_retries("redis", || {
                RedisRateLimiter::connect(
                    &config.redis_url,
                    &config.redis_key_prefix,
                    &config.consumer_group,
                    limit,
                )
            })
            .await?;
            Some(Arc::new(limiter))
        } else {
            None
        };
        let persister: Arc<dyn IssuePersister> = Arc::new(store.clone());
        let issue = IssueWorker::new(settings.clone(), persister.clone(), limiter)
            .context("joining the consumer group")?;
        let dead_letters = DeadLetterWorker::new(settings, persister, Arc::new(store.clone()))
            .context("joining the dead-letter consumer group")?;
        Ok(Self {
            _error_tracking: config.start_error_tracking("consumer")?,
            issue,
            dead_letters,
            store,
            admin,
        })
    }

    /// Where `/metrics` and `/health` are served (`metrics_bind`; port 0 picks one).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn counters(&self) -> Arc<WorkerCounters> {
        self.issue.counters.clone()
    }

    /// Consumes until `shutdown` resolves; the batches in hand are finished first.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // `_error_tracking` stays bound to the end: it reports until the node stops.
        let Self {
            issue,
            dead_letters,
            store,
            admin,
            _error_tracking,
        } = self;
        let _pool_gauges = sample_pool(&store);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // Both workers and the admin port run inside this future (not spawned), so
        // dropping it drops them: that is what a crash looks like to the group, and
        // what tests use.
        let admin = crate::serve::serve(
            admin,
            couponrush_api::ops_router(),
            None,
            stopped(stop_rx.clone()),
        );
        let workers = async {
            tokio::join!(
                issue.run(stopped(stop_rx.clone())),
                dead_letters.run(stopped(stop_rx)),
                admin
            );
        };
        let signal = async {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(workers, signal);
        store.close().await;
        tracing::info!("consumer node stopped cleanly");
        Ok(())
    }
}
