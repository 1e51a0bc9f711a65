//! The in-memory gate honours the IssueGate contract.

use couponrush_domain::ports::IssueGate;
use couponrush_memory::MemoryGate;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_gate_meets_the_gate_contract() {
    couponrush_contracts::gate::run_all(|| async {
        Arc::new(MemoryGate::new()) as Arc<dyn IssueGate>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_idempotency_meets_its_contract() {
    couponrush_contracts::idempotency::run_all(|| async {
        Arc::new(couponrush_memory::MemoryIdempotency::new())
            as Arc<dyn couponrush_domain::ports::IdempotencyStore>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_waiting_line_meets_its_contract() {
    couponrush_contracts::waiting_line::run_all(|| async {
        Arc::new(couponrush_memory::MemoryWaitingLine::new())
            as Arc<dyn couponrush_domain::ports::WaitingLine>
    })
    .await;
}
