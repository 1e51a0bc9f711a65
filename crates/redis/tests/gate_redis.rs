//! What the contract suite cannot see: key layout, data lost from Redis and rebuilt,
//! large and concurrent seeds, configuration refused.

mod support;

use couponrush_domain::ports::{GateStats, IssueGate, Reservation};
use couponrush_domain::{CouponId, Quantity, UserId};
use couponrush_redis::RedisConnection;
use couponrush_redis::{RedisGate, SetupError};

fn qty(n: u64) -> Quantity {
    Quantity::new(n).unwrap()
}

struct Fixture {
    gate: RedisGate,
    raw: RedisConnection,
    prefix: String,
}

impl Fixture {
    async fn new() -> Self {
        let prefix = support::prefix();
        let url = support::url();
        Self {
            gate: RedisGate::connect(&url, &prefix).await.unwrap(),
            raw: support::raw(&url).await,
            prefix,
        }
    }

    fn key(&self, coupon: CouponId, suffix: &str) -> String {
        format!("{}{{coupon:{coupon}}}:{suffix}", self.prefix)
    }

    async fn del(&mut self, key: &str) {
        redis::cmd("DEL")
            .arg(key)
            .query_async::<()>(&mut self.raw)
            .await
            .unwrap();
    }

    async fn done(self) {
        support::cleanup(&support::url(), &[self.prefix]).await;
    }
}

#[tokio::test]
async fn keys_carry_the_coupon_hash_tag_and_holders_are_raw_ids() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    let u = UserId::new();
    f.gate.seed(c, qty(2), &[]).await.unwrap();
    assert_eq!(f.gate.reserve(c, u).await.unwrap(), Reservation::Reserved);

    let mut keys = support::keys(&mut f.raw, &f.prefix).await;
    keys.sort();
    let tagged = format!("{}{{coupon:{c}}}", f.prefix);
    assert_eq!(
        keys,
        vec![format!("{tagged}:holders"), format!("{tagged}:stock")]
    );
    let members: Vec<Vec<u8>> = redis::cmd("SMEMBERS")
        .arg(f.key(c, "holders"))
        .query_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(members, vec![u.as_uuid().as_bytes().to_vec()]);
    let stock: i64 = redis::cmd("GET")
        .arg(f.key(c, "stock"))
        .query_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(stock, 1);
    f.done().await;
}

#[tokio::test]
async fn a_lost_stock_key_asks_for_seed_and_reseeding_keeps_every_holder() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    let (persisted, in_flight, late, later) =
        (UserId::new(), UserId::new(), UserId::new(), UserId::new());
    f.gate.seed(c, qty(3), &[]).await.unwrap();
    f.gate.reserve(c, persisted).await.unwrap();
    f.gate.reserve(c, in_flight).await.unwrap();

    f.del(&f.key(c, "stock")).await;
    assert_eq!(
        f.gate.reserve(c, late).await.unwrap(),
        Reservation::NotSeeded
    );
    assert_eq!(
        f.gate.reserve(c, persisted).await.unwrap(),
        Reservation::NotSeeded
    );
    assert_eq!(f.gate.stats(c).await.unwrap(), None);

    // The store knows only the persisted holder; the one still in flight stays a
    // holder too, so the coupon under-sells rather than over-sells.
    f.gate.seed(c, qty(3), &[persisted]).await.unwrap();
    for holder in [persisted, in_flight] {
        assert_eq!(
            f.gate.reserve(c, holder).await.unwrap(),
            Reservation::AlreadyIssued
        );
    }
    assert_eq!(
        f.gate.reserve(c, late).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        f.gate.reserve(c, later).await.unwrap(),
        Reservation::SoldOut
    );
    assert_eq!(
        f.gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 0,
            holders: 3
        })
    );
    f.done().await;
}

#[tokio::test]
async fn a_coupon_lost_entirely_is_rebuilt_from_the_holder_list() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    let (a, b) = (UserId::new(), UserId::new());
    f.gate.seed(c, qty(3), &[]).await.unwrap();
    f.gate.reserve(c, a).await.unwrap();
    f.gate.reserve(c, b).await.unwrap();
    f.del(&f.key(c, "stock")).await;
    f.del(&f.key(c, "holders")).await;

    assert_eq!(f.gate.reserve(c, a).await.unwrap(), Reservation::NotSeeded);
    f.gate.seed(c, qty(3), &[a, b]).await.unwrap();
    assert_eq!(
        f.gate.reserve(c, a).await.unwrap(),
        Reservation::AlreadyIssued
    );
    assert_eq!(
        f.gate.reserve(c, b).await.unwrap(),
        Reservation::AlreadyIssued
    );
    assert_eq!(
        f.gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 1,
            holders: 2
        })
    );
    f.done().await;
}

