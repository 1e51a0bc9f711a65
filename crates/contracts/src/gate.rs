//! The [`IssueGate`] contract. Each check panics with a message on violation; call
//! [`run_all`] from an adapter's test with a factory for fresh, empty gates.

use couponrush_domain::ports::{GateStats, IssueGate, Reservation};
use couponrush_domain::{CouponId, Quantity, UserId};
use std::future::Future;
use std::sync::Arc;

/// Runs every check, each on a fresh gate.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn IssueGate>>,
{
    unseeded_coupon_asks_for_seed(make().await).await;
    stock_runs_out_exactly(make().await).await;
    one_reservation_per_user(make().await).await;
    release_gives_stock_back_once(make().await).await;
    sold_out_coupon_knows_every_holder_and_takes_a_release(make().await).await;
    seeding_is_idempotent_and_counts_holders(make().await).await;
    coupons_are_independent(make().await).await;
    holders_are_listed(make().await).await;
    concurrent_rush_never_over_reserves(make().await).await;
}

fn qty(n: u64) -> Quantity {
    Quantity::new(n).expect("valid quantity")
}

pub async fn unseeded_coupon_asks_for_seed(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    assert_eq!(
        gate.reserve(c, UserId::new()).await.unwrap(),
        Reservation::NotSeeded
    );
    assert_eq!(gate.stats(c).await.unwrap(), None);
    assert!(!gate.is_holder(c, UserId::new()).await.unwrap());
}

pub async fn stock_runs_out_exactly(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    gate.seed(c, qty(3), &[]).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            gate.reserve(c, UserId::new()).await.unwrap(),
            Reservation::Reserved
        );
    }
    assert_eq!(
        gate.reserve(c, UserId::new()).await.unwrap(),
        Reservation::SoldOut
    );
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 0,
            holders: 3
        })
    );
}

pub async fn one_reservation_per_user(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    let u = UserId::new();
    gate.seed(c, qty(5), &[]).await.unwrap();
    assert_eq!(gate.reserve(c, u).await.unwrap(), Reservation::Reserved);
    assert_eq!(
        gate.reserve(c, u).await.unwrap(),
        Reservation::AlreadyIssued
    );
    assert!(gate.is_holder(c, u).await.unwrap());
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 4,
            holders: 1
        })
    );
}

pub async fn release_gives_stock_back_once(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    let u = UserId::new();
    gate.seed(c, qty(1), &[]).await.unwrap();
    assert_eq!(gate.reserve(c, u).await.unwrap(), Reservation::Reserved);
    gate.release(c, u).await.unwrap();
    gate.release(c, u).await.unwrap();
    gate.release(c, UserId::new()).await.unwrap();
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 1,
            holders: 0
        })
    );
    assert!(!gate.is_holder(c, u).await.unwrap());
    assert_eq!(
        gate.reserve(c, u).await.unwrap(),
        Reservation::Reserved,
        "the user may retry after a release"
    );
}

/// A sold-out coupon still tells its holders (seeded and reserved) from newcomers, and
/// a release after the sell-out gives exactly that unit back (an adapter may store a
/// sold-out coupon's holders differently from an open one's).
pub async fn sold_out_coupon_knows_every_holder_and_takes_a_release(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    let seeded: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    let reserved: Vec<UserId> = (0..2).map(|_| UserId::new()).collect();
    gate.seed(c, qty(5), &seeded).await.unwrap();
    for &u in &reserved {
        assert_eq!(gate.reserve(c, u).await.unwrap(), Reservation::Reserved);
    }
    for &u in seeded.iter().chain(&reserved) {
        assert_eq!(
            gate.reserve(c, u).await.unwrap(),
            Reservation::AlreadyIssued,
            "every holder is known after the sell-out"
        );
        assert!(gate.is_holder(c, u).await.unwrap());
    }
    let late = UserId::new();
    assert_eq!(gate.reserve(c, late).await.unwrap(), Reservation::SoldOut);

    gate.release(c, seeded[1]).await.unwrap();
    gate.release(c, reserved[0]).await.unwrap();
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 2,
            holders: 3
        })
    );
    assert!(!gate.is_holder(c, seeded[1]).await.unwrap());
    assert_eq!(gate.reserve(c, late).await.unwrap(), Reservation::Reserved);
    assert_eq!(
        gate.reserve(c, seeded[1]).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        gate.reserve(c, reserved[0]).await.unwrap(),
        Reservation::SoldOut
    );
    assert_eq!(
        gate.reserve(c, seeded[0]).await.unwrap(),
        Reservation::AlreadyIssued
    );
}

