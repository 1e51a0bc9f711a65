//! The observability files in `deploy/` against the metrics contract (docs/METRICS.md)
//! and against real processes:
//!
//! - every `couponrush_*` name a Grafana dashboard or a Prometheus file uses is a
//!   documented family (histogram series by their `_bucket`/`_sum`/`_count` names), and
//!   every documented family has a panel;
//! - the Prometheus files scrape every metrics endpoint of the compose stack (local:
//!   127.0.0.1), Grafana's provisioning points at what compose mounts and runs, and
//!   every `COUPONRUSH_*` variable in the compose file is a configuration key;
//! - `promtool` (when on PATH) accepts both Prometheus files and every dashboard query;
//! - a real embedded server, a real api node and a real consumer, after a small rush,
//!   serve every series the dashboards query for their kind of process.

use couponrush_testkit::{Distributed, TestApp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

// ------------------------------------------------------------------------------------
// The contract and the files
// ------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A YAML file as JSON, with `<<:` merge keys applied (the compose file uses them).
fn yaml(rel: &str) -> Value {
    let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(rel))
        .unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    v.apply_merge()
        .unwrap_or_else(|e| panic!("{rel}: merge keys: {e}"));
    serde_json::to_value(v).unwrap_or_else(|e| panic!("{rel}: not representable as JSON: {e}"))
}

const PROCESSES: [&str; 3] = ["serve", "api", "consumer"];

#[derive(Debug)]
struct Family {
    kind: String,
    processes: BTreeSet<&'static str>,
}

/// The table of docs/METRICS.md: name → type and processes ("all" expanded).
fn documented() -> BTreeMap<String, Family> {
    let doc = read("docs/METRICS.md");
    let mut families = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `couponrush_")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert!(
            cells.len() >= 5,
            "METRICS.md row with too few cells: {line}"
        );
        let name = cells[0].trim_matches('`').to_owned();
        let kind = cells[1].to_owned();
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind.as_str()),
            "METRICS.md: unknown type {kind:?} for {name}"
        );
        let processes = cells[3]
            .split(',')
            .map(str::trim)
            .flat_map(|p| match p {
                "all" => PROCESSES.to_vec(),
                p => vec![
                    *PROCESSES
                        .iter()
                        .find(|k| **k == p)
                        .unwrap_or_else(|| panic!("METRICS.md: unknown process {p:?} for {name}")),
                ],
            })
            .collect();
        families.insert(name, Family { kind, processes });
    }
    assert!(
        families.len() >= 20,
        "docs/METRICS.md table not found or shrunk: {families:?}"
    );
    families
}

const DASHBOARDS: [&str; 3] = ["api.json", "consumer.json", "infra.json"];
const PROMETHEUS_FILES: [&str; 2] = ["deploy/prometheus.yml", "deploy/prometheus-local.yml"];
/// Alert rules both Prometheus configurations load.
const RULE_FILES: [&str; 1] = ["deploy/prometheus-rules.yml"];

fn dashboard(name: &str) -> Value {
    let rel = format!("deploy/grafana/dashboards/{name}");
    serde_json::from_str(&read(&rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// Every PromQL text of a dashboard: panel targets (`expr`) and template-variable
/// queries (`query`, `definition`).
fn queries(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    match (k.as_str(), x) {
                        ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                        _ => walk(x, out),
                    }
                }
            }
            Value::Array(xs) => xs.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// Every string anywhere in a value (for the Prometheus files).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(xs) => xs.iter().flat_map(strings).collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, x)| std::iter::once(k.clone()).chain(strings(x)))
            .collect(),
        _ => Vec::new(),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The series names beginning with `couponrush_` in a text.
fn series_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("couponrush_") {
        if text[..at].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        let end = text[at..]
            .find(|c: char| !is_name_char(c))
            .map_or(text.len(), |n| at + n);
        names.insert(text[at..end].to_owned());
    }
    names
}

const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The family a series belongs to: a histogram's `_bucket`/`_sum`/`_count` series
/// belong to the histogram; anything else is its own family.
fn family_of<'a>(series: &'a str, doc: &BTreeMap<String, Family>) -> &'a str {
    for suffix in HISTOGRAM_SUFFIXES {
        if let Some(base) = series.strip_suffix(suffix)
            && doc.get(base).is_some_and(|f| f.kind == "histogram")
        {
            return base;
        }
    }
    series
}

