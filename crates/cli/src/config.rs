//! The one configuration of every couponrush process. Layers, later wins:
//! defaults → TOML file (`--config`, or `COUPONRUSH_CONFIG`) → `COUPONRUSH_<KEY>`
//! environment variables → command-line flags. Validated once at start and printed
//! without secrets.

use crate::request_limit::RequestLimit;
use anyhow::{Context, bail};
use couponrush_api::ClientAddrPolicy;
use couponrush_auth::{Argon2Hasher, Argon2Settings, HashPoolSettings};
use couponrush_domain::services::{IssueSettings, RoomSettings, SessionSettings};
use couponrush_domain::throttle::{Rate, ThrottlePolicy};
use couponrush_domain::waiting_room::{
    AutoThresholds, Controller, DEFAULT_RESEED_GRACE, MAX_POLL_AFTER, RateBounds,
};
use couponrush_telemetry::LogFormat;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address.
    pub bind: SocketAddr,
    /// Connections the kernel may hold waiting for accept (capped by the kernel at
    /// `net.core.somaxconn`): the burst of connects when an event opens.
    pub listen_backlog: u32,
    /// Requests worked on at once; past it a request waits for its turn before anything
    /// of it runs (0: no limit). Probes, metrics and signing in never wait. Unset: the
    /// mode's own bound ([`Config::requests_in_flight`]).
    pub max_requests_in_flight: Option<usize>,
    /// Requests that may wait for their durable append without their turn (it goes to
    /// the next request meanwhile); past it one keeps its turn (0: every request keeps
    /// it). Unset: the mode's own bound ([`Config::appends_waiting`]).
    pub max_appends_waiting: Option<usize>,
    /// Longest wait for a turn; then 503 `SERVER_BUSY` with `Retry-After`.
    pub request_queue_timeout_ms: u64,
    /// Where embedded mode keeps its SQLite database and generated secrets.
    pub data_dir: PathBuf,
    /// HS256 secret for access tokens. If unset, generated once and kept in the data dir.
    pub jwt_secret: Option<String>,
    /// Access-token lifetime: short, since a refresh token renews it.
    pub token_ttl_secs: u64,
    /// Refresh-token lifetime; each refresh hands out a new one for as long again.
    pub refresh_token_ttl_secs: u64,
    /// Password hashes computed at once (0: one per core).
    pub password_hash_threads: usize,
    /// Password hashes that may wait for a thread (0: eight per thread); past them
    /// login and signup answer 503 `AUTH_BUSY`.
    pub password_hash_queue: usize,
    /// Nice value of the hashing threads (0 normal … 19 lowest), so the issue path
    /// gets the CPU first.
    pub password_hash_nice: i32,
    /// argon2id cost of new hashes (OWASP: 19 MiB, 2 iterations, 1 lane). Older hashes
    /// keep verifying and are re-hashed at their next successful login.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Failed logins of one username before the first lockout.
    pub login_free_failures: u32,
    /// The first lockout; each further failure doubles it, up to the max.
    pub login_lockout_base_ms: u64,
    pub login_lockout_max_secs: u64,
    /// A username's failures are forgotten after this long without one.
    pub login_forget_after_secs: u64,
    /// Failed logins per client address per minute, over every username (0: no limit).
    pub login_failures_per_address_per_min: u32,
    /// Signups per client address per minute (0: no limit).
    pub signups_per_address_per_min: u32,
    /// A 429 `TOO_MANY_ATTEMPTS` is sent after this delay (a tarpit for guessing
    /// clients; 0 answers at once).
    pub throttled_answer_delay_ms: u64,
    /// Proxies whose client-address header is believed; from anyone else the socket's
    /// peer address is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header a trusted proxy puts the client address in (`X-Forwarded-For` style:
    /// the last address not itself a trusted proxy is the client).
    pub client_ip_header: String,
    /// Username of the admin created on first start.
    pub admin_username: String,
    /// Password of that admin. If unset, generated on first start and printed once.
    pub admin_password: Option<String>,
    /// Group commit: most rows per transaction.
    pub batch_max_rows: usize,
    /// Group commit: longest wait for more rows after the first of a batch (0 = none).
    pub batch_max_wait_ms: u64,
    /// Accepted requests that may queue for the batch writer.
    pub batch_queue_capacity: usize,
    /// SQLite connections for reads and small writes.
    pub db_max_connections: u32,
    /// Time between background WAL checkpoints (PASSIVE, beside the commits).
    pub wal_checkpoint_interval_ms: u64,
    /// WAL size in frames (pages) past which commits are held briefly so the WAL
    /// restarts from its start: the bound on the WAL file.
    pub wal_restart_frames: u32,
    /// How long the batch writer must have had no request before it copies issued rows
    /// into the by-user table ("my coupons"), off the commit path.
    pub by_user_idle_ms: u64,
    /// Issued rows per transaction of that copy: the longest a batch arriving meanwhile
    /// waits is one such transaction.
    pub by_user_chunk_rows: u32,
    /// How long the issue path may use a cached coupon definition.
    pub coupon_cache_ttl_ms: u64,
    /// Longest an issue request waits for its coupon's gate to be seeded (once per
    /// coupon per process) before it is answered 503 `ISSUE_UNAVAILABLE`.
    pub gate_seed_wait_ms: u64,
    /// How long an `Idempotency-Key` of an issue request, and the answer kept under it,
    /// last (embedded: in memory; distributed: in Redis).
    pub idempotency_key_ttl_secs: u64,
    /// The waiting room (docs/ARCHITECTURE.md, "The waiting room"). How often each
    /// process admits what is due and refreshes its view of every room.
    pub room_tick_ms: u64,
    /// The admission controller's and the AUTO switch's window.
    pub room_window_ms: u64,
    /// A waiter who has not polled for this long loses the place.
    pub room_abandon_after_secs: u64,
    /// How long an admission (and its token) stays valid: the time to claim.
    pub room_admission_ttl_secs: u64,
    /// How long a line found lost (a Redis data loss, a restart of the embedded
    /// process) admits nobody, so every waiter still polling can show their place
    /// ticket first: at least the longest poll interval handed out (20 s) plus the
    /// clients' jitter (10 %), or a waiter far back may come back behind admissions
    /// already given.
    pub room_reseed_grace_secs: u64,
    /// Admissions per second, floor and ceiling (a room's own bounds, set by an admin,
    /// take precedence).
    pub room_min_rate: f64,
    pub room_max_rate: f64,
    /// AUTO rooms turn on when the issue path's p95 over a window passes this…
    pub room_on_p95_ms: u64,
    /// …or when this many issue requests for one coupon run at once in one process
    /// (0: not this signal).
    pub room_on_in_flight: u64,
    /// …or when the consumers are this many records behind the issue log (distributed
    /// mode; 0: off).
    pub room_on_consumer_lag: u64,
    /// …and drain (then turn off) once the p95 stayed under this for `room_calm_secs`.
    pub room_off_p95_ms: u64,
    pub room_calm_secs: u64,
    /// The controller grows the admission rate while admitted requests' p95 stays
    /// under this, and cuts it when it passes it.
    pub room_target_p95_ms: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// Error tracking: a Sentry DSN (`https://<key>@<host>/<project>`). Panics and 5xx
    /// answers are reported with the trace id and the route template; unset, nothing is.
    pub sentry_dsn: Option<String>,
    /// `couponrush consumer`: admin listen address serving `/metrics` and `/health`
    /// (`serve` and `api` serve them on `bind`).
    pub metrics_bind: SocketAddr,

    // Distributed mode (`couponrush api`, `consumer`, `migrate`).
    /// MariaDB/MySQL URL including the database.
    pub database_url: String,
    /// Connections per process to MariaDB.
    pub database_max_connections: u32,
    pub redis_url: String,
    /// Prepended to every Redis key (isolates deployments sharing one Redis).
    pub redis_key_prefix: String,
    /// Bound on one gate command of an api node; past it the request is answered 503.
    pub redis_response_timeout_ms: u64,
    pub kafka_bootstrap_servers: String,
    pub kafka_topic: String,
    /// Partitions of the topic and its dead-letter topic when created at start.
    pub kafka_partitions: i32,
    /// Producer batching delay (`linger.ms`). 10 ms: an ACCEPTED answer waits up to that
    /// much longer, and the broker stores and serves fewer, larger batches. Apache
    /// Kafka 4.0 raised the client's own default from 0 to 5 ms for the same reason
    /// (KIP-1030). On this box, 8,000 new users/s for 60 s against tansu: p99 48 ms and
    /// a worst-to-median per-second p99 of 1.91 at 5 ms, 32 ms and 2.11 at 10 ms, and at
    /// 2 ms the broker's CPU doubled over the run (it lists every stored batch on each
    /// fetch) until the per-second p99 was 3.5–5.6× its median (docs/ARCHITECTURE.md).
    pub kafka_linger_ms: u64,
    /// Longest wait for the broker's acknowledgement before answering 503.
    pub kafka_produce_timeout_ms: u64,
    /// librdkafka's idempotent producer (`enable.idempotence`) for the issue and
    /// dead-letter producers. Off by default: the sink is idempotent on its own
    /// (ARCHITECTURE.md, "Producer idempotence is off").
    pub kafka_idempotence: bool,
    pub consumer_group: String,
    pub consumer_batch_max_records: usize,
    pub consumer_batch_max_wait_ms: u64,
    /// Global (all consumers together) persisted records per second; 0 = unlimited.
    pub rate_limit_per_sec: u64,
    pub rate_limit_burst: u32,
    /// Persist attempts per batch before records go to the dead-letter topic.
    pub retry_max_attempts: u32,
    pub retry_base_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// Api nodes: seconds between automatic reconciliation passes (one node per period,
    /// under a Redis lease); 0 turns them off.
    pub reconcile_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listen_backlog: 4_096,
            max_requests_in_flight: None,
            max_appends_waiting: None,
            request_queue_timeout_ms: 10_000,
            data_dir: PathBuf::from("./data"),
            jwt_secret: None,
            token_ttl_secs: 900,
            refresh_token_ttl_secs: 14 * 24 * 3600,
            password_hash_threads: 0,
            password_hash_queue: 0,
            password_hash_nice: 19,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            login_free_failures: 5,
            login_lockout_base_ms: 1_000,
            login_lockout_max_secs: 900,
            login_forget_after_secs: 900,
            login_failures_per_address_per_min: 30,
            signups_per_address_per_min: 20,
            throttled_answer_delay_ms: 250,
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
            admin_username: "admin".into(),
            admin_password: None,
            batch_max_rows: 1_000,
            batch_max_wait_ms: 2,
            batch_queue_capacity: 65_536,
            db_max_connections: 8,
            wal_checkpoint_interval_ms: 1_000,
            wal_restart_frames: 32_768,
            by_user_idle_ms: 1_000,
            by_user_chunk_rows: 500,
            coupon_cache_ttl_ms: 1_000,
            gate_seed_wait_ms: 2_000,
            idempotency_key_ttl_secs: 3_600,
            room_tick_ms: 100,
            room_window_ms: 1_000,
            room_abandon_after_secs: 60,
            room_admission_ttl_secs: 30,
            room_reseed_grace_secs: DEFAULT_RESEED_GRACE.as_secs(),
            room_min_rate: 100.0,
            room_max_rate: 5_000.0,
            room_on_p95_ms: 1_000,
            room_on_in_flight: 0,
            room_on_consumer_lag: 0,
            room_off_p95_ms: 250,
            room_calm_secs: 5,
            room_target_p95_ms: 200,
            log_format: "text".into(),
            sentry_dsn: None,
            metrics_bind: SocketAddr::from(([127, 0, 0, 1], 9100)),
            database_url: "mysql://root@127.0.0.1:3306/couponrush".into(),
            database_max_connections: 16,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_key_prefix: "couponrush:".into(),
            redis_response_timeout_ms: 2_000,
            kafka_bootstrap_servers: "127.0.0.1:9092".into(),
            kafka_topic: "coupon-issue".into(),
            kafka_partitions: 6,
            kafka_linger_ms: 10,
            kafka_produce_timeout_ms: 5_000,
            kafka_idempotence: false,
            consumer_group: "couponrush-consumer".into(),
            consumer_batch_max_records: 1_000,
            consumer_batch_max_wait_ms: 20,
            rate_limit_per_sec: 0,
            rate_limit_burst: 5_000,
            retry_max_attempts: 5,
            retry_base_backoff_ms: 100,
            retry_max_backoff_ms: 5_000,
            reconcile_interval_secs: 60,
        }
    }
}

