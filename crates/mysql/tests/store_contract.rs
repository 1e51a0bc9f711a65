//! `MysqlStore` against the contract suites (crates/contracts), each on a database of
//! its own on the real MariaDB (crates/testenv), so tests run in parallel.

use couponrush_mysql::MysqlStore;
use std::sync::Arc;

async fn fresh_store() -> MysqlStore {
    let url = couponrush_testenv::fresh_mysql_database().await;
    couponrush_mysql::migrate(&url).await.expect("migrate");
    couponrush_mysql::open(&url, 16).await.expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_honours_the_store_contracts() {
    let store = fresh_store().await;
    couponrush_contracts::stores::run_all(Arc::new(store.clone())).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_honours_the_failed_events_contract() {
    let store = fresh_store().await;
    couponrush_contracts::failed_events::run_all(Arc::new(store.clone())).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_honours_the_session_contract() {
    let store = fresh_store().await;
    couponrush_contracts::sessions::run_all(Arc::new(store.clone())).await;
    store.close().await;
}
