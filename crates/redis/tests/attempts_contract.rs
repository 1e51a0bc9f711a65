//! The Redis attempt limiter honours the AttemptLimiter contract, the same suite the
//! in-memory one of embedded mode runs.

mod support;

use couponrush_domain::ports::AttemptLimiter;
use couponrush_redis::RedisAttemptLimiter;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_attempt_limiter_meets_its_contract() {
    let url = support::url();
    couponrush_contracts::attempts::run_all(|policy| {
        let url = url.clone();
        async move {
            let conn = couponrush_redis::connection(&url).await.unwrap();
            Arc::new(RedisAttemptLimiter::new(conn, &support::prefix(), policy).unwrap())
                as Arc<dyn AttemptLimiter>
        }
    })
    .await;
}
