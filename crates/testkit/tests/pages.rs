//! The pages in a real browser (headless Chromium through ChromeDriver) against a real
//! embedded server: a person signs up, waits for the countdown, gets the coupon and
//! uses it; an admin creates a coupon and watches its figures move during a rush; a
//! queued person sees the line move and is admitted; the page works with the keyboard at
//! a phone's width. A failing wait leaves a screenshot in `target/browser-screenshots/`.
//!
//! `COUPONRUSH_SCREENSHOTS=docs/screenshots` (relative to the workspace) also saves the
//! pictures the README shows.

use couponrush_testkit::browser::{Browser, DESKTOP, PHONE, WAIT};
use couponrush_testkit::env::unique;
use couponrush_testkit::{CouponSpec, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

/// Where to keep the README's pictures, when asked.
fn docs_shots() -> Option<PathBuf> {
    std::env::var("COUPONRUSH_SCREENSHOTS").ok().map(|dir| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir)
    })
}

async fn picture(browser: &Browser, file: &str) {
    if let Some(dir) = docs_shots() {
        browser.screenshot_to(&dir, file).await;
    }
}

/// The coupon as the server holds it.
async fn stored_coupon(app: &TestApp, coupon: Uuid) -> couponrush_testkit::Reply {
    app.call(
        Method::GET,
        &format!("/api/coupons/{coupon}"),
        Some(&app.admin_token),
        None,
    )
    .await
}

