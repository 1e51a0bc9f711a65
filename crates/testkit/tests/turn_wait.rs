//! The part of a client's wait the request-duration histogram does not see: with one
//! turn, a rush's requests queue for it, and each one that found no free turn is
//! counted in `couponrush_http_turn_wait_seconds`.
//!
//! One test per file: the registry is per process, and this test's counts must be its own.

use couponrush_telemetry::metrics::names;
use couponrush_testkit::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_wait_for_a_turn_are_timed() {
    let app = TestApp::spawn_in(tempfile::tempdir().expect("temp dir"), |c| {
        c.max_requests_in_flight = Some(1);
    })
    .await;
    let before = app.metrics().await;
    assert_eq!(
        before.sum(&format!("{}_count", names::HTTP_TURN_WAIT_SECONDS), &[]),
        0.0,
        "registered at zero before any wait"
    );
    let rush = app.small_rush(40, 10).await;
    assert_eq!(rush.count("accepted"), 10, "{rush:?}");

    let m = app.metrics().await;
    let waited = m.sum(&format!("{}_count", names::HTTP_TURN_WAIT_SECONDS), &[]);
    // 80 issue requests at once through one turn: most of them wait; none is counted
    // twice, and the probes and /metrics never wait.
    assert!(
        waited >= 1.0 && waited <= rush.requests as f64,
        "{waited} waits for {} requests",
        rush.requests
    );
    assert!(m.sum(&format!("{}_sum", names::HTTP_TURN_WAIT_SECONDS), &[]) > 0.0);
    app.stop().await;
}
