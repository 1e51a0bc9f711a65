//! The correctness verdict: after the load, compare what users were answered with what
//! the server persisted.
//!
//! First the drain: poll the coupon's stats until `persisted` stops changing and equals
//! `reservedInGate` (a mode that persists asynchronously catches up), bounded by
//! `--drain-timeout`. Then each guarantee is one check. Checks are exact when every
//! request got a definite answer; requests with no answer or an error status may or may
//! not have taken a unit, so a count that misses by no more than those requests can
//! explain is INCONCLUSIVE rather than FAIL, and one beyond that is FAIL.

use crate::api::{Api, CouponStats, coupon_path};
use crate::client::{ErrorKind, Target};
use crate::engine::{self, Plan, Reply, RunConfig, Timing, Work};
use crate::scenario::issue::Crowd;
use crate::stats::Outcome;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Pass,
    Inconclusive,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Inconclusive => "INCONCLUSIVE",
            Self::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

/// The verdict: the worst check decides.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub status: Status,
    pub checks: Vec<Check>,
    /// The stats the checks used, after the drain.
    pub stats: Option<CouponStats>,
    pub drain_secs: f64,
}

pub struct Input<'a> {
    pub target: &'a Target,
    pub admin: &'a HeaderValue,
    pub coupon: Uuid,
    pub quantity: u64,
    pub crowd: &'a Crowd,
    /// Connections for the issue-state reads.
    pub connections: usize,
    pub timeout: Duration,
    pub drain_timeout: Duration,
    /// Check the state of this many ACCEPTED users (0: all).
    pub sample: usize,
}

pub async fn verify(input: Input<'_>) -> anyhow::Result<Verdict> {
    let mut checks = Vec::new();
    let started = Instant::now();
    let drained = drain(&input).await;
    let drain_secs = started.elapsed().as_secs_f64();
    let stats = match drained {
        Ok((stats, settled)) => {
            let reserved = stats.reserved_in_gate.unwrap_or(stats.persisted);
            checks.push(check(
                "persisted settled and equals reservedInGate",
                if settled { Status::Pass } else { Status::Fail },
                format!(
                    "persisted {}, reservedInGate {}, after {drain_secs:.1}s{}",
                    stats.persisted,
                    stats
                        .reserved_in_gate
                        .map_or("null".into(), |r| r.to_string()),
                    if settled {
                        String::new()
                    } else if stats.persisted != reserved {
                        " (still apart at --drain-timeout)".into()
                    } else {
                        " (still changing at --drain-timeout)".into()
                    }
                ),
            ));
            stats
        }
        Err(e) => {
            checks.push(check(
                "coupon stats readable",
                Status::Fail,
                format!("{e:#}"),
            ));
            return Ok(Verdict {
                status: Status::Fail,
                checks,
                stats: None,
                drain_secs,
            });
        }
    };
    checks.extend(count_checks(
        &Counts::of(input.crowd, input.quantity),
        stats.persisted,
    ));
    checks.push(state_check(&input).await?);
    Ok(Verdict {
        status: checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass),
        checks,
        stats: Some(stats),
        drain_secs,
    })
}

pub(crate) fn check(name: &str, status: Status, detail: String) -> Check {
    Check {
        name: name.into(),
        status,
        detail,
    }
}

