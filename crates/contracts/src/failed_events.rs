//! The [`FailedEventStore`] contract: what the dead-letter path and the admins' replay
//! rely on. Call [`run_all`] with a fresh, empty store; each check panics with a message
//! on violation.

use chrono::{Duration, Utc};
use couponrush_domain::ports::FailedEventStore;
use std::sync::Arc;
use uuid::Uuid;

/// Runs every check on `store`, which must start empty and have no other writer while
/// the suite runs (the listing check counts on being the newest).
pub async fn run_all<S: FailedEventStore + ?Sized>(store: Arc<S>) {
    let s = &*store;
    recorded_events_round_trip(s).await;
    listing_is_newest_first_and_bounded(s).await;
    replay_is_marked(s).await;
    pending_are_the_failed_ones_oldest_first(s).await;
}

pub async fn recorded_events_round_trip<S: FailedEventStore + ?Sized>(store: &S) {
    let before = Utc::now() - Duration::seconds(1);
    // What a consumer may get: JSON, quotes, newlines, replaced garbage, 4-byte chars.
    let payload = "{\"couponId\":\"x\",\"note\":\"line\\none\"}\n\u{FFFD}\u{FFFD} 🎟️ 쿠폰";
    let id = store
        .record_failed(
            payload,
            "coupon x does not exist; batch refused",
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        )
        .await
        .unwrap();
    let after = Utc::now() + Duration::seconds(1);
    let found = store
        .find_failed(id)
        .await
        .unwrap()
        .expect("recorded event");
    assert_eq!(found.id, id);
    assert_eq!(found.payload, payload, "the payload is kept byte for byte");
    assert_eq!(found.error, "coupon x does not exist; batch refused");
    assert_eq!(
        found.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(found.status, "FAILED");
    assert!(
        before <= found.created_at && found.created_at <= after,
        "created now: {}",
        found.created_at
    );
    assert_eq!(found.updated_at, found.created_at);

    let untraced = store
        .record_failed("", "empty message", None)
        .await
        .unwrap();
    assert_ne!(untraced, id);
    let found = store.find_failed(untraced).await.unwrap().unwrap();
    assert_eq!((found.payload.as_str(), found.trace_id), ("", None));
    assert_eq!(store.find_failed(Uuid::now_v7()).await.unwrap(), None);
}

pub async fn listing_is_newest_first_and_bounded<S: FailedEventStore + ?Sized>(store: &S) {
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            store
                .record_failed(&format!("payload {i}"), "boom", None)
                .await
                .unwrap(),
        );
    }
    ids.reverse();
    let listed: Vec<Uuid> = store
        .list_failed(3)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, ids, "newest first");
    let two = store.list_failed(2).await.unwrap();
    assert_eq!(
        two.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[..2],
        "at most `limit`"
    );
    assert_eq!(two[0].payload, "payload 2");
    assert!(store.list_failed(0).await.unwrap().is_empty());
    assert!(
        store.list_failed(1_000).await.unwrap().len() >= 3,
        "a large limit lists everything"
    );
}

pub async fn replay_is_marked<S: FailedEventStore + ?Sized>(store: &S) {
    let id = store
        .record_failed("{\"k\":1}", "broker down", Some("t-1"))
        .await
        .unwrap();
    let recorded = store.find_failed(id).await.unwrap().unwrap();
    assert!(store.mark_replayed(id).await.unwrap());
    let replayed = store.find_failed(id).await.unwrap().unwrap();
    assert_eq!(replayed.status, "REPLAYED");
    assert!(replayed.updated_at >= recorded.updated_at);
    assert_eq!(
        (
            replayed.payload,
            replayed.error,
            replayed.trace_id,
            replayed.created_at
        ),
        (
            recorded.payload,
            recorded.error,
            recorded.trace_id,
            recorded.created_at
        ),
        "only status and updated_at change"
    );
    assert!(
        !store.mark_replayed(Uuid::now_v7()).await.unwrap(),
        "no such event"
    );
}

/// Reconciliation keeps the unit of every pending event's user: none may be left out,
/// however many there are, and a replayed one is no longer pending.
pub async fn pending_are_the_failed_ones_oldest_first<S: FailedEventStore + ?Sized>(store: &S) {
    // Whatever the earlier checks left, still FAILED.
    let earlier: Vec<Uuid> = store
        .pending_failed()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    let mut recorded = Vec::new();
    for i in 0..3 {
        recorded.push(
            store
                .record_failed(&format!("pending {i}"), "boom", None)
                .await
                .unwrap(),
        );
    }
    assert!(store.mark_replayed(recorded[1]).await.unwrap());
    let pending = store.pending_failed().await.unwrap();
    assert!(
        pending.iter().all(|e| e.status == "FAILED"),
        "only FAILED events are pending"
    );
    let ids: Vec<Uuid> = pending.iter().map(|e| e.id).collect();
    let expected: Vec<Uuid> = earlier
        .iter()
        .copied()
        .chain([recorded[0], recorded[2]])
        .collect();
    assert_eq!(ids, expected, "oldest first, the replayed one left out");
    let last = pending.last().unwrap();
    assert_eq!(
        (last.payload.as_str(), last.error.as_str()),
        ("pending 2", "boom")
    );
    for &id in &ids {
        assert!(store.mark_replayed(id).await.unwrap());
    }
    assert!(
        store.pending_failed().await.unwrap().is_empty(),
        "every event replayed: none pending"
    );
}
