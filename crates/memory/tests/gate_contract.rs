//! The in-memory adapters honour their contracts (gate, idempotency, waiting line).

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
    use couponrush_contracts::waiting_line::{LineUnderTest, RESEED_GRACE};
    use couponrush_domain::ports::WaitingLine;
    // A process is one generation of its lines: losing a line is starting afresh, as a
    // restarted embedded server does.
    fn fresh() -> Arc<dyn WaitingLine> {
        Arc::new(couponrush_memory::MemoryWaitingLine::new().with_reseed_grace(RESEED_GRACE))
    }
    couponrush_contracts::waiting_line::run_all(|| async {
        LineUnderTest {
            line: fresh(),
            lose: Box::new(|_coupon| Box::pin(async { fresh() })),
        }
    })
    .await;
}
