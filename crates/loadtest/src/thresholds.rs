//! k6-style thresholds (`--threshold 'p95<500ms'`): pass/fail criteria on what the run
//! measured, judged apart from the correctness verdict. A server can be correct and still
//! too slow, or leave users without an answer; the verdict cannot see that (an
//! unanswered request may or may not have taken a unit, so it only makes the verdict
//! INCONCLUSIVE when the counts are off), so the thresholds do, and exit code 3 says so.
//!
//! Limits are kept in the metric's own unit: milliseconds for latency, percent for
//! errors, users for unanswered, requests per second for rps; the JSON reports the same.

use crate::args::Scenario;
use crate::progress::fmt_micros;
use crate::summary::Latency;
use serde::Serialize;

/// What a threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    P50,
    P90,
    P95,
    P99,
    Max,
    Avg,
    /// Failed requests (error statuses, timeouts, broken connections, 2xx answers
    /// without a known result) plus arrivals never sent, as a percentage of requests
    /// sent plus arrivals never sent.
    Errors,
    /// Users who never got a definite answer (including those never sent).
    Unanswered,
    /// Requests per second over the run.
    Rps,
}

/// The unit a metric's limit and actual value are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Ms,
    Percent,
    Users,
    PerSec,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::Max => "max",
            Self::Avg => "avg",
            Self::Errors => "errors",
            Self::Unanswered => "unanswered",
            Self::Rps => "rps",
        }
    }

    /// `p95`, k6's `p(95)`, `med` for p50; case-insensitive.
    fn parse(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase().replace(['(', ')'], "");
        Some(match name.as_str() {
            "p50" | "med" | "median" => Self::P50,
            "p90" => Self::P90,
            "p95" => Self::P95,
            "p99" => Self::P99,
            "max" => Self::Max,
            "avg" => Self::Avg,
            "errors" => Self::Errors,
            "unanswered" => Self::Unanswered,
            "rps" => Self::Rps,
            _ => return None,
        })
    }

    fn unit(self) -> Unit {
        match self {
            Self::Errors => Unit::Percent,
            Self::Unanswered => Unit::Users,
            Self::Rps => Unit::PerSec,
            _ => Unit::Ms,
        }
    }

    /// The JSON's `unit`.
    pub fn unit_str(self) -> &'static str {
        match self.unit() {
            Unit::Ms => "ms",
            Unit::Percent => "%",
            Unit::Users => "users",
            Unit::PerSec => "req/s",
        }
    }

    /// The limit's text (`500ms`, `0.1%`, `0`, `1000/s`) in the metric's unit.
    fn parse_limit(self, raw: &str) -> Result<f64, String> {
        let (number, unit) = crate::args::split_number(raw);
        let value: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("{raw:?} is not a non-negative number"))?;
        match (self.unit(), unit) {
            (Unit::Ms, "ms") => Ok(value),
            (Unit::Ms, "s") => Ok(value * 1000.0),
            (Unit::Ms, "us" | "µs") => Ok(value / 1000.0),
            (Unit::Ms, "") => Err("a latency needs a unit: e.g. 500ms or 0.5s".into()),
            (Unit::Ms, u) => Err(format!("unknown latency unit {u:?}: use us, ms or s")),
            (Unit::Percent, "%") if value <= 100.0 => Ok(value),
            (Unit::Percent, "%") => Err("a percentage above 100%".into()),
            (Unit::Percent, _) => {
                Err("errors is a share of requests: write a percentage, e.g. errors<0.1%".into())
            }
            (Unit::Users, "") if value.fract() == 0.0 => Ok(value),
            (Unit::Users, _) => {
                Err("unanswered counts users: a whole number, e.g. unanswered==0".into())
            }
            (Unit::PerSec, "" | "/s") => Ok(value),
            (Unit::PerSec, _) => Err("rps is requests per second: e.g. rps>1000".into()),
        }
    }

    /// A value of this metric for people: `35.21ms`, `0.05%`, `3`, `1234.5/s`.
    fn show(self, v: f64) -> String {
        match self.unit() {
            Unit::Ms => fmt_micros((v * 1000.0).round() as u64),
            Unit::Percent if v == 0.0 => "0%".into(),
            Unit::Percent if v < 0.01 => format!("{v:.4}%"),
            Unit::Percent => format!("{v:.2}%"),
            Unit::Users => format!("{v}"),
            Unit::PerSec => format!("{v:.1}/s"),
        }
    }

    /// A limit as it was written where possible (`0.1%`, not `0.1000%`).
    fn show_limit(self, v: f64) -> String {
        match self.unit() {
            Unit::Ms if v >= 1000.0 => format!("{}s", v / 1000.0),
            Unit::Ms => format!("{v}ms"),
            Unit::Percent => format!("{v}%"),
            Unit::PerSec => format!("{v}/s"),
            Unit::Users => self.show(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
        }
    }

    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Self::Lt => actual < limit,
            Self::Le => actual <= limit,
            Self::Gt => actual > limit,
            Self::Ge => actual >= limit,
            Self::Eq => (actual - limit).abs() < 1e-9,
        }
    }
}

