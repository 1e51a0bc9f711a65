//! The run's summary: one serializable value behind the k6-like text on stdout, the
//! `--json` file and the HTML report, so the three always agree.

use crate::args::Scenario;
use crate::client::ErrorKind;
use crate::progress::fmt_micros;
use crate::scenario::issue::Crowd;
use crate::stats::{Outcomes, Recorder};
use crate::verify::{Status, Verdict};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub scenario: Scenario,
    pub target: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub users: u64,
    pub requests_per_user: u64,
    pub connections: usize,
    pub quantity: Option<u64>,
    pub coupon_id: Option<Uuid>,
    /// Arrivals per second (rate scenario).
    pub rate: Option<u64>,
    /// From the start to the last answer.
    pub duration_secs: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub latency: Latency,
    /// `send` or `schedule` (rate: from the planned arrival).
    pub latency_from: &'static str,
    pub errors: Errors,
    pub outcomes: Outcomes,
    /// Arrivals never sent (rate: every connection busy past the end).
    pub dropped: u64,
    /// When the last user got their first definite answer (none if some never did).
    pub all_users_answered_secs: Option<f64>,
    pub users_without_answer: u64,
    pub seconds: Vec<SecondRow>,
    pub verdict: Option<Verdict>,
}

/// Milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub avg_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            avg_ms: h.mean() / 1000.0,
            min_ms: ms(h.min()),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    pub total: u64,
    /// Of all requests.
    pub rate: f64,
    pub timeout: u64,
    pub connect: u64,
    /// Error statuses by code (5xx and unexpected 4xx).
    pub http: BTreeMap<u16, u64>,
    pub other: u64,
    /// The first few distinct messages.
    pub examples: Vec<String>,
}

/// One second of the run, by completion time.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondRow {
    pub second: u64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub accepted: u64,
    pub sold_out: u64,
    pub already_issued: u64,
    /// ok + other 2xx answers.
    pub other: u64,
    pub errors: u64,
}

/// What the run was asked to do.
#[derive(Debug, Clone)]
pub struct Setup {
    pub scenario: Scenario,
    pub target: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub users: u64,
    pub requests_per_user: u64,
    pub connections: usize,
    pub quantity: Option<u64>,
    pub coupon_id: Option<Uuid>,
    pub rate: Option<u64>,
    pub latency_from_schedule: bool,
}

impl Summary {
    pub fn new(
        setup: Setup,
        stats: &Recorder,
        elapsed: Duration,
        crowd: Option<&Crowd>,
        verdict: Option<Verdict>,
    ) -> Self {
        let requests = stats.requests();
        let secs = elapsed.as_secs_f64();
        let mut errors = Errors {
            total: stats.error_total(),
            rate: if requests == 0 {
                0.0
            } else {
                stats.error_total() as f64 / requests as f64
            },
            examples: stats.error_examples.clone(),
            ..Errors::default()
        };
        for (kind, n) in &stats.errors {
            match kind {
                ErrorKind::Timeout => errors.timeout += n,
                ErrorKind::Connect => errors.connect += n,
                ErrorKind::Http(code) => *errors.http.entry(*code).or_default() += n,
                ErrorKind::Other => errors.other += n,
            }
        }
        let (answered, missing) = crowd.map_or((None, 0), Crowd::all_answered);
        let ms = |us: u64| us as f64 / 1000.0;
        let seconds = stats
            .seconds
            .iter()
            .enumerate()
            .map(|(i, s)| SecondRow {
                second: i as u64,
                requests: s.requests(),
                p50_ms: ms(s.latency.value_at_quantile(0.50)),
                p95_ms: ms(s.latency.value_at_quantile(0.95)),
                p99_ms: ms(s.latency.value_at_quantile(0.99)),
                accepted: s.outcomes.accepted,
                sold_out: s.outcomes.sold_out,
                already_issued: s.outcomes.already_issued,
                other: s.outcomes.ok + s.outcomes.other,
                errors: s.errors,
            })
            .collect();
        Self {
            scenario: setup.scenario,
            target: setup.target,
            started_at: setup.started_at,
            users: setup.users,
            requests_per_user: setup.requests_per_user,
            connections: setup.connections,
            quantity: setup.quantity,
            coupon_id: setup.coupon_id,
            rate: setup.rate,
            duration_secs: secs,
            requests,
            requests_per_sec: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            latency: Latency::of(&stats.latency),
            latency_from: if setup.latency_from_schedule {
                "schedule"
            } else {
                "send"
            },
            errors,
            outcomes: stats.outcomes,
            dropped: stats.dropped,
            all_users_answered_secs: answered.map(|d| d.as_secs_f64()),
            users_without_answer: missing,
            seconds,
            verdict,
        }
    }

