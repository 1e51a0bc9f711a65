//! Every error answer is JSON with a stable code and the right status; no input makes
//! the server panic or answer 500.

use couponrush_auth::AccessClaims;
use couponrush_testkit::{CouponSpec, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn assert_error(r: &couponrush_testkit::Reply, status: StatusCode, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "body: {:?}", r.body);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message missing: {:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_errors() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.signup("bob", "bob-password").await.status,
        StatusCode::CREATED
    );
    assert_error(
        &app.signup("bob", "other-password").await,
        StatusCode::CONFLICT,
        "USERNAME_TAKEN",
    );

    let too_long = app.signup(&"x".repeat(51), "long-enough").await;
    assert_error(&too_long, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(too_long.body["field"], "username");
    let short_pw = app.signup("carol", "short").await;
    assert_error(&short_pw, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(short_pw.body["field"], "password");

    assert_error(
        &app.login("bob", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    );
    assert_error(
        &app.login("nobody", "bob-password").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    );
    assert_error(
        &app.login("bob", "").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/users/signup");
    let send = |body: String, content_type: Option<&'static str>| {
        let mut req = app.client.post(url.clone()).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.expect("every error is JSON");
            couponrush_testkit::Reply { status, body }
        }
    };
    let json = Some("application/json");
    assert_error(
        &send("{\"username\":".into(), json).await,
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    );
    assert_error(
        &send("{\"username\":1,\"password\":2}".into(), json).await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    );
    assert_error(
        &send("{\"username\":\"a\"}".into(), json).await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    );
    assert_error(
        &send(
            "{\"username\":\"a\",\"password\":\"b\",\"role\":\"ADMIN\"}".into(),
            json,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    );
    assert_error(
        &send("{}".into(), None).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"p\"}}",
        "x".repeat(20 * 1024)
    );
    assert_error(
        &send(huge, json).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    let (_, user) = app.mint_user();
    for path in [
        "/api/coupons/not-a-uuid/issue",
        "/api/coupons/123/use",
        "/api/coupons/%00",
    ] {
        let method = if path.ends_with("issue") || path.ends_with("use") {
            Method::POST
        } else {
            Method::GET
        };
        assert_error(
            &app.call(method, path, Some(&user), None).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PATH",
        );
    }
    assert_error(
        &app.call(Method::GET, "/no/such/route", None, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &app.call(Method::DELETE, "/health", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_role_errors() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(1).await;
    let issue_path = format!("/api/coupons/{coupon}/issue");

    assert_error(
        &app.call(Method::POST, &issue_path, None, None).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
    let basic = app
        .client
        .post(app.url(&issue_path))
        .header("authorization", "Basic YWxhZGRpbjpvcGVu")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        basic.json::<serde_json::Value>().await.unwrap()["code"],
        "UNAUTHORIZED"
    );

    let forged = couponrush_auth::TokenCodec::new(
        b"not-the-server-secret",
        std::time::Duration::from_secs(60),
    )
    .mint(
        couponrush_auth::Principal {
            user_id: couponrush_domain::UserId::new(),
            role: couponrush_domain::Role::Admin,
        },
        chrono::Utc::now(),
    );
    assert_error(
        &app.issue(&forged, coupon).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_INVALID",
    );
    assert_error(
        &app.issue("garbage", coupon).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_INVALID",
    );

    let past = chrono::Utc::now().timestamp() - 7200;
    let expired = app.tokens().sign(&AccessClaims {
        sub: uuid::Uuid::now_v7(),
        role: "USER".into(),
        iat: past,
        exp: past + 60,
    });
    assert_error(
        &app.issue(&expired, coupon).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_EXPIRED",
    );

    // A user token cannot do admin things.
    let (_, user) = app.mint_user();
    assert_error(
        &app.create_coupon(&user, &CouponSpec::active(5).to_json())
            .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_error(
        &app.set_status(&user, coupon, "DISABLED").await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let stats = app
        .call(
            Method::GET,
            &format!("/api/admin/coupons/{coupon}/stats"),
            Some(&user),
            None,
        )
        .await;
    assert_error(&stats, StatusCode::FORBIDDEN, "FORBIDDEN");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupon_creation_is_validated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token.clone();
    let base = CouponSpec::active(10).to_json();
    let with = |key: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("totalQuantity", json!(0)),
            "VALIDATION_FAILED",
            Some("totalQuantity"),
        ),
        (with("totalQuantity", json!(-5)), "INVALID_BODY", None),
        (
            with("discountValue", json!(0)),
            "VALIDATION_FAILED",
            Some("discountValue"),
        ),
        (
            with("discountType", json!("PERCENTAGE")),
            "VALIDATION_FAILED",
            Some("discountValue"),
        ),
        (with("couponType", json!("SUSHI")), "INVALID_BODY", None),
        (with("discountType", json!("BOGO")), "INVALID_BODY", None),
        (with("expiresAt", json!("tomorrow")), "INVALID_BODY", None),
        (
            with("expiresAt", json!("2001-01-01T00:00:00Z")),
            "VALIDATION_FAILED",
            Some("expiresAt"),
        ),
        (
            with("status", json!("EXPIRED")),
            "VALIDATION_FAILED",
            Some("status"),
        ),
        // The base expires in a day: an opening after it could never be reached.
        (
            with("opensAt", json!("2999-01-01T00:00:00Z")),
            "VALIDATION_FAILED",
            Some("opensAt"),
        ),
        (with("opensAt", json!("soon")), "INVALID_BODY", None),
        (
            with("name", json!("   ")),
            "VALIDATION_FAILED",
            Some("name"),
        ),
    ];
    for (body, code, field) in cases {
        let r = app.create_coupon(&admin, &body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, code);
        if let Some(f) = field {
            assert_eq!(r.body["field"], f, "{body}");
        }
    }
    let pct = with("discountType", json!("PERCENTAGE"));
    let mut pct = pct;
    pct["discountValue"] = json!(100);
    assert_eq!(
        app.create_coupon(&admin, &pct).await.status,
        StatusCode::CREATED
    );

    let coupon = app.active_coupon(1).await;
    let pending = app.set_status(&admin, coupon, "PENDING").await;
    assert_error(&pending, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let missing = uuid::Uuid::now_v7();
    assert_error(
        &app.set_status(&admin, missing, "ACTIVE").await,
        StatusCode::NOT_FOUND,
        "COUPON_NOT_FOUND",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_and_use_errors() {
    let app = TestApp::spawn().await;
    let (_, user) = app.mint_user();
    let missing = uuid::Uuid::now_v7();
    assert_error(
        &app.issue(&user, missing).await,
        StatusCode::NOT_FOUND,
        "COUPON_NOT_FOUND",
    );
    assert_error(
        &app.issue_state(&user, missing).await,
        StatusCode::NOT_FOUND,
        "COUPON_NOT_FOUND",
    );
    assert_error(
        &app.call(
            Method::GET,
            &format!("/api/coupons/{missing}"),
            Some(&user),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "COUPON_NOT_FOUND",
    );

    let coupon = app.active_coupon(5).await;
    assert_error(
        &app.use_coupon(&user, coupon).await,
        StatusCode::NOT_FOUND,
        "NOT_ISSUED",
    );

    // A coupon that expires in a moment: issue now, then wait for expiry.
    let spec = CouponSpec {
        expires_in: chrono::Duration::milliseconds(1500),
        ..CouponSpec::active(5)
    };
    let created = app.create_coupon(&app.admin_token, &spec.to_json()).await;
    let short: uuid::Uuid = created.str("id").parse().unwrap();
    assert_eq!(app.issue(&user, short).await.str("result"), "ACCEPTED");
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;

    let (_, late) = app.mint_user();
    assert_error(
        &app.issue(&late, short).await,
        StatusCode::CONFLICT,
        "COUPON_NOT_ACTIVE",
    );
    assert_error(
        &app.use_coupon(&user, short).await,
        StatusCode::CONFLICT,
        "COUPON_EXPIRED",
    );
    assert_error(
        &app.set_status(&app.admin_token, short, "ACTIVE").await,
        StatusCode::CONFLICT,
        "COUPON_EXPIRED",
    );
    let shown = app
        .call(
            Method::GET,
            &format!("/api/coupons/{short}"),
            Some(&user),
            None,
        )
        .await;
    assert_eq!(
        shown.str("status"),
        "EXPIRED",
        "expiry overrides the stored ACTIVE"
    );
    app.stop().await;
}
