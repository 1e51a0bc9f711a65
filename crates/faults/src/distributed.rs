//! A distributed deployment made of real processes: two api nodes, consumers, and
//! servers of its own where the fault needs them (a private Redis always, so FLUSHALL
//! and restarts touch nobody else; a private durable broker; the shared MariaDB with a
//! database of its own, or a private MariaDB for its restart).

use crate::SECRET;
use crate::judge::FinalState;
use crate::node::{Binary, Node};
use couponrush_testenv::{BrokerProcess, MariadbProcess, RedisProcess, unique};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub struct Distributed {
    pub binary: Binary,
    pub redis: RedisProcess,
    pub broker: BrokerProcess,
    /// Set when the run restarts MariaDB: the server is ours.
    pub mariadb: Option<MariadbProcess>,
    pub database_url: String,
    pub apis: Vec<Node>,
    pub consumers: Vec<Node>,
    env: BTreeMap<String, String>,
    logs: PathBuf,
}

/// What the run needs besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub consumers: usize,
    pub private_mariadb: bool,
    /// `COUPONRUSH_*` settings (key in lower case, as in the config file).
    pub settings: Vec<(&'static str, String)>,
}

impl Distributed {
    pub async fn start(binary: &Binary, logs: &Path, shape: &Shape) -> anyhow::Result<Self> {
        let redis = RedisProcess::start().await;
        let broker = BrokerProcess::start_durable().await;
        let (mariadb, database_url) = if shape.private_mariadb {
            let m = MariadbProcess::start().await;
            let url = m.database("couponrush").await;
            (Some(m), url)
        } else {
            (None, couponrush_testenv::fresh_mysql_database().await)
        };
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(format!("COUPONRUSH_{}", k.to_uppercase()), v);
        };
        set("database_url", database_url.clone());
        set("redis_url", redis.url());
        set("redis_key_prefix", format!("{}:", unique("faults")));
        set("kafka_bootstrap_servers", broker.bootstrap());
        set("kafka_topic", unique("faults"));
        set("kafka_partitions", "3".into());
        set("consumer_group", unique("faults"));
        set("jwt_secret", SECRET.into());
        set("admin_password", "fault-matrix-admin".into());
        // Reconciliation is run as the command, at a known moment of the run.
        set("reconcile_interval_secs", "0".into());
        set("kafka_produce_timeout_ms", "2000".into());
        set("redis_response_timeout_ms", "1000".into());
        // The crowd judges the issue path and does not follow a waiting line: AUTO
        // rooms, which a fault's slow answers can turn on, stay off here.
        set("room_on_p95_ms", "3600000".into());
        for (k, v) in &shape.settings {
            set(k, v.clone());
        }
        binary.run(&["migrate"], &env).await?;
        let mut me = Self {
            binary: binary.clone(),
            redis,
            broker,
            mariadb,
            database_url,
            apis: Vec::new(),
            consumers: Vec::new(),
            env,
            logs: logs.to_path_buf(),
        };
        for i in 0..2 {
            let port = couponrush_testenv::free_port();
            let mut env = me.env.clone();
            env.insert("COUPONRUSH_BIND".into(), format!("127.0.0.1:{port}"));
            let node = Node::start(
                &format!("api-{i}"),
                binary,
                "api",
                env,
                format!("http://127.0.0.1:{port}/health"),
                logs,
            )
            .await?;
            me.apis.push(node);
        }
        for _ in 0..shape.consumers.max(1) {
            me.add_consumer().await?;
        }
        Ok(me)
    }

    pub async fn add_consumer(&mut self) -> anyhow::Result<()> {
        let port = couponrush_testenv::free_port();
        let mut env = self.env.clone();
        env.insert(
            "COUPONRUSH_METRICS_BIND".into(),
            format!("127.0.0.1:{port}"),
        );
        let node = Node::start(
            &format!("consumer-{}", self.consumers.len()),
            &self.binary,
            "consumer",
            env,
            format!("http://127.0.0.1:{port}/health"),
            &self.logs,
        )
        .await?;
        self.consumers.push(node);
        Ok(())
    }

    /// The api nodes' base URLs.
    pub fn bases(&self) -> Vec<String> {
        self.apis.iter().map(|n| n.base().to_owned()).collect()
    }

    /// `couponrush reconcile` (waits until the log is drained, gives back stranded
    /// units); what it printed.
    pub async fn reconcile(&self) -> anyhow::Result<String> {
        self.binary.run(&["reconcile"], &self.env).await
    }

    /// Runs SQL on the deployment's database (the faults that break its tables).
    pub async fn sql(&self, statement: &str) -> anyhow::Result<()> {
        let pool = self.pool().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }

    async fn pool(&self) -> anyhow::Result<sqlx::MySqlPool> {
        Ok(sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&self.database_url)
            .await?)
    }

    pub async fn final_state(
        &self,
        coupon: Uuid,
        total: u64,
        api_persisted: u64,
    ) -> anyhow::Result<FinalState> {
        let pool = self.pool().await?;
        let (rows,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM issued_coupons WHERE coupon_id = ?")
                .bind(coupon)
                .fetch_one(&pool)
                .await?;
        let holders: Vec<(Uuid,)> =
            sqlx::query_as("SELECT DISTINCT user_id FROM issued_coupons WHERE coupon_id = ?")
                .bind(coupon)
                .fetch_all(&pool)
                .await?;
        pool.close().await;
        Ok(FinalState {
            total,
            rows: rows as u64,
            holders: holders.into_iter().map(|(u,)| u).collect(),
            api_persisted,
        })
    }
}