async fn create(app: &TestApp, body: serde_json::Value) -> Uuid {
    let r = app.create_coupon(&app.admin_token, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.str("id").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_waits_for_the_opening_gets_the_coupon_and_uses_it() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start("person", DESKTOP).await;
    let username = unique("person");
    b.sign_up(&app.base, &username, PASSWORD).await;
    // Logged in, and no token where an injected script would look for one.
    let stored = b
        .client()
        .execute(
            "return [localStorage.length, document.cookie, JSON.stringify(Object.assign({}, sessionStorage))]",
            vec![],
        )
        .await
        .unwrap();
    b.ensure(
        stored[0] == json!(0)
            && stored[1] == json!("")
            && !stored[2].as_str().unwrap_or("eyJ").contains("eyJ"),
        &format!("the page stored {stored}"),
    )
    .await;
    // Created once the person is in, so the countdown is still running however slowly
    // the browser started; the person follows a link to it.
    let mut spec = CouponSpec::active(10).to_json();
    spec["name"] = json!("Friday chicken, 3,000 off");
    spec["opensAt"] = json!((chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339());
    spec["waitingRoom"] = json!("OFF");
    let coupon = create(&app, spec).await;
    b.open(&format!("{}/#/events/{coupon}", app.base)).await;

    b.wait_text("#countdown", WAIT, "a countdown", |t| {
        t.starts_with("Opens in")
    })
    .await;
    let button = b.find("#get-coupon").await;
    let enabled = button.is_enabled().await.unwrap();
    b.ensure(!enabled, "the button works before the opening")
        .await;
    // The style sheet loaded under the page's CSP: the button has the accent colour.
    let colour = b
        .client()
        .execute(
            "return getComputedStyle(document.getElementById('get-coupon')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    b.ensure(
        colour == json!("rgb(194, 65, 12)"),
        &format!("the style sheet did not apply: {colour}"),
    )
    .await;
    picture(&b, "event-before-opening.png").await;

    b.wait_text("#countdown", Duration::from_secs(30), "the opening", |t| {
        t == "Open now"
    })
    .await;
    b.click("#get-coupon").await;
    let said = b
        .wait_attr("#result", "data-result", WAIT, |r| {
            ["ISSUED", "ERROR", "SOLD_OUT", "NOT_OPEN"].contains(&r)
        })
        .await;
    b.ensure(said == "ISSUED", &format!("the result was {said}"))
        .await;
    picture(&b, "event-issued.png").await;

    b.click("#to-my-coupons").await;
    b.click(&format!("button[data-use='{coupon}']")).await;
    b.wait_attr(
        &format!("li[data-coupon='{coupon}'] .badge"),
        "data-state",
        WAIT,
        |s| s == "USED",
    )
    .await;
    b.close().await;

    // What the page showed is what the server holds.
    let token = app.login_ok(&username, PASSWORD).await;
    let mine = app.my_coupons(&token).await;
    assert_eq!(
        mine.body.as_array().map(Vec::len),
        Some(1),
        "{:?}",
        mine.body
    );
    assert!(!mine.body[0]["usedAt"].is_null(), "{:?}", mine.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_a_coupon_and_watches_a_rush() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start("admin", DESKTOP).await;
    b.log_in(
        &app.base,
        couponrush_testkit::ADMIN_USERNAME,
        couponrush_testkit::ADMIN_PASSWORD,
    )
    .await;
    b.click("#nav-admin").await;
    b.find("#create-form").await;
    picture(&b, "admin-new-coupon.png").await;
    b.fill("#c-name", "Lunch rush pizza").await;
    b.select("#c-type", "PIZZA").await;
    b.select("#c-discount-type", "PERCENTAGE").await;
    b.fill("#c-discount-value", "20").await;
    b.fill("#c-quantity", "40").await;
    b.select("#c-room", "OFF").await;
    b.click("#create").await;
    b.find("#fig-persisted").await;
    let url = b.client().current_url().await.unwrap();
    let coupon: Uuid = url
        .fragment()
        .and_then(|f| f.strip_prefix("/admin/coupons/"))
        .and_then(|id| id.parse().ok())
        .expect("the console shows the new coupon");
    b.wait_text("#fig-remaining", WAIT, "the full stock", |t| t == "40")
        .await;

    // What the console created is what the server holds.
    let stored = stored_coupon(&app, coupon).await;
    assert_eq!(stored.body["name"], "Lunch rush pizza");
    assert_eq!(stored.body["discountType"], "PERCENTAGE");
    assert_eq!(stored.body["discountValue"], 20);
    assert_eq!(stored.body["totalQuantity"], 40);

    // A small rush: 60 people for 40 coupons.
    let rush = (0..60).map(|_| {
        let (_, token) = app.mint_user();
        let app = &app;
        async move { app.issue(&token, coupon).await.status }
    });
    let answers = futures::future::join_all(rush).await;
    assert!(answers.iter().all(|s| s.is_success()), "{answers:?}");

    b.wait_text("#fig-persisted", WAIT, "40 persisted", |t| t == "40")
        .await;
    b.wait_text("#fig-remaining", WAIT, "none left", |t| t == "0")
        .await;
    b.wait_text("#fig-backlog", WAIT, "nothing waiting to persist", |t| {
        t == "0"
    })
    .await;
    b.wait_text("#fig-lag", WAIT, "no consumers in embedded mode", |t| {
        t == "n/a"
    })
    .await;
    picture(&b, "admin-console.png").await;

    // Disabling it from the list.
    b.click("#nav-admin").await;
    b.click(&format!("button[data-toggle='{coupon}']")).await;
    b.wait_attr(
        &format!("tr[data-coupon='{coupon}'] .badge"),
        "data-status",
        WAIT,
        |s| s == "DISABLED",
    )
    .await;
    b.close().await;
    let stored = stored_coupon(&app, coupon).await;
    assert_eq!(stored.body["status"], "DISABLED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_person_sees_the_line_move_and_is_admitted() {
    let app = TestApp::spawn().await;
    let mut spec = CouponSpec::active(100).to_json();
    spec["name"] = json!("Queued hamburger");
    spec["waitingRoom"] = json!("ALWAYS");
    let coupon = create(&app, spec).await;
    // One admission a second, so the line visibly moves.
    let r = app
        .configure_room(coupon, &json!({"minRate": 1, "maxRate": 1}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let mut b = Browser::start("queued", DESKTOP).await;
    b.sign_up(&app.base, &unique("queued"), PASSWORD).await;
    b.click(&format!("a[data-coupon='{coupon}']")).await;
    b.find("#get-coupon").await;
    // Six people ahead, who joined just before.
    for _ in 0..6 {
        let (_, token) = app.mint_user();
        let r = app.issue(&token, coupon).await;
        assert_eq!(r.body["result"], "QUEUED", "{:?}", r.body);
    }
    b.click("#get-coupon").await;
    let first: u64 = b
        .wait_text("#queue-position", WAIT, "a place in line", |t| {
            t.parse::<u64>().is_ok_and(|p| p >= 2)
        })
        .await
        .parse()
        .unwrap();
    picture(&b, "event-queued.png").await;
    b.wait_text(
        "#queue-position",
        Duration::from_secs(30),
        "a smaller place",
        |t| t.parse::<u64>().is_ok_and(|p| p < first),
    )
    .await;
    let said = b
        .wait_attr("#result", "data-result", Duration::from_secs(40), |r| {
            ["ISSUED", "ERROR", "SOLD_OUT"].contains(&r)
        })
        .await;
    b.ensure(said == "ISSUED", &format!("the result was {said}"))
        .await;
    b.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_page_fits_and_works_with_the_keyboard() {
    let app = TestApp::spawn().await;
    let coupon = create(&app, CouponSpec::active(5).to_json()).await;
    let mut b = Browser::start("phone", PHONE).await;
    b.sign_up(&app.base, &unique("phone"), PASSWORD).await;
    b.click(&format!("a[data-coupon='{coupon}']")).await;
    b.find("#get-coupon").await;
    let overflow = b
        .client()
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    b.ensure(
        overflow == json!(0),
        &format!("the page scrolls sideways by {overflow} px"),
    )
    .await;

    // From the top of the page, Tab reaches the button and Enter presses it.
    b.client()
        .execute(
            "document.activeElement.blur(); window.scrollTo(0, 0)",
            vec![],
        )
        .await
        .unwrap();
    let mut reached = false;
    for _ in 0..20 {
        let active = b.client().active_element().await.unwrap();
        if active.attr("id").await.unwrap().as_deref() == Some("get-coupon") {
            active.send_keys("\u{E007}").await.unwrap();
            reached = true;
            break;
        }
        active.send_keys("\u{E004}").await.unwrap();
    }
    b.ensure(reached, "Tab never reached the button").await;
    let said = b
        .wait_attr("#result", "data-result", WAIT, |r| {
            ["ISSUED", "ERROR", "SOLD_OUT"].contains(&r)
        })
        .await;
    b.ensure(said == "ISSUED", &format!("the result was {said}"))
        .await;
    b.close().await;
    app.stop().await;
}

/// A wrong password is said in words, from the API's code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_shown_in_words() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start("errors", DESKTOP).await;
    b.open(&format!("{}/", app.base)).await;
    b.fill("#username", &unique("nobody")).await;
    b.fill("#password", "not the password").await;
    b.click("#login").await;
    b.wait_text(
        "#login-message",
        WAIT,
        "the words for a wrong password",
        |t| t == "Wrong username or password.",
    )
    .await;
    b.close().await;
    app.stop().await;
}

/// The page and its assets carry the browser-grade headers, and revalidate with 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_served_with_browser_grade_headers() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(get("content-type").starts_with(kind), "{path}");
        assert_eq!(
            get("content-security-policy"),
            couponrush_api::pages::CONTENT_SECURITY_POLICY
        );
        assert_eq!(get("x-content-type-options"), "nosniff");
        assert_eq!(get("x-frame-options"), "DENY");
        assert_eq!(get("referrer-policy"), "no-referrer");
        let etag = get("etag").to_owned();
        assert!(etag.starts_with('"'), "{path}: {etag}");
        let again = app
            .client
            .get(app.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    app.stop().await;
}

/// The interactive API docs render in the browser under their own policy, from files
/// compiled into the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_page_renders_under_its_policy() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api-docs/")).send().await.unwrap();
    let policy = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        policy,
        couponrush_api::routes::docs::DOCS_CONTENT_SECURITY_POLICY
    );
    let mut b = Browser::start("api-docs", DESKTOP).await;
    b.open(&app.url("/api-docs/")).await;
    b.wait_text(
        ".swagger-ui .info .title",
        WAIT,
        "the document's title",
        |t| t.contains("couponrush"),
    )
    .await;
    let operations = b
        .client()
        .execute(
            "return document.querySelectorAll('.opblock').length",
            vec![],
        )
        .await
        .unwrap();
    b.ensure(
        operations.as_u64().is_some_and(|n| n >= 20),
        &format!("{operations} operations shown"),
    )
    .await;
    b.close().await;
    app.stop().await;
}

/// Distributed mode: the console's consumer lag is the pipeline's. With no consumer
/// running, accepted records show as lag; once a consumer has persisted them, 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_consumers_lag_in_distributed_mode() {
    let stack = couponrush_testkit::Distributed::spawn(|_| {}).await;
    let app = &stack.api;
    let coupon = create(app, CouponSpec::active(20).to_json()).await;
    for _ in 0..5 {
        let (_, user) = app.mint_user();
        assert_eq!(app.issue(&user, coupon).await.str("result"), "ACCEPTED");
    }
    let mut b = Browser::start("console-distributed", DESKTOP).await;
    b.log_in(
        &app.base,
        couponrush_testkit::ADMIN_USERNAME,
        couponrush_testkit::ADMIN_PASSWORD,
    )
    .await;
    b.open(&format!("{}/#/admin/coupons/{coupon}", app.base))
        .await;
    b.wait_text("#fig-lag", WAIT, "5 records behind", |t| t == "5")
        .await;
    b.wait_text("#fig-persisted", WAIT, "nothing persisted yet", |t| {
        t == "0"
    })
    .await;
    let consumer = stack.start_consumer().await;
    b.wait_text(
        "#fig-persisted",
        Duration::from_secs(60),
        "5 persisted",
        |t| t == "5",
    )
    .await;
    b.wait_text("#fig-lag", Duration::from_secs(60), "no lag", |t| t == "0")
        .await;
    b.close().await;
    consumer.stop().await;
    stack.api.stop().await;
}
