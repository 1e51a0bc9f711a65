//! `--out report.html`: one self-contained file (no script, no CDN, no font), viewable
//! offline: three hand-written inline SVG line charts (requests/s, latency p50/p95/p99,
//! outcomes per second), the summary, the verdict, the thresholds (a table of their
//! own: correctness and speed are separate judgements) and the per-second table. A
//! waiting-room run adds the room's section: its figures and two charts of the admin
//! view sampled every 500 ms (queue length; admissions per second and the limit), one
//! point per sample (`data-samples`).
//!
//! The markup is also well-formed XML (every element closed, attributes quoted, only
//! XML's five entities), so a strict parser can check it; every chart carries one
//! point per second of the run (`data-seconds`).

use crate::args::Arrival;
use crate::scenario::waiting_room::{RoomReport, RoomSample};
use crate::summary::{SecondRow, Summary};
use std::fmt::Write;

pub fn render(s: &Summary) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!(
        "couponrush loadtest: {} against {}",
        s.scenario.as_str(),
        s.target
    );
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    let _ = writeln!(h, "<title>{}</title>", esc(&title));
    h.push_str(STYLE);
    h.push_str("</head>\n<body>\n");
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        h,
        "<p class=\"muted\">started {} · {} seconds of data</p>",
        esc(&s.started_at.to_rfc3339()),
        s.seconds.len()
    );
    if let Some(v) = &s.verdict {
        let _ = writeln!(
            h,
            "<p class=\"verdict {}\">verdict: {}</p>",
            v.status.as_str().to_lowercase(),
            v.status.as_str()
        );
    }
    if !s.thresholds.is_empty() {
        let crossed = s.thresholds.iter().filter(|j| !j.ok).count();
        let _ = writeln!(
            h,
            "<p class=\"verdict {}\">thresholds: {}</p>",
            if crossed == 0 { "pass" } else { "fail" },
            if crossed == 0 {
                format!("all {} held", s.thresholds.len())
            } else {
                format!("{crossed} of {} crossed", s.thresholds.len())
            }
        );
    }
    h.push_str(&summary_table(s));
    h.push_str(&thresholds_table(s));
    let col = |f: fn(&SecondRow) -> f64| s.seconds.iter().map(f).collect::<Vec<_>>();
    h.push_str(&chart(
        "requests",
        "Requests per second",
        "req/s",
        &[
            ("answered", "#2563eb", col(|r| r.requests as f64)),
            ("errors", "#dc2626", col(|r| r.errors as f64)),
        ],
    ));
    h.push_str(&chart(
        "latency",
        &format!("Latency per second (from {}), ms", s.latency_from),
        "ms",
        &[
            ("p50", "#16a34a", col(|r| r.p50_ms)),
            ("p95", "#d97706", col(|r| r.p95_ms)),
            ("p99", "#dc2626", col(|r| r.p99_ms)),
        ],
    ));
    let mut outcomes = vec![
        ("ACCEPTED", "#16a34a", col(|r| r.accepted as f64)),
        ("SOLD_OUT", "#6b7280", col(|r| r.sold_out as f64)),
        (
            "ALREADY_ISSUED",
            "#7c3aed",
            col(|r| r.already_issued as f64),
        ),
    ];
    if s.outcomes.queued > 0 || s.outcomes.polls > 0 {
        outcomes.push(("QUEUED", "#d97706", col(|r| r.queued as f64)));
        outcomes.push(("polls", "#2563eb", col(|r| r.polls as f64)));
    }
    outcomes.push(("other", "#0891b2", col(|r| r.other as f64)));
    outcomes.push(("errors", "#dc2626", col(|r| r.errors as f64)));
    h.push_str(&chart(
        "outcomes",
        "Outcomes per second",
        "answers",
        &outcomes,
    ));
    if let Some(room) = &s.waiting_room {
        h.push_str(&room_section(room));
    }
    h.push_str(&seconds_table(&s.seconds));
    h.push_str("</body>\n</html>\n");
    h
}

