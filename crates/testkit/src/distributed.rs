//! A distributed-mode deployment in this process: one api node and any number of
//! consumer nodes, against the real Redis, MariaDB and Kafka-protocol broker, isolated
//! by their own database, Redis key prefix, topic and consumer group.

use crate::embedded::{ADMIN_PASSWORD, ADMIN_USERNAME, TestApp};
use couponrush_auth::TokenCodec;
use couponrush_cli::{ApiNode, Config, ConsumerNode};
use couponrush_consumer::WorkerCounters;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TEST_JWT_SECRET: &str = "distributed-test-secret-0123456789";

pub struct Distributed {
    pub config: Config,
    pub api: TestApp,
}

/// One running consumer node.
pub struct ConsumerHandle {
    pub counters: Arc<WorkerCounters>,
    /// Its admin port: `/metrics` and `/health`.
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ConsumerHandle {
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr)
    }

    /// Graceful: the batch in hand is persisted and committed first.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task
            .await
            .expect("consumer task")
            .expect("consumer stopped cleanly");
    }

    /// A crash: the node is dropped mid-stream without committing what it holds.
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Test configuration: private database, prefix, topic and group; `tweak` may change
/// anything (e.g. the broker address of a private broker).
pub async fn test_config(tweak: impl FnOnce(&mut Config)) -> Config {
    let topic = couponrush_testenv::unique("issue");
    let mut config = Config {
        bind: "127.0.0.1:0".parse().expect("addr"),
        metrics_bind: "127.0.0.1:0".parse().expect("addr"),
        jwt_secret: Some(TEST_JWT_SECRET.into()),
        admin_username: ADMIN_USERNAME.into(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        database_url: couponrush_testenv::fresh_mysql_database().await,
        database_max_connections: 8,
        redis_url: couponrush_testenv::redis_url(),
        redis_key_prefix: format!("{}:", couponrush_testenv::unique("t")),
        kafka_bootstrap_servers: couponrush_testenv::kafka_bootstrap(),
        consumer_group: format!("{topic}-group"),
        kafka_topic: topic,
        kafka_partitions: 6,
        // Debug builds with every test in parallel on two cores: a 6,000-request rush can
        // keep a command queued for seconds. These tests check outcomes, not latency
        // (the fault tests set their own, short bounds).
        kafka_produce_timeout_ms: 10_000,
        redis_response_timeout_ms: 15_000,
        consumer_batch_max_wait_ms: 20,
        retry_base_backoff_ms: 20,
        retry_max_attempts: 3,
        // Off unless a test turns it on: a pass drains the log, which would make the
        // fault tests' timing depend on it.
        reconcile_interval_secs: 0,
        // AUTO rooms stay off unless a test turns them on: a debug build under
        // parallel tests is slow, and these tests check outcomes.
        room_on_p95_ms: 3_600_000,
        ..Config::default()
    };
    tweak(&mut config);
    config
}

impl Distributed {
    /// Migrates a fresh database and starts an api node (no consumer yet).
    pub async fn spawn(tweak: impl FnOnce(&mut Config)) -> Self {
        couponrush_telemetry::init(couponrush_telemetry::LogFormat::Text);
        let config = test_config(tweak).await;
        couponrush_cli::distributed::migrate(&config)
            .await
            .expect("migrate");
        let node = ApiNode::build(&config).await.expect("api node builds");
        let base = format!("http://{}", node.local_addr());
        let tokens = TokenCodec::new(TEST_JWT_SECRET.as_bytes(), config.token_ttl());
        let dir = tempfile::tempdir().expect("temp dir");
        let api =
            TestApp::serve(base, tokens, dir, |stopped| node.run_until_stopped(stopped)).await;
        Self { config, api }
    }

    /// Another api node of the same deployment (same database, Redis prefix and topic),
    /// on a port of its own.
    pub async fn second_api(&self) -> TestApp {
        let node = ApiNode::build(&self.config)
            .await
            .expect("second api node builds");
        let base = format!("http://{}", node.local_addr());
        let tokens = TokenCodec::new(TEST_JWT_SECRET.as_bytes(), self.config.token_ttl());
        let dir = tempfile::tempdir().expect("temp dir");
        TestApp::serve(base, tokens, dir, |stopped| node.run_until_stopped(stopped)).await
    }

    pub async fn start_consumer(&self) -> ConsumerHandle {
        start_consumer(&self.config).await
    }

    /// Polls the admin stats until `persisted` reaches `expected` (bounded); returns the
    /// last value seen.
    pub async fn wait_persisted(&self, coupon: uuid::Uuid, expected: u64, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let persisted = self.api.coupon_stats(coupon).await.body["persisted"]
                .as_u64()
                .unwrap_or(0);
            if persisted >= expected || tokio::time::Instant::now() >= deadline {
                return persisted;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn db(&self) -> sqlx::MySqlPool {
        sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(2)
            .connect(&self.config.database_url)
            .await
            .expect("connect test database")
    }

    /// Persisted holders of `coupon`, straight from the table.
    pub async fn persisted_holders(&self, coupon: uuid::Uuid) -> Vec<uuid::Uuid> {
        let db = self.db().await;
        let rows: Vec<(uuid::Uuid,)> =
            sqlx::query_as("SELECT user_id FROM issued_coupons WHERE coupon_id = ?")
                .bind(coupon)
                .fetch_all(&db)
                .await
                .expect("query rows");
        db.close().await;
        rows.into_iter().map(|(u,)| u).collect()
    }

    pub async fn issued_count(&self, coupon: uuid::Uuid) -> u64 {
        let db = self.db().await;
        let (n,): (u32,) = sqlx::query_as("SELECT issued_count FROM coupons WHERE id = ?")
            .bind(coupon)
            .fetch_one(&db)
            .await
            .expect("query issued_count");
        db.close().await;
        u64::from(n)
    }
}

pub async fn start_consumer(config: &Config) -> ConsumerHandle {
    let node = ConsumerNode::build(config)
        .await
        .expect("consumer node builds");
    let counters = node.counters();
    let metrics_addr = node.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(node.run_until_stopped(async {
        let _ = stopped.await;
    }));
    ConsumerHandle {
        counters,
        metrics_addr,
        stop: Some(stop),
        task,
    }
}
