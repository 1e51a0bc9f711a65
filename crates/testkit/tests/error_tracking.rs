//! Error tracking from the real embedded server: with `sentry_dsn` pointing at a local
//! recorder, a 5xx answer caused by a real fault (SQLite refusing inserts through a
//! trigger) is reported with its code, the route template and the caller's trace id;
//! answers below 500 are not, and nothing the client sent (its token) leaves.

use couponrush_testkit::TestApp;
use couponrush_testkit::env::ErrorTrackerRecorder;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

const TRACE_ID: &str = "0d9c3b5e7f6a4b2c8d1e0f9a8b7c6d5e";

fn tag<'a>(event: &'a Value, name: &str) -> &'a str {
    event["tags"][name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_answer_is_reported_with_its_route_code_and_trace_id() {
    let recorder = ErrorTrackerRecorder::start().await;
    let dsn = recorder.dsn();
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.sentry_dsn = Some(dsn);
    })
    .await;
    let coupon = app.active_coupon(5).await;
    let (_, user) = app.mint_user();

    // Answers below 500 are the API working as documented.
    let unknown = app
        .call(
            Method::POST,
            &format!("/api/coupons/{}/issue", uuid::Uuid::new_v4()),
            Some(&user),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let _db = app.refuse_issue_inserts().await;
    let (failed, _) = app
        .call_with(
            Method::POST,
            &format!("/api/coupons/{coupon}/issue"),
            Some(&user),
            None,
            &[("X-Global-Trace-Id", TRACE_ID)],
        )
        .await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);

    let event = recorder
        .wait_for(Duration::from_secs(10), |e| tag(e, "status") == "503")
        .await
        .unwrap_or_else(|| {
            panic!(
                "the 503 never reached the tracker: {:#?}",
                recorder.events()
            )
        });
    assert_eq!(event["level"], "error");
    assert_eq!(tag(&event, "route"), "/api/coupons/{id}/issue");
    assert_eq!(tag(&event, "method"), "POST");
    assert_eq!(tag(&event, "code"), failed.code());
    assert_eq!(tag(&event, "trace_id"), TRACE_ID);
    assert_eq!(tag(&event, "process"), "embedded");
    assert!(
        !event.to_string().contains(&user),
        "the token left: {event}"
    );

    app.stop().await;
    let statuses: Vec<String> = recorder
        .events()
        .iter()
        .map(|e| tag(e, "status").to_owned())
        .collect();
    assert_eq!(statuses, ["503"], "only the 5xx is reported");
}
