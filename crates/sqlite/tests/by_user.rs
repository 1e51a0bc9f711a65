//! "My coupons" on a table clustered by coupon: the by-user table is filled by the
//! writer when no request comes (by_user.rs), and a list is whole whether a coupon's
//! rows have been copied into it yet or not. Also: rows stored before migration 0008
//! are kept, and listed by user.

use chrono::{DateTime, Duration, Utc};
use couponrush_contracts::stores::{coupon, ms, request};
use couponrush_domain::ports::{CouponStore, IssueLog, IssuedCouponStore};
use couponrush_domain::{Coupon, CouponId, CouponStatus, IssuedCoupon, UserId};
use couponrush_sqlite::{
    BatchConfig, ByUserConfig, GroupCommitLog, GroupCommitWriter, SqliteStore, open, open_writer,
};
use std::path::Path;

fn now_ms() -> DateTime<Utc> {
    ms(Utc::now())
}

async fn stored_coupon(store: &SqliteStore) -> Coupon {
    let c = coupon(100, CouponStatus::Active);
    store.insert_coupon(&c).await.expect("insert coupon");
    c
}

/// A writer that copies into the by-user table after `idle` without requests.
async fn writer(path: &Path, idle: std::time::Duration) -> (GroupCommitLog, GroupCommitWriter) {
    let store = open_writer(path).await.expect("open writer");
    let config = BatchConfig {
        by_user: ByUserConfig {
            idle,
            chunk_rows: 2,
        },
        ..BatchConfig::default()
    };
    GroupCommitLog::start(&store, config)
}

const NEVER: std::time::Duration = std::time::Duration::from_secs(3_600);

/// (issued_count, by_user_count) of every coupon.
async fn counts(store: &SqliteStore) -> Vec<(i64, i64)> {
    sqlx::query_as("SELECT issued_count, by_user_count FROM coupons ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The by-user table's entries and the issued rows, each as (user, coupon) sorted.
async fn by_user_and_issued(
    store: &SqliteStore,
) -> (Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Vec<u8>)>) {
    let by_user = sqlx::query_as("SELECT user_id, coupon_id FROM issued_by_user ORDER BY 1, 2")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let issued = sqlx::query_as("SELECT user_id, coupon_id FROM issued_coupons ORDER BY 1, 2")
        .fetch_all(store.pool())
        .await
        .unwrap();
    (by_user, issued)
}

async fn listed(store: &SqliteStore, user: UserId) -> Vec<(IssuedCoupon, CouponId)> {
    store
        .list_owned(user)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.issued, o.coupon.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_coupons_are_listed_before_and_after_the_writer_copies_them_by_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("couponrush.db");
    let store = open(&path, 2).await.expect("open");
    let (c1, c2, c3) = (
        stored_coupon(&store).await,
        stored_coupon(&store).await,
        stored_coupon(&store).await,
    );
    let u = UserId::new();
    let t0 = now_ms() - Duration::minutes(1);
    let r1 = request(u, c1.id, t0);
    let r2 = request(u, c2.id, t0 + Duration::milliseconds(20));

    // 1. A writer that never copies: every coupon is probed.
    let (log, w) = writer(&path, NEVER).await;
    log.append(r1).await.unwrap();
    for i in 0..5 {
        let other = request(UserId::new(), c1.id, t0 + Duration::milliseconds(i));
        log.append(other).await.unwrap();
    }
    log.append(r2).await.unwrap();
    drop(log);
    w.finished().await;
    assert_eq!(
        counts(&store).await.iter().map(|c| c.1).sum::<i64>(),
        0,
        "nothing copied yet"
    );
    let expected = vec![
        (IssuedCoupon::from_request(&r2), c2.id),
        (IssuedCoupon::from_request(&r1), c1.id),
    ];
    assert_eq!(
        listed(&store, u).await,
        expected,
        "listed by probes, newest first"
    );

    // 2. A writer with nothing to do copies every coupon's rows, two at a time.
    let (log, w) = writer(&path, std::time::Duration::from_millis(10)).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while counts(&store)
        .await
        .iter()
        .any(|(issued, by_user)| issued != by_user)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the copy did not finish: {:?}",
            counts(&store).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(log);
    w.finished().await;
    let (by_user, issued) = by_user_and_issued(&store).await;
    assert_eq!(by_user, issued, "every row, once, by user");
    assert_eq!(by_user.len(), 7);
    assert_eq!(
        listed(&store, u).await,
        expected,
        "listed by user, newest first"
    );

    // 3. Rows issued after the copy: their coupons are probed again, nothing is listed
    // twice.
    let (log, w) = writer(&path, NEVER).await;
    let r3 = request(u, c3.id, t0 + Duration::milliseconds(40));
    log.append(r3).await.unwrap();
    log.append(request(
        UserId::new(),
        c1.id,
        t0 + Duration::milliseconds(50),
    ))
    .await
    .unwrap();
    drop(log);
    w.finished().await;
    assert_eq!(
        listed(&store, u).await,
        vec![
            (IssuedCoupon::from_request(&r3), c3.id),
            (IssuedCoupon::from_request(&r2), c2.id),
            (IssuedCoupon::from_request(&r1), c1.id),
        ],
        "c1 probed again beside its copied rows, c3 probed, c2 by user"
    );
    assert!(listed(&store, UserId::new()).await.is_empty());
    store.close().await;
}

/// A database migrated before 0008 (issued rows keyed by user) keeps its rows, and they
/// are listed by user at once.
#[tokio::test]
async fn rows_stored_before_the_clustered_table_are_kept_and_listed_by_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("couponrush.db");
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.migrations = std::borrow::Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|m| m.version < 8)
            .cloned()
            .collect(),
    );
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;

    let old = open_writer(&path).await.expect("open at 0007");
    let (c1, c2) = (stored_coupon(&old).await, stored_coupon(&old).await);
    let u = UserId::new();
    let t0 = now_ms() - Duration::minutes(1);
    let rows = [
        request(u, c1.id, t0),
        request(u, c2.id, t0 + Duration::milliseconds(5)),
        request(UserId::new(), c1.id, t0 + Duration::milliseconds(9)),
    ];
    for r in &rows {
        sqlx::query(
            "INSERT INTO issued_coupons (user_id, coupon_id, id, issued_at) VALUES (?, ?, ?, ?)",
        )
        .bind(r.user_id.into_uuid())
        .bind(r.coupon_id.into_uuid())
        .bind(r.request_id.into_uuid())
        .bind(r.requested_at.timestamp_millis())
        .execute(old.pool())
        .await
        .unwrap();
        sqlx::query("UPDATE coupons SET issued_count = issued_count + 1 WHERE id = ?")
            .bind(r.coupon_id.into_uuid())
            .execute(old.pool())
            .await
            .unwrap();
    }
    old.close().await;

    let store = open(&path, 1)
        .await
        .expect("open migrates to the clustered table");
    assert!(
        counts(&store)
            .await
            .iter()
            .all(|(issued, by_user)| issued == by_user),
        "every coupon is listed by user: {:?}",
        counts(&store).await
    );
    let (by_user, issued) = by_user_and_issued(&store).await;
    assert_eq!(by_user, issued);
    assert_eq!(issued.len(), 3);
    assert_eq!(
        listed(&store, u).await,
        vec![
            (IssuedCoupon::from_request(&rows[1]), c2.id),
            (IssuedCoupon::from_request(&rows[0]), c1.id),
        ]
    );
    let holders = store.holders_of(&[c1.id]).await.unwrap();
    assert_eq!(holders[&c1.id].len(), 2);
    store.close().await;
}
