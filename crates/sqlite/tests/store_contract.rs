//! `SqliteStore` against the store contract suite (crates/contracts), on a temp-file
//! database, so embedded mode and the MariaDB adapter are held to the same behaviour.
//! SQLite has no failed-events table (embedded mode has no dead-letter path), so the
//! stores and sessions suites run here.

use std::sync::Arc;

/// `EXPLAIN QUERY PLAN` of `sql` with `ids` random ids bound: each step's detail.
async fn plan(store: &couponrush_sqlite::SqliteStore, sql: &str, ids: usize) -> Vec<String> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
    for _ in 0..ids {
        query = query.bind(uuid::Uuid::new_v4());
    }
    query
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_honours_the_store_contracts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = couponrush_sqlite::open(&dir.path().join("couponrush.db"), 8)
        .await
        .expect("open");
    couponrush_contracts::stores::run_all(Arc::new(store.clone())).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_honours_the_session_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = couponrush_sqlite::open(&dir.path().join("couponrush.db"), 8)
        .await
        .expect("open");
    couponrush_contracts::sessions::run_all(Arc::new(store.clone())).await;
    store.close().await;
}

/// Seeding a gate reads one coupon's holders; on a table that holds every earlier
/// event that must be a range of the primary key (clustered by coupon), not a scan.
#[tokio::test]
async fn a_coupons_holders_are_read_through_an_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = couponrush_sqlite::open(&dir.path().join("couponrush.db"), 1)
        .await
        .expect("open");
    for coupons in [1, 3] {
        // The adapter's own statement, for one coupon and for several.
        let sql = format!(
            "{}{})",
            couponrush_sqlite::HOLDERS_SELECT,
            vec!["?"; coupons].join(", ")
        );
        let plan = plan(&store, &sql, coupons).await;
        assert!(
            plan.iter()
                .any(|d| d.contains("USING PRIMARY KEY (coupon_id=?)")),
            "plan for {coupons} coupons: {plan:?}"
        );
        assert!(
            !plan.iter().any(|d| d.starts_with("SCAN")),
            "no table scan: {plan:?}"
        );
    }
}

/// A user's coupons: the by-user table for coupons it lists whole, a probe of the
/// issued rows' primary key for the others, found through the partial index; never a
/// read of every issued row or every coupon.
#[tokio::test]
async fn a_users_coupons_are_read_by_user_and_by_probe_never_scanned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = couponrush_sqlite::open(&dir.path().join("couponrush.db"), 1)
        .await
        .expect("open");
    let plan = plan(&store, couponrush_sqlite::LIST_OWNED_SELECT, 1).await;
    for step in [
        "SEARCH u USING PRIMARY KEY (user_id=?)",
        "SEARCH i USING PRIMARY KEY (coupon_id=? AND user_id=?)",
        "SCAN c USING INDEX coupons_not_by_user",
    ] {
        assert!(
            plan.iter().any(|d| d.starts_with(step)),
            "{step} in {plan:?}"
        );
    }
    assert!(
        !plan
            .iter()
            .any(|d| d.starts_with("SCAN i") || d.starts_with("SCAN u") || d == "SCAN c"),
        "no scan of the issued rows, the by-user table or every coupon: {plan:?}"
    );
}
