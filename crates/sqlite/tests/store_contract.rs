//! `SqliteStore` against the store contract suite (crates/contracts), on a temp-file
//! database, so embedded mode and the MariaDB adapter are held to the same behaviour.
//! SQLite has no failed-events table (embedded mode has no dead-letter path), so only
//! the stores suite runs here.

use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_honours_the_store_contracts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = couponrush_sqlite::open(&dir.path().join("couponrush.db"), 8)
        .await
        .expect("open");
    couponrush_contracts::stores::run_all(Arc::new(store.clone())).await;
    store.close().await;
}