/// One criterion: `metric op limit`, the limit in the metric's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written, without spaces.
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
}

const SYNTAX: &str = "write METRIC OP LIMIT, e.g. p95<500ms, p99<=1s, errors<0.1%, unanswered==0, rps>1000 \
     (metrics: p50 p90 p95 p99 max avg errors unanswered rps; ops: < <= > >= ==)";

/// Parses `--threshold EXPR`; the message is what clap shows.
pub fn parse(raw: &str) -> Result<Threshold, String> {
    let expr: String = raw.split_whitespace().collect();
    let at = expr
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| format!("no comparison in {raw:?}: {SYNTAX}"))?;
    let (name, rest) = expr.split_at(at);
    let (op, value) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .into_iter()
    .find_map(|(text, op)| rest.strip_prefix(text).map(|v| (op, v)))
    .ok_or_else(|| format!("unknown comparison in {raw:?}: {SYNTAX}"))?;
    let metric = Metric::parse(name)
        .ok_or_else(|| format!("unknown metric {name:?} in {raw:?}: {SYNTAX}"))?;
    let limit = metric
        .parse_limit(value)
        .map_err(|e| format!("{raw:?}: {e}"))?;
    Ok(Threshold {
        expr,
        metric,
        op,
        limit,
    })
}

/// The thresholds applied when no `--threshold` is given. Issue scenarios: latency a
/// user notices, (almost) no errors, and every user answered. Waiting room: no errors
/// and every user answered. Health: no errors (a ceiling measured through errors is
/// not one). Mint sends nothing.
pub fn defaults(scenario: Scenario) -> Vec<Threshold> {
    let exprs: &[&str] = match scenario {
        Scenario::Rush | Scenario::Rate => &["p95<500ms", "p99<1s", "errors<0.1%", "unanswered==0"],
        // Users wait in line by design (the latency is that of each request, the wait is
        // "time to answer"): judged on errors and answers, the verdict on fairness.
        Scenario::WaitingRoom => &["errors<0.1%", "unanswered==0"],
        Scenario::Health => &["errors<0.1%"],
        Scenario::Mint => &[],
    };
    exprs
        .iter()
        .map(|e| parse(e).expect("default thresholds parse"))
        .collect()
}

/// The figures thresholds are judged on (latency in ms, errors in percent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub latency: Latency,
    pub errors_pct: f64,
    pub unanswered: u64,
    pub rps: f64,
}

/// A threshold and how the run did against it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judged {
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
    pub actual: f64,
    pub unit: &'static str,
    pub ok: bool,
}

impl Threshold {
    pub fn judge(&self, m: &Measured) -> Judged {
        let l = &m.latency;
        let actual = match self.metric {
            Metric::P50 => l.p50_ms,
            Metric::P90 => l.p90_ms,
            Metric::P95 => l.p95_ms,
            Metric::P99 => l.p99_ms,
            Metric::Max => l.max_ms,
            Metric::Avg => l.avg_ms,
            Metric::Errors => m.errors_pct,
            Metric::Unanswered => m.unanswered as f64,
            Metric::Rps => m.rps,
        };
        Judged {
            expr: self.expr.clone(),
            metric: self.metric,
            op: self.op,
            limit: self.limit,
            actual,
            unit: self.metric.unit_str(),
            ok: self.op.holds(actual, self.limit),
        }
    }
}

impl Judged {
    /// `p95 < 500ms`
    pub fn expected(&self) -> String {
        format!(
            "{} {} {}",
            self.metric.as_str(),
            self.op.as_str(),
            self.metric.show_limit(self.limit)
        )
    }

    pub fn actual_text(&self) -> String {
        self.metric.show(self.actual)
    }

    pub fn mark(&self) -> &'static str {
        if self.ok { "✓" } else { "✗" }
    }
}

