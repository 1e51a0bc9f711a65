//! What only the MariaDB adapter promises, beyond the shared contracts: migrations that
//! are safe to repeat and race, opening without migrating, the schema's own last guard
//! against over-issue, and many consumers persisting into one coupon at once.

use couponrush_domain::ports::{CouponStore, IssuePersister, IssuedCouponStore};
use couponrush_domain::{
    Coupon, CouponId, CouponName, CouponStatus, CouponType, Discount, IssueRequest, Quantity,
    RequestId, StoreError, UserId,
};
use couponrush_mysql::{MysqlStore, migrate, open};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn fresh_store(max_connections: u32) -> MysqlStore {
    let url = couponrush_testenv::fresh_mysql_database().await;
    migrate(&url).await.expect("migrate");
    open(&url, max_connections).await.expect("open")
}

fn coupon(total: u64) -> Coupon {
    let now = chrono::Utc::now();
    Coupon {
        id: CouponId::new(),
        name: CouponName::parse("Rush").unwrap(),
        coupon_type: CouponType::Pizza,
        discount: Discount::percentage(10).unwrap(),
        total_quantity: Quantity::new(total).unwrap(),
        expires_at: now + chrono::Duration::days(1),
        opens_at: None,
        status: CouponStatus::Active,
        room: Default::default(),
        created_at: now,
    }
}

/// Requests from users with random (v4) ids, as real users' old accounts arrive.
fn requests(coupon: CouponId, n: usize) -> Vec<IssueRequest> {
    (0..n)
        .map(|_| IssueRequest {
            request_id: RequestId::new(),
            user_id: UserId::from_uuid(uuid::Uuid::new_v4()),
            coupon_id: coupon,
            requested_at: chrono::Utc::now(),
        })
        .collect()
}

#[tokio::test]
async fn migrating_twice_is_harmless() {
    let url = couponrush_testenv::fresh_mysql_database().await;
    migrate(&url).await.expect("first migration");
    migrate(&url).await.expect("second migration");
    let store = open(&url, 2).await.unwrap();
    assert!(store.ping().await);
    let c = coupon(1);
    store.insert_coupon(&c).await.unwrap();
    migrate(&url).await.expect("migrating a database in use");
    assert!(
        store.find_coupon(c.id).await.unwrap().is_some(),
        "data survives"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_are_harmless() {
    let url = couponrush_testenv::fresh_mysql_database().await;
    let runs = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { migrate(&url).await })
    });
    for run in futures::future::join_all(runs).await {
        run.expect("task")
            .expect("every concurrent migration succeeds");
    }
    let store = open(&url, 2).await.unwrap();
    store.insert_coupon(&coupon(1)).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn open_does_not_migrate() {
    let url = couponrush_testenv::fresh_mysql_database().await;
    let store = open(&url, 2).await.unwrap();
    assert!(store.ping().await, "connected");
    match store.insert_coupon(&coupon(1)).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("no tables before migrating, got {other:?}"),
    }
    store.close().await;
    assert!(!store.ping().await, "a closed store is not ready");
}

#[tokio::test]
async fn open_fails_when_the_server_is_unreachable() {
    let url = format!(
        "mysql://root@127.0.0.1:{}/none",
        couponrush_testenv::free_port()
    );
    let started = Instant::now();
    let (opened, migrated) = tokio::join!(open(&url, 1), migrate(&url));
    assert!(opened.is_err() && migrated.is_err());
    assert!(started.elapsed() < Duration::from_secs(15), "bounded wait");
}

#[tokio::test]
async fn the_schema_refuses_over_issue_on_its_own() {
    let store = fresh_store(2).await;
    let c = coupon(3);
    store.insert_coupon(&c).await.unwrap();
    let bypass = sqlx::query("UPDATE coupons SET issued_count = 4 WHERE id = ?")
        .bind(c.id.into_uuid())
        .execute(store.pool())
        .await;
    assert!(bypass.is_err(), "the CHECK constraint is the last guard");
    assert_eq!(store.issued_count(c.id).await.unwrap(), 0);
    store.close().await;
}