/// Problems with one used series: undocumented family, a histogram used without a
/// series suffix (Prometheus exposes none under the bare name), or a suffix on a
/// counter or gauge.
fn check_series(series: &str, doc: &BTreeMap<String, Family>) -> Option<String> {
    let family = family_of(series, doc);
    let Some(f) = doc.get(family) else {
        return Some(format!(
            "{series}: not in docs/METRICS.md (family {family})"
        ));
    };
    if f.kind == "histogram" && family == series {
        return Some(format!(
            "{series}: a histogram has no series of that name; use _bucket, _sum or _count"
        ));
    }
    None
}

/// (dashboard file, series) for every couponrush series the dashboards query.
fn dashboard_series() -> Vec<(&'static str, String)> {
    DASHBOARDS
        .iter()
        .flat_map(|file| {
            let d = dashboard(file);
            queries(&d)
                .iter()
                .flat_map(|q| series_names(q))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(move |s| (*file, s))
        })
        .collect()
}

/// The equality matchers (`label="value"`) the dashboards put on couponrush series, as
/// (series, label, value); target labels Prometheus adds (`job`, `instance`) and
/// Grafana variables excepted. Quote-aware: route values contain braces.
fn selector_matchers() -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for file in DASHBOARDS {
        for q in queries(&dashboard(file)) {
            for series in series_names(&q) {
                for (at, _) in q.match_indices(&format!("{series}{{")) {
                    // Only whole names: `..._bucket{` must not count for `..._bucke`.
                    if q[..at].chars().next_back().is_some_and(is_name_char) {
                        continue;
                    }
                    let body = &q[at + series.len() + 1..];
                    for (label, op, value) in matchers(body) {
                        if op == "="
                            && !["job", "instance"].contains(&label.as_str())
                            && !value.contains('$')
                        {
                            out.insert((series.clone(), label, value));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The matchers of a selector body (the text after `{`), up to its closing brace.
fn matchers(body: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = body.trim_start();
    while !rest.starts_with('}') && !rest.is_empty() {
        let label_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let label = rest[..label_end].to_owned();
        rest = rest[label_end..].trim_start();
        let op_end = rest.find('"').unwrap_or(rest.len());
        let op = rest[..op_end].trim().to_owned();
        rest = &rest[(op_end + 1).min(rest.len())..];
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let mut consumed = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => {
                    consumed = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        rest = rest[consumed..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        if label.is_empty() {
            break;
        }
        out.push((label, op, value));
    }
    out
}

// ------------------------------------------------------------------------------------
// Static checks
// ------------------------------------------------------------------------------------

#[test]
fn dashboards_and_prometheus_files_use_only_documented_metrics() {
    let doc = documented();
    let mut problems = Vec::new();
    let mut used_families = BTreeSet::new();

    for (file, series) in dashboard_series() {
        if let Some(p) = check_series(&series, &doc) {
            problems.push(format!("{file}: {p}"));
        }
        used_families.insert(family_of(&series, &doc).to_owned());
    }
    for file in PROMETHEUS_FILES.iter().chain(&RULE_FILES) {
        for s in strings(&yaml(file)) {
            for series in series_names(&s) {
                if let Some(p) = check_series(&series, &doc) {
                    problems.push(format!("{file}: {p}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let unused: Vec<_> = doc.keys().filter(|n| !used_families.contains(*n)).collect();
    assert!(
        unused.is_empty(),
        "documented families without a dashboard panel: {unused:?}"
    );

    // The brief of each dashboard, by the series its panels must query.
    let of = |file: &str| -> BTreeSet<String> {
        queries(&dashboard(file))
            .iter()
            .flat_map(|q| series_names(q))
            .collect()
    };
    let api = of("api.json");
    for s in [
        "couponrush_http_requests_total",
        "couponrush_http_request_duration_seconds_bucket",
        "couponrush_issue_outcomes_total",
        "couponrush_gate_reserve_duration_seconds_bucket",
        "couponrush_log_append_duration_seconds_bucket",
    ] {
        assert!(api.contains(s), "api.json does not query {s}");
    }
    let selected = selector_matchers();
    for (series, label, value) in [
        (
            "couponrush_http_requests_total",
            "route",
            "/api/coupons/{id}/issue",
        ),
        (
            "couponrush_http_request_duration_seconds_bucket",
            "method",
            "POST",
        ),
        ("couponrush_issue_outcomes_total", "result", "accepted"),
    ] {
        assert!(
            selected.contains(&(series.into(), label.into(), value.into())),
            "api.json should select {series}{{{label}=\"{value}\"}}: {selected:?}"
        );
    }
    let api_text = queries(&dashboard("api.json")).join("\n");
    for q in [
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
        "status=~\"5..\"",
    ] {
        assert!(api_text.contains(q), "api.json lacks {q}");
    }
    let consumer = of("consumer.json");
    for (name, f) in &doc {
        if f.processes.iter().eq(["consumer"].iter()) {
            assert!(
                consumer.iter().any(|s| family_of(s, &doc) == name),
                "consumer.json has no panel for {name}"
            );
        }
    }
    let infra = queries(&dashboard("infra.json")).join("\n");
    for s in [
        "redis_commands_processed_total",
        "redis_memory_used_bytes",
        "mysql_global_status_queries",
        "kafka_consumergroup_lag",
        "couponrush_db_pool_connections",
    ] {
        assert!(infra.contains(s), "infra.json does not query {s}");
    }
}

#[test]
fn every_panel_queries_the_provisioned_prometheus() {
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let source = &ds["datasources"][0];
    assert_eq!(source["type"], "prometheus");
    let uid = source["uid"]
        .as_str()
        .expect("the data source has a fixed uid");

    for file in DASHBOARDS {
        let d = dashboard(file);
        let vars = d["templating"]["list"].as_array().expect("templating");
        let var = vars
            .iter()
            .find(|v| v["type"] == "datasource")
            .unwrap_or_else(|| panic!("{file}: no data source variable"));
        assert_eq!(var["query"], "prometheus", "{file}");
        assert_eq!(
            var["current"]["value"], uid,
            "{file}: default data source is not the provisioned one"
        );
        let uid_field = d["uid"].as_str().unwrap_or_default();
        assert!(!uid_field.is_empty(), "{file}: dashboards need a fixed uid");

        let mut panels = 0;
        for p in d["panels"].as_array().expect("panels") {
            if p["type"] == "row" {
                continue;
            }
            panels += 1;
            let title = p["title"].as_str().unwrap_or("?");
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{file}: panel {title:?} bypasses the data source variable"
            );
            let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            assert!(!targets.is_empty(), "{file}: panel {title:?} has no query");
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(
                    !expr.trim().is_empty(),
                    "{file}: panel {title:?} has an empty query"
                );
            }
        }
        assert!(panels >= 8, "{file}: only {panels} panels");
    }
}

fn targets(prometheus: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut jobs = BTreeMap::new();
    for job in prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
    {
        let name = job["job_name"].as_str().expect("job_name").to_owned();
        let mut set = BTreeSet::new();
        for sc in job["static_configs"].as_array().expect("static_configs") {
            for t in sc["targets"].as_array().expect("targets") {
                set.insert(t.as_str().expect("target").to_owned());
            }
        }
        assert!(jobs.insert(name.clone(), set).is_none(), "job {name} twice");
    }
    jobs
}

fn command_of(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::Array(xs) => xs
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or_default()
}

#[test]
fn prometheus_scrapes_every_metrics_endpoint_of_the_stack() {
    let compose = yaml("deploy/docker-compose.yml");
    let services = compose["services"].as_object().expect("services");

    // What serves /metrics in the compose stack, derived from the services themselves.
    let mut expected = BTreeSet::from(["localhost:9090".to_owned()]);
    let exporter_ports = [
        ("redis_exporter", "9121"),
        ("mysqld-exporter", "9104"),
        ("kafka-exporter", "9308"),
    ];
    let mut couponrush_nodes = BTreeMap::new();
    for (name, svc) in services {
        let image = svc["image"].as_str().unwrap_or_default();
        let cmd = command_of(svc);
        let env = svc["environment"].as_object().cloned().unwrap_or_default();
        match cmd.first().map(String::as_str) {
            Some("api") => {
                let bind = env["COUPONRUSH_BIND"]
                    .as_str()
                    .expect("api nodes set COUPONRUSH_BIND");
                assert!(bind.starts_with("0.0.0.0:"), "{name}: binds {bind}");
                expected.insert(format!("{name}:{}", port_of(bind)));
                couponrush_nodes.insert(name.clone(), "api");
            }
            Some("consumer") => {
                let bind = env
                    .get("COUPONRUSH_METRICS_BIND")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{name}: consumers need COUPONRUSH_METRICS_BIND"));
                assert!(bind.starts_with("0.0.0.0:"), "{name}: metrics bind {bind}");
                expected.insert(format!("{name}:{}", port_of(bind)));
                couponrush_nodes.insert(name.clone(), "consumer");
            }
            _ => {}
        }
        for (image_part, port) in exporter_ports {
            if image.contains(image_part) {
                expected.insert(format!("{name}:{port}"));
            }
        }
    }
    assert_eq!(
        couponrush_nodes.values().filter(|k| **k == "api").count(),
        2,
        "two api nodes: {couponrush_nodes:?}"
    );
    assert_eq!(
        couponrush_nodes
            .values()
            .filter(|k| **k == "consumer")
            .count(),
        2,
        "two consumers: {couponrush_nodes:?}"
    );
    assert_eq!(expected.len(), 8, "{expected:?}");

    let jobs = targets(&yaml("deploy/prometheus.yml"));
    let scraped: BTreeSet<String> = jobs.values().flatten().cloned().collect();
    assert_eq!(
        scraped, expected,
        "deploy/prometheus.yml must scrape exactly the stack's metrics endpoints"
    );
    for t in &scraped {
        let host = t.rsplit_once(':').map_or(t.as_str(), |(h, _)| h);
        assert!(
            host == "localhost" || services.contains_key(host),
            "{t}: no such compose service"
        );
    }

    // The no-Docker twin: the same jobs for couponrush, everything on 127.0.0.1.
    let local = targets(&yaml("deploy/prometheus-local.yml"));
    for (job, set) in &local {
        for t in set {
            assert!(t.starts_with("127.0.0.1:"), "{job}: {t} is not local");
        }
    }
    assert!(local["couponrush-api"].contains("127.0.0.1:8080"));
    assert!(local["couponrush-consumer"].contains("127.0.0.1:9100"));
    assert!(local["prometheus"].contains("127.0.0.1:9090"));
    for job in ["couponrush-api", "couponrush-consumer"] {
        assert!(jobs.contains_key(job), "prometheus.yml lacks job {job}");
    }

    // Grafana: provisioned data source and dashboards are what compose runs and mounts.
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let url = ds["datasources"][0]["url"].as_str().expect("url");
    assert_eq!(url, "http://prometheus:9090");
    assert!(services.contains_key("prometheus"));
    let provider = yaml("deploy/grafana/provisioning/dashboards/dashboards.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path");
    let grafana_volumes = strings(&services["grafana"]["volumes"]);
    assert!(
        grafana_volumes
            .iter()
            .any(|v| v == &format!("./grafana/dashboards:{path}:ro")),
        "grafana does not mount the dashboards at {path}: {grafana_volumes:?}"
    );
    assert!(
        grafana_volumes
            .iter()
            .any(|v| v == "./grafana/provisioning:/etc/grafana/provisioning:ro")
    );
    let prometheus_volumes = strings(&services["prometheus"]["volumes"]);
    assert!(
        prometheus_volumes
            .iter()
            .any(|v| v.starts_with("./prometheus.yml:")),
        "{prometheus_volumes:?}"
    );
}

#[test]
fn compose_sets_only_real_configuration_keys() {
    let keys: BTreeSet<String> = match serde_json::to_value(couponrush_cli::Config::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        other => panic!("Config serializes to an object: {other:?}"),
    };
    let compose = yaml("deploy/docker-compose.yml");
    let mut unknown = BTreeSet::new();
    for (name, svc) in compose["services"].as_object().expect("services") {
        let env = svc["environment"].as_object().cloned().unwrap_or_default();
        for var in env.keys() {
            if let Some(key) = var.strip_prefix("COUPONRUSH_") {
                // Config rejects unknown fields: a wrong name would stop the node.
                if !keys.contains(&key.to_ascii_lowercase()) {
                    unknown.insert(format!("{name}: {var}"));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "COUPONRUSH_* variables that are no configuration key (config keys: {keys:?}):\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Runs promtool when it is installed (Debian: `apt-get install prometheus`).
#[test]
fn promtool_accepts_the_configs_and_every_dashboard_query() {
    let promtool = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    let Some(promtool) = promtool else {
        println!(
            "NOTE: promtool is not on PATH; skipping `promtool check` (apt-get install prometheus)"
        );
        return;
    };
    for file in RULE_FILES {
        let out = std::process::Command::new(&promtool)
            .args(["check", "rules"])
            .arg(repo().join(file))
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool check rules {file}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for file in PROMETHEUS_FILES {
        let out = std::process::Command::new(&promtool)
            .args(["check", "config"])
            .arg(repo().join(file))
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool check config {file}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Every dashboard query as a recording rule, with Grafana's variables replaced by
    // what Grafana would send: promtool then parses each one as PromQL. (JSON is YAML.)
    let groups: Vec<Value> = DASHBOARDS
        .iter()
        .map(|file| {
            let rules: Vec<Value> = queries(&dashboard(file))
                .iter()
                .filter(|q| !q.starts_with("label_values("))
                .enumerate()
                .map(|(i, q)| {
                    let expr = q
                        .replace("$__rate_interval", "1m")
                        .replace("$__range", "1h")
                        .replace("$instance", ".*");
                    assert!(!expr.contains('$'), "{file}: unreplaced variable in {expr}");
                    let stem = file.trim_end_matches(".json");
                    serde_json::json!({ "record": format!("dashboard:{stem}:{i}"), "expr": expr })
                })
                .collect();
            serde_json::json!({ "name": file, "rules": rules })
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("dashboard-queries.yml");
    std::fs::write(&rules, serde_json::json!({ "groups": groups }).to_string()).expect("write");
    let out = std::process::Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules (the dashboards' queries):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------------------------
// Real processes
// ------------------------------------------------------------------------------------

/// The series names of a Prometheus text exposition, and its `# TYPE` lines.
struct Scrape {
    text: String,
    series: BTreeSet<String>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let mut series = BTreeSet::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(n), Some(t)) = (it.next(), it.next()) {
                    types.insert(n.to_owned(), t.to_owned());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                series.insert(line[..end].to_owned());
            }
        }
        Self {
            text,
            series,
            types,
        }
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Scrape {
    let res = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(res.status().is_success(), "GET {url}: {}", res.status());
    let ctype = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ctype.starts_with("text/plain"),
        "GET {url}: content type {ctype:?} is not Prometheus text"
    );
    Scrape::parse(res.text().await.expect("body"))
}

/// What the dashboards query for one kind of process: the series, and for each its
/// family. Families documented for other processes only are not expected there.
fn expected_for(process: &str) -> BTreeMap<String, String> {
    let doc = documented();
    dashboard_series()
        .into_iter()
        .filter_map(|(_, s)| {
            let family = family_of(&s, &doc).to_owned();
            doc.get(&family)
                .filter(|f| f.processes.contains(process))
                .map(|_| (s, family))
        })
        .collect()
}

/// Families a process serves only after a particular event. Each entry says why; the
/// test keeps scraping for a while and excuses only these if still absent.
/// Today none: the label-less families are registered at zero when a process starts,
/// every issue outcome too, and the labelled ones (HTTP by route, pool by state, lag by
/// partition, the rooms' by coupon) appear after the rush, the admitted waiter and the
/// first samples this test waits for.
const AFTER_AN_EVENT: &[(&str, &str)] = &[];

/// Scrapes until every expected series is there (or `within` passes) and returns the
/// last scrape with what is still missing.
async fn scrape_until_complete(
    client: &reqwest::Client,
    url: &str,
    expected: &BTreeMap<String, String>,
    within: Duration,
) -> (Scrape, Vec<String>) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let s = scrape(client, url).await;
        let missing: Vec<String> = expected
            .iter()
            .filter(|(series, family)| {
                !s.series.contains(*series) && !AFTER_AN_EVENT.iter().any(|(f, _)| f == family)
            })
            .map(|(series, _)| series.clone())
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            return (s, missing);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn assert_serves(process: &str, url: &str, s: &Scrape, missing: &[String]) {
    let expected = expected_for(process);
    println!(
        "{process}: {} series the dashboards query, {} missing; scrape has {} couponrush series",
        expected.len(),
        missing.len(),
        s.series
            .iter()
            .filter(|n| n.starts_with("couponrush_"))
            .count()
    );
    assert!(
        missing.is_empty(),
        "{process} at {url} does not serve what the dashboards query: {missing:?}\n--- scrape ---\n{}",
        s.text
    );
    let doc = documented();
    for (name, f) in doc.iter().filter(|(_, f)| f.processes.contains(process)) {
        if let Some(t) = s.types.get(name) {
            assert_eq!(
                t, &f.kind,
                "{process}: {name} is exposed as {t}, documented as {}",
                f.kind
            );
        }
    }
}

/// Nextest runs every test in its own process, so a scrape shows only what this test
/// started; under plain `cargo test` the tests share one process and one registry.
fn own_process() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test")
}

/// The dashboards' equality matchers on the families `process` serves must select
/// something: a sample of that series carrying that label value.
fn assert_matchers_match(process: &str, s: &Scrape) {
    let doc = documented();
    for (series, label, value) in selector_matchers() {
        let served = doc
            .get(family_of(&series, &doc))
            .is_some_and(|f| f.processes.contains(process));
        if !served {
            continue;
        }
        let needle = format!("{label}=\"{value}\"");
        assert!(
            s.text
                .lines()
                .any(|l| l.starts_with(&format!("{series}{{")) && l.contains(&needle)),
            "{process}: the dashboards select {series}{{{needle}}}, which matches no sample"
        );
    }
}

/// `users` users press twice at once for `quantity` coupons; returns the coupon and the
/// number of ACCEPTED answers.
async fn rush(app: &TestApp, users: usize, quantity: u64) -> (uuid::Uuid, usize) {
    let coupon = app.active_coupon(quantity).await;
    let users: Vec<_> = (0..users).map(|_| app.mint_user()).collect();
    let answers = futures::future::join_all(
        users
            .iter()
            .chain(users.iter())
            .map(|(_, token)| app.issue(token, coupon)),
    )
    .await;
    // One 404 and a state read, so more routes and outcomes carry samples; and one
    // waiter admitted from a waiting room, so the wait histogram does.
    let (_, token) = app.mint_user();
    app.issue(&token, uuid::Uuid::now_v7()).await;
    app.issue_state(&token, coupon).await;
    app.one_admitted_wait(Duration::from_millis(500)).await;
    let accepted = answers
        .iter()
        .filter(|r| r.str("result") == "ACCEPTED")
        .count();
    (coupon, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_server_serves_what_the_dashboards_query() {
    let app = TestApp::spawn().await;
    assert_eq!(rush(&app, 60, 20).await.1, 20);

    let url = app.url("/metrics");
    let expected = expected_for("serve");
    let (s, missing) =
        scrape_until_complete(&app.client, &url, &expected, Duration::from_secs(15)).await;
    assert_serves("serve", &url, &s, &missing);
    assert_matchers_match("serve", &s);
    // The rush's 20 accepted answers were counted (exactly, when nothing else in this
    // process counts: see `own_process`).
    let accepted = series_value(&s, "couponrush_issue_outcomes_total{result=\"accepted\"}");
    assert!(
        counted(accepted, 20.0),
        "accepted answers counted: {accepted:?}"
    );

    if own_process() {
        // Nothing of other kinds of process leaks into an embedded server's metrics.
        let doc = documented();
        let foreign: Vec<_> = s
            .series
            .iter()
            .filter(|n| n.starts_with("couponrush_"))
            .filter(|n| {
                doc.get(family_of(n, &doc))
                    .is_none_or(|f| !f.processes.contains("serve"))
            })
            .collect();
        assert!(
            foreign.is_empty(),
            "serve exposes series not documented for serve: {foreign:?}"
        );
    } else {
        println!("NOTE: not process-per-test (nextest): skipping the no-foreign-series check");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_nodes_serve_what_the_dashboards_query() {
    // The test configuration binds the consumer's admin port (`metrics_bind`) to port 0;
    // the handle reports where it landed.
    let stack = Distributed::spawn(|_| {}).await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let (coupon, accepted) = rush(app, 60, 20).await;
    assert_eq!(accepted, 20);
    assert_eq!(
        stack
            .wait_persisted(coupon, 20, Duration::from_secs(60))
            .await,
        20,
        "the consumer persisted the rush"
    );

    // api node: /metrics on its HTTP port.
    let url = app.url("/metrics");
    let expected = expected_for("api");
    let (api_scrape, missing) =
        scrape_until_complete(&app.client, &url, &expected, Duration::from_secs(15)).await;
    assert_serves("api", &url, &api_scrape, &missing);

    // consumer node: /metrics on its admin port. The lag gauge is refreshed every few
    // seconds: keep scraping until it is there.
    let consumer_url = consumer.metrics_url();
    let expected = expected_for("consumer");
    let (consumer_scrape, missing) = scrape_until_complete(
        &app.client,
        &consumer_url,
        &expected,
        Duration::from_secs(30),
    )
    .await;
    assert_serves("consumer", &consumer_url, &consumer_scrape, &missing);
    assert_matchers_match("api", &api_scrape);
    assert_matchers_match("consumer", &consumer_scrape);

    // The rush reached the consumer's counters (counted just after the database commit
    // that `wait_persisted` saw, so allow a moment).
    let mut inserted = series_value(&consumer_scrape, "couponrush_consumer_rows_inserted_total");
    for _ in 0..50 {
        if counted(inserted, 20.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = scrape(&app.client, &consumer_url).await;
        inserted = series_value(&s, "couponrush_consumer_rows_inserted_total");
    }
    assert!(counted(inserted, 20.0), "rows inserted: {inserted:?}");

    consumer.stop().await;
    stack.api.stop().await;
}

/// `value` is `expected`; at least `expected` when other tests share this process's
/// registry (plain `cargo test`).
fn counted(value: Option<f64>, expected: f64) -> bool {
    match value {
        Some(v) if own_process() => (v - expected).abs() < f64::EPSILON,
        Some(v) => v >= expected,
        None => false,
    }
}

/// The value of one sample: `name` is the series name with its labels exactly as
/// exposed (`name{label="value"}`), or a label-less name.
fn series_value(s: &Scrape, name: &str) -> Option<f64> {
    s.text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}