/// The one-line list printed at the start of a run.
pub fn describe(thresholds: &[Threshold], explicit: bool) -> String {
    if thresholds.is_empty() {
        return "thresholds: none".into();
    }
    let list: Vec<&str> = thresholds.iter().map(|t| t.expr.as_str()).collect();
    let origin = if explicit {
        "from --threshold"
    } else {
        "defaults; set with --threshold, disable with --no-thresholds"
    };
    format!("thresholds: {} ({origin})", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_style_expressions() {
        let t = parse("p95<500ms").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::P95, Op::Lt, 500.0));
        assert_eq!(parse("p(99) <= 1.5s").unwrap().limit, 1500.0);
        assert_eq!(parse("p(99) <= 1.5s").unwrap().expr, "p(99)<=1.5s");
        assert_eq!(parse("max<800us").unwrap().limit, 0.8);
        assert_eq!(parse("med<2ms").unwrap().metric, Metric::P50);
        let e = parse("errors<0.1%").unwrap();
        assert_eq!((e.metric, e.op, e.limit), (Metric::Errors, Op::Lt, 0.1));
        let u = parse("unanswered==0").unwrap();
        assert_eq!((u.metric, u.op, u.limit), (Metric::Unanswered, Op::Eq, 0.0));
        assert_eq!(parse("unanswered<=10").unwrap().op, Op::Le);
        let r = parse("rps>=20000/s").unwrap();
        assert_eq!((r.metric, r.op, r.limit), (Metric::Rps, Op::Ge, 20_000.0));
        assert_eq!(parse("rps>1000").unwrap().op, Op::Gt);
    }

    #[test]
    fn rejects_bad_expressions_with_a_reason() {
        for (raw, says) in [
            ("p95", "no comparison"),
            ("p95=500ms", "unknown comparison"),
            ("p95!=500ms", "unknown comparison"),
            ("p42<500ms", "unknown metric"),
            ("p95<500", "needs a unit"),
            ("p95<500h", "unknown latency unit"),
            ("p95<fast", "not a non-negative number"),
            ("p95<-5ms", "not a non-negative number"),
            ("errors<0.001", "percentage"),
            ("errors<150%", "above 100%"),
            ("unanswered<=1.5", "whole number"),
            ("rps>10ms", "requests per second"),
        ] {
            let err = parse(raw).expect_err(raw);
            assert!(err.contains(says), "{raw}: {err}");
        }
    }

    fn measured() -> Measured {
        Measured {
            latency: Latency {
                p95_ms: 35.0,
                p99_ms: 120.0,
                max_ms: 900.0,
                ..Latency::default()
            },
            errors_pct: 0.0,
            unanswered: 0,
            rps: 25_000.0,
        }
    }

    fn verdicts(m: &Measured, thresholds: &[Threshold]) -> Vec<bool> {
        thresholds.iter().map(|t| t.judge(m).ok).collect()
    }

    #[test]
    fn judges_each_metric_with_its_operator() {
        let m = measured();
        let ts: Vec<_> = [
            "p95<35ms",
            "p95<=35ms",
            "p99<1s",
            "max<500ms",
            "rps>30000",
            "rps>=25000",
            "errors<0.1%",
            "unanswered==0",
        ]
        .iter()
        .map(|e| parse(e).unwrap())
        .collect();
        assert_eq!(
            verdicts(&m, &ts),
            [false, true, true, false, false, true, true, true]
        );
        let j = parse("p99<1s").unwrap().judge(&m);
        assert_eq!((j.limit, j.actual, j.unit), (1000.0, 120.0, "ms"));
        assert_eq!(j.expected(), "p99 < 1s");
        assert_eq!(
            parse("p95<=0.25s").unwrap().judge(&m).expected(),
            "p95 <= 250ms"
        );
        assert_eq!(j.actual_text(), "120.00ms");
        assert_eq!(
            parse("errors<0.1%").unwrap().judge(&m).expected(),
            "errors < 0.1%"
        );
    }

    #[test]
    fn defaults_fail_a_run_with_unanswered_users_or_errors() {
        let issue = defaults(Scenario::Rush);
        assert_eq!(
            issue.iter().map(|t| t.expr.as_str()).collect::<Vec<_>>(),
            ["p95<500ms", "p99<1s", "errors<0.1%", "unanswered==0"]
        );
        assert_eq!(defaults(Scenario::Rate), issue);
        assert!(defaults(Scenario::Mint).is_empty());
        let room = defaults(Scenario::WaitingRoom);
        assert_eq!(verdicts(&measured(), &room), [true, true]);
        let unanswered = Measured {
            unanswered: 1,
            ..measured()
        };
        assert_eq!(verdicts(&unanswered, &room), [true, false]);
        assert!(verdicts(&measured(), &issue).iter().all(|ok| *ok));
        let unanswered = Measured {
            unanswered: 1,
            ..measured()
        };
        assert_eq!(verdicts(&unanswered, &issue), [true, true, true, false]);
        let errors = Measured {
            errors_pct: 0.1,
            ..measured()
        };
        assert_eq!(verdicts(&errors, &issue), [true, true, false, true]);
    }
}
