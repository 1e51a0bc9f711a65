//! The checker can fail: tiny axum fixtures that break the guarantees on purpose get a
//! FAIL verdict (and exit code 1), each on the check that names what they broke; one
//! that keeps them but leaves users unanswered passes the verdict and crosses the
//! thresholds (exit code 3).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use couponrush_auth::TokenCodec;
use couponrush_loadtest::{Args, Status, execute};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const SECRET: &str = "fixture-secret-0123456789";
const QUANTITY: u64 = 100;
/// The client's --timeout against `Bug::Stalls`: long enough that no answered request
/// comes near it in a debug build.
const STALL_TIMEOUT: &str = "2s";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// Answers ACCEPTED to every new user, beyond the stock, and persists them all.
    OverIssue,
    /// Keeps the stock right but forgets every 10th ACCEPTED user.
    LosesAccepted,
    /// Correct, but never answers the issue requests of one user in ten (they hang
    /// past the client's timeout, `STALL_TIMEOUT`, and take no stock).
    Stalls,
}

#[derive(Clone)]
struct Fixture {
    bug: Bug,
    codec: TokenCodec,
    coupon: Uuid,
    answered: Arc<Mutex<HashSet<Uuid>>>,
    persisted: Arc<Mutex<HashSet<Uuid>>>,
}

impl Fixture {
    fn user(&self, headers: &HeaderMap) -> Uuid {
        let token = headers["authorization"]
            .to_str()
            .unwrap()
            .trim_start_matches("Bearer ");
        self.codec
            .verify(token)
            .expect("the tool signs with the secret")
            .user_id
            .into_uuid()
    }
}

async fn create(State(f): State<Fixture>) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({"id": f.coupon})))
}

async fn issue(State(f): State<Fixture>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let user = f.user(&headers);
    if f.bug == Bug::Stalls && user.as_u128() % 10 == 0 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return (StatusCode::OK, Json(json!({"result": "SOLD_OUT"})));
    }
    let mut answered = f.answered.lock();
    if answered.contains(&user) {
        return (StatusCode::OK, Json(json!({"result": "ALREADY_ISSUED"})));
    }
    if f.bug != Bug::OverIssue && answered.len() as u64 >= QUANTITY {
        return (StatusCode::OK, Json(json!({"result": "SOLD_OUT"})));
    }
    answered.insert(user);
    if f.bug != Bug::LosesAccepted || answered.len() % 10 != 0 {
        f.persisted.lock().insert(user);
    }
    (StatusCode::ACCEPTED, Json(json!({"result": "ACCEPTED"})))
}

async fn state(State(f): State<Fixture>, headers: HeaderMap) -> Json<Value> {
    let issued = f.persisted.lock().contains(&f.user(&headers));
    Json(json!({"state": if issued { "ISSUED" } else { "NONE" }}))
}

async fn stats(State(f): State<Fixture>, Path(id): Path<Uuid>) -> Json<Value> {
    let n = f.persisted.lock().len() as u64;
    Json(
        json!({"couponId": id, "total": QUANTITY, "reservedInGate": n,
                "remainingInGate": QUANTITY.saturating_sub(n), "persisted": n}),
    )
}

