//! How much memory one held user costs in the [`MemoryGate`]: the figure behind the
//! "Memory" section of docs/ARCHITECTURE.md. Reads the process's resident set
//! (`/proc/self/status`, Linux) before and after filling one coupon with holders, both
//! ways the gate fills: `seed` (start-up, from persisted rows) and `reserve` one by one
//! (a rush, where the set grows by doubling).
//!
//! `cargo run --release -p couponrush-memory --example holder_memory [HOLDERS]`

use couponrush_domain::ports::IssueGate;
use couponrush_domain::{CouponId, Quantity, UserId};
use couponrush_memory::MemoryGate;
use uuid::Uuid;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

fn report(how: &str, holders: usize, before: u64, after: u64) {
    let delta = after.saturating_sub(before);
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let per = (delta * 1024) as f64 / holders as f64;
    println!(
        "{how:<8} {holders} holders: RSS {before} KiB → {after} KiB, +{delta} KiB = {per:.1} bytes per holder"
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let holders: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("HOLDERS is a number"));
    let total = Quantity::new(holders as u64 * 2).expect("a valid quantity");
    // Random (v4) ids, as real users' ids are: the hash set does not care, but the
    // figure should not depend on a lucky order.
    let users: Vec<UserId> = (0..holders)
        .map(|_| UserId::from_uuid(Uuid::new_v4()))
        .collect();

    let gate = MemoryGate::new();
    let before = rss_kib();
    gate.seed(CouponId::new(), total, &users)
        .await
        .expect("seed");
    report("seed", holders, before, rss_kib());

    let coupon = CouponId::new();
    gate.seed(coupon, total, &[]).await.expect("seed");
    let before = rss_kib();
    for &user in &users {
        gate.reserve(coupon, user).await.expect("reserve");
    }
    report("reserve", holders, before, rss_kib());
}