/// Polls the stats until two reads agree and persisted == reservedInGate, or the time
/// is up; returns the last stats and whether they settled.
async fn drain(input: &Input<'_>) -> anyhow::Result<(CouponStats, bool)> {
    let deadline = Instant::now() + input.drain_timeout;
    let mut api = Api::new(input.target, input.timeout);
    let mut previous: Option<CouponStats> = None;
    loop {
        let now = api.stats(input.admin, input.coupon).await?;
        let agrees = now.reserved_in_gate.is_none_or(|r| r == now.persisted);
        if agrees && previous.is_some_and(|p| p.persisted == now.persisted) {
            return Ok((now, true));
        }
        if Instant::now() >= deadline {
            return Ok((now, false));
        }
        previous = Some(now);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the users were answered, counted per user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub quantity: u64,
    /// Users who sent at least one request.
    pub users: u64,
    /// Users answered ACCEPTED at least once.
    pub accepted: u64,
    /// Users answered ACCEPTED more than once.
    pub accepted_twice: u64,
    /// Users with a request whose effect is unknown.
    pub uncertain: u64,
    /// Of those, users never answered ACCEPTED.
    pub uncertain_not_accepted: u64,
}

impl Counts {
    pub fn of(crowd: &Crowd, quantity: u64) -> Self {
        let r = Ordering::Relaxed;
        Self {
            quantity,
            users: crowd.users_sent(),
            accepted: crowd.count(|t| t.accepted.load(r) >= 1),
            accepted_twice: crowd.count(|t| t.accepted.load(r) >= 2),
            uncertain: crowd.count(|t| t.uncertain.load(r) > 0),
            uncertain_not_accepted: crowd
                .count(|t| t.uncertain.load(r) > 0 && t.accepted.load(r) == 0),
        }
    }
}

/// The checks on counts alone; `persisted` after the drain.
pub fn count_checks(c: &Counts, persisted: u64) -> Vec<Check> {
    let expected = c.quantity.min(c.users);
    let unknown = |n: u64| {
        if n == 0 {
            String::new()
        } else {
            format!("; {n} users had requests without a definite answer")
        }
    };
    let mut checks = Vec::new();
    // Each user with an unanswered request may have released or taken one unit.
    let status = if persisted == expected {
        Status::Pass
    } else if persisted < expected && persisted >= expected.saturating_sub(c.uncertain) {
        Status::Inconclusive
    } else {
        Status::Fail
    };
    checks.push(check(
        "persisted == min(quantity, users)",
        status,
        format!(
            "persisted {persisted}, min({}, {}) = {expected}{}",
            c.quantity,
            c.users,
            unknown(c.uncertain)
        ),
    ));
    // An unanswered request may have been ACCEPTED: at most one more per such user.
    let status = if c.accepted == persisted {
        Status::Pass
    } else if persisted > c.accepted && persisted <= c.accepted + c.uncertain_not_accepted {
        Status::Inconclusive
    } else {
        Status::Fail
    };
    checks.push(check(
        "users answered ACCEPTED == persisted",
        status,
        format!(
            "{} users ACCEPTED, {persisted} persisted{}",
            c.accepted,
            if persisted < c.accepted {
                " (ACCEPTED answers were lost)".into()
            } else {
                unknown(c.uncertain_not_accepted)
            }
        ),
    ));
    checks.push(check(
        "no user ACCEPTED twice",
        if c.accepted_twice == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        format!("{} users ACCEPTED more than once", c.accepted_twice),
    ));
    checks.push(check(
        "ACCEPTED users <= quantity",
        if c.accepted <= c.quantity {
            Status::Pass
        } else {
            Status::Fail
        },
        format!("{} ACCEPTED, quantity {}", c.accepted, c.quantity),
    ));
    checks
}

const UNCHECKED: u8 = 0;
const ISSUED: u8 = 1;
const NOT_ISSUED: u8 = 2;
const NO_ANSWER: u8 = 3;

/// `GET /api/coupons/{id}/issue` as each chosen user.
struct StatePlan {
    target: Target,
    uri: Uri,
    users: Vec<HeaderValue>,
    seen: Vec<AtomicU8>,
}

#[derive(serde::Deserialize)]
struct StateAnswer<'a> {
    #[serde(borrow)]
    state: &'a str,
}

impl Plan for StatePlan {
    type Step = std::convert::Infallible;
    fn jobs(&self) -> Option<u64> {
        Some(self.users.len() as u64)
    }
    fn request(&self, work: &Work<Self::Step>) -> Request<Full<Bytes>> {
        self.target.request(
            Method::GET,
            &self.uri,
            Some(&self.users[work.job() as usize]),
            None,
        )
    }
    fn answer(
        &self,
        work: Work<Self::Step>,
        reply: Reply<'_>,
        _timing: Timing,
    ) -> Result<Outcome, ErrorKind> {
        let result = reply.map(|(_, body)| {
            match serde_json::from_slice::<StateAnswer<'_>>(body).map(|a| a.state) {
                // USED implies it was issued first.
                Ok("ISSUED" | "USED") => Outcome::Ok,
                _ => Outcome::Other,
            }
        });
        let seen = match result {
            Ok(Outcome::Ok) => ISSUED,
            Ok(_) | Err(ErrorKind::Http(404)) => NOT_ISSUED,
            Err(_) => NO_ANSWER,
        };
        self.seen[work.job() as usize].store(seen, Ordering::Relaxed);
        result
    }
}

