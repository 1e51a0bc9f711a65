//! The gate is rebuilt from the database on start: what was sold stays sold, who holds
//! a coupon keeps it, and a partly issued coupon continues from the right count.

use couponrush_testkit::TestApp;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_stock_and_holders() {
    let app = TestApp::spawn().await;
    let sold_out = app.active_coupon(3).await;
    let partial = app.active_coupon(10).await;
    let holders: Vec<_> = (0..3).map(|_| app.mint_user()).collect();
    for (_, token) in &holders {
        assert_eq!(app.issue(token, sold_out).await.str("result"), "ACCEPTED");
    }
    for _ in 0..4 {
        let (_, token) = app.mint_user();
        assert_eq!(app.issue(&token, partial).await.str("result"), "ACCEPTED");
    }
    let (_, loser) = app.mint_user();
    assert_eq!(app.issue(&loser, sold_out).await.str("result"), "SOLD_OUT");

    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |_| {}).await;

    // The signing secret was kept in the data dir: tokens from before still work.
    assert_eq!(app.issue(&loser, sold_out).await.str("result"), "SOLD_OUT");
    for (_, token) in &holders {
        let again = app.issue(token, sold_out).await;
        assert_eq!(
            (again.status, again.str("result")),
            (StatusCode::OK, "ALREADY_ISSUED")
        );
        assert_eq!(
            app.issue_state(token, sold_out).await.str("state"),
            "ISSUED"
        );
        // Holding one coupon does not block another: the partial one still has stock.
        assert_eq!(app.issue(token, partial).await.str("result"), "ACCEPTED");
    }
    // 4 + 3 issued of 10: exactly 3 more.
    let mut accepted = 0;
    for _ in 0..10 {
        let (_, token) = app.mint_user();
        if app.issue(&token, partial).await.str("result") == "ACCEPTED" {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 3);
    assert_eq!(app.persisted_holders(partial).await.len(), 10);
    assert_eq!(app.persisted_holders(sold_out).await.len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_is_created_only_on_first_start() {
    let app = TestApp::spawn().await;
    let dir = app.stop().await;
    // A different configured password does not replace the existing admin's.
    let app = TestApp::spawn_in(dir, |_| {}).await;
    assert_eq!(
        app.login("admin", "some-other-password").await.code(),
        "INVALID_CREDENTIALS"
    );
    app.stop().await;
}
