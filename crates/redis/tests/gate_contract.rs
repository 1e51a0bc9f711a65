//! `RedisGate` runs the same contract suite as every other `IssueGate`, against the
//! real Redis, each check under a fresh key prefix.

mod support;

use couponrush_domain::ports::IssueGate;
use couponrush_redis::RedisGate;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn redis_gate_honours_the_gate_contract() {
    let url = support::url();
    let prefixes = Arc::new(Mutex::new(Vec::new()));
    couponrush_contracts::gate::run_all(|| {
        let url = url.clone();
        let prefixes = prefixes.clone();
        async move {
            let prefix = support::prefix();
            prefixes.lock().unwrap().push(prefix.clone());
            Arc::new(RedisGate::connect(&url, &prefix).await.unwrap()) as Arc<dyn IssueGate>
        }
    })
    .await;
    let prefixes = prefixes.lock().unwrap().clone();
    support::cleanup(&url, &prefixes).await;
}
