//! The Redis idempotency store honours the IdempotencyStore contract.

mod support;

use couponrush_domain::ports::IdempotencyStore;
use couponrush_redis::RedisIdempotency;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_idempotency_meets_its_contract() {
    let url = support::url();
    couponrush_contracts::idempotency::run_all(|| {
        let url = url.clone();
        async move {
            let conn = couponrush_redis::connection(&url).await.unwrap();
            Arc::new(RedisIdempotency::new(conn, &support::prefix())) as Arc<dyn IdempotencyStore>
        }
    })
    .await;
}