const STYLE: &str = "<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #111; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border-bottom: 1px solid #ddd; padding: 2px 10px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #666; } .legend span { margin-right: 1.2em; }
.verdict { font-size: 1.2em; font-weight: bold; }
.pass { color: #15803d; } .fail { color: #b91c1c; } .inconclusive { color: #b45309; }
svg text { font: 11px sans-serif; fill: #444; }
</style>
";

/// Escapes text and attribute values for HTML that is also XML.
pub fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn summary_table(s: &Summary) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("scenario".into(), s.scenario.as_str().into()),
        ("target".into(), s.target.clone()),
        ("users".into(), s.users.to_string()),
        ("requests per user".into(), s.requests_per_user.to_string()),
        ("connections".into(), s.connections.to_string()),
    ];
    if let Some(q) = s.quantity {
        rows.push(("quantity".into(), q.to_string()));
    }
    if let Some(c) = s.coupon_id {
        rows.push(("coupon".into(), c.to_string()));
    }
    if let Some(r) = s.rate {
        rows.push(("arrival rate".into(), format!("{r}/s")));
    }
    let l = &s.latency;
    rows.extend([
        ("requests".into(), s.requests.to_string()),
        ("requests/s".into(), format!("{:.1}", s.requests_per_sec)),
        ("duration".into(), format!("{:.3} s", s.duration_secs)),
        (
            format!("latency (ms, from {})", s.latency_from),
            format!(
                "avg {:.2} · min {:.2} · p50 {:.2} · p90 {:.2} · p95 {:.2} · p99 {:.2} · max {:.2}",
                l.avg_ms, l.min_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms
            ),
        ),
    ]);
    if let Some(p) = &s.per_second_p99 {
        rows.push((
            "p99 per second (ms)".into(),
            format!(
                "median {:.2} · worst {:.2} (second {}) · over {} s{}",
                p.median_ms,
                p.worst_ms,
                p.worst_second,
                p.seconds,
                p.skipped_final_second.map_or(String::new(), |s| format!(
                    " (final second {s} left out as partial)"
                ))
            ),
        ));
    }
    let e = &s.errors;
    let mut kinds = format!("timeout {} · connect {}", e.timeout, e.connect);
    for (code, n) in &e.http {
        let _ = write!(kinds, " · http {code}: {n}");
    }
    let _ = write!(kinds, " · other {}", e.other);
    rows.push((
        "errors".into(),
        format!("{} ({:.2} %): {kinds}", e.total, e.rate * 100.0),
    ));
    let o = &s.outcomes;
    rows.push((
        "outcomes".into(),
        format!(
            "ACCEPTED {} · SOLD_OUT {} · ALREADY_ISSUED {} · other {}",
            o.accepted,
            o.sold_out,
            o.already_issued,
            o.ok + o.other
        ),
    ));
    if o.queued > 0 || o.polls > 0 {
        let p = &s.poll_answers;
        rows.push((
            "waiting room answers".into(),
            format!(
                "QUEUED {} · polls {} (WAITING {} · ADMITTED {} · SOLD_OUT {} · EXPIRED {} · NOT_IN_QUEUE {})",
                o.queued, o.polls, p.waiting, p.admitted, p.sold_out, p.expired, p.not_in_queue
            ),
        ));
    }
    if let Some(l) = &s.poll_latency {
        rows.push((
            "queue poll latency (ms)".into(),
            format!(
                "avg {:.2} · p50 {:.2} · p95 {:.2} · p99 {:.2} · max {:.2}",
                l.avg_ms, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            ),
        ));
    }
    if s.queued_users > 0 {
        rows.push((
            "users queued".into(),
            format!("{} ({} gave up)", s.queued_users, s.gave_up_users),
        ));
    }
    if let Some(a) = &s.answers {
        rows.push((
            "final answers (users)".into(),
            format!(
                "ACCEPTED {} · SOLD_OUT {} · ALREADY_ISSUED {} · none {}",
                a.accepted, a.sold_out, a.already_issued, a.none
            ),
        ));
    }
    if let Some(l) = &s.time_to_answer {
        rows.push((
            format!("time to answer (ms, from {})", s.latency_from),
            format!(
                "p50 {:.2} · p95 {:.2} · p99 {:.2} · max {:.2}",
                l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            ),
        ));
    }
    if s.dropped > 0 {
        rows.push(("dropped arrivals".into(), s.dropped.to_string()));
    }
    match s.all_users_answered_secs {
        Some(t) => rows.push(("all users answered in".into(), format!("{t:.3} s"))),
        None if s.users_without_answer > 0 => rows.push((
            "users without an answer".into(),
            s.users_without_answer.to_string(),
        )),
        None => {}
    }
    let mut h = String::from("<h2>Summary</h2>\n<table id=\"summary\">\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    h.push_str("</table>\n");
    if let Some(v) = &s.verdict {
        h.push_str("<h2>Verdict</h2>\n<table id=\"verdict\">\n");
        for c in &v.checks {
            let _ = writeln!(
                h,
                "<tr><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                c.status.as_str().to_lowercase(),
                c.status.as_str(),
                esc(&c.name),
                esc(&c.detail)
            );
        }
        h.push_str("</table>\n");
    }
    h
}

/// Expected against actual, one row per threshold, apart from the verdict.
fn thresholds_table(s: &Summary) -> String {
    if s.thresholds.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<h2>Thresholds</h2>\n<table id=\"thresholds\">\n\
         <tr><th></th><th>threshold</th><th>expected</th><th>actual</th></tr>\n",
    );
    for j in &s.thresholds {
        let _ = writeln!(
            h,
            "<tr data-ok=\"{}\"><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            j.ok,
            if j.ok { "pass" } else { "fail" },
            j.mark(),
            esc(&j.expr),
            esc(&j.expected()),
            esc(&j.actual_text())
        );
    }
    h.push_str("</table>\n");
    h
}