/// The environment-variable prefix: `COUPONRUSH_DATA_DIR` sets `data_dir`.
pub const ENV_PREFIX: &str = "COUPONRUSH_";

/// `max_requests_in_flight` when unset, by mode (see [`Config::requests_in_flight`]).
pub const EMBEDDED_REQUESTS_IN_FLIGHT: usize = 256;
pub const API_REQUESTS_IN_FLIGHT: usize = 3_072;
/// `max_appends_waiting` when unset, by mode (see [`Config::appends_waiting`]).
pub const EMBEDDED_APPENDS_WAITING: usize = 256;
pub const API_APPENDS_WAITING: usize = 0;

/// A bound whose default depends on the mode: embedded, or an api node.
struct ByMode {
    embedded: usize,
    api: usize,
}

impl ByMode {
    const IN_FLIGHT: Self = Self {
        embedded: EMBEDDED_REQUESTS_IN_FLIGHT,
        api: API_REQUESTS_IN_FLIGHT,
    };
    const APPENDS_WAITING: Self = Self {
        embedded: EMBEDDED_APPENDS_WAITING,
        api: API_APPENDS_WAITING,
    };

    /// The value a process of `role` uses: the one `set`, else the mode's own.
    fn value(&self, set: Option<usize>, role: Role) -> usize {
        set.unwrap_or(match role {
            Role::Embedded => self.embedded,
            _ => self.api,
        })
    }