#[tokio::test]
async fn releasing_after_the_stock_key_is_lost_does_not_seed_the_coupon() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    let u = UserId::new();
    f.gate.seed(c, qty(5), &[]).await.unwrap();
    f.gate.reserve(c, u).await.unwrap();
    f.del(&f.key(c, "stock")).await;

    f.gate.release(c, u).await.unwrap();
    assert_eq!(f.gate.stats(c).await.unwrap(), None);
    assert!(!f.gate.is_holder(c, u).await.unwrap());
    assert_eq!(f.gate.reserve(c, u).await.unwrap(), Reservation::NotSeeded);
    f.done().await;
}

#[tokio::test]
async fn duplicate_holders_count_once() {
    let f = Fixture::new().await;
    let c = CouponId::new();
    let (a, b) = (UserId::new(), UserId::new());
    f.gate.seed(c, qty(5), &[a, b, a]).await.unwrap();
    assert_eq!(
        f.gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 3,
            holders: 2
        })
    );
    f.done().await;
}

#[tokio::test]
async fn a_large_holder_list_is_seeded_whole() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    // Several staged chunks plus an inline remainder, with duplicates across chunks.
    let mut holders: Vec<UserId> = (0..23_456).map(|_| UserId::new()).collect();
    holders.extend_from_within(..100);
    f.gate.seed(c, qty(23_466), &holders).await.unwrap();

    assert_eq!(
        f.gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 10,
            holders: 23_456
        })
    );
    for &h in [holders[0], holders[7_777], holders[23_455]].iter() {
        assert_eq!(
            f.gate.reserve(c, h).await.unwrap(),
            Reservation::AlreadyIssued
        );
    }
    let keys = support::keys(&mut f.raw, &f.prefix).await;
    assert_eq!(keys.len(), 2, "no staging set left behind: {keys:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(f.key(c, "holders"))
        .query_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(ttl, -1, "holders must not inherit the staging TTL");
    f.done().await;
}

#[tokio::test]
async fn concurrent_large_seeders_seed_exactly_once() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    let total = 20_000;
    let lists: Vec<Vec<UserId>> = (0..4)
        .map(|i| (0..12_000 + i * 7).map(|_| UserId::new()).collect())
        .collect();
    let seeders = lists.iter().map(|list| {
        let gate = f.gate.clone();
        let list = list.clone();
        tokio::spawn(async move { gate.seed(c, qty(total), &list).await })
    });
    for r in futures::future::join_all(seeders).await {
        r.unwrap().unwrap();
    }

    let stats = f.gate.stats(c).await.unwrap().unwrap();
    let winner = lists
        .iter()
        .find(|l| l.len() as u64 == stats.holders)
        .expect("the holders are exactly one seeder's list");
    assert_eq!(stats.remaining + stats.holders, total);
    assert!(f.gate.is_holder(c, winner[0]).await.unwrap());
    assert!(f.gate.is_holder(c, winner[11_999]).await.unwrap());
    let keys = support::keys(&mut f.raw, &f.prefix).await;
    assert_eq!(keys.len(), 2, "no staging set left behind: {keys:?}");
    f.done().await;
}

#[tokio::test]
async fn a_prefix_with_braces_is_refused() {
    let refused = RedisGate::connect(&support::url(), "bad{tag}:").await;
    assert!(matches!(refused, Err(SetupError::Invalid { .. })));
}

/// A seeder whose staging set expired midway must not seed the holders it has left.
#[tokio::test]
async fn the_seed_script_refuses_a_staging_set_that_lost_members() {
    let mut f = Fixture::new().await;
    let c = CouponId::new();
    let staging = f.key(c, "seeding:test");
    redis::cmd("SADD")
        .arg(&staging)
        .arg("only-one-of-two")
        .query_async::<()>(&mut f.raw)
        .await
        .unwrap();
    let seed = redis::Script::new(include_str!("../src/scripts/seed.lua"));
    let code: i64 = seed
        .key(f.key(c, "stock"))
        .key(f.key(c, "holders"))
        .key(&staging)
        .arg(10)
        .arg(2)
        .invoke_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(code, -1);
    assert_eq!(f.gate.stats(c).await.unwrap(), None);
    assert!(support::keys(&mut f.raw, &f.prefix).await.is_empty());
    f.done().await;
}
