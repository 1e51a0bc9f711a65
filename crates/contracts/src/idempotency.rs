//! The [`IdempotencyStore`] contract. Call [`run_all`] with a factory for fresh stores.

use couponrush_domain::ports::IdempotencyStore;
use couponrush_domain::{CouponId, IdempotencyKey, IssueOutcome, KeyClaim, UserId};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn IdempotencyStore>>,
{
    a_key_is_claimed_once_then_answers(make().await).await;
    keys_belong_to_their_user(make().await).await;
    a_key_is_bound_to_its_coupon(make().await).await;
    a_released_key_can_be_claimed_again(make().await).await;
    a_key_expires(make().await).await;
    concurrent_claims_have_one_winner(make().await).await;
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::parse(k).expect("valid key")
}

pub async fn a_key_is_claimed_once_then_answers(store: Arc<dyn IdempotencyStore>) {
    let (u, c, k) = (UserId::new(), CouponId::new(), key("retry-1"));
    assert_eq!(store.claim(u, &k, c, TTL).await.unwrap(), KeyClaim::Claimed);
    assert_eq!(
        store.claim(u, &k, c, TTL).await.unwrap(),
        KeyClaim::InProgress
    );
    store
        .complete(u, &k, c, IssueOutcome::Accepted, TTL)
        .await
        .unwrap();
    assert_eq!(
        store.claim(u, &k, c, TTL).await.unwrap(),
        KeyClaim::Completed(IssueOutcome::Accepted)
    );
}

pub async fn keys_belong_to_their_user(store: Arc<dyn IdempotencyStore>) {
    let (c, k) = (CouponId::new(), key("same-key"));
    let (a, b) = (UserId::new(), UserId::new());
    assert_eq!(store.claim(a, &k, c, TTL).await.unwrap(), KeyClaim::Claimed);
    assert_eq!(store.claim(b, &k, c, TTL).await.unwrap(), KeyClaim::Claimed);
}

pub async fn a_key_is_bound_to_its_coupon(store: Arc<dyn IdempotencyStore>) {
    let (u, k) = (UserId::new(), key("k"));
    let (first, other) = (CouponId::new(), CouponId::new());
    assert_eq!(
        store.claim(u, &k, first, TTL).await.unwrap(),
        KeyClaim::Claimed
    );
    assert_eq!(
        store.claim(u, &k, other, TTL).await.unwrap(),
        KeyClaim::OtherCoupon(first)
    );
    store
        .complete(u, &k, first, IssueOutcome::SoldOut, TTL)
        .await
        .unwrap();
    assert_eq!(
        store.claim(u, &k, other, TTL).await.unwrap(),
        KeyClaim::OtherCoupon(first)
    );
}

pub async fn a_released_key_can_be_claimed_again(store: Arc<dyn IdempotencyStore>) {
    let (u, c, k) = (UserId::new(), CouponId::new(), key("k"));
    assert_eq!(store.claim(u, &k, c, TTL).await.unwrap(), KeyClaim::Claimed);
    store.release(u, &k).await.unwrap();
    assert_eq!(store.claim(u, &k, c, TTL).await.unwrap(), KeyClaim::Claimed);
}

pub async fn a_key_expires(store: Arc<dyn IdempotencyStore>) {
    let (u, c, k) = (UserId::new(), CouponId::new(), key("short"));
    let short = Duration::from_millis(50);
    assert_eq!(
        store.claim(u, &k, c, short).await.unwrap(),
        KeyClaim::Claimed
    );
    store
        .complete(u, &k, c, IssueOutcome::AlreadyIssued, short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.claim(u, &k, c, TTL).await.unwrap(), KeyClaim::Claimed);
}

pub async fn concurrent_claims_have_one_winner(store: Arc<dyn IdempotencyStore>) {
    let (u, c, k) = (UserId::new(), CouponId::new(), key("double-press"));
    let claims = (0..50).map(|_| {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move { store.claim(u, &k, c, TTL).await.unwrap() })
    });
    let claims = futures::future::join_all(claims).await;
    let won = claims
        .iter()
        .filter(|c| matches!(c, Ok(KeyClaim::Claimed)))
        .count();
    assert_eq!(won, 1, "{claims:?}");
}