    /// As `couponrush config` shows it: both defaults for every role at once.
    fn shown(&self, set: Option<usize>, role: Role) -> String {
        match (set, role) {
            (None, Role::All) => format!("{} (embedded) / {} (api node)", self.embedded, self.api),
            _ => self.value(set, role).to_string(),
        }
    }
}

impl Config {
    /// Layers the sources; `flags` holds only what was given on the command line.
    pub fn load(file: Option<&Path>, flags: impl Serialize) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("COUPONRUSH_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(
                Env::prefixed(ENV_PREFIX)
                    .ignore(&["config"])
                    // `COUPONRUSH_TEST_*` say where the test services are (testenv,
                    // scripts/test-services), not how to configure a process.
                    .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_")),
            )
            .merge(Serialized::defaults(flags))
            .extract()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if let Err(e) = RateBounds::new(self.room_min_rate, self.room_max_rate) {
            bail!("room_min_rate / room_max_rate: {}", e.message);
        }
        if self.room_abandon_after_secs * 1000 <= 20_000 {
            bail!(
                "room_abandon_after_secs must be more than 20 (waiters are told to poll every 20 s at most)"
            );
        }
        if self.room_reseed_grace_secs == 0 {
            bail!(
                "room_reseed_grace_secs must be at least 1 (at least 22 to cover the longest poll interval, 20 s, and its jitter)"
            );
        }
        if self.room_off_p95_ms > self.room_on_p95_ms {
            bail!("room_off_p95_ms must not exceed room_on_p95_ms (hysteresis)");
        }
        if self.token_ttl_secs == 0 {
            bail!("token_ttl_secs must be at least 1");
        }
        if self.batch_max_rows == 0 || self.batch_queue_capacity == 0 {
            bail!("batch_max_rows and batch_queue_capacity must be at least 1");
        }
        if self.db_max_connections == 0 {
            bail!("db_max_connections must be at least 1");
        }
        if self.wal_checkpoint_interval_ms == 0 || self.wal_restart_frames == 0 {
            bail!("wal_checkpoint_interval_ms and wal_restart_frames must be at least 1");
        }
        if self.by_user_chunk_rows == 0 {
            bail!("by_user_chunk_rows must be at least 1");
        }
        if self.refresh_token_ttl_secs == 0 {
            bail!("refresh_token_ttl_secs must be at least 1");
        }
        if !(0..=19).contains(&self.password_hash_nice) {
            bail!("password_hash_nice must be 0 to 19");
        }
        if let Err(e) = self.argon2_settings().check() {
            bail!("argon2_memory_kib, argon2_iterations, argon2_parallelism: {e}");
        }
        axum::http::HeaderName::try_from(self.client_ip_header.as_str())
            .context("client_ip_header is no valid header name")?;
        if matches!(&self.jwt_secret, Some(s) if s.len() < 16) {
            bail!("jwt_secret must be at least 16 characters");
        }
        couponrush_domain::Username::parse(&self.admin_username).context("admin_username")?;
        if let Some(p) = &self.admin_password {
            couponrush_domain::Password::parse(p).context("admin_password")?;
        }
        self.log_format()?;
        if let Some(dsn) = &self.sentry_dsn {
            couponrush_telemetry::error_tracking::check_dsn(dsn)?;
        }
        if self.kafka_partitions < 1
            || self.consumer_batch_max_records == 0
            || self.retry_max_attempts == 0
        {
            bail!(
                "kafka_partitions, consumer_batch_max_records and retry_max_attempts must be at least 1"
            );
        }
        if self.rate_limit_per_sec > 0 && self.rate_limit_burst == 0 {
            bail!("rate_limit_burst must be at least 1 when rate_limit_per_sec is set");
        }
        if self.redis_key_prefix.contains(['{', '}']) {
            bail!("redis_key_prefix must not contain braces (they are Redis Cluster hash tags)");
        }
        Ok(())
    }

    /// Error tracking for a process of kind `process`, when `sentry_dsn` is set.
    pub fn start_error_tracking(
        &self,
        process: &'static str,
    ) -> anyhow::Result<Option<couponrush_telemetry::error_tracking::ErrorTracking>> {
        self.sentry_dsn
            .as_deref()
            .map(|dsn| couponrush_telemetry::error_tracking::init(dsn, process))
            .transpose()
            .map_err(Into::into)
    }

    pub fn log_format(&self) -> anyhow::Result<LogFormat> {
        LogFormat::parse(&self.log_format)
            .with_context(|| format!("log_format must be text or json, not {}", self.log_format))
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    pub fn session_settings(&self) -> SessionSettings {
        SessionSettings {
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
        }
    }

    pub fn argon2_settings(&self) -> Argon2Settings {
        Argon2Settings {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    /// The hash pool: sized from the cores unless set.
    pub fn hash_pool_settings(&self) -> HashPoolSettings {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auto = HashPoolSettings::for_cores(cores);
        let threads = if self.password_hash_threads == 0 {
            auto.threads
        } else {
            self.password_hash_threads
        };
        HashPoolSettings {
            threads,
            queue: if self.password_hash_queue == 0 {
                threads * 8
            } else {
                self.password_hash_queue
            },
            nice: self.password_hash_nice,
        }
    }

    /// The password hasher every process with an API uses (starts its threads).
    pub fn password_hasher(&self) -> anyhow::Result<Argon2Hasher> {
        Argon2Hasher::start(self.argon2_settings(), self.hash_pool_settings())
            .context("starting the password hasher")
    }

    pub fn client_addr_policy(&self) -> ClientAddrPolicy {
        ClientAddrPolicy {
            header: axum::http::HeaderName::try_from(self.client_ip_header.as_str())
                .expect("validated at load"),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// Requests a process of `role` works on at once (0: no limit). Unset, the bound
    /// follows what a turn holds. In embedded mode a request holds its turn through a
    /// group commit of a few milliseconds, and 256 turns keep the writer busy while
    /// holding less (three 20,000/s events on 10,000 connections peaked at 177 MB
    /// instead of 217 MB, at 9,945 against 11,101 req/s paired, 11,107 in the bench
    /// after; docs/ARCHITECTURE.md, "Memory"). An api node's request holds its turn
    /// through a Redis round trip (and, for ACCEPTED, the broker's `acks=all`), and turns
    /// ÷ that latency bounds its throughput, so it keeps 3,072: paired on this box,
    /// nine 10,000-user rushes each, 18,289 against 16,196 req/s (median), p95 over
    /// 500 ms in none against three, peak RSS 140 against 106 MB; 4,096 crossed 200 MB
    /// in the 20,000/s events.
    pub fn requests_in_flight(&self, role: Role) -> usize {
        ByMode::IN_FLIGHT.value(self.max_requests_in_flight, role)
    }

    /// How many requests of a process of `role` may wait for their durable append
    /// without their turn (`append_waiters`). Embedded: 256, so a commit may take up to
    /// 512 rows (256 turns had capped it at 256) and a disk whose fsync slows gets
    /// bigger batches rather than a queue for turns. 1,024 served three 20,000/s events
    /// faster still but peaked at 202 MB with every answer verified; 256: 184 MB.
    /// An api node: none, its requests keep their turn through the broker's acks; its
    /// 3,072 turns were sized with them (memory, below 200 MB), and freeing them would
    /// let twice as many requests be alive at once.
    pub fn appends_waiting(&self, role: Role) -> usize {
        ByMode::APPENDS_WAITING.value(self.max_appends_waiting, role)
    }

    /// The bound on requests a process of `role` works on at once, if any.
    pub fn request_limit(&self, role: Role) -> Option<RequestLimit> {
        let max = self.requests_in_flight(role);
        (max > 0).then(|| {
            RequestLimit::new(max, Duration::from_millis(self.request_queue_timeout_ms))
                .lending(self.appends_waiting(role) > 0)
        })
    }

    pub fn throttled_answer_delay(&self) -> Duration {
        Duration::from_millis(self.throttled_answer_delay_ms)
    }

    pub fn throttle_policy(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            username_free_failures: self.login_free_failures,
            username_base_lockout: Duration::from_millis(self.login_lockout_base_ms.max(1)),
            username_max_lockout: Duration::from_secs(self.login_lockout_max_secs),
            username_forget_after: Duration::from_secs(self.login_forget_after_secs),
            address_failures: Rate::per_minute(self.login_failures_per_address_per_min),
            address_signups: Rate::per_minute(self.signups_per_address_per_min),
        }
    }

    pub fn issue_settings(&self) -> IssueSettings {
        IssueSettings {
            coupon_cache_ttl: Duration::from_millis(self.coupon_cache_ttl_ms),
            gate_seed_wait: Duration::from_millis(self.gate_seed_wait_ms.max(1)),
            idempotency_key_ttl: Duration::from_secs(self.idempotency_key_ttl_secs.max(1)),
            room: self.room_settings(),
        }
    }

    /// How long a line found lost admits nobody (`room_reseed_grace_secs`).
    pub fn room_reseed_grace(&self) -> Duration {
        Duration::from_secs(self.room_reseed_grace_secs)
    }

    /// Warns when the re-seeding window is shorter than the longest poll interval the
    /// room hands out plus its jitter: a waiter told to come back that late could
    /// re-seat behind admissions already given. Tests shorten it on purpose.
    pub fn warn_about_a_short_reseed_grace(&self) {
        let covered = MAX_POLL_AFTER.mul_f64(1.1);
        if self.room_reseed_grace() < covered {
            tracing::warn!(
                room_reseed_grace_secs = self.room_reseed_grace_secs,
                "room_reseed_grace_secs is shorter than the longest poll interval ({} s with jitter): after a loss of the waiting line, waiters far back may come back behind admissions already given",
                covered.as_secs_f64()
            );
        }
    }

    pub fn room_settings(&self) -> RoomSettings {
        RoomSettings {
            tick: Duration::from_millis(self.room_tick_ms.max(1)),
            window: Duration::from_millis(self.room_window_ms.max(1)),
            abandon_after: Duration::from_secs(self.room_abandon_after_secs.max(1)),
            admission_ttl: Duration::from_secs(self.room_admission_ttl_secs.max(1)),
            // Checked by `validate`.
            bounds: RateBounds::new(self.room_min_rate, self.room_max_rate).unwrap_or(RateBounds {
                min: 100.0,
                max: 5_000.0,
            }),
            auto: AutoThresholds {
                on_p95: Duration::from_millis(self.room_on_p95_ms),
                on_in_flight: self.room_on_in_flight,
                on_consumer_lag: self.room_on_consumer_lag,
                off_p95: Duration::from_millis(self.room_off_p95_ms),
                calm_for: Duration::from_secs(self.room_calm_secs),
            },
            controller: Controller {
                target_p95: Duration::from_millis(self.room_target_p95_ms.max(1)),
                grow_share: 0.05,
                cut_factor: 0.7,
            },
        }
    }

    pub fn batch_config(&self) -> couponrush_sqlite::BatchConfig {
        couponrush_sqlite::BatchConfig {
            max_rows: self.batch_max_rows,
            max_wait: Duration::from_millis(self.batch_max_wait_ms),
            queue_capacity: self.batch_queue_capacity,
            checkpoint: couponrush_sqlite::CheckpointConfig {
                interval: Duration::from_millis(self.wal_checkpoint_interval_ms),
                restart_frames: self.wal_restart_frames,
            },
            by_user: couponrush_sqlite::ByUserConfig {
                idle: Duration::from_millis(self.by_user_idle_ms),
                chunk_rows: self.by_user_chunk_rows,
            },
        }
    }
}

/// Which process a configuration is shown for: each prints at start only the settings
/// it uses; `couponrush config` shows all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `couponrush` / `couponrush serve`: SQLite, the in-memory gate, group commit.
    Embedded,
    /// `couponrush api`: HTTP, the Redis gate, the Kafka producer, MariaDB reads.
    Api,
    /// `couponrush consumer`: Kafka in, MariaDB out, the Redis rate limiter.
    Consumer,
    /// Every setting (`couponrush config`).
    All,
}

/// The settings `role` uses, one per line, secrets only as set / unset.
pub struct Shown<'a> {
    config: &'a Config,
    role: Role,
}

impl Config {
    pub fn shown_for(&self, role: Role) -> Shown<'_> {
        Shown { config: self, role }
    }
}

