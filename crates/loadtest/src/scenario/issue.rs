//! Issue requests (`POST /api/coupons/{id}/issue`) from a crowd of virtual users, and
//! what each user was answered: the verdict compares these answers with what the server
//! persisted, so they are kept per user, not only as totals.

use crate::api::coupon_path;
use crate::args::Ramp;
use crate::client::{ErrorKind, Target};
use crate::engine::Plan;
use crate::stats::Outcome;
use crate::tokens::VirtualUser;
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// What one user was answered, over all their requests.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: AtomicU32,
    pub accepted: AtomicU32,
    /// Requests answered ACCEPTED, SOLD_OUT or ALREADY_ISSUED.
    pub definite: AtomicU32,
    /// Requests whose effect is unknown: no answer (timeout, broken connection) or an
    /// error status (5xx, unexpected 4xx).
    pub uncertain: AtomicU32,
    /// Microseconds after the start of the first definite answer (`u64::MAX`: none).
    pub first_answer_us: AtomicU64,
}

/// The virtual users and their tallies, index-aligned.
pub struct Crowd {
    pub users: Vec<VirtualUser>,
    pub tally: Vec<Tally>,
}

impl Crowd {
    pub fn new(users: Vec<VirtualUser>) -> Self {
        let tally = users
            .iter()
            .map(|_| Tally {
                first_answer_us: AtomicU64::new(u64::MAX),
                ..Tally::default()
            })
            .collect();
        Self { users, tally }
    }

    /// Users who sent at least one request.
    pub fn users_sent(&self) -> u64 {
        self.count(|t| t.sent.load(Ordering::Relaxed) > 0)
    }

    pub fn count(&self, f: impl Fn(&Tally) -> bool) -> u64 {
        self.tally.iter().filter(|t| f(t)).count() as u64
    }

    /// When the last user who sent got their first definite answer (`None` if some never
    /// got one), and how many never got one.
    pub fn all_answered(&self) -> (Option<Duration>, u64) {
        let (mut last, mut missing) = (0u64, 0u64);
        for t in &self.tally {
            if t.sent.load(Ordering::Relaxed) == 0 {
                continue;
            }
            match t.first_answer_us.load(Ordering::Relaxed) {
                u64::MAX => missing += 1,
                us => last = last.max(us),
            }
        }
        ((missing == 0).then(|| Duration::from_micros(last)), missing)
    }
}

/// When each job starts.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Everyone at once (as fast as the connections allow).
    AtOnce,
    /// Users released along ramp stages.
    Ramp(Ramp),
    /// Job `i` at `i / rate` seconds.
    Rate(f64),
}

pub struct IssuePlan {
    pub crowd: Crowd,
    pub coupon: Uuid,
    target: Target,
    uri: Uri,
    /// 1 + duplicates: a user's requests are consecutive jobs, so free workers pick
    /// them up at nearly the same moment, on different connections.
    per_user: u64,
    schedule: Schedule,
}

impl IssuePlan {
    pub fn new(
        target: &Target,
        coupon: Uuid,
        crowd: Crowd,
        per_user: u64,
        schedule: Schedule,
    ) -> Self {
        Self {
            crowd,
            coupon,
            target: target.clone(),
            uri: coupon_path(coupon, "/issue"),
            per_user: per_user.max(1),
            schedule,
        }
    }

    fn user(&self, job: u64) -> usize {
        (job / self.per_user) as usize
    }
}

#[derive(serde::Deserialize)]
struct IssueAnswer<'a> {
    #[serde(borrow)]
    result: &'a str,
}

pub fn parse_issue_answer(body: &[u8]) -> Outcome {
    match serde_json::from_slice::<IssueAnswer<'_>>(body).map(|a| a.result) {
        Ok("ACCEPTED") => Outcome::Accepted,
        Ok("SOLD_OUT") => Outcome::SoldOut,
        Ok("ALREADY_ISSUED") => Outcome::AlreadyIssued,
        _ => Outcome::Other,
    }
}

impl Plan for IssuePlan {
    fn jobs(&self) -> Option<u64> {
        Some(self.crowd.users.len() as u64 * self.per_user)
    }

    fn start_at(&self, job: u64) -> Option<Duration> {
        match &self.schedule {
            Schedule::AtOnce => None,
            Schedule::Ramp(ramp) => Some(ramp.release_at(self.user(job) as u64 + 1)),
            Schedule::Rate(rate) => Some(Duration::from_secs_f64(job as f64 / rate)),
        }
    }

    fn request(&self, job: u64) -> Request<Full<Bytes>> {
        let user = &self.crowd.users[self.user(job)];
        self.crowd.tally[self.user(job)]
            .sent
            .fetch_add(1, Ordering::Relaxed);
        self.target
            .request(Method::POST, &self.uri, Some(&user.auth), None)
    }

    fn classify(&self, _job: u64, _status: StatusCode, body: &[u8]) -> Outcome {
        parse_issue_answer(body)
    }

    fn settle(&self, job: u64, result: Result<Outcome, ErrorKind>, done: Duration) {
        let t = &self.crowd.tally[self.user(job)];
        match result {
            Ok(Outcome::Accepted) => {
                t.accepted.fetch_add(1, Ordering::Relaxed);
                t.definite.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Outcome::SoldOut | Outcome::AlreadyIssued) => {
                t.definite.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Outcome::Ok | Outcome::Other) | Err(_) => {
                t.uncertain.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        t.first_answer_us
            .fetch_min(done.as_micros() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_answers_parse() {
        assert_eq!(
            parse_issue_answer(br#"{"result":"ACCEPTED"}"#),
            Outcome::Accepted
        );
        assert_eq!(
            parse_issue_answer(br#"{"result":"SOLD_OUT"}"#),
            Outcome::SoldOut
        );
        assert_eq!(
            parse_issue_answer(br#"{"result":"ALREADY_ISSUED"}"#),
            Outcome::AlreadyIssued
        );
        assert_eq!(parse_issue_answer(br#"{"result":"MAYBE"}"#), Outcome::Other);
        assert_eq!(parse_issue_answer(b"garbage"), Outcome::Other);
    }
}
