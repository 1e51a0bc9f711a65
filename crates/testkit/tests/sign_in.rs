//! Signing in never takes the rush down: every login costs one password verification
//! (known username or not), throttled attempts cost none and are answered 429 before
//! any hashing, a full hash pool answers 503 `AUTH_BUSY` at once, old hashes are
//! upgraded, and in distributed mode the counters are shared by every api node.
//! Hashing work is counted from the server's own `/metrics`
//! (`couponrush_password_hashes_total`), so these run against the real wiring.

use couponrush_testkit::{Distributed, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

const HASHES: &str = "couponrush_password_hashes_total";
const PASSWORD: &str = "the right password";

async fn verifies(app: &TestApp) -> f64 {
    app.metrics()
        .await
        .sum(HASHES, &[("op", "verify"), ("outcome", "done")])
}

async fn hashes(app: &TestApp) -> f64 {
    app.metrics()
        .await
        .sum(HASHES, &[("op", "hash"), ("outcome", "done")])
}

fn name() -> String {
    format!("user-{}", uuid::Uuid::new_v4().simple())
}

/// A login that says it comes, through a trusted proxy, from `client`.
async fn login_from(
    app: &TestApp,
    client: &str,
    username: &str,
    password: &str,
) -> (StatusCode, String, Option<u64>) {
    let (reply, headers) = app
        .call_with(
            Method::POST,
            "/api/auth/login",
            None,
            Some(&json!({"username": username, "password": password})),
            &[("x-forwarded-for", client)],
        )
        .await;
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (reply.status, reply.code().to_owned(), retry_after)
}

/// The test server sits behind a "proxy" on loopback, so each request can name its
/// client in `X-Forwarded-For`.
async fn behind_proxy(tweak: impl FnOnce(&mut couponrush_cli::Config)) -> TestApp {
    TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        tweak(c);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_username_costs_the_same_one_verify_as_a_wrong_password() {
    let app = TestApp::spawn().await;
    let user = name();
    assert_eq!(
        app.signup(&user, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let before = verifies(&app).await;

    let wrong = app.login(&user, "not the password").await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
    );
    assert_eq!(
        verifies(&app).await,
        before + 1.0,
        "a wrong password: one verify"
    );

    let unknown = app.login(&name(), "not the password").await;
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body, "the same answer, word for word");
    assert_eq!(
        verifies(&app).await,
        before + 2.0,
        "an unknown username: one verify too"
    );

    app.login_ok(&user, PASSWORD).await;
    assert_eq!(verifies(&app).await, before + 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessed_username_is_locked_before_any_hashing_whatever_address_guesses() {
    let app = behind_proxy(|c| {
        c.login_free_failures = 3;
        // Long enough that the lockout is still on when the test asks.
        c.login_lockout_base_ms = 60_000;
    })
    .await;
    let user = name();
    assert_eq!(
        app.signup(&user, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let before = verifies(&app).await;
    // Four failures, each from another address: the fourth locks the username.
    for i in 0..4 {
        let (status, code, _) =
            login_from(&app, &format!("198.51.100.{i}"), &user, "wrong guess").await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
        );
    }
    assert_eq!(verifies(&app).await, before + 4.0);

    // A fifth address, and even the right password: refused, nothing hashed.
    let (status, code, retry_after) = login_from(&app, "203.0.113.50", &user, PASSWORD).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
    );
    let retry_after = retry_after.expect("429 carries Retry-After");
    assert!(
        (59..=60).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(
        verifies(&app).await,
        before + 4.0,
        "a throttled attempt costs no hashing"
    );
    let m = app.metrics().await;
    assert_eq!(
        m.sum("couponrush_auth_throttled_total", &[("action", "login")]),
        1.0
    );

    // Another user is not affected.
    let other = name();
    assert_eq!(
        app.signup(&other, PASSWORD).await.status,
        StatusCode::CREATED
    );
    app.login_ok(&other, PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_spraying_usernames_is_throttled_and_its_header_is_believed_only_from_a_proxy()
{
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.login_failures_per_address_per_min = 5;
    })
    .await;
    // Not behind a trusted proxy: the forged header changes nothing, every failure
    // counts under the socket's address.
    for i in 0..5 {
        let (status, ..) = login_from(&app, &format!("192.0.2.{i}"), &name(), "spray guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let before = verifies(&app).await;
    let (status, code, retry_after) = login_from(&app, "192.0.2.99", &name(), "spray guess").await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
    );
    assert!(
        retry_after.is_some_and(|s| (1..=12).contains(&s)),
        "{retry_after:?}"
    );
    assert_eq!(verifies(&app).await, before, "refused before any hashing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signups_are_limited_per_address() {
    let app = behind_proxy(|c| c.signups_per_address_per_min = 2).await;
    let signup_from = |client: &'static str| {
        let app = &app;
        async move {
            let (reply, headers) = app
                .call_with(
                    Method::POST,
                    "/api/users/signup",
                    None,
                    Some(&json!({"username": name(), "password": PASSWORD})),
                    &[("x-forwarded-for", client)],
                )
                .await;
            (
                reply.status,
                reply.code().to_owned(),
                headers.contains_key("retry-after"),
            )
        }
    };
    assert_eq!(signup_from("198.51.100.1").await.0, StatusCode::CREATED);
    assert_eq!(signup_from("198.51.100.1").await.0, StatusCode::CREATED);
    let before = hashes(&app).await;
    let refused = signup_from("198.51.100.1").await;
    assert_eq!(
        refused,
        (
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_ATTEMPTS".into(),
            true
        )
    );
    assert_eq!(
        hashes(&app).await,
        before,
        "a refused signup hashes nothing"
    );
    assert_eq!(
        signup_from("198.51.100.2").await.0,
        StatusCode::CREATED,
        "another address has its own budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hash_pool_answers_auth_busy_at_once() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), |c| {
        c.password_hash_threads = 1;
        c.password_hash_queue = 1;
        // About a second a hash: one runs, one waits, the rest arrive while they do.
        c.argon2_memory_kib = 64 * 1024;
        c.argon2_iterations = 16;
        c.login_failures_per_address_per_min = 0;
    })
    .await;
    let logins = (0..12).map(|_| {
        let app = &app;
        async move {
            let (reply, headers) = app
                .call_with(
                    Method::POST,
                    "/api/auth/login",
                    None,
                    Some(&json!({"username": name(), "password": "some password"})),
                    &[],
                )
                .await;
            (
                reply.status,
                reply.code().to_owned(),
                headers.get("retry-after").cloned(),
            )
        }
    });
    let answers = futures::future::join_all(logins).await;
    let busy: Vec<_> = answers.iter().filter(|a| a.1 == "AUTH_BUSY").collect();
    assert!(
        !busy.is_empty(),
        "some logins must find the pool full: {answers:?}"
    );
    for (status, _, retry_after) in &busy {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry_after.is_some(), "AUTH_BUSY carries Retry-After");
    }
    for (status, code, _) in &answers {
        assert!(
            code == "AUTH_BUSY"
                || (*status == StatusCode::UNAUTHORIZED && code == "INVALID_CREDENTIALS"),
            "only busy or a checked failure: {status} {code}"
        );
    }
    let m = app.metrics().await;
    assert_eq!(
        m.sum(HASHES, &[("op", "verify"), ("outcome", "busy")]),
        busy.len() as f64
    );
}

async fn stored_hash(app: &TestApp, user: &str) -> String {
    let (phc,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE username = ?")
        .bind(user)
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    phc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_made_with_older_parameters_is_upgraded_at_the_next_login() {
    let cheap = |c: &mut couponrush_cli::Config| {
        c.argon2_memory_kib = 1024;
        c.argon2_iterations = 1;
    };
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), cheap).await;
    let user = name();
    assert_eq!(
        app.signup(&user, PASSWORD).await.status,
        StatusCode::CREATED
    );
    assert!(stored_hash(&app, &user).await.contains("m=1024,t=1,p=1"));
    let dir = app.stop().await;

    // Restarted with the default (OWASP) parameters: the old hash still verifies, and
    // the login re-hashes it.
    let app = TestApp::spawn_in(dir, |_| {}).await;
    app.login_ok(&user, PASSWORD).await;
    assert!(stored_hash(&app, &user).await.contains("m=19456,t=2,p=1"));
    app.login_ok(&user, PASSWORD).await;
    assert!(app.login(&user, "not the password").await.status == StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_count_across_api_nodes() {
    let d = Distributed::spawn(|c| {
        c.login_free_failures = 2;
        c.login_lockout_base_ms = 60_000;
    })
    .await;
    let second = d.second_api().await;
    let user = name();
    assert_eq!(
        d.api.signup(&user, PASSWORD).await.status,
        StatusCode::CREATED
    );
    // Alternate nodes: three failures in all lock the username on both.
    for node in [&d.api, &second, &d.api] {
        assert_eq!(
            node.login(&user, "wrong guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    for node in [&second, &d.api] {
        let r = node.login(&user, PASSWORD).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
        );
    }
}

async fn refresh(app: &TestApp, token: &str) -> couponrush_testkit::Reply {
    app.call(
        Method::POST,
        "/api/auth/refresh",
        None,
        Some(&json!({"refreshToken": token})),
    )
    .await
}

async fn logout(app: &TestApp, token: &str) -> StatusCode {
    app.call(
        Method::POST,
        "/api/auth/logout",
        None,
        Some(&json!({"refreshToken": token})),
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotates_once_and_its_reuse_revokes_the_session() {
    let app = TestApp::spawn().await;
    let user = name();
    assert_eq!(
        app.signup(&user, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let login = app.login(&user, PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    let first = login.str("refreshToken").to_owned();
    assert!(
        login.body["refreshExpiresIn"].as_i64().unwrap()
            > login.body["expiresIn"].as_i64().unwrap()
    );
    let (before_verify, before_hash) = (verifies(&app).await, hashes(&app).await);

    let second = refresh(&app, &first).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    let access = second.str("accessToken").to_owned();
    let next = second.str("refreshToken").to_owned();
    assert_ne!(next, first);
    assert_eq!(
        app.my_coupons(&access).await.status,
        StatusCode::OK,
        "the new access token works"
    );
    assert_eq!(
        (verifies(&app).await, hashes(&app).await),
        (before_verify, before_hash),
        "a refresh hashes no password"
    );

    // The first token again: somebody else holds a copy. Refused, and the session is
    // over: the token handed out in its place stops working too.
    let reused = refresh(&app, &first).await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_INVALID")
    );
    let after = refresh(&app, &next).await;
    assert_eq!(
        (after.status, after.code()),
        (StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_INVALID")
    );

    // Garbage is just an invalid token.
    let junk = refresh(&app, "not a token").await;
    assert_eq!(
        (junk.status, junk.code()),
        (StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_INVALID")
    );
    // A new login starts a new session.
    let again = app.login(&user, PASSWORD).await;
    assert_eq!(
        refresh(&app, again.str("refreshToken")).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_api_node_ends_the_session_on_every_node() {
    let d = Distributed::spawn(|_| {}).await;
    let second = d.second_api().await;
    let user = name();
    assert_eq!(
        d.api.signup(&user, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let login = second.login(&user, PASSWORD).await;
    let token = login.str("refreshToken").to_owned();
    // Refreshed on one node, the successor works on the other.
    let rotated = refresh(&d.api, &token).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let token = rotated.str("refreshToken").to_owned();

    assert_eq!(logout(&second, &token).await, StatusCode::NO_CONTENT);
    let r = refresh(&d.api, &token).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_INVALID")
    );
    assert_eq!(
        logout(&d.api, &token).await,
        StatusCode::NO_CONTENT,
        "logout is idempotent"
    );
    assert_eq!(logout(&d.api, "not a token").await, StatusCode::NO_CONTENT);
}