/// Every value (`couponrush config`).
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shown_for(Role::All).fmt(f)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.config;
        let all = self.role == Role::All;
        let http = matches!(self.role, Role::Embedded | Role::Api) || all;
        let embedded = self.role == Role::Embedded || all;
        let distributed = matches!(self.role, Role::Api | Role::Consumer) || all;
        let api = self.role == Role::Api || all;
        let consumer = self.role == Role::Consumer || all;
        if http {
            c.fmt_http(f, self.role)?;
        }
        if embedded {
            c.fmt_embedded(f)?;
        }
        if distributed {
            c.fmt_distributed(f, api, consumer)?;
        }
        let tracking = if c.sentry_dsn.is_some() {
            "(set: panics and 5xx answers are reported)"
        } else {
            "(unset: no error tracking)"
        };
        writeln!(f, "  sentry_dsn            {tracking}")?;
        write!(f, "  log_format            {}", c.log_format)
    }
}

fn secret(s: &Option<String>) -> &'static str {
    if s.is_some() {
        "(set)"
    } else {
        "(unset: generated)"
    }
}

impl Config {
    /// What every process serving the API uses: listening, tokens, signing in, the
    /// issue path's caches and keys.
    fn fmt_http(&self, f: &mut fmt::Formatter<'_>, role: Role) -> fmt::Result {
        writeln!(f, "  bind                  {}", self.bind)?;
        writeln!(f, "  listen_backlog        {}", self.listen_backlog)?;
        let in_flight = ByMode::IN_FLIGHT.shown(self.max_requests_in_flight, role);
        writeln!(
            f,
            "  requests in flight    at most {in_flight} (0: no limit), a turn waited for up to {} ms",
            self.request_queue_timeout_ms
        )?;
        let waiting = ByMode::APPENDS_WAITING.shown(self.max_appends_waiting, role);
        writeln!(
            f,
            "  appends waiting       at most {waiting} without their turn (0: they keep it)"
        )?;
        writeln!(f, "  jwt_secret            {}", secret(&self.jwt_secret))?;
        writeln!(f, "  token_ttl_secs        {}", self.token_ttl_secs)?;
        writeln!(
            f,
            "  refresh_token_ttl_secs {}",
            self.refresh_token_ttl_secs
        )?;
        let pool = self.hash_pool_settings();
        writeln!(
            f,
            "  password hashing      argon2id m={} KiB t={} p={}; {} threads at nice {}, {} waiting at most",
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            pool.threads,
            pool.nice,
            pool.queue
        )?;
        writeln!(
            f,
            "  login throttling      {} free failures per username, lockout {} ms doubling to {} s, forgotten after {} s; {} failures and {} signups per address per minute (0: no limit); 429 held {} ms",
            self.login_free_failures,
            self.login_lockout_base_ms,
            self.login_lockout_max_secs,
            self.login_forget_after_secs,
            self.login_failures_per_address_per_min,
            self.signups_per_address_per_min,
            self.throttled_answer_delay_ms
        )?;
        writeln!(
            f,
            "  client address        socket peer; {} from trusted proxies {:?}",
            self.client_ip_header, self.trusted_proxies
        )?;
        writeln!(f, "  admin_username        {}", self.admin_username)?;
        writeln!(
            f,
            "  admin_password        {}",
            secret(&self.admin_password)
        )?;
        writeln!(f, "  coupon_cache_ttl_ms   {}", self.coupon_cache_ttl_ms)?;
        writeln!(f, "  gate_seed_wait_ms     {}", self.gate_seed_wait_ms)?;
        writeln!(
            f,
            "  idempotency_key_ttl_secs {}",
            self.idempotency_key_ttl_secs
        )?;
        writeln!(
            f,
            "  waiting room          tick {} ms, window {} ms, abandon after {} s, admission {} s, re-seeding {} s, rate {}..{}/s",
            self.room_tick_ms,
            self.room_window_ms,
            self.room_abandon_after_secs,
            self.room_admission_ttl_secs,
            self.room_reseed_grace_secs,
            self.room_min_rate,
            self.room_max_rate
        )?;
        writeln!(
            f,
            "  waiting room AUTO     on at p95 > {} ms or {} at once (0: off), off after p95 < {} ms for {} s; target p95 {} ms",
            self.room_on_p95_ms,
            self.room_on_in_flight,
            self.room_off_p95_ms,
            self.room_calm_secs,
            self.room_target_p95_ms
        )
    }

