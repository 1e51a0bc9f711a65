//! The README's walk-through, against a real embedded server: sign up, log in, an
//! admin creates a coupon, the user gets it, lists it and uses it once.

use couponrush_testkit::{CouponSpec, TestApp};
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_over_http() {
    let app = TestApp::spawn().await;

    let signup = app.signup("alice", "alice-password").await;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    assert_eq!(signup.str("username"), "alice");
    assert!(signup.body.get("password").is_none() && signup.body.get("passwordHash").is_none());
    let user_id = signup.str("id").to_owned();

    let login = app.login("alice", "alice-password").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.str("tokenType"), "Bearer");
    assert_eq!(
        login.body["expiresIn"], 900,
        "access tokens are short-lived"
    );
    assert!(
        login.str("refreshToken").starts_with("rt_"),
        "{:?}",
        login.body
    );
    let alice = login.str("accessToken").to_owned();
    assert_eq!(
        app.tokens().verify(&alice).unwrap().user_id.to_string(),
        user_id
    );

    let created = app
        .create_coupon(&app.admin_token, &CouponSpec::active(2).to_json())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let coupon: uuid::Uuid = created.str("id").parse().unwrap();
    assert_eq!(created.str("status"), "ACTIVE");
    assert_eq!(created.str("couponType"), "CHICKEN");
    assert_eq!(created.body["totalQuantity"], 2);

    let fetched = app
        .call(
            Method::GET,
            &format!("/api/coupons/{coupon}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["issuedQuantity"], 0);

    assert_eq!(app.issue_state(&alice, coupon).await.str("state"), "NONE");
    let issued = app.issue(&alice, coupon).await;
    assert_eq!(
        (issued.status, issued.str("result")),
        (StatusCode::ACCEPTED, "ACCEPTED")
    );
    // ACCEPTED is answered after the commit, so the row is already there.
    assert_eq!(app.issue_state(&alice, coupon).await.str("state"), "ISSUED");
    let again = app.issue(&alice, coupon).await;
    assert_eq!(
        (again.status, again.str("result")),
        (StatusCode::OK, "ALREADY_ISSUED")
    );

    let mine = app.my_coupons(&alice).await;
    assert_eq!(mine.status, StatusCode::OK);
    let list = mine.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["coupon"]["id"], coupon.to_string());
    assert!(list[0]["usedAt"].is_null());

    let used = app.use_coupon(&alice, coupon).await;
    assert_eq!(used.status, StatusCode::OK, "{:?}", used.body);
    assert!(used.body["usedAt"].is_string());
    assert_eq!(app.issue_state(&alice, coupon).await.str("state"), "USED");
    let twice = app.use_coupon(&alice, coupon).await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "ALREADY_USED")
    );
    assert!(app.my_coupons(&alice).await.body[0]["usedAt"].is_string());

    let stats = app.coupon_stats(coupon).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(
        (
            stats.body["total"].as_u64(),
            stats.body["persisted"].as_u64()
        ),
        (Some(2), Some(1))
    );

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_endpoints() {
    let app = TestApp::spawn().await;
    let health = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(
        (health.status, health.str("status")),
        (StatusCode::OK, "ok")
    );
    let ready = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["checks"]["db"], "up");

    let doc = app
        .call(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/users/signup",
        "/api/auth/login",
        "/api/coupons",
        "/api/coupons/{id}/issue",
        "/api/me/coupons",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "OpenAPI lacks {path}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_coupon_stops_issuing_and_can_be_reactivated() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(3).await;
    let (_, user) = app.mint_user();

    let off = app.set_status(&app.admin_token, coupon, "DISABLED").await;
    assert_eq!(
        (off.status, off.str("status")),
        (StatusCode::OK, "DISABLED")
    );
    let refused = app.issue(&user, coupon).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "COUPON_NOT_ACTIVE")
    );

    assert_eq!(
        app.set_status(&app.admin_token, coupon, "ACTIVE")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.issue(&user, coupon).await.str("result"), "ACCEPTED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_coupon_is_not_issued_until_activated() {
    let app = TestApp::spawn().await;
    let spec = CouponSpec {
        status: Some("PENDING"),
        ..CouponSpec::active(1)
    };
    let created = app.create_coupon(&app.admin_token, &spec.to_json()).await;
    assert_eq!(created.str("status"), "PENDING");
    let coupon: uuid::Uuid = created.str("id").parse().unwrap();
    let (_, user) = app.mint_user();
    assert_eq!(app.issue(&user, coupon).await.code(), "COUPON_NOT_ACTIVE");
    assert_eq!(
        app.set_status(&app.admin_token, coupon, "ACTIVE")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.issue(&user, coupon).await.str("result"), "ACCEPTED");
    app.stop().await;
}