/// 64 consumers' batches of 20 (each delivered twice) race for 500 coupons over 16
/// connections: exactly 500 are issued, batches are kept whole or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_consumers_persisting_one_coupon_never_over_issue() {
    let store = Arc::new(fresh_store(16).await);
    let c = coupon(500);
    store.insert_coupon(&c).await.unwrap();
    let batches: Vec<Vec<IssueRequest>> = (0..64).map(|_| requests(c.id, 20)).collect();
    let tasks = batches.iter().chain(batches.iter()).map(|batch| {
        let store = store.clone();
        let batch = batch.clone();
        tokio::spawn(async move {
            loop {
                match store.persist(&batch).await {
                    Ok(done) => return done.inserted,
                    Err(StoreError::Conflict(_)) => return 0,
                    Err(e) if e.is_transient() => {
                        eprintln!("retrying after: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => panic!("persist: {e}"),
                }
            }
        })
    });
    let inserted: u64 = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .sum();
    assert_eq!(inserted, 500);
    assert_eq!(store.issued_count(c.id).await.unwrap(), 500);
    let holders: HashSet<UserId> = store.holders(c.id).await.unwrap().into_iter().collect();
    assert_eq!(holders.len(), 500);
    for batch in &batches {
        let kept = batch
            .iter()
            .filter(|r| holders.contains(&r.user_id))
            .count();
        assert!(kept == 0 || kept == 20, "batch kept partly: {kept} of 20");
    }
    store.close().await;
}

/// The durable insert rate through `persist`: 1,000-row batches of random users, one
/// connection, as one consumer writes. Prints rows/s; run with
/// `cargo test -p couponrush-mysql --test adapter -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn insert_rate() {
    const ROWS: usize = 200_000;
    let store = fresh_store(1).await;
    let c = coupon(ROWS as u64);
    store.insert_coupon(&c).await.unwrap();
    let batches: Vec<Vec<IssueRequest>> =
        (0..ROWS / 1_000).map(|_| requests(c.id, 1_000)).collect();
    let started = Instant::now();
    for batch in &batches {
        store.persist(batch).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{ROWS} rows in {secs:.2} s: {:.0} rows/s (1,000-row batches, random user ids)",
        ROWS as f64 / secs
    );
    assert_eq!(store.issued_count(c.id).await.unwrap(), ROWS as u64);
    // Unlike the other tests' databases, this one is big: do not leave it behind.
    let name: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`")))
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
}

/// Seeding a gate reads one coupon's holders; on a table that holds every earlier event
/// that must be a range of the `issued_coupons_by_coupon` index, never a table scan.
#[tokio::test]
async fn a_coupons_holders_are_read_through_an_index() {
    let store = fresh_store(2).await;
    // Earlier events, so the optimizer has a table worth choosing an index for.
    let mut coupons = Vec::new();
    for _ in 0..3 {
        let c = coupon(1_000);
        store.insert_coupon(&c).await.unwrap();
        store.persist(&requests(c.id, 1_000)).await.unwrap();
        coupons.push(c.id);
    }
    sqlx::query("ANALYZE TABLE issued_coupons")
        .execute(store.pool())
        .await
        .unwrap();
    for n in [1, 3] {
        // The adapter's own statement, for one coupon and for several.
        let sql = format!(
            "EXPLAIN {}{})",
            couponrush_mysql::HOLDERS_SELECT,
            vec!["?"; n].join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &coupons[..n] {
            query = query.bind(id.into_uuid());
        }
        let row = query.fetch_one(store.pool()).await.unwrap();
        let access: String = sqlx::Row::get(&row, "type");
        let key: Option<String> = sqlx::Row::get(&row, "key");
        assert_eq!(
            key.as_deref(),
            Some("issued_coupons_by_coupon"),
            "{n} coupons: access {access}"
        );
        assert_ne!(access, "ALL", "{n} coupons: a full table scan");
    }
    assert_eq!(store.holders(coupons[0]).await.unwrap().len(), 1_000);
}
