//! An embedded-mode server as its own process (`couponrush serve`), on a data directory
//! that outlives it, so it can be killed and started again on the same data.

use crate::SECRET;
use crate::judge::FinalState;
use crate::node::{Binary, Node};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub struct Embedded {
    pub node: Node,
    pub base: String,
    pub data_dir: PathBuf,
}

impl Embedded {
    pub async fn start(
        binary: &Binary,
        data_dir: &Path,
        logs: &Path,
        tweak: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = couponrush_testenv::free_port();
        let mut env = BTreeMap::new();
        env.insert("COUPONRUSH_BIND".into(), format!("127.0.0.1:{port}"));
        env.insert("COUPONRUSH_DATA_DIR".into(), data_dir.display().to_string());
        env.insert("COUPONRUSH_JWT_SECRET".into(), SECRET.into());
        // The crowd judges the issue path and does not follow a waiting line: AUTO
        // rooms, which a fault's slow answers can turn on, stay off here.
        env.insert("COUPONRUSH_ROOM_ON_P95_MS".into(), "3600000".into());
        env.insert(
            "COUPONRUSH_ADMIN_PASSWORD".into(),
            "fault-matrix-admin".into(),
        );
        for (k, v) in tweak {
            env.insert(format!("COUPONRUSH_{}", k.to_uppercase()), (*v).into());
        }
        let base = format!("http://127.0.0.1:{port}");
        let node = Node::start(
            "serve",
            binary,
            "serve",
            env,
            format!("{base}/health"),
            logs,
        )
        .await?;
        Ok(Self {
            node,
            base,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The coupon's rows, read from the SQLite file (the server may be running: WAL
    /// readers do not block it).
    pub async fn final_state(
        &self,
        coupon: Uuid,
        total: u64,
        api_persisted: u64,
    ) -> anyhow::Result<FinalState> {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.data_dir.join("couponrush.db"))
            .read_only(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
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
