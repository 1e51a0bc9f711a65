//! The HTML report of a real run parses as (well-formed) HTML, needs no network, and
//! carries chart data for every second of the run; the JSON summary matches it.

use couponrush_loadtest::{Args, Status, run};
use couponrush_testkit::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_is_self_contained_with_a_point_per_second() {
    let app = TestApp::spawn().await;
    let out = tempfile::tempdir().expect("temp dir");
    let (html_path, json_path) = (
        out.path().join("report.html"),
        out.path().join("summary.json"),
    );
    let secret = std::fs::read_to_string(app.data_dir().join("jwt-secret")).expect("secret");
    // The ramp releases the last user 2 s after the start, so the run spans at least
    // three one-second buckets, the first of them empty.
    let args = Args::try_from_argv([
        "loadtest",
        "--target",
        &app.base,
        "--quiet",
        "--jwt-secret",
        secret.trim(),
        "--users",
        "200",
        "--quantity",
        "50",
        "--ramp",
        "0:1s,200:1s",
        "--out",
        html_path.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ])
    .expect("flags parse");
    let completed = run(args).await.expect("the run completes");
    let summary = completed.summary().expect("a load run");
    assert_eq!(
        summary.verdict.as_ref().map(|v| v.status),
        Some(Status::Pass),
        "{summary}"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("json written"))
            .expect("valid JSON");
    let seconds = json["seconds"].as_array().expect("seconds").len();
    assert!(
        seconds >= 3,
        "the ramp spans at least 3 seconds, got {seconds}"
    );
    assert_eq!(json["outcomes"]["accepted"], 50);
    assert_eq!(json["verdict"]["status"], "PASS");
    assert_eq!(
        json["seconds"][0]["requests"], 0,
        "nothing starts in the first second"
    );
    let row = &json["seconds"][1];
    for key in ["second", "requests", "errors", "p50Ms", "p99Ms"] {
        assert!(row[key].is_number(), "seconds[1].{key}: {row}");
    }
    let p99 = &json["perSecondP99"];
    assert!(p99["medianMs"].as_f64().unwrap() <= p99["worstMs"].as_f64().unwrap());
    // No timing is asserted, only the shape: the default thresholds, judged.
    let thresholds = json["thresholds"].as_array().expect("thresholds");
    let exprs: Vec<_> = thresholds.iter().map(|t| t["expr"].as_str()).collect();
    assert_eq!(
        exprs,
        ["p95<500ms", "p99<1s", "errors<0.1%", "unanswered==0"].map(Some)
    );
    for t in thresholds {
        assert!(t["metric"].is_string() && t["limit"].is_number() && t["actual"].is_number());
        assert!(t["ok"].is_boolean(), "{t}");
    }
    assert_eq!(thresholds[3]["ok"], true, "every user was answered");
    let all_ok = thresholds.iter().all(|t| t["ok"] == true);
    assert_eq!(json["thresholdsPassed"], all_ok);

    let html = std::fs::read_to_string(&html_path).expect("html written");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true, // `<!DOCTYPE html>`
        ..roxmltree::ParsingOptions::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(&html, options).expect("the report is well-formed");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "html");
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !matches!(name, "script" | "link" | "img" | "iframe"),
            "no external resources: <{name}>"
        );
        assert!(node.attribute("src").is_none() && node.attribute("href").is_none());
    }

    let charts: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("svg"))
        .collect();
    let ids: Vec<_> = charts.iter().filter_map(|c| c.attribute("id")).collect();
    assert_eq!(ids, ["chart-requests", "chart-latency", "chart-outcomes"]);
    for chart in &charts {
        assert_eq!(
            chart.attribute("data-seconds"),
            Some(seconds.to_string().as_str())
        );
        let lines: Vec<_> = chart
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .collect();
        assert!(!lines.is_empty());
        for line in lines {
            let points = line
                .attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count();
            assert_eq!(
                points,
                seconds,
                "{:?}: one point per second",
                line.attribute("data-series")
            );
        }
    }

    let judged: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("table") && n.attribute("id") == Some("thresholds"))
        .flat_map(|t| t.descendants().filter_map(|n| n.attribute("data-ok")))
        .collect();
    assert_eq!(judged.len(), 4, "a thresholds table apart from the verdict");

    let rows: Vec<u64> = doc
        .descendants()
        .filter_map(|n| n.attribute("data-second"))
        .map(|s| s.parse().expect("second number"))
        .collect();
    assert_eq!(
        rows,
        (0..seconds as u64).collect::<Vec<_>>(),
        "a table row for every second"
    );
    let total: u64 = json["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, json["requests"].as_u64().unwrap());
    app.stop().await;
}