/// The waiting room: settings, what the users saw, and the admin view over time.
fn room_section(r: &RoomReport) -> String {
    let mut h = String::from("<h2>Waiting room</h2>\n<table id=\"waiting-room\">\n");
    let mut rows: Vec<(String, String)> = vec![
        ("mode".into(), "ALWAYS".into()),
        ("pre-queue".into(), r.prequeue.as_str().into()),
        (
            "opening".into(),
            match (r.opens_in_ms, r.opens_at_secs) {
                (Some(ms), Some(at)) => {
                    format!("{ms} ms after creation ({at:.3} s after the start)")
                }
                _ => "at once".into(),
            },
        ),
        (
            "arrivals".into(),
            format!(
                "over {} s, {}",
                r.arrival_secs,
                match r.arrival {
                    Arrival::Even => "evenly",
                    Arrival::Random => "at random",
                }
            ),
        ),
        (
            "users".into(),
            format!(
                "{} queued · {} admitted · {} rejoins · {} gave up",
                r.queued_users, r.admitted_users, r.rejoins, r.gave_up
            ),
        ),
    ];
    if let Some(w) = &r.wait_to_admission {
        rows.push((
            "wait in line, join → ADMITTED (ms)".into(),
            format!(
                "p50 {:.0} · p95 {:.0} · p99 {:.0} · max {:.0}",
                w.p50_ms, w.p95_ms, w.p99_ms, w.max_ms
            ),
        ));
    }
    let o = &r.overtaking;
    rows.push((
        "overtaking".into(),
        format!(
            "{} overtakings by {} users · {} admitted users checked · {} ordered by position · {} skipped (shuffled)",
            o.inversions, o.overtakers, o.checked, o.by_position, o.skipped_shuffled
        ),
    ));
    let p = &r.one_place;
    rows.push((
        "one place per user".into(),
        format!(
            "{} told a worse place · {} of {} joins before the opening share a position",
            p.moved_back, p.shared_positions, p.joins_before_opening
        ),
    ));
    rows.push((
        "admin samples".into(),
        format!(
            "{} every 500 ms · {} failed reads",
            r.samples.len(),
            r.sample_failures
        ),
    ));
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
    }
    h.push_str("</table>\n");
    if r.samples.is_empty() {
        return h;
    }
    let labels: Vec<String> = r
        .samples
        .iter()
        .map(|s| format!("{:.1}s", s.t_secs))
        .collect();
    let col = |f: fn(&RoomSample) -> f64| r.samples.iter().map(f).collect::<Vec<_>>();
    h.push_str(&line_chart(
        "room-waiting",
        "Waiting room: queue length",
        "waiting",
        ("data-samples", &labels),
        &[("waiting", "#2563eb", col(|s| s.waiting as f64))],
    ));
    h.push_str(&line_chart(
        "room-admissions",
        "Waiting room: admissions per second and the controller's limit",
        "per second",
        ("data-samples", &labels),
        &[
            (
                "admittedPerSecond (server)",
                "#16a34a",
                col(|s| s.admitted_per_second),
            ),
            (
                "Δ admittedTotal / s",
                "#7c3aed",
                col(|s| s.admitted_delta_per_second),
            ),
            (
                "admissionRate (limit)",
                "#dc2626",
                col(|s| s.admission_rate),
            ),
        ],
    ));
    h
}

