//! Shared by this crate's integration tests: the shared Redis, per-test key prefixes,
//! raw access for assertions, and a private Redis process for tests that must disturb
//! the server (SCRIPT FLUSH, restart) without touching other suites' state.
#![allow(dead_code)]

use couponrush_redis::RedisConnection;

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

/// A waiting line under `prefix` for the contract suite, re-seeding for the suite's
/// window, which loses a coupon's line the way a flush or a failover to a replica
/// without it would: every key of the room deleted (the same line goes on).
pub async fn line_under_test(
    url: &str,
    prefix: &str,
) -> couponrush_contracts::waiting_line::LineUnderTest {
    use couponrush_domain::ports::WaitingLine;
    use futures::FutureExt;
    use std::sync::Arc;
    let line = Arc::new(
        couponrush_redis::RedisWaitingLine::connect(url, prefix)
            .await
            .expect("waiting line")
            .with_reseed_grace(couponrush_contracts::waiting_line::RESEED_GRACE),
    );
    let conn = raw(url).await;
    let lost = line.clone();
    couponrush_contracts::waiting_line::LineUnderTest {
        line: line as Arc<dyn WaitingLine>,
        lose: Box::new(move |coupon| {
            let (line, mut conn) = (lost.clone(), conn.clone());
            async move {
                redis::cmd("DEL")
                    .arg(line.room_keys(coupon))
                    .query_async::<()>(&mut conn)
                    .await
                    .expect("DEL the room's keys");
                line as Arc<dyn WaitingLine>
            }
            .boxed()
        }),
    }
}
