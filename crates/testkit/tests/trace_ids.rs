//! Trace ids: taken from `X-Global-Trace-Id` (or a W3C `traceparent`) or generated,
//! echoed in the response, and carried through Kafka into the consumer's log line for
//! the record.
//!
//! Logs are captured for this test process (nextest runs each test in its own; under
//! plain `cargo test` both tests of this file share the one capture).

use couponrush_telemetry::LogFormat;
use couponrush_telemetry::capture::LogCapture;
use couponrush_testkit::{Distributed, TestApp};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::sync::OnceLock;
use std::time::Duration;

const HEADER: &str = "x-global-trace-id";

/// Installed before any server starts, so it is the process's subscriber.
fn logs() -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        LogCapture::install(LogFormat::Text, "info,couponrush_consumer=debug")
            .expect("the capture is this process's first subscriber")
    })
}

/// The trace id a response carries ("" if none).
fn echoed(headers: &HeaderMap) -> &str {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_is_taken_or_generated_and_echoed() {
    logs();
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(10).await;
    let issue = |headers: &'static [(&'static str, &'static str)]| {
        let (_, token) = app.mint_user();
        let path = format!("/api/coupons/{coupon}/issue");
        let app = &app;
        async move {
            app.call_with(Method::POST, &path, Some(&token), None, headers)
                .await
        }
    };

    let (given, headers) = issue(&[(HEADER, "test-trace-given")]).await;
    assert_eq!(given.status, StatusCode::ACCEPTED);
    assert_eq!(echoed(&headers), "test-trace-given");

    let (_, w3c) = issue(&[(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )])
    .await;
    assert_eq!(echoed(&w3c), "4bf92f3577b34da6a3ce929d0e0e4736");

    let (_, none) = issue(&[]).await;
    let (_, unsafe_id) = issue(&[(HEADER, "no spaces allowed")]).await;
    for generated in [echoed(&none), echoed(&unsafe_id)] {
        assert!(is_generated(generated), "{generated:?}");
    }
    assert_ne!(echoed(&none), echoed(&unsafe_id));

    // Every answer carries one, errors and unrouted paths included.
    let (lost, headers) = app
        .call_with(Method::GET, "/no/such/route", None, None, &[])
        .await;
    assert_eq!(lost.status, StatusCode::NOT_FOUND);
    assert!(is_generated(echoed(&headers)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_reaches_the_consumer_log_line_of_the_record() {
    let logs = logs();
    let stack = Distributed::spawn(|_| {}).await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(5).await;
    let (_, token) = app.mint_user();
    let trace = format!("test-trace-{}", uuid::Uuid::new_v4());

    let (reply, headers) = app
        .call_with(
            Method::POST,
            &format!("/api/coupons/{coupon}/issue"),
            Some(&token),
            None,
            &[(HEADER, &trace)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(echoed(&headers), trace);
    assert_eq!(
        stack
            .wait_persisted(coupon, 1, Duration::from_secs(30))
            .await,
        1
    );

    // The consumer logs the persisted record (DEBUG) with the id the api node received.
    let needle = format!("trace_id={trace}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = logs.lines_with(&[&needle, "record persisted"]);
        if !lines.is_empty() || tokio::time::Instant::now() >= deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        lines.len(),
        1,
        "one consumer line for the record with {needle}; captured:\n{}",
        logs.contents()
    );
    assert!(
        lines[0].contains(&format!("coupon_id={coupon}")),
        "{}",
        lines[0]
    );
    consumer.stop().await;
    stack.api.stop().await;
}