const W: f64 = 860.0;
const H: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 15.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A round axis maximum and step, about four gridlines.
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| s * 4.0 >= max)
        .unwrap_or(10.0 * mag);
    (step * 4.0, step)
}

fn label(v: f64) -> String {
    if v >= 1000.0 && v % 1000.0 == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart, one point per second (bucket centres), with axes and a legend.
/// A line chart, one point per second of the run.
fn chart(id: &str, title: &str, unit: &str, series: &[(&str, &str, Vec<f64>)]) -> String {
    let n = series.first().map_or(0, |s| s.2.len());
    let labels: Vec<String> = (0..n).map(|i| format!("{i}s")).collect();
    line_chart(id, title, unit, ("data-seconds", &labels), series)
}

/// A line chart, one point per x label; `count.0` names the attribute that carries the
/// number of points.
fn line_chart(
    id: &str,
    title: &str,
    unit: &str,
    (count_attr, labels): (&str, &[String]),
    series: &[(&str, &str, Vec<f64>)],
) -> String {
    let n = series.first().map_or(0, |s| s.2.len());
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0, f64::max);
    let (ymax, ystep) = nice_axis(max);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * pw / n.max(1) as f64;
    let y = |v: f64| TOP + ph - (v / ymax) * ph;
    let mut h = String::new();
    let _ = writeln!(h, "<h2>{}</h2>", esc(title));
    h.push_str("<p class=\"legend\">");
    for (name, color, _) in series {
        let _ = write!(h, "<span style=\"color:{color}\">■ {}</span>", esc(name));
    }
    h.push_str("</p>\n");
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart-{id}\" {count_attr}=\"{n}\" \
         width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">"
    );
    let mut v = 0.0;
    while v <= ymax + ystep / 2.0 {
        let _ = writeln!(
            h,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            label(v),
            yy = y(v)
        );
        v += ystep;
    }
    let every = n.div_ceil(12).max(1);
    for i in (0..n).step_by(every) {
        let _ = writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            H - 8.0,
            esc(labels.get(i).map_or("", String::as_str))
        );
    }
    let _ = writeln!(
        h,
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(unit)
    );
    for (name, color, values) in series {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = writeln!(
            h,
            "<polyline data-series=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" points=\"{}\"/>",
            esc(name),
            points.join(" ")
        );
        // Hover values; skipped on long runs to keep the file small.
        if n <= 600 {
            for (i, v) in values.iter().enumerate() {
                let _ = writeln!(
                    h,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\" fill=\"{color}\"><title>{} {}: {}</title></circle>",
                    x(i),
                    y(*v),
                    esc(labels.get(i).map_or("", String::as_str)),
                    esc(name),
                    label((v * 100.0).round() / 100.0)
                );
            }
        }
    }
    h.push_str("</svg>\n");
    h
}

fn seconds_table(rows: &[SecondRow]) -> String {
    let mut h = String::from(
        "<h2>Per second</h2>\n<details><summary>table</summary>\n<table id=\"per-second\">\n\
         <tr><th class=\"n\">second</th><th class=\"n\">requests</th><th class=\"n\">p50 ms</th>\
         <th class=\"n\">p95 ms</th><th class=\"n\">p99 ms</th><th class=\"n\">ACCEPTED</th>\
         <th class=\"n\">SOLD_OUT</th><th class=\"n\">ALREADY_ISSUED</th><th class=\"n\">QUEUED</th>\
         <th class=\"n\">polls</th><th class=\"n\">other</th><th class=\"n\">errors</th></tr>\n",
    );
    for r in rows {
        let _ = writeln!(
            h,
            "<tr data-second=\"{}\"><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td>\
             <td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            r.second,
            r.second,
            r.requests,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.accepted,
            r.sold_out,
            r.already_issued,
            r.queued,
            r.polls,
            r.other,
            r.errors
        );
    }
    h.push_str("</table>\n</details>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_is_round() {
        assert_eq!(nice_axis(0.0), (1.0, 0.25));
        assert_eq!(nice_axis(95.0), (100.0, 25.0));
        let (max, step) = nice_axis(12_345.0);
        assert!((12_345.0..=40_000.0).contains(&max), "{max}");
        assert_eq!(max / step, 4.0);
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
