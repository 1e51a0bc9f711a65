//! `GET /api/coupons`, the event listing, against the real server of each mode: users
//! see the events they can take part in (ACTIVE, not ended), admins every coupon;
//! filters by status and phase; pages newest first that list each coupon once; bad
//! parameters answer 400 with a code.

use couponrush_testkit::{Distributed, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_lists_events_by_viewer_filter_and_page() {
    let app = TestApp::spawn().await;
    lists_events(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_lists_events_by_viewer_filter_and_page() {
    let stack = Distributed::spawn(|_| {}).await;
    lists_events(&stack.api).await;
    stack.api.stop().await;
}

fn coupon_body(name: &str, status: &str, opens_in_hours: Option<i64>) -> Value {
    let now = chrono::Utc::now();
    let mut body = json!({
        "name": name,
        "couponType": "CHICKEN",
        "discountType": "FIXED",
        "discountValue": 1000,
        "totalQuantity": 10,
        "expiresAt": (now + chrono::Duration::days(1)).to_rfc3339(),
        "status": status,
    });
    if let Some(h) = opens_in_hours {
        body["opensAt"] = json!((now + chrono::Duration::hours(h)).to_rfc3339());
    }
    body
}

/// The ids of a listing, in order; panics unless it answered 200.
async fn ids(app: &TestApp, token: &str, query: &str) -> (Vec<Uuid>, Option<String>) {
    let reply = app
        .call(
            Method::GET,
            &format!("/api/coupons{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
    let ids = reply.body["coupons"]
        .as_array()
        .expect("coupons")
        .iter()
        .map(|c| c["id"].as_str().unwrap().parse().unwrap())
        .collect();
    (ids, reply.body["nextCursor"].as_str().map(str::to_owned))
}

async fn lists_events(app: &TestApp) {
    let admin = app.admin_token.clone();
    let mut created = Vec::new();
    for (name, status, opens) in [
        ("open now", "ACTIVE", None),
        ("opens in an hour", "ACTIVE", Some(1)),
        ("not yet published", "PENDING", None),
        ("switched off", "DISABLED", None),
    ] {
        let reply = app
            .create_coupon(&admin, &coupon_body(name, status, opens))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        created.push(reply.str("id").parse::<Uuid>().unwrap());
    }
    let [open, upcoming, pending, disabled] = created[..] else {
        unreachable!()
    };
    let (_, user) = app.mint_user();

    // Newest first; a user sees only what can be taken part in.
    let (seen, _) = ids(app, &user, "").await;
    assert_eq!(seen, vec![upcoming, open], "a user sees ACTIVE events only");
    let (seen, _) = ids(app, &admin, "").await;
    assert_eq!(
        seen,
        vec![disabled, pending, upcoming, open],
        "an admin sees every coupon"
    );

    // Filters.
    assert_eq!(ids(app, &user, "?phase=upcoming").await.0, vec![upcoming]);
    assert_eq!(ids(app, &user, "?phase=open").await.0, vec![open]);
    assert!(ids(app, &user, "?phase=ended").await.0.is_empty());
    assert!(ids(app, &user, "?status=DISABLED").await.0.is_empty());
    assert_eq!(ids(app, &admin, "?status=DISABLED").await.0, vec![disabled]);
    assert_eq!(
        ids(app, &admin, "?status=PENDING&phase=open").await.0,
        vec![pending]
    );

    // One at a time: each page's cursor leads to the next, each coupon once.
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let (page, next) = ids(app, &admin, &query).await;
        assert!(page.len() <= 1);
        paged.extend(page);
        match next {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, vec![disabled, pending, upcoming, open]);

    // Bad input: 400 with a stable code.
    for (query, code) in [
        ("?phase=soon", "INVALID_QUERY"),
        ("?status=GONE", "INVALID_QUERY"),
        ("?limit=many", "INVALID_QUERY"),
        ("?colour=red", "INVALID_QUERY"),
        ("?limit=0", "VALIDATION_FAILED"),
        ("?limit=101", "VALIDATION_FAILED"),
        ("?cursor=not-a-cursor", "VALIDATION_FAILED"),
    ] {
        let reply = app
            .call(
                Method::GET,
                &format!("/api/coupons{query}"),
                Some(&user),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.code(), code, "{query}: {:?}", reply.body);
    }
    let anonymous = app.call(Method::GET, "/api/coupons", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
