//! The reconciler against one in-memory world that plays every port it needs: one
//! coupon, its gate holders, its rows and its failed events.

use super::*;
use crate::coupon::tests::coupon;
use crate::coupon::{CouponStatus, Quantity};
use crate::issue::{IssuedCoupon, OwnedCoupon};
use crate::ports::GateStats;
use crate::ports::Reservation;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

#[derive(Default)]
struct State {
    holders: HashSet<UserId>,
    rows: HashSet<UserId>,
    parked: HashSet<UserId>,
    /// The order in which the reconciler read the ports.
    steps: Vec<&'static str>,
}

struct World {
    coupon: Coupon,
    state: Mutex<State>,
}

impl World {
    fn new(coupon: Coupon) -> Arc<Self> {
        Arc::new(Self {
            coupon,
            state: Mutex::new(State::default()),
        })
    }

    fn reconciler(self: &Arc<Self>, with_parked: bool) -> Reconciler {
        let r = Reconciler::new(self.clone(), self.clone(), self.clone(), self.clone());
        if with_parked {
            r.with_parked(self.clone())
        } else {
            r
        }
    }

    fn holders(&self) -> HashSet<UserId> {
        self.state.lock().holders.clone()
    }
}

#[async_trait]
impl CouponStore for World {
    async fn insert_coupon(&self, _: &Coupon) -> Result<(), StoreError> {
        unimplemented!("not used by reconciliation")
    }
    async fn find_coupon(&self, _: CouponId) -> Result<Option<Coupon>, StoreError> {
        Ok(Some(self.coupon.clone()))
    }
    async fn set_coupon_status(&self, _: CouponId, _: CouponStatus) -> Result<bool, StoreError> {
        unimplemented!("not used by reconciliation")
    }
    async fn set_room_policy(
        &self,
        _: CouponId,
        _: crate::waiting_room::RoomPolicy,
    ) -> Result<bool, StoreError> {
        unimplemented!("not used by reconciliation")
    }
    async fn issued_count(&self, _: CouponId) -> Result<u64, StoreError> {
        Ok(self.state.lock().rows.len() as u64)
    }
    async fn list_coupons_with_status(&self, _: CouponStatus) -> Result<Vec<Coupon>, StoreError> {
        Ok(vec![self.coupon.clone()])
    }
    async fn list_coupons(
        &self,
        _: &crate::listing::CouponQuery,
    ) -> Result<Vec<Coupon>, StoreError> {
        unimplemented!("not used by reconciliation")
    }
}

#[async_trait]
impl IssuedCouponStore for World {
    async fn find_issued(
        &self,
        _: UserId,
        _: CouponId,
    ) -> Result<Option<IssuedCoupon>, StoreError> {
        unimplemented!("not used by reconciliation")
    }
    async fn list_owned(&self, _: UserId) -> Result<Vec<OwnedCoupon>, StoreError> {
        unimplemented!("not used by reconciliation")
    }
    async fn holders_of(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, Vec<UserId>>, StoreError> {
        let mut s = self.state.lock();
        s.steps.push("rows");
        let rows: Vec<UserId> = s.rows.iter().copied().collect();
        Ok(coupons
            .iter()
            .filter(|&&c| c == self.coupon.id && !rows.is_empty())
            .map(|&c| (c, rows.clone()))
            .collect())
    }
    async fn mark_used(
        &self,
        _: UserId,
        _: CouponId,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        unimplemented!("not used by reconciliation")
    }
}

#[async_trait]
impl IssueGate for World {
    async fn reserve(&self, _: CouponId, user: UserId) -> Result<Reservation, StoreError> {
        let mut s = self.state.lock();
        Ok(if s.holders.contains(&user) {
            Reservation::AlreadyIssued
        } else if s.holders.len() as u64 >= u64::from(self.coupon.total_quantity.get()) {
            Reservation::SoldOut
        } else {
            s.holders.insert(user);
            Reservation::Reserved
        })
    }
    async fn release(&self, _: CouponId, user: UserId) -> Result<(), StoreError> {
        self.state.lock().holders.remove(&user);
        Ok(())
    }
    async fn seed(&self, _: CouponId, _: Quantity, _: &[UserId]) -> Result<(), StoreError> {
        unimplemented!("not used by reconciliation")
    }
    async fn is_holder(&self, _: CouponId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.state.lock().holders.contains(&user))
    }
    async fn stats(&self, _: CouponId) -> Result<Option<GateStats>, StoreError> {
        let holders = self.state.lock().holders.len() as u64;
        Ok(Some(GateStats {
            remaining: u64::from(self.coupon.total_quantity.get()) - holders,
            holders,
        }))
    }
    async fn list_holders(&self, _: CouponId) -> Result<Option<Vec<UserId>>, StoreError> {
        Ok(Some(self.state.lock().holders.iter().copied().collect()))
    }
}

#[async_trait]
impl LogDrain for World {
    async fn drained(&self) -> Result<(), StoreError> {
        self.state.lock().steps.push("drain");
        Ok(())
    }
}

