//! `/metrics` of an embedded server after a small rush: strict Prometheus text, every
//! family docs/METRICS.md lists for `serve` (and none of the others), outcome counters
//! equal to the answers the test received, routes by template; then the wait of a
//! waiter admitted from a waiting room.
//!
//! One test per file: the registry is per process, and this test's counts must be its own.

use couponrush_telemetry::metrics::names::{self, Process};
use couponrush_testkit::{Exposition, TestApp};
use std::time::Duration;

const ISSUE_ROUTE: &str = "/api/coupons/{id}/issue";

fn count(m: &Exposition, histogram: &str, labels: &[(&str, &str)]) -> f64 {
    m.sum(&format!("{histogram}_count"), labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_metrics_count_a_small_rush() {
    let app = TestApp::spawn().await;
    let rush = app.small_rush(60, 20).await;
    assert_eq!(rush.count("accepted"), 20, "{rush:?}");
    let unrouted = app
        .call(reqwest::Method::GET, "/no/such/route", None, None)
        .await;
    assert_eq!(unrouted.status, 404);

    let m = app.metrics_after_a_room_tick().await;

    // Outcomes: what the test was answered, result by result.
    for result in names::ISSUE_RESULTS {
        assert_eq!(
            m.sum(names::ISSUE_OUTCOMES_TOTAL, &[("result", result)]),
            rush.count(result) as f64,
            "result {result}: {rush:?}"
        );
    }

    // HTTP: by route template and status; the raw path never becomes a label.
    let issue = [("method", "POST"), ("route", ISSUE_ROUTE)];
    assert_eq!(
        m.sum(names::HTTP_REQUESTS_TOTAL, &issue),
        rush.requests as f64
    );
    assert_eq!(
        count(&m, names::HTTP_REQUEST_DURATION_SECONDS, &issue),
        rush.requests as f64
    );
    let by_status = |status| {
        m.sum(
            names::HTTP_REQUESTS_TOTAL,
            &[issue[0], issue[1], ("status", status)],
        )
    };
    assert_eq!(by_status("202"), rush.count("accepted") as f64);
    assert_eq!(
        by_status("200"),
        (rush.count("sold_out") + rush.count("already_issued")) as f64
    );
    assert_eq!((by_status("404"), by_status("409")), (1.0, 1.0));
    assert_eq!(
        m.sum(
            names::HTTP_REQUESTS_TOTAL,
            &[("route", names::UNMATCHED_ROUTE), ("status", "404")]
        ),
        1.0
    );
    let coupon = rush.coupon.to_string();
    for s in m.samples(names::HTTP_REQUESTS_TOTAL, &[]) {
        assert!(
            s.labels["route"].starts_with('/') || s.labels["route"] == names::UNMATCHED_ROUTE,
            "{s:?}"
        );
        assert!(
            !s.labels["route"].contains(&coupon),
            "raw path as label: {s:?}"
        );
    }
    assert_eq!(
        m.sum(names::HTTP_REQUESTS_IN_FLIGHT, &[]),
        1.0,
        "only this scrape is in flight"
    );

    // The issue path's steps. An unseeded coupon is reserved twice (seed, then again).
    let reached_gate =
        (rush.count("accepted") + rush.count("sold_out") + rush.count("already_issued")) as f64;
    let reserves = count(&m, names::GATE_RESERVE_DURATION_SECONDS, &[]);
    assert!(
        (reached_gate..=2.0 * reached_gate).contains(&reserves),
        "{reserves} gate steps for {reached_gate} requests"
    );
    assert_eq!(
        count(&m, names::LOG_APPEND_DURATION_SECONDS, &[]),
        rush.count("accepted") as f64
    );

    // Group commit: the accepted rows, in at least one batch, none failed.
    let batches = count(&m, names::GROUP_COMMIT_BATCH_ROWS, &[]);
    assert!(batches >= 1.0);
    assert_eq!(
        m.sum(&format!("{}_sum", names::GROUP_COMMIT_BATCH_ROWS), &[]),
        rush.count("accepted") as f64
    );
    assert_eq!(
        count(&m, names::GROUP_COMMIT_DURATION_SECONDS, &[]),
        batches
    );
    assert_eq!(m.sum(names::GROUP_COMMIT_FAILURES_TOTAL, &[]), 0.0);

    // Latency buckets reach below a millisecond.
    assert!(
        m.samples(
            &format!("{}_bucket", names::GATE_RESERVE_DURATION_SECONDS),
            &[("le", "0.0001")]
        )
        .next()
        .is_some()
    );

    // The SQLite pool: some connections, at most the configured eight.
    let idle = m.sum(names::DB_POOL_CONNECTIONS, &[("state", "idle")]);
    let in_use = m.sum(names::DB_POOL_CONNECTIONS, &[("state", "in_use")]);
    assert!(
        (1.0..=8.0).contains(&(idle + in_use)),
        "idle {idle} in use {in_use}"
    );

    // A waiter admitted from a waiting room (after the counts above, which are the
    // rush's): the wait, once, within what the client saw of it.
    let wait = app.one_admitted_wait(Duration::from_millis(1_500)).await;
    let m = app.metrics().await;
    let coupon = wait.coupon.to_string();
    let labels = [("coupon", coupon.as_str())];
    assert_eq!(count(&m, names::ROOM_WAIT_SECONDS, &labels), 1.0);
    let waited = m.sum(&format!("{}_sum", names::ROOM_WAIT_SECONDS), &labels);
    // The line counts in whole milliseconds.
    assert!(
        (wait.at_least - 0.002..=wait.at_most + 0.002).contains(&waited),
        "waited {waited} s, the client saw {wait:?}"
    );

    // Exactly the serve families, with their documented types.
    for f in names::FAMILIES {
        let served = m.family(f.name);
        if f.processes.contains(&Process::Serve) {
            let served = served.unwrap_or_else(|| panic!("{} missing", f.name));
            assert_eq!(served.kind, f.kind.as_str(), "{}", f.name);
            assert!(served.help.is_some(), "{} has no HELP", f.name);
        } else {
            assert!(served.is_none(), "{} is not a serve metric", f.name);
        }
    }

    app.stop().await;
}
