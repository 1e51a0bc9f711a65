//! The waiting-room scenario, and users following a room in a rush, against a real
//! embedded server in this process: a fair line gets a PASS with every addition to the
//! verdict, the report carries the admin view's samples, and a rush whose AUTO room
//! turns on still ends with every user answered. No timing is asserted.

use couponrush_loadtest::{Args, Scenario, Status, Summary, execute, run};
use couponrush_testkit::TestApp;

fn args(app: &TestApp, extra: &[&str]) -> Args {
    let argv = ["loadtest", "--target", app.base.as_str(), "--quiet"]
        .into_iter()
        .chain(extra.iter().copied());
    Args::try_from_argv(argv)
        .expect("flags parse")
        .with_server_config(None, app.data_dir().to_path_buf())
}

fn check<'a>(s: &'a Summary, name: &str) -> &'a couponrush_loadtest::verify::Check {
    let v = s.verdict.as_ref().expect("a verdict");
    v.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name:?}: {s}"))
}

/// What every fair waiting-room run shows, whatever the pre-queue.
fn assert_fair_run(s: &Summary, users: u64, quantity: u64) {
    assert_eq!(s.scenario, Scenario::WaitingRoom);
    let v = s.verdict.as_ref().expect("verify is on by default");
    assert_eq!(v.status, Status::Pass, "{s}");
    assert_eq!(v.checks.len(), 11, "6 common checks and 5 of the room: {s}");
    for name in [
        "no overtaking: admission follows join order",
        "one place per user",
        "every user ends with a definite answer",
        "issued == quantity",
        "no errors",
    ] {
        assert_eq!(check(s, name).status, Status::Pass, "{name}: {s}");
    }
    assert_eq!(s.errors.total, 0, "{s}");
    let a = s.answers.expect("answers");
    assert_eq!(
        (a.users, a.accepted, a.sold_out + a.already_issued, a.none),
        (users, quantity, users - quantity, 0),
        "{s}"
    );
    assert_eq!(s.queued_users, users, "every user was queued (ALWAYS)");
    assert!(
        s.outcomes.queued >= 2 * users,
        "a join and a second press each"
    );
    assert!(s.outcomes.polls > 0 && s.poll_latency.is_some(), "{s}");
    assert!(s.time_to_answer.is_some());
    let room = s.waiting_room.as_ref().expect("the room's report");
    assert!(room.admitted_users >= quantity, "{s}");
    assert_eq!(room.overtaking.inversions, 0);
    assert!(!room.samples.is_empty(), "the admin view was sampled");
    assert!(
        room.samples.iter().any(|x| x.waiting > 0),
        "the queue showed in the samples"
    );
    for name in ["errors<0.1%", "unanswered==0"] {
        let t = s.thresholds.iter().find(|j| j.expr == name).expect(name);
        assert!(t.ok, "{name}: {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_line_with_a_prequeue_passes_and_reports_its_samples() {
    let app = TestApp::spawn().await;
    let out = tempfile::tempdir().expect("temp dir");
    let (html, json, csv) = (
        out.path().join("room.html"),
        out.path().join("room.json"),
        out.path().join("users.csv"),
    );
    let a = args(
        &app,
        &[
            "--scenario",
            "waiting-room",
            "--users",
            "300",
            "--quantity",
            "50",
            "--arrival-secs",
            "1",
            "--opens-in-ms",
            "2000",
            "--connections",
            "32",
            "--out",
            html.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--user-records",
            csv.to_str().unwrap(),
        ],
    );
    let done = run(a).await.expect("the run completes");
    let s = done.summary().expect("a load run");
    assert_fair_run(s, 300, 50);
    let room = s.waiting_room.as_ref().unwrap();
    assert!(
        room.one_place.joins_before_opening > 0,
        "users arrived before the opening: {s}"
    );
    assert_eq!(room.one_place.shared_positions, 0);
    assert!(room.overtaking.by_position > 0);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("JSON");
    assert_eq!(json["scenario"], "waiting-room");
    let samples = json["waitingRoom"]["samples"].as_array().expect("samples");
    assert!(!samples.is_empty());
    for key in [
        "tSecs",
        "waiting",
        "admittedTotal",
        "admissionRate",
        "admittedPerSecond",
        "admittedDeltaPerSecond",
    ] {
        assert!(samples[0][key].is_number(), "{key}: {}", samples[0]);
    }
    assert!(json["timeToAnswer"]["p99Ms"].is_number());
    assert!(json["outcomes"]["queued"].as_u64().unwrap() > 0);
    assert!(json["outcomes"]["polls"].as_u64().unwrap() > 0);

    let html = std::fs::read_to_string(&html).expect("html written");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, options).expect("well-formed");
    for id in ["chart-room-waiting", "chart-room-admissions"] {
        let chart = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no {id}"));
        assert_eq!(
            chart.attribute("data-samples"),
            Some(samples.len().to_string().as_str())
        );
        for line in chart.descendants().filter(|n| n.has_tag_name("polyline")) {
            let points = line.attribute("points").unwrap().split_whitespace().count();
            assert_eq!(points, samples.len(), "one point per sample");
        }
    }
    let series: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("id") == Some("chart-room-admissions"))
        .flat_map(|c| c.descendants().filter_map(|n| n.attribute("data-series")))
        .collect();
    assert_eq!(
        series,
        [
            "admittedPerSecond (server)",
            "Δ admittedTotal / s",
            "admissionRate (limit)"
        ]
    );

    let csv = std::fs::read_to_string(&csv).expect("records written");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 301, "a header and a line per user");
    assert!(lines[0].starts_with("user,user_id,join_seq,join_position"));
    let accepted = lines.iter().filter(|l| l.contains(",ACCEPTED,")).count();
    assert_eq!(accepted, 50);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shuffled_prequeue_with_random_arrivals_passes() {
    let app = TestApp::spawn().await;
    let a = args(
        &app,
        &[
            "--scenario",
            "waiting-room",
            "--users",
            "200",
            "--quantity",
            "40",
            "--arrival-secs",
            "1",
            "--arrival",
            "random",
            "--prequeue",
            "shuffled",
            "--opens-in-ms",
            "1500",
            "--connections",
            "32",
        ],
    );
    let s = execute(&a).await.expect("the run completes");
    assert_fair_run(&s, 200, 40);
    let room = s.waiting_room.as_ref().unwrap();
    assert_eq!(
        room.overtaking.by_position, 0,
        "positions mean nothing here"
    );
    assert!(room.overtaking.skipped_shuffled > 0, "{s}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rush_follows_an_auto_room_that_turns_on() {
    // An AUTO room that turns on as soon as two requests run at once.
    let app = TestApp::spawn_in(tempfile::tempdir().expect("temp dir"), |c| {
        c.room_on_in_flight = 1;
    })
    .await;
    let a = args(
        &app,
        &["--users", "200", "--quantity", "50", "--connections", "32"],
    );
    let s = execute(&a).await.expect("the run completes");
    let v = s.verdict.as_ref().expect("a verdict");
    assert_eq!(v.status, Status::Pass, "{s}");
    assert_eq!(v.checks.len(), 6, "a rush keeps its own checks");
    assert!(s.outcomes.queued > 0, "the room turned on: {s}");
    assert!(s.queued_users > 0 && s.outcomes.polls > 0, "{s}");
    assert_eq!(s.outcomes.accepted, 50, "{s}");
    let a = s.answers.expect("answers");
    assert_eq!((a.accepted, a.none), (50, 0), "{s}");
    assert_eq!(a.accepted + a.sold_out + a.already_issued, 200);
    assert!(
        s.all_users_answered_secs.is_some(),
        "QUEUED is not an answer"
    );
    assert!(s.waiting_room.is_none());
    app.stop().await;
}