    /// 0 for PASS (or no verdict), 1 for FAIL, 2 for INCONCLUSIVE.
    pub fn exit_code(&self) -> i32 {
        match self.verdict.as_ref().map(|v| v.status) {
            None | Some(Status::Pass) => 0,
            Some(Status::Fail) => 1,
            Some(Status::Inconclusive) => 2,
        }
    }
}

fn ms(v: f64) -> String {
    fmt_micros((v * 1000.0).round() as u64)
}

/// The k6-like text summary.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, name: &str, value: String| {
            writeln!(f, "  {name:.<32}: {value}", name = format!("{name} "))
        };
        writeln!(f)?;
        let what = match self.scenario {
            Scenario::Rush => format!(
                "rush: {} users × {} request(s), quantity {}",
                self.users,
                self.requests_per_user,
                self.quantity.unwrap_or(0)
            ),
            Scenario::Rate => format!(
                "constant arrival rate {}/s, {} arrivals, quantity {}",
                self.rate.unwrap_or(0),
                self.users,
                self.quantity.unwrap_or(0)
            ),
            Scenario::Health => "GET /health, closed loop".into(),
        };
        row(
            f,
            "scenario",
            format!("{what}, {} connections", self.connections),
        )?;
        row(f, "target", self.target.clone())?;
        if let Some(c) = self.coupon_id {
            row(f, "coupon", c.to_string())?;
        }
        row(
            f,
            "http_reqs",
            format!(
                "{}  {:.1}/s  over {:.2}s",
                self.requests, self.requests_per_sec, self.duration_secs
            ),
        )?;
        let l = &self.latency;
        row(
            f,
            &format!("http_req_duration (from {})", self.latency_from),
            format!(
                "avg={} min={} med={} p(90)={} p(95)={} p(99)={} max={}",
                ms(l.avg_ms),
                ms(l.min_ms),
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p95_ms),
                ms(l.p99_ms),
                ms(l.max_ms)
            ),
        )?;
        let e = &self.errors;
        let mut kinds = format!("timeout={} connect={}", e.timeout, e.connect);
        for (code, n) in &e.http {
            kinds.push_str(&format!(" http_{code}={n}"));
        }
        kinds.push_str(&format!(" other={}", e.other));
        row(
            f,
            "errors",
            format!("{} ({:.2}%)  {kinds}", e.total, e.rate * 100.0),
        )?;
        for ex in &e.examples {
            writeln!(f, "      e.g. {ex}")?;
        }
        let o = &self.outcomes;
        let outcomes = match self.scenario {
            Scenario::Health => format!("ok={} other={}", o.ok, o.other),
            _ => format!(
                "ACCEPTED={} SOLD_OUT={} ALREADY_ISSUED={} other={}",
                o.accepted,
                o.sold_out,
                o.already_issued,
                o.ok + o.other
            ),
        };
        row(f, "outcomes", outcomes)?;
        if self.dropped > 0 {
            row(
                f,
                "dropped arrivals",
                format!("{} (no free connection before the end)", self.dropped),
            )?;
        }
        if self.scenario != Scenario::Health {
            let answered = match self.all_users_answered_secs {
                Some(s) => format!("{s:.3}s"),
                None => format!(
                    "never: {} users got no definite answer",
                    self.users_without_answer
                ),
            };
            row(f, "all users answered in", answered)?;
        }
        if let Some(v) = &self.verdict {
            writeln!(f)?;
            writeln!(
                f,
                "  verdict: {}  (drain {:.1}s)",
                v.status.as_str(),
                v.drain_secs
            )?;
            for c in &v.checks {
                writeln!(f, "    {:<12} {}: {}", c.status.as_str(), c.name, c.detail)?;
            }
        }
        Ok(())
    }
}
