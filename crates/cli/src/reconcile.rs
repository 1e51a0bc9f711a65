//! `couponrush reconcile`: one reconciliation pass over the distributed deployment the
//! configuration names (see `couponrush_domain::services::reconciling` for what it
//! compares and why it cannot give back a unit whose record is still on its way, or
//! one parked for a failed event that waits for its replay).

use crate::config::Config;
use crate::distributed::kafka_config;
use anyhow::Context;
use couponrush_consumer::DeadLetteredHolders;
use couponrush_domain::ports::{CouponStore, IssueGate, LogDrain};
use couponrush_domain::services::{Reconciler, Reconciliation};
use couponrush_domain::{CouponId, CouponStatus};
use couponrush_kafka::{KafkaConfig, KafkaLogDrain};
use couponrush_mysql::MysqlStore;
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
    let kafka = kafka_config(config);
    let drain = KafkaLogDrain::new(&kafka, &config.consumer_group)
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
    let reconciler = reconciler(
        &store,
        Arc::new(gate),
        Arc::new(drain),
        &kafka,
        &config.consumer_group,
    )?;
    Ok(reconciler.reconcile(&coupons, !dry_run).await?)
}

/// The reconciler of a distributed deployment (this command's and the api nodes'
/// periodic one): `drain` follows the issue consumers, and the failed events keep
/// their users' units (their dead letters drained first, see `DeadLetteredHolders`).
pub(crate) fn reconciler(
    store: &MysqlStore,
    gate: Arc<dyn IssueGate>,
    drain: Arc<dyn LogDrain>,
    kafka: &KafkaConfig,
    consumer_group: &str,
) -> anyhow::Result<Reconciler> {
    let parked = parked_holders(store, kafka, consumer_group)?;
    let store = Arc::new(store.clone());
    Ok(Reconciler::new(store.clone(), store, gate, drain).with_parked(Arc::new(parked)))
}

/// The users whose records wait as failed events (their dead letters drained first):
/// reconciliation keeps their units, and so does a gate rebuilt after Redis lost it.
pub(crate) fn parked_holders(
    store: &MysqlStore,
    kafka: &KafkaConfig,
    consumer_group: &str,
) -> anyhow::Result<DeadLetteredHolders> {
    let dead_letters = KafkaLogDrain::dead_letters(kafka, consumer_group)
        .context("creating the Kafka client that follows the dead-letter consumers' offsets")?;
    Ok(DeadLetteredHolders {
        dead_letters: Arc::new(dead_letters),
        failed: Arc::new(store.clone()),
    })
}

/// One line per coupon, for the terminal.
pub fn table(reports: &[Reconciliation], dry_run: bool) -> String {
    let mut out = String::new();
    // Above the table, whose last line scripts read.
    if reports.iter().any(|r| !r.parked.is_empty()) {
        out.push_str(
            "parked: units kept for users whose record is a failed event; replay it \
             (POST /api/admin/failed-events/{id}/replay) to issue the coupon\n",
        );
    }
    let _ = writeln!(
        out,
        "{:<36}  {:>8}  {:>9}  {:>9}  {:>9}  {:>8}  {:>8}  {:>8}",
        "coupon", "total", "persisted", "in gate", "in flight", "stranded", "parked", "returned"
    );
    for r in reports {
        let held = r.held_in_gate.map_or("-".to_owned(), |h| h.to_string());
        let _ = writeln!(
            out,
            "{:<36}  {:>8}  {:>9}  {:>9}  {:>9}  {:>8}  {:>8}  {:>8}",
            r.coupon.to_string(),
            r.total,
            r.persisted,
            held,
            r.in_flight,
            r.stranded.len(),
            r.parked.len(),
            r.returned
        );
    }
    if dry_run {
        out.push_str("dry run: nothing was given back\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponrush_domain::UserId;

    #[test]
    fn the_table_shows_parked_units_apart_from_stranded_ones() {
        let report = Reconciliation {
            coupon: CouponId::new(),
            total: 10,
            held_in_gate: Some(4),
            persisted: 1,
            in_flight: 0,
            stranded: vec![UserId::new(), UserId::new()],
            parked: vec![UserId::new()],
            returned: 2,
        };
        let out = table(std::slice::from_ref(&report), false);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("parked: "), "{out}");
        let header: Vec<&str> = lines[1]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let row: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(header.len(), row.len(), "{out}");
        let column = |name| row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(
            (column("stranded"), column("parked"), column("returned")),
            ("2", "1", "2")
        );
        assert_eq!(lines.len(), 3, "the coupon's row is the last line");

        let none_parked = Reconciliation {
            parked: Vec::new(),
            ..report
        };
        assert!(table(&[none_parked], true).starts_with("coupon "));
    }
}
