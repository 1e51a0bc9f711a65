//! The waiting room against the real server of each mode (embedded: the in-memory
//! line; distributed: the Redis line shared by two api nodes): places in arrival order
//! that a second call keeps, admission in that order at the room's rate, tokens that
//! are single use and bound to their user, SOLD_OUT told to those still waiting, a
//! pre-queue drawn at random at the opening, AUTO turning on under latency and off
//! only after the line drained, and places (and admissions) that survive a loss of the
//! line: Redis losing the room's keys, a restart of the embedded process.

use couponrush_testkit::{CouponSpec, Distributed, Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn room_coupon(
    quantity: u64,
    mode: &str,
    prequeue: &str,
    opens_in: Option<chrono::Duration>,
) -> Value {
    let mut body = CouponSpec::active(quantity).to_json();
    body["waitingRoom"] = json!(mode);
    body["prequeue"] = json!(prequeue);
    if let Some(d) = opens_in {
        body["opensAt"] = json!((chrono::Utc::now() + d).to_rfc3339());
    }
    body
}

async fn create(app: &TestApp, body: &Value) -> Uuid {
    let r = app.create_coupon(&app.admin_token.clone(), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.str("id").parse().unwrap()
}

fn position(r: &Reply) -> u64 {
    r.body["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("a position in {:?}", r.body))
}

async fn eventually<T>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn room_state(app: &TestApp, coupon: Uuid) -> String {
    let r = app.room_state(coupon).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.str("state").to_owned()
}

// ---- FIFO admission, idempotent places, single-use bound tokens, SOLD_OUT ----

/// Six users join before the opening (alternating nodes), so places are exact; from the
/// opening the room admits two a second, and polling every 100 ms sees them admitted in
/// the order they joined. Three units: never more than three admissions outstanding,
/// and the last ones hear SOLD_OUT.
async fn admits_in_order_and_tells_sold_out(nodes: &[&TestApp]) -> Uuid {
    let first = nodes[0];
    let coupon = create(
        first,
        &room_coupon(3, "ALWAYS", "FIFO", Some(chrono::Duration::seconds(2))),
    )
    .await;
    let r = first
        .configure_room(coupon, &json!({"minRate": 2.0, "maxRate": 2.0}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.str("mode"), "ALWAYS");
    let users: Vec<String> = (0..6).map(|_| first.mint_user().1).collect();
    for (i, token) in users.iter().enumerate() {
        let node = nodes[i % nodes.len()];
        let r = node.issue(token, coupon).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(
            r.str("result"),
            "QUEUED",
            "before the opening, in the pre-queue"
        );
        assert_eq!(position(&r), i as u64 + 1, "arrival order");
        assert!(r.body["pollAfterMs"].as_u64().unwrap() > 0);
    }
    // A second call, on the other node, keeps the place.
    let again = nodes[nodes.len() - 1].issue(&users[2], coupon).await;
    assert_eq!((again.str("result"), position(&again)), ("QUEUED", 3));
    let polled = first.queue(&users[4], coupon).await;
    assert_eq!(polled.str("status"), "WAITING");
    assert_eq!(position(&polled), 5);
    let stranger = first.mint_user().1;
    assert_eq!(
        first.queue(&stranger, coupon).await.str("status"),
        "NOT_IN_QUEUE"
    );

    // Admissions, in order, as each poll sees them.
    let mut admitted: Vec<(usize, String)> = Vec::new();
    let start = Instant::now();
    while admitted.len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "admissions stalled: {admitted:?}"
        );
        for (i, token) in users.iter().enumerate() {
            if admitted.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let r = nodes[i % nodes.len()].queue(token, coupon).await;
            match r.str("status") {
                "ADMITTED" => admitted.push((i, r.str("admissionToken").to_owned())),
                "WAITING" => {}
                other => panic!("user {i}: {other} {:?}", r.body),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let order: Vec<usize> = admitted.iter().map(|(i, _)| *i).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "admitted in the order of arrival");
    assert_eq!(order, [0, 1, 2]);
    // No more admissions than units left: the fourth still waits.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let fourth = first.queue(&users[3], coupon).await;
    assert_eq!(
        fourth.str("status"),
        "WAITING",
        "three admissions outstanding for three units: {:?}",
        fourth.body
    );

    // A token is bound to its user, and used once.
    let (_, token0) = &admitted[0];
    let borrowed = first.issue_admitted(&users[5], coupon, token0).await;
    assert_eq!(
        borrowed.str("result"),
        "QUEUED",
        "another user's token: {:?}",
        borrowed.body
    );
    let forged = first
        .issue_admitted(&users[1], coupon, &format!("{token0}x"))
        .await;
    assert_eq!(forged.str("result"), "QUEUED");
    for (i, token) in &admitted[..3] {
        let r = nodes[(i + 1) % nodes.len()]
            .issue_admitted(&users[*i], coupon, token)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "user {i}: {:?}", r.body);
    }
    let replayed = first.issue_admitted(&users[0], coupon, token0).await;
    assert_ne!(
        replayed.str("result"),
        "ACCEPTED",
        "single use: {:?}",
        replayed.body
    );

    // The three units are gone: those still waiting hear SOLD_OUT.
    for node in nodes {
        eventually(
            "SOLD_OUT at the next poll",
            Duration::from_secs(10),
            async || {
                (node.queue(&users[5], coupon).await.str("status") == "SOLD_OUT").then_some(())
            },
        )
        .await;
    }
    let r = first.issue(&users[4], coupon).await;
    assert_eq!(r.str("result"), "SOLD_OUT", "{:?}", r.body);
    coupon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_room_admits_in_order_and_tells_sold_out() {
    let app = TestApp::spawn().await;
    let coupon = admits_in_order_and_tells_sold_out(&[&app]).await;
    assert_eq!(app.persisted_holders(coupon).await.len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_room_is_one_line_across_api_nodes() {
    let stack = Distributed::spawn(|_| {}).await;
    let consumer = stack.start_consumer().await;
    let second = stack.second_api().await;
    let coupon = admits_in_order_and_tells_sold_out(&[&stack.api, &second]).await;
    assert_eq!(
        stack
            .wait_persisted(coupon, 3, Duration::from_secs(60))
            .await,
        3
    );
    second.stop().await;
    consumer.stop().await;
    stack.api.stop().await;
}

// ---- the pre-queue drawn at random at the opening ----

async fn prequeue_is_shuffled_at_the_opening(nodes: &[&TestApp]) {
    let first = nodes[0];
    let coupon = create(
        first,
        &room_coupon(
            100,
            "ALWAYS",
            "SHUFFLED",
            Some(chrono::Duration::seconds(2)),
        ),
    )
    .await;
    // One admission a second: most are still waiting when their places are read.
    let r = first
        .configure_room(coupon, &json!({"minRate": 1.0, "maxRate": 1.0}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let users: Vec<String> = (0..30).map(|_| first.mint_user().1).collect();
    for (i, token) in users.iter().enumerate() {
        let r = nodes[i % nodes.len()].issue(token, coupon).await;
        assert_eq!(r.str("result"), "QUEUED", "{:?}", r.body);
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut places = Vec::new();
    for (i, token) in users.iter().enumerate() {
        let r = nodes[i % nodes.len()].queue(token, coupon).await;
        match r.str("status") {
            "WAITING" => places.push((i, position(&r))),
            "ADMITTED" => {}
            other => panic!("{other}: {:?}", r.body),
        }
    }
    assert!(places.len() >= 25, "most still wait: {places:?}");
    let mut positions: Vec<u64> = places.iter().map(|(_, p)| *p).collect();
    let inversions = positions.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 0, "the order was drawn, not kept: {places:?}");
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), places.len(), "one place each: {places:?}");
    // A user arriving now queues behind the whole pre-queue.
    let late = first.issue(&first.mint_user().1, coupon).await;
    assert!(position(&late) > places.len() as u64, "{:?}", late.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_prequeue_is_shuffled_at_the_opening() {
    let app = TestApp::spawn().await;
    prequeue_is_shuffled_at_the_opening(&[&app]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_prequeue_is_shuffled_once_for_every_node() {
    let stack = Distributed::spawn(|_| {}).await;
    let second = stack.second_api().await;
    prequeue_is_shuffled_at_the_opening(&[&stack.api, &second]).await;
    second.stop().await;
    stack.api.stop().await;
}

// ---- AUTO: on under latency, off only after calm and a drained line ----

/// The log is slowed (every commit waits 100 ms for company), so the issue path's p95
/// passes the 50 ms threshold: the room turns on. With no more traffic the window is
/// calm; after `room_calm_secs` the room drains (newcomers still queue behind the
/// waiters), and once the line is empty it is off and newcomers go straight in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_auto_room_turns_on_under_latency_and_off_after_draining() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.batch_max_wait_ms = 100;
        c.room_on_p95_ms = 50;
        c.room_off_p95_ms = 20;
        c.room_calm_secs = 2;
        c.room_window_ms = 300;
        c.room_min_rate = 2.0;
        c.room_max_rate = 2.0;
    })
    .await;
    let coupon = create(&app, &room_coupon(100, "AUTO", "FIFO", None)).await;
    assert_eq!(room_state(&app, coupon).await, "OFF");
    // The first one goes straight in; it and the next (each ~100 ms, a slow commit)
    // push the window's p95 past 50 ms, so those after may already be queued.
    let first = app.issue(&app.mint_user().1, coupon).await;
    assert_eq!(
        first.status,
        StatusCode::ACCEPTED,
        "straight in while off: {:?}",
        first.body
    );
    for _ in 0..2 {
        let r = app.issue(&app.mint_user().1, coupon).await;
        assert!(
            r.status == StatusCode::ACCEPTED || r.str("result") == "QUEUED",
            "{:?}",
            r.body
        );
    }
    eventually("the room on", Duration::from_secs(10), async || {
        (room_state(&app, coupon).await == "ON").then_some(())
    })
    .await;
    let switched_on = Instant::now();
    let waiters: Vec<String> = (0..8).map(|_| app.mint_user().1).collect();
    for token in &waiters {
        let r = app.issue(token, coupon).await;
        assert_eq!(r.str("result"), "QUEUED", "{:?}", r.body);
    }
    assert_eq!(
        room_state(&app, coupon).await,
        "ON",
        "hysteresis: no switch off within room_calm_secs"
    );
    eventually("the room draining", Duration::from_secs(15), async || {
        (room_state(&app, coupon).await == "DRAINING").then_some(())
    })
    .await;
    assert!(
        switched_on.elapsed() >= Duration::from_secs(2),
        "not before the calm period"
    );
    let newcomer = app.issue(&app.mint_user().1, coupon).await;
    assert_eq!(
        newcomer.str("result"),
        "QUEUED",
        "while draining, newcomers queue behind: {:?}",
        newcomer.body
    );
    eventually("the room off", Duration::from_secs(20), async || {
        (room_state(&app, coupon).await == "OFF").then_some(())
    })
    .await;
    let straight = app.issue(&app.mint_user().1, coupon).await;
    assert_eq!(
        straight.status,
        StatusCode::ACCEPTED,
        "off again: {:?}",
        straight.body
    );
    // The waiters were admitted in the drain; their tokens still work (whether or not
    // the slow commit above has turned the room on again).
    let r = app.queue(&waiters[0], coupon).await;
    assert_eq!(r.str("status"), "ADMITTED", "{:?}", r.body);
    let claimed = app
        .issue_admitted(&waiters[0], coupon, r.str("admissionToken"))
        .await;
    assert_eq!(claimed.status, StatusCode::ACCEPTED, "{:?}", claimed.body);
    app.stop().await;
}

/// One user through the room: join, poll as told until admitted, claim.
async fn through_the_room(app: &TestApp, coupon: Uuid) {
    let token = app.mint_user().1;
    let joined = app.issue(&token, coupon).await;
    assert_eq!(joined.str("result"), "QUEUED", "{:?}", joined.body);
    loop {
        let r = app.queue(&token, coupon).await;
        match r.str("status") {
            "ADMITTED" => {
                let claimed = app
                    .issue_admitted(&token, coupon, r.str("admissionToken"))
                    .await;
                assert_eq!(claimed.status, StatusCode::ACCEPTED, "{:?}", claimed.body);
                return;
            }
            "WAITING" => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
}

/// Latency the room does not cause is not cut down to the floor. Every commit here
/// waits 100 ms (`batch_max_wait_ms`) whatever the room admits, against a target of
/// 30 ms: AIMD alone would cut the rate by 0.7 every window, to the floor (1/s) within
/// a dozen windows and for as long as that latency lasts. The controller cuts three
/// times, sees that the cuts did not lower the p95, and holds a rate instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_controller_holds_a_rate_under_latency_the_room_does_not_cause() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.batch_max_wait_ms = 100;
        c.room_window_ms = 250;
        c.room_target_p95_ms = 30;
    })
    .await;
    let coupon = create(&app, &room_coupon(100_000, "ALWAYS", "FIFO", None)).await;
    // Start the rate at 40/s (a floor of 40), then let it go down to 1/s.
    let r = app
        .configure_room(coupon, &json!({"minRate": 40.0, "maxRate": 40.0}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = app
        .configure_room(coupon, &json!({"minRate": 1.0, "maxRate": 40.0}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Users go through the room without a pause, 24 at a time, for 20 windows.
    let until = Instant::now() + Duration::from_secs(5);
    let workers = (0..24).map(|_| async {
        while Instant::now() < until {
            through_the_room(&app, coupon).await;
        }
    });
    let mut rates = Vec::new();
    let watch = async {
        while Instant::now() < until {
            let view = app.room_state(coupon).await;
            rates.push(view.body["admissionRate"].as_f64().unwrap_or(0.0));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    futures::future::join(futures::future::join_all(workers), watch).await;
    eprintln!("admission rate every 250 ms: {rates:?}");
    let last = rates[rates.len().saturating_sub(4)..].to_vec();
    assert!(
        rates.iter().any(|&r| r < 40.0),
        "the latency above the target was cut at first: {rates:?}"
    );
    assert!(
        last.iter().all(|&r| r >= 8.0),
        "held well above the floor of 1/s at the end: {rates:?}"
    );
    // Operators see the latency it tolerates instead of the configured 30 ms.
    let coupon_label = coupon.to_string();
    let target = app.metrics().await.sum(
        "couponrush_room_target_p95_seconds",
        &[("coupon", coupon_label.as_str())],
    );
    assert!(
        target > 0.06,
        "the tolerated target, above 30 ms: {target} s"
    );
    // And so does the admin view of the room.
    let view = app.room_state(coupon).await;
    let shown = view.body["targetP95Ms"].as_f64().unwrap_or(0.0);
    assert!(
        shown > 60.0,
        "the admin view's target, above 30 ms: {:?}",
        view.body
    );
    app.stop().await;
}

/// Many requests at once for one coupon on one node turn its AUTO room on from the
/// request path (the opening second cannot wait for a window), and the other node
/// queues too from its next tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_auto_room_turned_on_by_one_node_holds_on_every_node() {
    let stack = Distributed::spawn(|c| {
        c.room_on_in_flight = 8;
        c.room_calm_secs = 3_600;
    })
    .await;
    let second = stack.second_api().await;
    let coupon = create(&stack.api, &room_coupon(1_000, "AUTO", "FIFO", None)).await;
    let crowd: Vec<_> = (0..200)
        .map(|_| {
            let (base, token) = (stack.api.base.clone(), stack.api.mint_user().1);
            let client = stack.api.client.clone();
            tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/api/coupons/{coupon}/issue"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                r.json::<Value>().await.unwrap()["result"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .collect();
    let mut queued = 0;
    for t in crowd {
        if t.await.unwrap() == "QUEUED" {
            queued += 1;
        }
    }
    assert!(queued > 0, "200 at once passed 8 in flight");
    eventually(
        "the second node queueing",
        Duration::from_secs(10),
        async || {
            (second
                .issue(&second.mint_user().1, coupon)
                .await
                .str("result")
                == "QUEUED")
                .then_some(())
        },
    )
    .await;
    assert_eq!(room_state(&second, coupon).await, "ON");
    second.stop().await;
    stack.api.stop().await;
}

/// The consumers' lag turns an AUTO room on (distributed mode): with no consumer
/// running, accepted records pile up in the log; past `room_on_consumer_lag` newcomers
/// queue, on every node. Once a consumer has persisted them, the room drains and turns
/// off again (after `room_calm_secs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_auto_room_turns_on_when_the_consumers_fall_behind() {
    let stack = Distributed::spawn(|c| {
        c.room_on_consumer_lag = 5;
        c.room_window_ms = 200;
        c.room_calm_secs = 1;
    })
    .await;
    let second = stack.second_api().await;
    let coupon = create(&stack.api, &room_coupon(1_000, "AUTO", "FIFO", None)).await;
    for _ in 0..6 {
        let (_, user) = stack.api.mint_user();
        let r = stack.api.issue(&user, coupon).await;
        assert_eq!(r.str("result"), "ACCEPTED", "{:?}", r.body);
    }
    for node in [&stack.api, &second] {
        eventually(
            "a newcomer queued behind the consumers' lag",
            Duration::from_secs(20),
            async || {
                (node.issue(&node.mint_user().1, coupon).await.str("result") == "QUEUED")
                    .then_some(())
            },
        )
        .await;
    }
    assert_eq!(room_state(&stack.api, coupon).await, "ON");

    let consumer = stack.start_consumer().await;
    eventually(
        "the room off once the consumers caught up",
        Duration::from_secs(60),
        async || (room_state(&stack.api, coupon).await == "OFF").then_some(()),
    )
    .await;
    // Each node's request path follows the switch from its next window on.
    eventually(
        "newcomers straight in again",
        Duration::from_secs(10),
        async || {
            (stack
                .api
                .issue(&stack.api.mint_user().1, coupon)
                .await
                .str("result")
                == "ACCEPTED")
                .then_some(())
        },
    )
    .await;
    consumer.stop().await;
    second.stop().await;
    stack.api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_the_room() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(reqwest::Method::GET, "/api-docs/openapi.json", None, None)
        .await
        .body;
    let issue_ok =
        doc["paths"]["/api/coupons/{id}/issue"]["post"]["responses"]["200"]["description"]
            .as_str()
            .unwrap_or_default();
    assert!(issue_ok.contains("QUEUED"), "{issue_ok}");
    assert!(doc["paths"]["/api/coupons/{id}/queue"]["get"].is_object());
    let room = &doc["paths"]["/api/admin/coupons/{id}/waiting-room"];
    assert!(room["get"].is_object() && room["put"].is_object());
    for field in ["position", "etaSeconds", "pollAfterMs", "placeTicket"] {
        assert!(
            doc["components"]["schemas"]["IssueResponse"]["properties"]
                .get(field)
                .is_some(),
            "IssueResponse lacks {field}"
        );
    }
    assert!(
        doc["components"]["schemas"]["QueueStatusResponse"]["properties"]
            .get("placeTicket")
            .is_some(),
        "QueueStatusResponse lacks placeTicket"
    );
    // Both calls take the ticket back, as an optional header.
    for (path, method) in [
        ("/api/coupons/{id}/issue", "post"),
        ("/api/coupons/{id}/queue", "get"),
    ] {
        let params = doc["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            params.iter().any(|p| p["name"] == "Place-Ticket"
                && p["in"] == "header"
                && p["required"] != true),
            "{method} {path}: no optional Place-Ticket header in {params:?}"
        );
    }
    app.stop().await;
}

// ---- places that survive a loss of the line (place tickets) ----

/// One waiter: their access token and the latest place ticket they were handed.
struct Waiter {
    token: String,
    ticket: String,
}

fn ticket(r: &Reply) -> String {
    let t = r.str("placeTicket");
    assert!(!t.is_empty(), "a place ticket in {:?}", r.body);
    t.to_owned()
}

/// `count` fresh users join `coupon`'s line, alternating nodes, each keeping the ticket
/// of their QUEUED answer; places 1, 2, … in order.
async fn join_in_order(nodes: &[&TestApp], coupon: Uuid, count: usize) -> Vec<Waiter> {
    let mut waiters = Vec::new();
    for i in 0..count {
        let token = nodes[0].mint_user().1;
        let r = nodes[i % nodes.len()].issue(&token, coupon).await;
        assert_eq!(
            (r.str("result"), position(&r)),
            ("QUEUED", i as u64 + 1),
            "{:?}",
            r.body
        );
        let ticket = ticket(&r);
        waiters.push(Waiter { token, ticket });
    }
    waiters
}

/// The waiters come back after the loss, the last first, each polling with their
/// ticket: each is put back at their place, so ahead of everyone who came back before
/// them and of whoever joined since the loss.
async fn come_back_in_reverse(nodes: &[&TestApp], coupon: Uuid, waiters: &mut [Waiter]) {
    for (i, w) in waiters.iter_mut().enumerate().rev() {
        let r = nodes[i % nodes.len()]
            .queue_with_ticket(&w.token, coupon, &w.ticket)
            .await;
        assert_eq!(
            (r.str("status"), position(&r)),
            ("WAITING", 1),
            "waiter {i} back at the head of those present: {:?}",
            r.body
        );
        w.ticket = ticket(&r);
    }
}

/// Polls every waiter (with their latest ticket) until each is ADMITTED; returns the
/// order in which they were. No poll answered before `fenced_until` may say ADMITTED:
/// the line admits nobody while it is re-seeded, and that window began no sooner than
/// the loss (`fenced_until` is taken before the loss, plus the window).
async fn admission_order(
    nodes: &[&TestApp],
    coupon: Uuid,
    waiters: &mut [Waiter],
    fenced_until: Instant,
) -> Vec<usize> {
    let mut order = Vec::new();
    let start = Instant::now();
    while order.len() < waiters.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "admissions stalled: {order:?}"
        );
        for (i, w) in waiters.iter_mut().enumerate() {
            if order.contains(&i) {
                continue;
            }
            let r = nodes[i % nodes.len()]
                .queue_with_ticket(&w.token, coupon, &w.ticket)
                .await;
            match r.str("status") {
                "ADMITTED" => {
                    assert!(
                        Instant::now() >= fenced_until,
                        "waiter {i} admitted while the line was being re-seeded"
                    );
                    order.push(i);
                }
                "WAITING" => w.ticket = ticket(&r),
                other => panic!("waiter {i}: {other} {:?}", r.body),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    order
}

/// A place in line survives Redis losing the line, across two api nodes: six waiters
/// in an ALWAYS room (its pre-queue), every key of the room deleted, a newcomer joins,
/// tickets that are not the caller's own place are refused, the six come back in
/// reverse with their tickets. Nobody is admitted during the re-seeding window; then
/// the six in the order they first arrived, the newcomer last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_places_survive_a_loss_of_the_redis_line() {
    const GRACE: Duration = Duration::from_secs(3);
    let stack = Distributed::spawn(|c| {
        c.room_reseed_grace_secs = GRACE.as_secs();
        // Two admissions a second, configured (an admin's bounds live in the line and
        // would be lost with it).
        c.room_min_rate = 2.0;
        c.room_max_rate = 2.0;
    })
    .await;
    let second = stack.second_api().await;
    let nodes = [&stack.api, &second];
    let coupon = create(
        &stack.api,
        &room_coupon(20, "ALWAYS", "FIFO", Some(chrono::Duration::seconds(2))),
    )
    .await;
    let elsewhere = create(
        &stack.api,
        &room_coupon(20, "ALWAYS", "FIFO", Some(chrono::Duration::hours(1))),
    )
    .await;
    let mut waiters = join_in_order(&nodes, coupon, 6).await;

    // Redis loses the room: every key of it, in this deployment's prefix only (other
    // tests share the server).
    let conn = couponrush_redis::connection(&stack.config.redis_url)
        .await
        .expect("redis");
    let keys =
        couponrush_redis::RedisWaitingLine::new(conn.clone(), &stack.config.redis_key_prefix)
            .expect("line")
            .room_keys(couponrush_domain::CouponId::from_uuid(coupon));
    let fenced_until = Instant::now() + GRACE;
    redis::cmd("DEL")
        .arg(&keys)
        .query_async::<()>(&mut conn.clone())
        .await
        .expect("DEL");

    let newcomer = stack.api.mint_user().1;
    let r = second.issue(&newcomer, coupon).await;
    assert_eq!(
        (r.str("result"), position(&r)),
        ("QUEUED", 1),
        "the line was lost: {:?}",
        r.body
    );
    let newcomer = Waiter {
        ticket: ticket(&r),
        token: newcomer,
    };

    // Only the caller's own, genuine ticket for this coupon puts them back.
    let forged = format!("{}x", waiters[0].ticket);
    let someone_elses = waiters[0].ticket.clone();
    let other_coupon = ticket(&stack.api.issue(&waiters[2].token, elsewhere).await);
    for (who, presented, what) in [
        (0, forged.as_str(), "a forged ticket"),
        (1, someone_elses.as_str(), "another user's ticket"),
        (2, other_coupon.as_str(), "a ticket for another coupon"),
    ] {
        let r = stack
            .api
            .queue_with_ticket(&waiters[who].token, coupon, presented)
            .await;
        assert_eq!(r.str("status"), "NOT_IN_QUEUE", "{what}: {:?}", r.body);
    }

    come_back_in_reverse(&nodes, coupon, &mut waiters).await;
    for (i, w) in waiters.iter().enumerate() {
        let r = nodes[i % nodes.len()].queue(&w.token, coupon).await;
        assert_eq!(position(&r), i as u64 + 1, "waiter {i}: {:?}", r.body);
    }
    assert_eq!(position(&stack.api.queue(&newcomer.token, coupon).await), 7);

    waiters.push(newcomer);
    let order = admission_order(&nodes, coupon, &mut waiters, fenced_until).await;
    assert_eq!(
        order,
        [0, 1, 2, 3, 4, 5, 6],
        "the order of first arrival, the newcomer last"
    );
    second.stop().await;
    stack.api.stop().await;
}

/// The embedded line lives in the process: a restart loses it. Six waiters keep their
/// places across one with their tickets, ahead of a newcomer who joined first after
/// it, and nobody is admitted during the re-seeding window. An admission handed out
/// before the restart is still honoured after it, once (the gate: one per user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_places_and_admissions_survive_a_restart() {
    const GRACE: Duration = Duration::from_secs(2);
    let tweak = |c: &mut couponrush_cli::Config| {
        c.room_reseed_grace_secs = GRACE.as_secs();
        c.room_min_rate = 2.0;
        c.room_max_rate = 2.0;
    };
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), tweak).await;
    let admitted_room = create(&app, &room_coupon(5, "ALWAYS", "FIFO", None)).await;
    let holder = app.mint_user().1;
    assert_eq!(
        app.issue(&holder, admitted_room).await.str("result"),
        "QUEUED"
    );
    let admission = eventually("an admission", Duration::from_secs(10), async || {
        let r = app.queue(&holder, admitted_room).await;
        (r.str("status") == "ADMITTED").then(|| r.str("admissionToken").to_owned())
    })
    .await;
    let coupon = create(
        &app,
        &room_coupon(20, "ALWAYS", "FIFO", Some(chrono::Duration::seconds(3))),
    )
    .await;
    let mut waiters = join_in_order(&[&app], coupon, 6).await;

    let dir = app.stop().await;
    let fenced_until = Instant::now() + GRACE;
    let app = TestApp::spawn_in(dir, tweak).await;
    let newcomer = app.mint_user().1;
    let r = app.issue(&newcomer, coupon).await;
    assert_eq!(
        (r.str("result"), position(&r)),
        ("QUEUED", 1),
        "{:?}",
        r.body
    );
    let newcomer = Waiter {
        ticket: ticket(&r),
        token: newcomer,
    };
    come_back_in_reverse(&[&app], coupon, &mut waiters).await;
    assert_eq!(position(&app.queue(&newcomer.token, coupon).await), 7);

    let claimed = app.issue_admitted(&holder, admitted_room, &admission).await;
    assert_eq!(
        claimed.status,
        StatusCode::ACCEPTED,
        "an admission from before the restart: {:?}",
        claimed.body
    );
    let again = app.issue_admitted(&holder, admitted_room, &admission).await;
    assert_eq!(again.str("result"), "ALREADY_ISSUED", "{:?}", again.body);

    waiters.push(newcomer);
    let order = admission_order(&[&app], coupon, &mut waiters, fenced_until).await;
    assert_eq!(order, [0, 1, 2, 3, 4, 5, 6]);
    app.stop().await;
}

/// An AUTO room that was on when Redis lost its line: the switch went with the line,
/// but the nodes saw the room on, so they keep newcomers queuing (DRAINING) behind the
/// waiters coming back, past their next window. Once those are through and the window
/// closed, the room drains and switches off: newcomers go straight in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_auto_room_keeps_newcomers_behind_after_a_loss_then_switches_off() {
    const GRACE: Duration = Duration::from_secs(3);
    let stack = Distributed::spawn(|c| {
        c.room_reseed_grace_secs = GRACE.as_secs();
        c.room_min_rate = 2.0;
        c.room_max_rate = 2.0;
        c.room_window_ms = 200;
        c.room_calm_secs = 1;
    })
    .await;
    let second = stack.second_api().await;
    let nodes = [&stack.api, &second];
    let coupon = create(
        &stack.api,
        &room_coupon(20, "AUTO", "FIFO", Some(chrono::Duration::seconds(1))),
    )
    .await;
    let conn = couponrush_redis::connection(&stack.config.redis_url)
        .await
        .expect("redis");
    let line =
        couponrush_redis::RedisWaitingLine::new(conn.clone(), &stack.config.redis_key_prefix)
            .expect("line");
    let coupon_id = couponrush_domain::CouponId::from_uuid(coupon);
    // On, as the AUTO switch turns it under overload; both nodes see it.
    couponrush_domain::ports::WaitingLine::set_switch(
        &line,
        coupon_id,
        couponrush_domain::waiting_room::RoomSwitch::On,
    )
    .await
    .expect("switch on");
    for node in nodes {
        eventually("the room on", Duration::from_secs(10), async || {
            (room_state(node, coupon).await == "ON").then_some(())
        })
        .await;
    }
    let mut waiters = join_in_order(&nodes, coupon, 4).await;

    let fenced_until = Instant::now() + GRACE;
    redis::cmd("DEL")
        .arg(line.room_keys(coupon_id))
        .query_async::<()>(&mut conn.clone())
        .await
        .expect("DEL");
    // Past the opening and a few of the nodes' windows: an AUTO room whose shared
    // switch reads OFF would have let the next request through by now.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let newcomer = second.mint_user().1;
    let r = second.issue(&newcomer, coupon).await;
    assert_eq!(
        r.str("result"),
        "QUEUED",
        "a newcomer after the loss waits behind those coming back: {:?}",
        r.body
    );
    let newcomer = Waiter {
        ticket: ticket(&r),
        token: newcomer,
    };
    come_back_in_reverse(&nodes, coupon, &mut waiters).await;
    waiters.push(newcomer);
    let order = admission_order(&nodes, coupon, &mut waiters, fenced_until).await;
    assert_eq!(order, [0, 1, 2, 3, 4]);

    // Drained and calm: off, and the next request goes straight to the gate.
    for node in nodes {
        eventually("the room off", Duration::from_secs(20), async || {
            (room_state(node, coupon).await == "OFF").then_some(())
        })
        .await;
    }
    let r = stack.api.issue(&stack.api.mint_user().1, coupon).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    second.stop().await;
    stack.api.stop().await;
}
