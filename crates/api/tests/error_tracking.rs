//! Error tracking through the API's real edge layers, against a local recorder that
//! speaks Sentry's envelope protocol: a handler that panics is answered 500 and
//! reported once, with its message, the route template and the caller's trace id; a
//! panic outside any request is reported by the panic hook; a 4xx is not reported.

use axum::Router;
use axum::routing::get;
use couponrush_testenv::ErrorTrackerRecorder;
use serde_json::Value;
use std::time::Duration;

const TRACE_ID: &str = "5f0c3e8a9b7d41c2a6e4f1d2c3b4a596";

async fn boom() -> &'static str {
    panic!("the coupon ledger is upside down")
}

fn tag<'a>(event: &'a Value, name: &str) -> &'a str {
    event["tags"][name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_are_reported_with_route_and_trace_id_and_4xx_are_not() {
    let recorder = ErrorTrackerRecorder::start().await;
    let tracking = couponrush_telemetry::error_tracking::init(&recorder.dsn(), "embedded")
        .expect("a valid DSN");

    let app = couponrush_api::with_edge_layers(Router::new().route("/boom/{id}", get(boom)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    let missing = http
        .get(format!("{base}/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let answer = http
        .get(format!("{base}/boom/7"))
        .header("X-Global-Trace-Id", TRACE_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 500);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "INTERNAL_ERROR");

    let event = recorder
        .wait_for(Duration::from_secs(10), |e| tag(e, "route") == "/boom/{id}")
        .await
        .expect("the panic reached the tracker");
    assert_eq!(event["level"], "fatal");
    assert_eq!(tag(&event, "trace_id"), TRACE_ID);
    assert_eq!(tag(&event, "panic"), "true");
    assert_eq!(tag(&event, "status"), "500");
    assert_eq!(tag(&event, "code"), "INTERNAL_ERROR");
    assert_eq!(tag(&event, "method"), "GET");
    assert_eq!(tag(&event, "process"), "embedded");
    let message = event["message"].to_string() + &event["logentry"].to_string();
    assert!(
        message.contains("the coupon ledger is upside down"),
        "{event}"
    );

    // A panic no request answers for (a background thread).
    let _ = std::thread::spawn(|| panic!("the writer thread fell over")).join();
    let outside = recorder
        .wait_for(Duration::from_secs(10), |e| {
            (e["message"].to_string() + &e["logentry"].to_string())
                .contains("the writer thread fell over")
        })
        .await
        .expect("the background panic reached the tracker");
    assert_eq!(outside["level"], "fatal");
    assert_eq!(tag(&outside, "route"), "");

    drop(tracking);
    // Exactly two events: the request's panic once (the hook leaves it to the edge),
    // the thread's; the 404 none.
    let events = recorder.events();
    assert_eq!(events.len(), 2, "{events:#?}");
}