pub async fn seeding_is_idempotent_and_counts_holders(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    let (a, b) = (UserId::new(), UserId::new());
    gate.seed(c, qty(3), &[a, b]).await.unwrap();
    assert_eq!(
        gate.reserve(c, a).await.unwrap(),
        Reservation::AlreadyIssued
    );
    assert_eq!(
        gate.reserve(c, UserId::new()).await.unwrap(),
        Reservation::Reserved
    );
    // A second seed (another node, a late rebuild) must not reset the stock.
    gate.seed(c, qty(3), &[]).await.unwrap();
    assert_eq!(
        gate.reserve(c, UserId::new()).await.unwrap(),
        Reservation::SoldOut
    );
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 0,
            holders: 3
        })
    );
}

/// Seeded and reserved holders are listed, each once; a released one is not; an
/// unseeded coupon has no list.
pub async fn holders_are_listed(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    assert_eq!(gate.list_holders(c).await.unwrap(), None);
    let seeded: Vec<UserId> = (0..2).map(|_| UserId::new()).collect();
    gate.seed(c, qty(5), &seeded).await.unwrap();
    let (kept, released) = (UserId::new(), UserId::new());
    for u in [kept, released] {
        assert_eq!(gate.reserve(c, u).await.unwrap(), Reservation::Reserved);
    }
    gate.release(c, released).await.unwrap();
    let mut listed = gate.list_holders(c).await.unwrap().expect("seeded");
    listed.sort_unstable();
    let mut expected = vec![seeded[0], seeded[1], kept];
    expected.sort_unstable();
    assert_eq!(listed, expected);
}

pub async fn coupons_are_independent(gate: Arc<dyn IssueGate>) {
    let (c1, c2) = (CouponId::new(), CouponId::new());
    let u = UserId::new();
    gate.seed(c1, qty(1), &[]).await.unwrap();
    gate.seed(c2, qty(1), &[]).await.unwrap();
    assert_eq!(gate.reserve(c1, u).await.unwrap(), Reservation::Reserved);
    assert_eq!(gate.reserve(c2, u).await.unwrap(), Reservation::Reserved);
    assert_eq!(
        gate.reserve(c1, UserId::new()).await.unwrap(),
        Reservation::SoldOut
    );
}

/// 2,000 requests from 1,000 users (each twice) at once for 100 units.
pub async fn concurrent_rush_never_over_reserves(gate: Arc<dyn IssueGate>) {
    let c = CouponId::new();
    gate.seed(c, qty(100), &[]).await.unwrap();
    let users: Vec<UserId> = (0..1000).map(|_| UserId::new()).collect();
    let tasks = users.iter().chain(users.iter()).map(|&u| {
        let gate = gate.clone();
        tokio::spawn(async move { (u, gate.reserve(c, u).await.unwrap()) })
    });
    let results = futures::future::join_all(tasks).await;
    let mut reserved = std::collections::HashSet::new();
    for r in results {
        let (u, outcome) = r.expect("task");
        if outcome == Reservation::Reserved {
            assert!(reserved.insert(u), "user {u} reserved twice");
        }
    }
    assert_eq!(reserved.len(), 100);
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 0,
            holders: 100
        })
    );
}
