//! Scheduled opening (`opensAt`) against the real server of each mode: before the
//! opening an issue request is refused with the opening and reserves nothing; from it
//! on the coupon is issued. The coupon cache's TTL is an hour here, so a coupon cached
//! before its opening can only open on time if the rule reads the clock, not a refresh.

use chrono::{DateTime, Utc};
use couponrush_testkit::{CouponSpec, Distributed, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

/// Long enough that no refresh happens during a test.
const CACHE_TTL_MS: u64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_coupon_opens_on_time() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.coupon_cache_ttl_ms = CACHE_TTL_MS;
    })
    .await;
    opens_on_time(&[&app]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_the_opening() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(Method::GET, "/api-docs/openapi.json", None, None)
        .await
        .body;
    let conflict =
        doc["paths"]["/api/coupons/{id}/issue"]["post"]["responses"]["409"]["description"]
            .as_str()
            .unwrap_or_default();
    assert!(conflict.contains("COUPON_NOT_OPEN"), "{conflict}");
    for schema in ["CreateCouponRequest", "CouponResponse", "ErrorBody"] {
        assert!(
            doc["components"]["schemas"][schema]["properties"]
                .get("opensAt")
                .is_some(),
            "{schema} lacks opensAt"
        );
    }
    app.stop().await;
}

/// Two api nodes: the coupon is created (and cached) on the first; the second caches
/// it from MariaDB at its first early request. Both open on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_coupon_opens_on_time_on_every_node() {
    let stack = Distributed::spawn(|c| c.coupon_cache_ttl_ms = CACHE_TTL_MS).await;
    let consumer = stack.start_consumer().await;
    let second = stack.second_api().await;
    let coupon = opens_on_time(&[&stack.api, &second]).await;
    assert_eq!(
        stack
            .wait_persisted(coupon, 2, Duration::from_secs(60))
            .await,
        2
    );
    second.stop().await;
    consumer.stop().await;
}

/// Creates a coupon opening ~2 s from now on `nodes[0]`; one user per node asks early
/// (refused, nothing reserved), then polls until issued. Returns the coupon.
async fn opens_on_time(nodes: &[&TestApp]) -> uuid::Uuid {
    let admin = nodes[0];
    // Whole milliseconds: what the stores keep.
    let opens_at =
        DateTime::from_timestamp_millis((Utc::now() + Duration::from_secs(2)).timestamp_millis())
            .unwrap();
    let mut body = CouponSpec::active(10).to_json();
    body["opensAt"] = json!(opens_at.to_rfc3339());
    let created = admin.create_coupon(&admin.admin_token, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(time(&created, "opensAt"), opens_at);
    let coupon: uuid::Uuid = created.str("id").parse().unwrap();

    let users: Vec<_> = nodes.iter().map(|n| n.mint_user().1).collect();
    for (node, token) in nodes.iter().zip(&users) {
        let fetched = node
            .call(
                Method::GET,
                &format!("/api/coupons/{coupon}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(
            time(&fetched, "opensAt"),
            opens_at,
            "read back from the store"
        );
        let early = node.issue(token, coupon).await;
        assert!(
            Utc::now() < opens_at,
            "the setup took past the opening; the early request proves nothing"
        );
        assert_not_open(&early, opens_at);
        assert_eq!(node.issue_state(token, coupon).await.str("state"), "NONE");
    }
    assert_eq!(
        admin.gate_stock(coupon).await,
        (Some(0), Some(10)),
        "nothing reserved before the opening"
    );

    // Poll until open. A rule that waited for a cache refresh would not open within
    // the bound (the TTL is an hour).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for (node, token) in nodes.iter().zip(&users) {
        let answer = loop {
            let r = node.issue(token, coupon).await;
            if r.code() != "COUPON_NOT_OPEN" || tokio::time::Instant::now() > deadline {
                break r;
            }
            assert_not_open(&r, opens_at);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            (answer.status, answer.str("result")),
            (StatusCode::ACCEPTED, "ACCEPTED"),
            "{:?}",
            answer.body
        );
        assert!(Utc::now() >= opens_at, "issued before its opening");
    }
    let reserved = u64::try_from(nodes.len()).unwrap();
    assert_eq!(
        admin.gate_stock(coupon).await,
        (Some(reserved), Some(10 - reserved))
    );
    coupon
}

fn assert_not_open(r: &Reply, opens_at: DateTime<Utc>) {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "COUPON_NOT_OPEN"),
        "{:?}",
        r.body
    );
    assert_eq!(time(r, "opensAt"), opens_at, "the countdown's target");
}

fn time(r: &Reply, key: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(r.str(key))
        .unwrap_or_else(|e| panic!("{key} in {:?}: {e}", r.body))
        .with_timezone(&Utc)
}