#[async_trait]
impl ParkedHolders for World {
    async fn parked(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, HashSet<UserId>>, StoreError> {
        let mut s = self.state.lock();
        s.steps.push("parked");
        let parked = s.parked.clone();
        Ok(coupons
            .iter()
            .filter(|&&c| c == self.coupon.id && !parked.is_empty())
            .map(|&c| (c, parked.clone()))
            .collect())
    }
}

/// One holder of each kind: `issued` has a row, `parked` a failed event awaiting its
/// replay, `stranded` nothing at all.
struct Holders {
    issued: UserId,
    parked: UserId,
    stranded: UserId,
}

async fn world_with_one_of_each() -> (Arc<World>, Holders) {
    let world = World::new(coupon(
        CouponStatus::Active,
        chrono::Duration::hours(1),
        Utc::now(),
    ));
    let h = Holders {
        issued: UserId::new(),
        parked: UserId::new(),
        stranded: UserId::new(),
    };
    let id = world.coupon.id;
    for u in [h.issued, h.parked, h.stranded] {
        assert_eq!(world.reserve(id, u).await.unwrap(), Reservation::Reserved);
    }
    let mut s = world.state.lock();
    s.rows.insert(h.issued);
    s.parked.insert(h.parked);
    drop(s);
    (world, h)
}

#[tokio::test]
async fn a_parked_holder_keeps_the_unit_and_a_stranded_one_gives_it_back() {
    let (world, h) = world_with_one_of_each().await;
    let reconciler = world.reconciler(true);
    let coupons = [world.coupon.clone()];

    let dry = reconciler.reconcile(&coupons, false).await.unwrap();
    assert_eq!(dry[0].stranded, vec![h.stranded]);
    assert_eq!(dry[0].parked, vec![h.parked]);
    assert_eq!(dry[0].returned, 0);
    assert_eq!(world.holders().len(), 3, "a dry run releases nothing");

    let applied = reconciler.reconcile(&coupons, true).await.unwrap();
    assert_eq!(
        (applied[0].stranded.clone(), applied[0].parked.clone()),
        (vec![h.stranded], vec![h.parked])
    );
    assert_eq!(applied[0].returned, 1);
    assert_eq!(
        world.holders(),
        HashSet::from([h.issued, h.parked]),
        "only the stranded unit came back; the parked user still holds theirs"
    );

    // The replay writes the row, after which the user is simply issued.
    {
        let mut s = world.state.lock();
        s.parked.clear();
        s.rows.insert(h.parked);
    }
    let after_replay = reconciler.reconcile(&coupons, true).await.unwrap();
    assert_eq!(after_replay[0].persisted, 2);
    assert!(after_replay[0].stranded.is_empty() && after_replay[0].parked.is_empty());
    assert_eq!(world.holders(), HashSet::from([h.issued, h.parked]));
}

#[tokio::test]
async fn without_a_source_of_parked_holders_every_holder_without_a_row_is_stranded() {
    let (world, h) = world_with_one_of_each().await;
    let reports = world
        .reconciler(false)
        .reconcile(std::slice::from_ref(&world.coupon), true)
        .await
        .unwrap();
    let stranded: HashSet<UserId> = reports[0].stranded.iter().copied().collect();
    assert_eq!(stranded, HashSet::from([h.parked, h.stranded]));
    assert!(reports[0].parked.is_empty());
    assert_eq!(world.holders(), HashSet::from([h.issued]));
}

/// A replay writes the row before it marks the event replayed, so the parked holders
/// are read after the drain and before the rows: a record replayed in between is then
/// seen as one or the other.
#[tokio::test]
async fn parked_holders_are_read_after_the_drain_and_before_the_rows() {
    let (world, _) = world_with_one_of_each().await;
    world
        .reconciler(true)
        .reconcile(std::slice::from_ref(&world.coupon), false)
        .await
        .unwrap();
    assert_eq!(
        world.state.lock().steps,
        ["rows", "drain", "parked", "rows"]
    );
}

#[test]
fn a_coupon_whose_holders_change_waits_for_a_quiet_pass_or_the_bound() {
    let mut settled = SettledCoupons::new(3);
    let busy = CouponId::new();
    let quiet = CouponId::new();
    // First sight: both count as changed.
    assert!(!settled.settled(busy, Some(10)));
    assert!(!settled.settled(quiet, Some(5)));
    assert!(
        settled.settled(quiet, Some(5)),
        "unchanged since the last pass"
    );
    assert!(settled.settled(quiet, Some(5)));
    // An event under way: deferred, then taken at the bound of three deferrals.
    assert!(!settled.settled(busy, Some(20)));
    assert!(!settled.settled(busy, Some(30)));
    assert!(
        settled.settled(busy, Some(40)),
        "deferred three passes in a row"
    );
    assert!(!settled.settled(busy, Some(50)));
    // Sold out: the holders stop changing, the next pass takes it.
    assert!(settled.settled(busy, Some(50)));
    // A gate that lost the coupon and then had it again counts as changed.
    assert!(!settled.settled(quiet, None));
    assert!(settled.settled(quiet, None));
    assert!(!settled.settled(quiet, Some(5)));
}
