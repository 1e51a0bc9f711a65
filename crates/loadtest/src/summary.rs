//! The run's summary: one serializable value behind the k6-like text on stdout, the
//! `--json` file and the HTML report, so the three always agree. It carries two
//! separate judgements: the correctness verdict and the thresholds; `exit_code` folds
//! them into the process's exit code.

use crate::args::Scenario;
use crate::client::ErrorKind;
use crate::progress::fmt_micros;
use crate::scenario::issue::Crowd;
use crate::scenario::waiting_room::{Answers, RoomReport};
pub use crate::seconds::SecondRow;
use crate::seconds::{self, PerSecondP99};
use crate::stats::{Outcomes, PollCounts, Recorder};
use crate::thresholds::{Judged, Measured, Threshold};
use crate::verify::{Status, Verdict};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

/// The process's exit codes.
pub mod exit {
    /// Verdict PASS (or not checked) and every threshold held.
    pub const OK: i32 = 0;
    /// Verdict FAIL: the server broke a guarantee.
    pub const FAIL: i32 = 1;
    /// Verdict INCONCLUSIVE: unanswered requests could explain a miscount.
    pub const INCONCLUSIVE: i32 = 2;
    /// Verdict PASS (or not checked), but a threshold was crossed.
    pub const THRESHOLDS: i32 = 3;
}

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
    /// Arrivals per second (rate scenario), or GET /health requests per second (paced
    /// health).
    pub rate: Option<u64>,
    /// From the start to the last answer.
    pub duration_secs: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub latency: Latency,
    /// `send` or `schedule` (rate: from the planned arrival).
    pub latency_from: &'static str,
    pub errors: Errors,
    /// Answers per request: issue answers (QUEUED among them) and queue polls.
    pub outcomes: Outcomes,
    /// The queue polls by status (all zero without a waiting room).
    pub poll_answers: PollCounts,
    /// The queue polls' latency (apart from `latency`, which is the scenario's own
    /// requests'); `None` without polls.
    pub poll_latency: Option<Latency>,
    /// Per user, from their first request (where its latency counts from) to their
    /// final answer, waiting in line included; `None` without users.
    pub time_to_answer: Option<Latency>,
    /// The users' final answers (the first definite one each).
    pub answers: Option<Answers>,
    /// Users answered QUEUED at least once (they followed the waiting room).
    pub queued_users: u64,
    /// Users who stopped following the room without an answer (failures, --max-wait).
    pub gave_up_users: u64,
    /// Arrivals never sent (rate: every connection busy past the end).
    pub dropped: u64,
    /// When the last user got their first definite answer (none if some never did).
    pub all_users_answered_secs: Option<f64>,
    /// Users who sent and got no definite answer.
    pub users_without_answer: u64,
    /// Users who never got a definite answer, sent or not (dropped arrivals included):
    /// the `unanswered` threshold.
    pub unanswered_users: u64,
    pub seconds: Vec<SecondRow>,
    /// The seconds' p99s: median and worst (None without traffic).
    pub per_second_p99: Option<PerSecondP99>,
    pub verdict: Option<Verdict>,
    /// --scenario waiting-room: the room's settings, what users saw, the admin samples.
    pub waiting_room: Option<RoomReport>,
    /// The thresholds in effect and how the run did against each.
    pub thresholds: Vec<Judged>,
    /// Every threshold held (true when there were none).
    pub thresholds_passed: bool,
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
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
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
    /// The thresholds in effect (defaults already applied).
    pub thresholds: Vec<Threshold>,
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
        let unanswered_users = crowd.map_or(0, |c| {
            c.count(|t| t.first_answer_us.load(Ordering::Relaxed) == u64::MAX)
        });
        let rows = seconds::rows(stats);
        let mut tta = Histogram::<u64>::new(3).expect("valid significant figures");
        tta.auto(true);
        let (mut queued_users, mut gave_up_users) = (0, 0);
        if let Some(c) = crowd {
            for t in &c.tally {
                if let Some(d) = t.time_to_answer() {
                    let _ = tta.record((d.as_micros() as u64).max(1));
                }
            }
            for trail in &c.trails {
                if let Some(t) = trail.lock().as_ref() {
                    queued_users += 1;
                    gave_up_users += u64::from(t.gave_up.is_some());
                }
            }
        }
        let mut summary = Self {
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
            poll_answers: stats.polls,
            poll_latency: (!stats.poll_latency.is_empty())
                .then(|| Latency::of(&stats.poll_latency)),
            time_to_answer: (!tta.is_empty()).then(|| Latency::of(&tta)),
            answers: crowd.map(Answers::of),
            queued_users,
            gave_up_users,
            dropped: stats.dropped,
            all_users_answered_secs: answered.map(|d| d.as_secs_f64()),
            users_without_answer: missing,
            unanswered_users,
            per_second_p99: PerSecondP99::of(&rows),
            seconds: rows,
            verdict,
            waiting_room: None,
            thresholds: Vec::new(),
            thresholds_passed: true,
        };
        let measured = summary.measured();
        summary.thresholds = setup
            .thresholds
            .iter()
            .map(|t| t.judge(&measured))
            .collect();
        summary.thresholds_passed = summary.thresholds.iter().all(|j| j.ok);
        summary
    }

    /// What the thresholds judge. Errors: every request that failed or got a 2xx
    /// without a known result, plus every arrival never sent, over all that were sent or
    /// due; so a user left unanswered always counts.
    pub fn measured(&self) -> Measured {
        let failed = self.errors.total + self.outcomes.other + self.dropped;
        let due = self.requests + self.dropped;
        Measured {
            latency: self.latency,
            errors_pct: if due == 0 {
                0.0
            } else {
                100.0 * failed as f64 / due as f64
            },
            unanswered: self.unanswered_users,
            rps: self.requests_per_sec,
        }
    }

    /// 0 all good; 1 verdict FAIL; 2 verdict INCONCLUSIVE; 3 verdict PASS (or not
    /// checked) but a threshold crossed. A FAIL or INCONCLUSIVE verdict wins over the
    /// thresholds: correctness first.
    pub fn exit_code(&self) -> i32 {
        match self.verdict.as_ref().map(|v| v.status) {
            Some(Status::Fail) => exit::FAIL,
            Some(Status::Inconclusive) => exit::INCONCLUSIVE,
            None | Some(Status::Pass) if !self.thresholds_passed => exit::THRESHOLDS,
            None | Some(Status::Pass) => exit::OK,
        }
    }

    /// Why the exit code is what it is, in words.
    pub fn exit_reason(&self) -> String {
        let verdict = match &self.verdict {
            Some(v) => format!("verdict {}", v.status.as_str()),
            None => "no verdict".into(),
        };
        let crossed = self.thresholds.iter().filter(|j| !j.ok).count();
        let thresholds = match (self.thresholds.len(), crossed) {
            (0, _) => "no thresholds".into(),
            (n, 0) => format!("{n} thresholds held"),
            (n, c) => format!("{c} of {n} thresholds crossed"),
        };
        format!("exit {}: {verdict}, {thresholds}", self.exit_code())
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
            Scenario::WaitingRoom => {
                let room = self.waiting_room.as_ref();
                format!(
                    "waiting room (ALWAYS, {} pre-queue{}): {} users arriving over {}s ({}), quantity {}",
                    room.map_or("FIFO", |r| r.prequeue.as_str()),
                    room.and_then(|r| r.opens_in_ms)
                        .map_or(String::new(), |ms| format!(
                            ", opens {ms} ms after creation"
                        )),
                    self.users,
                    room.map_or(0.0, |r| r.arrival_secs),
                    room.map_or("even", |r| match r.arrival {
                        crate::args::Arrival::Even => "even",
                        crate::args::Arrival::Random => "random",
                    }),
                    self.quantity.unwrap_or(0)
                )
            }
            Scenario::Health => match self.rate {
                Some(rate) => format!("GET /health at {rate}/s, latency from the schedule"),
                None => "GET /health, closed loop".into(),
            },
            Scenario::Mint => "mint tokens, no traffic".into(),
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
        if let Some(p) = &self.per_second_p99 {
            let skipped = match p.skipped_final_second {
                Some(s) => format!(", final second {s} left out as partial"),
                None => String::new(),
            };
            row(
                f,
                "p(99) per second",
                format!(
                    "median={} worst={} (second {}) over {} s{skipped}",
                    ms(p.median_ms),
                    ms(p.worst_ms),
                    p.worst_second,
                    p.seconds
                ),
            )?;
        }
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
            _ => {
                let mut line = format!(
                    "ACCEPTED={} SOLD_OUT={} ALREADY_ISSUED={}",
                    o.accepted, o.sold_out, o.already_issued
                );
                if o.queued > 0 || o.polls > 0 {
                    line.push_str(&format!(" QUEUED={} polls={}", o.queued, o.polls));
                }
                line.push_str(&format!(" other={}", o.ok + o.other));
                line
            }
        };
        row(f, "outcomes", outcomes)?;
        if let Some(l) = &self.poll_latency {
            let p = &self.poll_answers;
            row(
                f,
                "queue polls",
                format!(
                    "WAITING={} ADMITTED={} SOLD_OUT={} EXPIRED={} NOT_IN_QUEUE={}",
                    p.waiting, p.admitted, p.sold_out, p.expired, p.not_in_queue
                ),
            )?;
            row(
                f,
                "poll_req_duration",
                format!(
                    "avg={} med={} p(95)={} p(99)={} max={}",
                    ms(l.avg_ms),
                    ms(l.p50_ms),
                    ms(l.p95_ms),
                    ms(l.p99_ms),
                    ms(l.max_ms)
                ),
            )?;
        }
        if self.queued_users > 0 {
            row(
                f,
                "users queued",
                format!(
                    "{}{}",
                    self.queued_users,
                    if self.gave_up_users > 0 {
                        format!(" ({} gave up without an answer)", self.gave_up_users)
                    } else {
                        String::new()
                    }
                ),
            )?;
        }
        if let Some(a) = &self.answers {
            row(
                f,
                "final answers (users)",
                format!(
                    "ACCEPTED={} SOLD_OUT={} ALREADY_ISSUED={} none={}",
                    a.accepted, a.sold_out, a.already_issued, a.none
                ),
            )?;
        }
        if let Some(l) = &self.time_to_answer {
            row(
                f,
                &format!("time to answer (from {})", self.latency_from),
                format!(
                    "med={} p(95)={} p(99)={} max={}",
                    ms(l.p50_ms),
                    ms(l.p95_ms),
                    ms(l.p99_ms),
                    ms(l.max_ms)
                ),
            )?;
        }
        if let Some(r) = &self.waiting_room {
            if let Some(w) = &r.wait_to_admission {
                row(
                    f,
                    "wait in line (join → ADMITTED)",
                    format!(
                        "med={} p(95)={} p(99)={} max={}",
                        ms(w.p50_ms),
                        ms(w.p95_ms),
                        ms(w.p99_ms),
                        ms(w.max_ms)
                    ),
                )?;
            }
            row(
                f,
                "waiting room",
                format!(
                    "{} admitted, {} rejoins; {} samples of the admin view{}",
                    r.admitted_users,
                    r.rejoins,
                    r.samples.len(),
                    if r.sample_failures > 0 {
                        format!(" ({} reads failed)", r.sample_failures)
                    } else {
                        String::new()
                    }
                ),
            )?;
            if !r.samples.is_empty() {
                let peak = r.samples.iter().map(|s| s.waiting).max().unwrap_or(0);
                let fastest = r
                    .samples
                    .iter()
                    .map(|s| s.admitted_delta_per_second)
                    .fold(0.0, f64::max);
                let (lo, hi) = r.samples.iter().fold((f64::MAX, 0.0f64), |(lo, hi), s| {
                    (lo.min(s.admission_rate), hi.max(s.admission_rate))
                });
                row(
                    f,
                    "room samples",
                    format!(
                        "queue peak {peak}, admissions up to {fastest:.0}/s, limit {lo:.0}–{hi:.0}/s"
                    ),
                )?;
            }
        }
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
        writeln!(f)?;
        let crossed = self.thresholds.iter().filter(|j| !j.ok).count();
        match (self.thresholds.len(), crossed) {
            (0, _) => writeln!(f, "  thresholds: none")?,
            (n, 0) => writeln!(f, "  thresholds: all {n} held")?,
            (n, c) => writeln!(f, "  thresholds: {c} of {n} CROSSED")?,
        }
        for j in &self.thresholds {
            writeln!(
                f,
                "    {} {:<20} expected {}, actual {}",
                j.mark(),
                j.expr,
                j.expected(),
                j.actual_text()
            )?;
        }
        writeln!(f)?;
        writeln!(f, "  {}", self.exit_reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Outcome;
    use crate::thresholds::defaults;
    use crate::tokens::VirtualUser;
    use http::HeaderValue;

    fn setup(thresholds: Vec<Threshold>) -> Setup {
        Setup {
            scenario: Scenario::Rate,
            target: "http://127.0.0.1:1".into(),
            started_at: chrono::Utc::now(),
            users: 5,
            requests_per_user: 1,
            connections: 2,
            quantity: Some(5),
            coupon_id: None,
            rate: Some(5),
            latency_from_schedule: true,
            thresholds,
        }
    }

    /// Five users: three answered, one timed out, one never sent (dropped).
    fn run() -> (Recorder, Crowd) {
        let users = (0..5)
            .map(|_| VirtualUser {
                id: Uuid::new_v4(),
                auth: HeaderValue::from_static("Bearer x"),
            })
            .collect();
        let crowd = Crowd::new(users);
        let mut stats = Recorder::default();
        for (i, t) in crowd.tally.iter().enumerate().take(4) {
            t.sent.store(1, Ordering::Relaxed);
            let done = Duration::from_millis(100 * i as u64);
            if i < 3 {
                t.first_answer_us.store(1000, Ordering::Relaxed);
                stats.record(
                    crate::stats::Kind::Main,
                    done,
                    Duration::from_millis(2),
                    Ok(Outcome::Accepted),
                );
            } else {
                stats.record(
                    crate::stats::Kind::Main,
                    done,
                    Duration::from_millis(9),
                    Err((ErrorKind::Timeout, "late")),
                );
            }
        }
        stats.dropped = 1;
        (stats, crowd)
    }

    fn verdict(status: Status) -> Option<Verdict> {
        Some(Verdict {
            status,
            checks: Vec::new(),
            stats: None,
            drain_secs: 0.0,
        })
    }

    #[test]
    fn unanswered_users_fail_the_default_thresholds_apart_from_the_verdict() {
        let (stats, crowd) = run();
        let elapsed = Duration::from_secs(1);
        let with = |v: Option<Verdict>| {
            Summary::new(
                setup(defaults(Scenario::Rate)),
                &stats,
                elapsed,
                Some(&crowd),
                v,
            )
        };
        let s = with(verdict(Status::Pass));
        assert_eq!((s.users_without_answer, s.unanswered_users), (1, 2));
        let m = s.measured();
        assert!(
            (m.errors_pct - 40.0).abs() < 1e-9,
            "1 timeout + 1 dropped of 5"
        );
        let ok: Vec<_> = s
            .thresholds
            .iter()
            .map(|j| (j.expr.as_str(), j.ok))
            .collect();
        assert_eq!(
            ok,
            [
                ("p95<500ms", true),
                ("p99<1s", true),
                ("errors<0.1%", false),
                ("unanswered==0", false)
            ]
        );
        assert!(!s.thresholds_passed);
        assert_eq!(
            s.exit_code(),
            exit::THRESHOLDS,
            "a PASS verdict is not enough"
        );
        let text = s.to_string();
        assert!(text.contains("verdict: PASS"), "{text}");
        assert!(text.contains("thresholds: 2 of 4 CROSSED"), "{text}");
        assert!(
            text.contains("✗ unanswered==0") && text.contains("actual 2"),
            "{text}"
        );
        assert!(text.contains("✓ p95<500ms"), "{text}");

        assert_eq!(with(None).exit_code(), exit::THRESHOLDS, "--no-verify");
        assert_eq!(with(verdict(Status::Fail)).exit_code(), exit::FAIL);
        assert_eq!(
            with(verdict(Status::Inconclusive)).exit_code(),
            exit::INCONCLUSIVE
        );
        let none = Summary::new(setup(Vec::new()), &stats, elapsed, Some(&crowd), None);
        assert!(none.thresholds_passed && none.thresholds.is_empty());
        assert_eq!(none.exit_code(), exit::OK, "--no-thresholds");

        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["thresholdsPassed"], false);
        let t = &json["thresholds"][2];
        assert_eq!(
            (&t["expr"], &t["metric"], &t["op"], &t["unit"], &t["ok"]),
            (
                &"errors<0.1%".into(),
                &"errors".into(),
                &"<".into(),
                &"%".into(),
                &false.into()
            )
        );
        assert_eq!(
            (t["limit"].as_f64(), t["actual"].as_f64()),
            (Some(0.1), Some(40.0))
        );
        assert_eq!(json["perSecondP99"]["seconds"], 1);
        assert_eq!(json["unansweredUsers"], 2);
    }
}