    /// Embedded mode's own: the data directory, SQLite and group commit.
    fn fmt_embedded(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  data_dir              {}", self.data_dir.display())?;
        writeln!(f, "  batch_max_rows        {}", self.batch_max_rows)?;
        writeln!(f, "  batch_max_wait_ms     {}", self.batch_max_wait_ms)?;
        writeln!(f, "  batch_queue_capacity  {}", self.batch_queue_capacity)?;
        writeln!(f, "  db_max_connections    {}", self.db_max_connections)?;
        writeln!(
            f,
            "  wal_checkpoint        every {} ms, restart past {} frames",
            self.wal_checkpoint_interval_ms, self.wal_restart_frames
        )?;
        writeln!(
            f,
            "  by_user copy          after {} ms without requests, {} rows a transaction",
            self.by_user_idle_ms, self.by_user_chunk_rows
        )
    }

    /// Distributed mode: the stores and the log every node talks to, then what only an
    /// api node or only a consumer uses.
    fn fmt_distributed(
        &self,
        f: &mut fmt::Formatter<'_>,
        api: bool,
        consumer: bool,
    ) -> fmt::Result {
        writeln!(
            f,
            "  database_url          {}",
            redact_url(&self.database_url)
        )?;
        writeln!(
            f,
            "  database_max_conns    {}",
            self.database_max_connections
        )?;
        writeln!(f, "  redis_url             {}", redact_url(&self.redis_url))?;
        writeln!(f, "  redis_key_prefix      {}", self.redis_key_prefix)?;
        writeln!(
            f,
            "  redis_resp_timeout    {} ms",
            self.redis_response_timeout_ms
        )?;
        writeln!(
            f,
            "  kafka_bootstrap       {}",
            self.kafka_bootstrap_servers
        )?;
        writeln!(
            f,
            "  kafka_topic           {} (dlq {}-dlq, {} partitions)",
            self.kafka_topic, self.kafka_topic, self.kafka_partitions
        )?;
        // Both produce: api nodes the issue records, consumers the dead letters.
        writeln!(f, "  kafka_linger_ms       {}", self.kafka_linger_ms)?;
        writeln!(
            f,
            "  kafka_produce_timeout {} ms",
            self.kafka_produce_timeout_ms
        )?;
        writeln!(f, "  kafka_idempotence     {}", self.kafka_idempotence)?;
        // Api nodes read the group's committed offsets to drain the log before a
        // re-seed or a reconciliation; consumers are its members.
        writeln!(f, "  consumer_group        {}", self.consumer_group)?;
        if api {
            writeln!(
                f,
                "  reconcile_interval_secs {}",
                self.reconcile_interval_secs
            )?;
            writeln!(
                f,
                "  room_on_consumer_lag  {} records (0: off)",
                self.room_on_consumer_lag
            )?;
        }
        if consumer {
            writeln!(f, "  metrics_bind          {}", self.metrics_bind)?;
            writeln!(
                f,
                "  consumer_batch        {} records / {} ms",
                self.consumer_batch_max_records, self.consumer_batch_max_wait_ms
            )?;
            writeln!(
                f,
                "  rate_limit            {}/s burst {}",
                self.rate_limit_per_sec, self.rate_limit_burst
            )?;
            writeln!(
                f,
                "  retry                 {} attempts, backoff {}..{} ms",
                self.retry_max_attempts, self.retry_base_backoff_ms, self.retry_max_backoff_ms
            )?;
        }
        Ok(())
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
mod tests {
    #[test]
    fn each_process_shows_only_the_settings_it_uses() {
        let c = Config::default();
        let embedded = c.shown_for(Role::Embedded).to_string();
        let api = c.shown_for(Role::Api).to_string();
        let consumer = c.shown_for(Role::Consumer).to_string();
        let all = c.to_string();
        let has = |shown: &str, key: &str| shown.lines().any(|l| l.trim_start().starts_with(key));
        for key in [
            "database_url",
            "redis_url",
            "kafka_bootstrap",
            "consumer_group",
            "metrics_bind",
            "rate_limit",
        ] {
            assert!(!has(&embedded, key), "embedded mode does not use {key}");
        }
        for key in [
            "bind",
            "data_dir",
            "batch_max_rows",
            "wal_checkpoint",
            "jwt_secret",
            "log_format",
        ] {
            assert!(has(&embedded, key), "embedded mode uses {key}");
        }
        for key in [
            "data_dir",
            "batch_max_rows",
            "wal_checkpoint",
            "metrics_bind",
            "consumer_batch",
            "rate_limit",
            "retry",
        ] {
            assert!(!has(&api, key), "an api node does not use {key}");
        }
        for key in [
            "bind",
            "jwt_secret",
            "database_url",
            "redis_url",
            "kafka_topic",
            "consumer_group",
            "reconcile_interval_secs",
        ] {
            assert!(has(&api, key), "an api node uses {key}");
        }
        for key in [
            "bind",
            "jwt_secret",
            "password hashing",
            "data_dir",
            "batch_max_rows",
            "reconcile_interval_secs",
        ] {
            assert!(!has(&consumer, key), "a consumer does not use {key}");
        }
        for key in [
            "database_url",
            "redis_url",
            "kafka_topic",
            "consumer_batch",
            "rate_limit",
            "retry",
            "metrics_bind",
        ] {
            assert!(has(&consumer, key), "a consumer uses {key}");
        }
        for shown in [&embedded, &api, &consumer] {
            // The values that depend on the mode: `couponrush config` shows both.
            let by_mode =
                |l: &str| l.contains("requests in flight") || l.contains("appends waiting");
            for line in shown.lines().filter(|l| !by_mode(l)) {
                assert!(
                    all.lines().any(|l| l == line),
                    "`couponrush config` shows {line}"
                );
            }
        }
    }

    use super::*;

    #[derive(Serialize, Default)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        bind: Option<SocketAddr>,
    }

    #[test]
    fn layers_file_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:1111\"\nbatch_max_rows = 7\ntoken_ttl_secs = 60\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("COUPONRUSH_BATCH_MAX_ROWS", "9");
            let c = Config::load(Some(&file), Flags::default()).unwrap();
            assert_eq!(c.bind.port(), 1111, "file beats default");
            assert_eq!(c.batch_max_rows, 9, "env beats file");
            assert_eq!(c.token_ttl_secs, 60);
            let c = Config::load(
                Some(&file),
                Flags {
                    bind: Some("127.0.0.1:2222".parse().unwrap()),
                },
            )
            .unwrap();
            assert_eq!(c.bind.port(), 2222, "flag beats file");
            Ok(())
        });
    }

    #[test]
    fn requests_in_flight_follow_the_mode_unless_set() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, Flags::default()).unwrap();
            assert_eq!(
                c.requests_in_flight(Role::Embedded),
                EMBEDDED_REQUESTS_IN_FLIGHT
            );
            assert_eq!(c.requests_in_flight(Role::Api), API_REQUESTS_IN_FLIGHT);
            // Turns are lent only where appends have places to wait without them.
            assert!(c.request_limit(Role::Embedded).unwrap().lends());
            assert!(!c.request_limit(Role::Api).unwrap().lends());
            assert!(
                c.shown_for(Role::Embedded)
                    .to_string()
                    .contains("at most 256 ")
            );
            assert!(
                c.to_string()
                    .contains("at most 256 (embedded) / 3072 (api node) ")
            );
            jail.set_env("COUPONRUSH_MAX_REQUESTS_IN_FLIGHT", "64");
            let c = Config::load(None, Flags::default()).unwrap();
            assert_eq!(c.requests_in_flight(Role::Embedded), 64);
            assert_eq!(c.requests_in_flight(Role::Api), 64);
            jail.set_env("COUPONRUSH_MAX_REQUESTS_IN_FLIGHT", "0");
            let c = Config::load(None, Flags::default()).unwrap();
            assert!(c.request_limit(Role::Embedded).is_none(), "0: no limit");
            Ok(())
        });
    }

    #[test]
    fn rejects_bad_values_and_hides_secrets() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("COUPONRUSH_JWT_SECRET", "short");
            assert!(Config::load(None, Flags::default()).is_err());
            jail.set_env("COUPONRUSH_JWT_SECRET", "a-long-enough-secret-value");
            jail.set_env("COUPONRUSH_ADMIN_PASSWORD", "hunter2hunter2");
            let c = Config::load(None, Flags::default()).unwrap();
            let shown = c.to_string();
            assert!(!shown.contains("a-long-enough") && !shown.contains("hunter2"));
            jail.set_env(
                "COUPONRUSH_DATABASE_URL",
                "mysql://app:dbsecret@db:3306/couponrush",
            );
            let shown = Config::load(None, Flags::default()).unwrap().to_string();
            assert!(
                shown.contains("mysql://app:***@db:3306/couponrush") && !shown.contains("dbsecret")
            );
            jail.set_env("COUPONRUSH_LOG_FORMAT", "xml");
            assert!(Config::load(None, Flags::default()).is_err());
            Ok(())
        });
    }
}