async fn spawn(bug: Bug) -> String {
    let fixture = Fixture {
        bug,
        codec: TokenCodec::new(SECRET.as_bytes(), Duration::from_secs(3600)),
        coupon: Uuid::new_v4(),
        answered: Arc::default(),
        persisted: Arc::default(),
    };
    let app = Router::new()
        .route("/api/coupons", post(create))
        .route("/api/coupons/{id}/issue", post(issue).get(state))
        .route("/api/admin/coupons/{id}/stats", get(stats))
        .with_state(fixture);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn rush(base: &str, extra: &[&str]) -> couponrush_loadtest::Summary {
    let argv = [
        "loadtest",
        "--target",
        base,
        "--quiet",
        "--jwt-secret",
        SECRET,
        "--users",
        "500",
        "--quantity",
        "100",
        "--duplicates",
        "1",
        "--drain-timeout",
        "5s",
    ]
    .into_iter()
    .chain(extra.iter().copied());
    let args = Args::try_from_argv(argv).expect("flags parse");
    execute(&args).await.expect("the run completes")
}

fn status_of(s: &couponrush_loadtest::Summary, check: &str) -> Status {
    let v = s.verdict.as_ref().expect("a verdict");
    v.checks
        .iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("no check {check}"))
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_issuing_server_fails_the_verdict() {
    let s = rush(&spawn(Bug::OverIssue).await, &[]).await;
    assert_eq!(s.outcomes.accepted, 500, "the fixture accepts everyone");
    assert_eq!(s.errors.total, 0);
    assert_eq!(s.verdict.as_ref().unwrap().status, Status::Fail, "{s}");
    assert_eq!(s.exit_code(), 1);
    assert_eq!(
        status_of(&s, "persisted == min(quantity, users)"),
        Status::Fail
    );
    assert_eq!(status_of(&s, "ACCEPTED users <= quantity"), Status::Fail);
    assert_eq!(status_of(&s, "no user ACCEPTED twice"), Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_losing_accepted_users_fails_the_verdict() {
    let s = rush(&spawn(Bug::LosesAccepted).await, &[]).await;
    assert_eq!(s.outcomes.accepted, 100);
    assert_eq!(s.verdict.as_ref().unwrap().status, Status::Fail, "{s}");
    assert_eq!(
        status_of(&s, "users answered ACCEPTED == persisted"),
        Status::Fail
    );
    assert_eq!(
        status_of(&s, "every ACCEPTED user finds the coupon ISSUED"),
        Status::Fail
    );
    assert_eq!(status_of(&s, "ACCEPTED users <= quantity"), Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_leaving_users_unanswered_passes_the_verdict_but_crosses_thresholds() {
    let stalls = ["--timeout", STALL_TIMEOUT, "--connections", "128"];
    let s = rush(&spawn(Bug::Stalls).await, &stalls).await;
    assert!(s.unanswered_users > 0, "{s}");
    assert_eq!(s.unanswered_users, s.users_without_answer);
    assert_eq!(
        s.errors.timeout,
        2 * s.unanswered_users,
        "both presses hang"
    );
    assert_eq!(s.outcomes.accepted, 100, "the stock went to answered users");
    // Nothing the verdict can fault: it passes, and only the thresholds speak up.
    assert_eq!(s.verdict.as_ref().unwrap().status, Status::Pass, "{s}");
    let crossed: Vec<_> = s
        .thresholds
        .iter()
        .filter(|j| !j.ok)
        .map(|j| j.expr.as_str())
        .collect();
    assert!(
        crossed.contains(&"errors<0.1%") && crossed.contains(&"unanswered==0"),
        "{s}"
    );
    assert!(!s.thresholds_passed);
    assert_eq!(s.exit_code(), 3);
    let text = s.to_string();
    assert!(text.contains("verdict: PASS"), "{text}");
    assert!(text.contains("✗ unanswered==0"), "{text}");
    assert!(text.contains("exit 3: verdict PASS"), "{text}");

    // The timeouts put p99 at 2 s or more: a latency threshold alone catches it.
    let s = rush(
        &spawn(Bug::Stalls).await,
        &[&stalls[..], &["--threshold", "p99<1s"]].concat(),
    )
    .await;
    assert_eq!(s.thresholds.len(), 1);
    assert!(
        !s.thresholds[0].ok && s.thresholds[0].actual >= 2000.0,
        "{s}"
    );
    assert_eq!(s.exit_code(), 3);

    let s = rush(
        &spawn(Bug::Stalls).await,
        &[&stalls[..], &["--no-thresholds"]].concat(),
    )
    .await;
    assert!(s.thresholds.is_empty() && s.thresholds_passed);
    assert_eq!(s.exit_code(), 0, "the bare verdict: PASS");
}
