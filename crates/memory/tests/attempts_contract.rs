//! The in-memory attempt limiter (embedded mode) honours the AttemptLimiter contract,
//! the same suite the Redis one runs.

use couponrush_domain::ports::AttemptLimiter;
use couponrush_memory::MemoryAttemptLimiter;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_attempt_limiter_meets_its_contract() {
    couponrush_contracts::attempts::run_all(|policy| async move {
        Arc::new(MemoryAttemptLimiter::new(policy)) as Arc<dyn AttemptLimiter>
    })
    .await;
}
