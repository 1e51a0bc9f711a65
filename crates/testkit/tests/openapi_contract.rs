//! The served OpenAPI document is a contract a client can be generated from: a contract
//! fuzzer (schemathesis) reads `/api-docs/openapi.json` from a running embedded server
//! and sends every operation valid and invalid input, once with an admin's token and
//! once with a user's. It fails on a 5xx, on a status the document does not list for
//! the operation, and on an answer whose content type or body breaks its schema.
//!
//! `st` comes from `COUPONRUSH_TEST_SCHEMATHESIS` (scripts/test-services installs a
//! pinned schemathesis and sets it), else from PATH; without it the test fails.

use couponrush_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// The checks that make the contract: no server error, no undocumented status, the
/// documented content type and body schema.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
/// Cases per operation and phase: bounds the run (about 20 operations) to about a
/// minute in a debug build on two cores; the seed makes the cases the same every run.
const MAX_EXAMPLES: &str = "40";
const SEED: &str = "20261205";

fn schemathesis() -> PathBuf {
    if let Some(st) = std::env::var_os("COUPONRUSH_TEST_SCHEMATHESIS") {
        return PathBuf::from(st);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("st"))
                .find(|st| st.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "schemathesis (`st`) is not installed: run ./scripts/test, which installs a \
                 pinned one, or point COUPONRUSH_TEST_SCHEMATHESIS at an `st` executable"
            )
        })
}

async fn server() -> TestApp {
    TestApp::spawn_in(tempfile::tempdir().expect("temp dir"), |c| {
        // The tarpit only slows the fuzzer's throttled sign-ins down; the 429 it holds
        // is the same answer.
        c.throttled_answer_delay_ms = 0;
    })
    .await
}

/// Runs the fuzzer against `app` with `token`; panics with its report on any failure.
async fn fuzz(app: &TestApp, token: &str, who: &str) {
    let st = schemathesis();
    let work = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(&st);
    command
        .current_dir(work.path())
        .arg("run")
        .arg(app.url("/api-docs/openapi.json"))
        .args(["--url", &app.base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--generation-database", "none"])
        // One request at a time: the cases and their order are the same every run (two
        // workers varied the stateful phase's count), and the overload answers (503
        // AUTH_BUSY, SERVER_BUSY), documented but server errors to the fuzzer, cannot
        // happen; a slow answer on a busy CI machine is waited for, not failed.
        .args(["--workers", "1", "--request-timeout", "60", "--no-color"])
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("running {}: {e}", st.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The summary goes to the test's output either way (nextest shows it on failure).
    println!("schemathesis as {who}:\n{report}");
    assert!(
        out.status.success(),
        "schemathesis as {who} found failures (exit {:?}); its report is above",
        out.status.code()
    );
    let (generated, passed) = tally(&report)
        .unwrap_or_else(|| panic!("schemathesis as {who}: no \"N generated, N passed\" line"));
    assert!(generated > 0, "schemathesis as {who} generated no case");
    assert_eq!(
        generated, passed,
        "schemathesis as {who}: not every case passed"
    );
}

/// The summary's "Test cases:" line, "N generated, M passed" (maybe ", K skipped").
fn tally(report: &str) -> Option<(u64, u64)> {
    let line = report.lines().find(|l| l.contains(" generated, "))?;
    let mut parts = line.trim().split(", ");
    let generated = parts.next()?.strip_suffix(" generated")?.parse().ok()?;
    let passed = parts.next()?.strip_suffix(" passed")?.parse().ok()?;
    parts
        .all(|rest| rest.ends_with(" skipped"))
        .then_some((generated, passed))
}

/// Coupons for the fuzzer to find through the listing's links (a user cannot create
/// any): one open, one opening later, one behind an always-on waiting room.
async fn some_coupons(app: &TestApp) {
    let in_a_year = chrono::Utc::now() + chrono::Duration::days(365);
    for extra in [
        json!({}),
        json!({"opensAt": chrono::Utc::now() + chrono::Duration::days(30)}),
        json!({"waitingRoom": "ALWAYS"}),
    ] {
        let mut body = json!({
            "name": "fuzzed",
            "couponType": "PIZZA",
            "discountType": "PERCENTAGE",
            "discountValue": 10,
            "totalQuantity": 1000,
            "expiresAt": in_a_year,
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let created = app.create_coupon(&app.admin_token, &body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_holds_for_an_admin() {
    let app = server().await;
    some_coupons(&app).await;
    let token = app.admin_token.clone();
    fuzz(&app, &token, "admin").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_holds_for_a_user() {
    let app = server().await;
    some_coupons(&app).await;
    assert_eq!(
        app.signup("fuzz-user", "fuzz-user-password").await.status,
        StatusCode::CREATED
    );
    let token = app.login_ok("fuzz-user", "fuzz-user-password").await;
    fuzz(&app, &token, "user").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    // /api-docs redirects to /api-docs/, whose assets are linked relative to it.
    let page = app.client.get(app.url("/api-docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.url().path(), "/api-docs/");
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    for (asset, expected) in [
        ("/api-docs/swagger-ui-bundle.js", "SwaggerUIBundle"),
        ("/api-docs/swagger-ui.css", ".swagger-ui"),
        ("/api-docs/swagger-initializer.js", "/api-docs/openapi.json"),
    ] {
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert!(r.text().await.unwrap().contains(expected), "{asset}");
    }
    let missing = app
        .client
        .get(app.url("/api-docs/no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = missing.json().await.expect("a JSON error");
    assert_eq!(body["code"], "NOT_FOUND");
    app.stop().await;
}
