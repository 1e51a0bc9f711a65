//! Shared by this crate's integration tests: the shared Redis, per-test key prefixes,
//! raw access for assertions, and a private Redis process for tests that must disturb
//! the server (SCRIPT FLUSH, restart) without touching other suites' state.
#![allow(dead_code)]

use couponrush_redis::RedisConnection;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn url() -> String {
    couponrush_testenv::redis_url()
}

/// A prefix no other test uses, ending with `:` so keys read `t_…:{coupon:…}:stock`.
pub fn prefix() -> String {
    format!("{}:", couponrush_testenv::unique("t"))
}

pub async fn raw(url: &str) -> RedisConnection {
    couponrush_redis::connection(url)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} (run ./scripts/test, which starts it): {e}"))
}

/// Every key under `prefix`.
pub async fn keys(conn: &mut RedisConnection, prefix: &str) -> Vec<String> {
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        found.extend(batch);
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

/// Deletes every key under `prefix` (never FLUSHDB: other suites share the server).
pub async fn cleanup(url: &str, prefixes: &[String]) {
    let mut conn = raw(url).await;
    for prefix in prefixes {
        let found = keys(&mut conn, prefix).await;
        for chunk in found.chunks(500) {
            redis::cmd("UNLINK")
                .arg(chunk)
                .query_async::<()>(&mut conn)
                .await
                .expect("UNLINK");
        }
    }
}

/// A throwaway redis-server on its own port, killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let mut me = Self {
            port: couponrush_testenv::free_port(),
            child: None,
        };
        me.restart().await;
        me
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts on the same port, empty: no persistence.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        assert!(
            couponrush_testenv::wait_for_port(self.port, Duration::from_secs(20)).await,
            "redis-server did not listen on {}",
            self.port
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
