//! `/metrics` of an api node and a consumer node after a small rush through Kafka:
//! strict Prometheus text on both ports, every family docs/METRICS.md lists for each
//! kind of process, counts equal to what the test did (a waiting-room wait included),
//! and the consumer lag: above 0
//! while a rate-limited consumer works through the backlog, back at 0 for every
//! partition once it has drained the topic.
//!
//! One test per file: the registry is per process, and this test's counts must be its
//! own. Both nodes run in this process and render the same registry, so each scrape
//! also holds the other's families: only presence is checked here.

use couponrush_telemetry::metrics::names::{self, Process};
use couponrush_testkit::{Distributed, Exposition, scrape};
use std::time::Duration;

fn count(m: &Exposition, histogram: &str) -> f64 {
    m.sum(&format!("{histogram}_count"), &[])
}

fn assert_families_of(process: Process, m: &Exposition) {
    for f in names::families_of(process) {
        let served = m
            .family(f.name)
            .unwrap_or_else(|| panic!("{process:?}: {} missing", f.name));
        assert_eq!(served.kind, f.kind.as_str(), "{}", f.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_metrics_count_a_small_rush_and_lag_drains_to_zero() {
    // 30 records in batches of 5 at 5 permits/s: the backlog takes about 5 s, longer
    // than two lag refreshes (every 2 s), so scrapes see it.
    let stack = Distributed::spawn(|c| {
        c.rate_limit_per_sec = 5;
        c.rate_limit_burst = 5;
        c.consumer_batch_max_records = 5;
    })
    .await;
    let app = &stack.api;
    let rush = app.small_rush(80, 30).await;
    let accepted = rush.count("accepted");
    assert_eq!(accepted, 30, "{rush:?}");
    let consumer = stack.start_consumer().await;

    // consumer node, on its admin port: lag up while the backlog drains, then 0.
    let topic = stack.config.kafka_topic.as_str();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut most_lag = 0.0_f64;
    let m = loop {
        let m = scrape(&app.client, &consumer.metrics_url()).await;
        let lags: Vec<f64> = m
            .samples(names::CONSUMER_LAG_RECORDS, &[("topic", topic)])
            .map(|s| s.value)
            .collect();
        most_lag = most_lag.max(lags.iter().sum());
        let drained = lags.len() == 6 && lags.iter().all(|l| *l == 0.0);
        if drained || tokio::time::Instant::now() >= deadline {
            assert!(
                drained,
                "lag of the 6 partitions of {topic} is not all 0: {:?}",
                m.family(names::CONSUMER_LAG_RECORDS)
            );
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        most_lag > 0.0 && most_lag <= accepted as f64,
        "lag seen while draining: {most_lag}"
    );
    assert_eq!(
        stack
            .wait_persisted(rush.coupon, accepted, Duration::from_secs(10))
            .await,
        accepted
    );

    // api node, on its HTTP port.
    let api = app.metrics_after_a_room_tick().await;
    for result in names::ISSUE_RESULTS {
        assert_eq!(
            api.sum(names::ISSUE_OUTCOMES_TOTAL, &[("result", result)]),
            rush.count(result) as f64,
            "result {result}: {rush:?}"
        );
    }
    assert_eq!(
        api.sum(
            names::HTTP_REQUESTS_TOTAL,
            &[("method", "POST"), ("route", "/api/coupons/{id}/issue")]
        ),
        rush.requests as f64
    );
    assert_eq!(
        count(&api, names::LOG_APPEND_DURATION_SECONDS),
        accepted as f64
    );
    assert!(count(&api, names::GATE_RESERVE_DURATION_SECONDS) >= (rush.requests - 2) as f64);
    assert_eq!(api.sum(names::REDIS_ERRORS_TOTAL, &[]), 0.0);

    // A waiter admitted from a waiting room (after the counts above, which are the
    // rush's): the wait, once (its join time from the Redis line), within what the
    // client saw of it; the line counts in whole milliseconds.
    let wait = app.one_admitted_wait(Duration::from_millis(1_500)).await;
    let api = app.metrics().await;
    assert_families_of(Process::Api, &api);
    let coupon = wait.coupon.to_string();
    let labels = [("coupon", coupon.as_str())];
    assert_eq!(
        api.sum(&format!("{}_count", names::ROOM_WAIT_SECONDS), &labels),
        1.0
    );
    let waited = api.sum(&format!("{}_sum", names::ROOM_WAIT_SECONDS), &labels);
    assert!(
        (wait.at_least - 0.002..=wait.at_most + 0.002).contains(&waited),
        "waited {waited} s, the client saw {wait:?}"
    );

    // consumer node: what it did, from the last scrape.
    assert_families_of(Process::Consumer, &m);
    let accepted = accepted as f64;
    assert_eq!(m.sum(names::CONSUMER_RECORDS_TOTAL, &[]), accepted);
    assert_eq!(m.sum(names::CONSUMER_ROWS_INSERTED_TOTAL, &[]), accepted);
    assert_eq!(
        m.sum(&format!("{}_sum", names::CONSUMER_BATCH_RECORDS), &[]),
        accepted
    );
    let batches = count(&m, names::CONSUMER_BATCH_RECORDS);
    assert!(batches >= 1.0);
    assert_eq!(count(&m, names::CONSUMER_BATCH_DURATION_SECONDS), batches);
    assert_eq!(
        count(&m, names::CONSUMER_POLL_INTERVAL_SECONDS),
        batches - 1.0
    );
    for idle in [
        names::CONSUMER_ROWS_DUPLICATE_TOTAL,
        names::CONSUMER_RETRIES_TOTAL,
        names::CONSUMER_DLQ_PUBLISHED_TOTAL,
        names::CONSUMER_FAILED_EVENTS_TOTAL,
        names::REDIS_ERRORS_TOTAL,
    ] {
        assert_eq!(m.sum(idle, &[]), 0.0, "{idle}");
    }
    let waits = count(&m, names::CONSUMER_RATE_LIMIT_WAIT_SECONDS);
    let waited = m.sum(
        &format!("{}_sum", names::CONSUMER_RATE_LIMIT_WAIT_SECONDS),
        &[],
    );
    assert!(
        waits == batches && waited > 1.0,
        "{waits} permit waits for {batches} batches, {waited} s in all"
    );
    let pool = m.sum(names::DB_POOL_CONNECTIONS, &[]);
    assert!(pool >= 1.0, "db pool connections: {pool}");

    // The admin port's liveness.
    let health = app
        .client
        .get(format!("http://{}/health", consumer.metrics_addr))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);

    consumer.stop().await;
    stack.api.stop().await;
}