/// Reads `GET /api/coupons/{id}/issue` as each of `users`: how many find the coupon
/// ISSUED (or USED), how many not, how many got no answer.
pub async fn read_states(
    target: &Target,
    coupon: Uuid,
    users: Vec<HeaderValue>,
    connections: usize,
    timeout: Duration,
) -> anyhow::Result<(usize, usize, usize)> {
    let plan = Arc::new(StatePlan {
        target: target.clone(),
        uri: coupon_path(coupon, "/issue"),
        seen: users.iter().map(|_| AtomicU8::new(UNCHECKED)).collect(),
        users,
    });
    let checked = plan.users.len();
    if checked > 0 {
        engine::run(
            target,
            plan.clone(),
            RunConfig {
                connections: connections.clamp(1, checked),
                timeout,
                duration: None,
                send_deadline: None,
                latency_from_schedule: false,
                progress: None,
            },
        )
        .await?;
    }
    let count = |v: u8| {
        plan.seen
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) == v)
            .count()
    };
    Ok((count(ISSUED), count(NOT_ISSUED), count(NO_ANSWER)))
}

/// Every (or a sample of the) ACCEPTED user(s) must find the coupon ISSUED.
async fn state_check(input: &Input<'_>) -> anyhow::Result<Check> {
    let mut users: Vec<HeaderValue> = input
        .crowd
        .users
        .iter()
        .zip(&input.crowd.tally)
        .filter(|(_, t)| t.accepted.load(Ordering::Relaxed) > 0)
        .map(|(u, _)| u.auth.clone())
        .collect();
    let accepted = users.len();
    if input.sample > 0 && input.sample < users.len() {
        users.shuffle(&mut rand::thread_rng());
        users.truncate(input.sample);
    }
    let checked = users.len();
    let (issued, not_issued, no_answer) = read_states(
        input.target,
        input.coupon,
        users,
        input.connections,
        input.timeout,
    )
    .await?;
    let status = if not_issued > 0 {
        Status::Fail
    } else if no_answer > 0 || issued < checked {
        Status::Inconclusive
    } else {
        Status::Pass
    };
    let scope = if checked == accepted {
        format!("all {accepted}")
    } else {
        format!("a sample of {checked} of {accepted}")
    };
    Ok(check(
        "every ACCEPTED user finds the coupon ISSUED",
        status,
        format!(
            "checked {scope}: {issued} ISSUED, {not_issued} not issued, {no_answer} unanswered"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(c: Counts, persisted: u64) -> Vec<Status> {
        count_checks(&c, persisted)
            .iter()
            .map(|c| c.status)
            .collect()
    }

    #[test]
    fn exact_counts_pass() {
        let c = Counts {
            quantity: 100,
            users: 500,
            accepted: 100,
            ..Counts::default()
        };
        assert_eq!(statuses(c, 100), vec![Status::Pass; 4]);
    }

    #[test]
    fn over_issue_fails() {
        let c = Counts {
            quantity: 100,
            users: 500,
            accepted: 500,
            ..Counts::default()
        };
        let s = statuses(c, 500);
        assert_eq!(s[0], Status::Fail);
        assert_eq!(s[3], Status::Fail);
    }

    #[test]
    fn lost_and_double_acceptances_fail() {
        let lost = Counts {
            quantity: 100,
            users: 500,
            accepted: 100,
            ..Counts::default()
        };
        assert_eq!(statuses(lost, 99)[..2], [Status::Fail, Status::Fail]);
        let twice = Counts {
            accepted_twice: 1,
            ..lost
        };
        assert_eq!(statuses(twice, 100)[2], Status::Fail);
    }

    #[test]
    fn unanswered_requests_make_small_misses_inconclusive() {
        let c = Counts {
            quantity: 1000,
            users: 500,
            accepted: 497,
            uncertain: 3,
            uncertain_not_accepted: 3,
            ..Counts::default()
        };
        assert_eq!(
            statuses(c, 499)[..2],
            [Status::Inconclusive, Status::Inconclusive]
        );
        assert_eq!(statuses(c, 501)[..2], [Status::Fail, Status::Fail]);
    }
}
