//! `couponrush reconcile`: one reconciliation pass over the distributed deployment the
//! configuration names (see `couponrush_domain::services::reconciling` for what it
//! compares and why it cannot give back a unit whose record is still on its way).

use crate::config::Config;
use crate::distributed::kafka_config;
use anyhow::Context;
use couponrush_domain::ports::CouponStore;
use couponrush_domain::services::{Reconciler, Reconciliation};
use couponrush_domain::{CouponId, CouponStatus};
use couponrush_kafka::KafkaLogDrain;
use couponrush_redis::RedisGate;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Reconciles `coupon`, or every ACTIVE coupon; gives units back unless `dry_run`.
pub async fn run(
    config: &Config,
    coupon: Option<CouponId>,
    dry_run: bool,
) -> anyhow::Result<Vec<Reconciliation>> {
    let store = couponrush_mysql::open(&config.database_url, 2)
        .await
        .context("connecting to the database")?;
    let redis_timeout = Duration::from_millis(config.redis_response_timeout_ms.max(1));
    let redis = couponrush_redis::connection_with_timeout(&config.redis_url, redis_timeout)
        .await
        .context("connecting to Redis")?;
    let gate = RedisGate::new(redis, &config.redis_key_prefix).context("redis gate")?;
    let drain = KafkaLogDrain::new(&kafka_config(config), &config.consumer_group)
        .context("creating the Kafka client that follows the consumers' offsets")?;
    let coupons = match coupon {
        Some(id) => vec![
            store
                .find_coupon(id)
                .await?
                .with_context(|| format!("no coupon {id}"))?,
        ],
        None => store.list_coupons_with_status(CouponStatus::Active).await?,
    };
    let store = Arc::new(store);
    let reconciler = Reconciler::new(store.clone(), store, Arc::new(gate), Arc::new(drain));
    Ok(reconciler.reconcile(&coupons, !dry_run).await?)
}

/// One line per coupon, for the terminal.
pub fn table(reports: &[Reconciliation], dry_run: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:>8}  {:>9}  {:>9}  {:>9}  {:>8}  {:>8}",
        "coupon", "total", "persisted", "in gate", "in flight", "stranded", "returned"
    );
    for r in reports {
        let held = r.held_in_gate.map_or("-".to_owned(), |h| h.to_string());
        let _ = writeln!(
            out,
            "{:<36}  {:>8}  {:>9}  {:>9}  {:>9}  {:>8}  {:>8}",
            r.coupon.to_string(),
            r.total,
            r.persisted,
            held,
            r.in_flight,
            r.stranded.len(),
            r.returned
        );
    }
    if dry_run {
        out.push_str("dry run: nothing was given back\n");
    }
    out
}
