//! Issue requests (`POST /api/coupons/{id}/issue`) from a crowd of virtual users, and
//! what each user was answered: the verdict compares these answers with what the server
//! persisted, so they are kept per user, not only as totals.

use super::room::{self, Action, FollowSettings, GaveUp, IssueReply, PollReply, Seen, Step, Trail};
use crate::api::coupon_path;
use crate::args::Ramp;
use crate::client::{ErrorKind, Target};
use crate::engine::{FollowUps, Plan, Reply, Timing, Work};
use crate::stats::{Kind, Outcome};
use crate::tokens::VirtualUser;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// A user's final answer: the first definite one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Final {
    Accepted,
    SoldOut,
    AlreadyIssued,
}

impl Final {
    fn code(self) -> u8 {
        match self {
            Self::Accepted => 1,
            Self::SoldOut => 2,
            Self::AlreadyIssued => 3,
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Accepted),
            2 => Some(Self::SoldOut),
            3 => Some(Self::AlreadyIssued),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "ACCEPTED",
            Self::SoldOut => "SOLD_OUT",
            Self::AlreadyIssued => "ALREADY_ISSUED",
        }
    }
}

/// What one user was answered, over all their requests.
#[derive(Debug, Default)]
pub struct Tally {
    /// Issue requests sent (polls are not counted).
    pub sent: AtomicU32,
    pub accepted: AtomicU32,
    /// Answers ACCEPTED, SOLD_OUT or ALREADY_ISSUED (to an issue request or, SOLD_OUT,
    /// to a queue poll). QUEUED is not one.
    pub definite: AtomicU32,
    /// Issue requests whose effect is unknown: no answer (timeout, broken connection)
    /// or an error status (5xx, unexpected 4xx).
    pub uncertain: AtomicU32,
    /// Microseconds after the start of the first definite answer (`u64::MAX`: none).
    pub first_answer_us: AtomicU64,
    /// Microseconds after the start where the user's first request's latency counts
    /// from (its send, or its scheduled arrival for --rate; `u64::MAX`: none).
    pub first_from_us: AtomicU64,
    /// The first definite answer (`Final`'s code; 0: none yet).
    pub final_answer: AtomicU8,
}

impl Tally {
    pub fn final_answer(&self) -> Option<Final> {
        Final::from_code(self.final_answer.load(Ordering::Relaxed))
    }

    /// From the first request to the final answer (`None`: no final answer).
    pub fn time_to_answer(&self) -> Option<Duration> {
        let (from, to) = (
            self.first_from_us.load(Ordering::Relaxed),
            self.first_answer_us.load(Ordering::Relaxed),
        );
        (from != u64::MAX && to != u64::MAX).then(|| Duration::from_micros(to.saturating_sub(from)))
    }
}

/// The virtual users, their tallies and what they saw of the waiting room, index-aligned.
pub struct Crowd {
    pub users: Vec<VirtualUser>,
    pub tally: Vec<Tally>,
    /// Created at a user's first QUEUED answer.
    pub trails: Vec<Mutex<Option<Box<Trail>>>>,
}

impl Crowd {
    pub fn new(users: Vec<VirtualUser>) -> Self {
        let tally = users
            .iter()
            .map(|_| Tally {
                first_answer_us: AtomicU64::new(u64::MAX),
                first_from_us: AtomicU64::new(u64::MAX),
                ..Tally::default()
            })
            .collect();
        let trails = users.iter().map(|_| Mutex::new(None)).collect();
        Self {
            users,
            tally,
            trails,
        }
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

    /// A copy of each user's trail (`None`: never QUEUED).
    pub fn trails(&self) -> Vec<Option<Trail>> {
        self.trails
            .iter()
            .map(|t| t.lock().as_deref().cloned())
            .collect()
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
    /// User `i` at `times[i]` (ascending).
    Times(Vec<Duration>),
}

/// The header carrying the waiting room's admission token.
pub const ADMISSION_TOKEN: HeaderName = HeaderName::from_static("admission-token");
/// The header carrying the user's latest place ticket.
pub const PLACE_TICKET: HeaderName = HeaderName::from_static("place-ticket");

pub struct IssuePlan {
    pub crowd: Crowd,
    pub coupon: Uuid,
    target: Target,
    uri: Uri,
    queue_uri: Uri,
    /// 1 + duplicates: a user's requests are consecutive jobs, so free workers pick
    /// them up at nearly the same moment, on different connections.
    per_user: u64,
    schedule: Schedule,
    settings: FollowSettings,
    follow: FollowUps<Step>,
    joins: AtomicU64,
    admits: AtomicU64,
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
            queue_uri: coupon_path(coupon, "/queue"),
            per_user: per_user.max(1),
            schedule,
            settings: FollowSettings::default(),
            follow: FollowUps::default(),
            joins: AtomicU64::new(0),
            admits: AtomicU64::new(0),
        }
    }

    /// How users follow the waiting room.
    pub fn with_follow(mut self, settings: FollowSettings) -> Self {
        self.settings = settings;
        self
    }

    fn user(&self, job: u64) -> usize {
        (job / self.per_user) as usize
    }

    fn issue_request(&self, user: usize, token: Option<&str>) -> Request<Full<Bytes>> {
        self.crowd.tally[user].sent.fetch_add(1, Ordering::Relaxed);
        let mut req = self.target.request(
            Method::POST,
            &self.uri,
            Some(&self.crowd.users[user].auth),
            None,
        );
        if let Some(value) = token.and_then(|t| HeaderValue::from_str(t).ok()) {
            req.headers_mut().insert(ADMISSION_TOKEN, value);
        }
        self.with_ticket(user, req)
    }

    fn poll_request(&self, user: usize) -> Request<Full<Bytes>> {
        let req = self.target.request(
            Method::GET,
            &self.queue_uri,
            Some(&self.crowd.users[user].auth),
            None,
        );
        self.with_ticket(user, req)
    }

    /// Adds the user's latest place ticket, if any, as the `Place-Ticket` header.
    fn with_ticket(&self, user: usize, mut req: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
        let ticket = self.crowd.trails[user].lock().as_ref().and_then(|t| {
            t.ticket
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
        });
        if let Some(value) = ticket {
            req.headers_mut().insert(PLACE_TICKET, value);
        }
        req
    }

    /// A definite answer: counted once as the user's final one; ends the user's flow if
    /// this request was part of it.
    fn definite(&self, user: usize, answer: Final, timing: Timing, in_flow: bool) {
        let t = &self.crowd.tally[user];
        if answer == Final::Accepted {
            t.accepted.fetch_add(1, Ordering::Relaxed);
        }
        t.definite.fetch_add(1, Ordering::Relaxed);
        t.first_answer_us
            .fetch_min(timing.done.as_micros() as u64, Ordering::Relaxed);
        let _ =
            t.final_answer
                .compare_exchange(0, answer.code(), Ordering::Relaxed, Ordering::Relaxed);
        if in_flow {
            self.end_flow(user, None);
        }
    }

    fn end_flow(&self, user: usize, gave_up: Option<GaveUp>) {
        if let Some(trail) = self.crowd.trails[user].lock().as_mut() {
            trail.following = false;
            if gave_up.is_some() {
                trail.gave_up = gave_up;
            }
        }
        self.follow.end();
    }

    /// The flow's next step after `delay`, unless the user already has a final answer
    /// (a duplicate got it) or has waited past `max_wait`.
    fn next(&self, user: usize, action: Action, delay: Duration, timing: Timing) {
        if self.crowd.tally[user].final_answer().is_some() {
            return self.end_flow(user, None);
        }
        let started = self.crowd.trails[user]
            .lock()
            .as_ref()
            .map_or(0, |t| t.flow_started_us);
        let waited =
            Duration::from_micros((timing.done.as_micros() as u64).saturating_sub(started));
        if waited + delay > self.settings.max_wait {
            return self.end_flow(user, Some(GaveUp::MaxWait));
        }
        self.follow.after(
            delay,
            Step {
                user: user as u32,
                action,
            },
        );
    }

    /// A request of the flow failed or was not understood: ask the line again after a
    /// pause (it says whether the admission still stands), or give up.
    fn retry(&self, user: usize, timing: Timing) {
        let pause = {
            let mut slot = self.crowd.trails[user].lock();
            let Some(trail) = slot.as_mut() else {
                drop(slot);
                return self.end_flow(user, Some(GaveUp::Failures));
            };
            trail.failures += 1;
            if trail.failures >= room::MAX_FAILURES {
                drop(slot);
                return self.end_flow(user, Some(GaveUp::Failures));
            }
            Duration::from_millis(trail.last_poll_after_ms).max(room::RETRY_AFTER)
        };
        self.next(user, Action::Poll, room::jittered(pause), timing);
    }

    fn seen(timing: Timing) -> Seen {
        Seen {
            sent_us: timing.sent.as_micros() as u64,
            recv_us: timing.done.as_micros() as u64,
        }
    }

    fn on_issue(
        &self,
        user: usize,
        reply: Reply<'_>,
        timing: Timing,
        in_flow: bool,
    ) -> Result<Outcome, ErrorKind> {
        let reply = reply.map(|(_, body)| room::parse_issue(body));
        let outcome = reply.as_ref().map(IssueReply::outcome).map_err(|k| *k);
        match reply {
            Ok(IssueReply::Accepted) => self.definite(user, Final::Accepted, timing, in_flow),
            Ok(IssueReply::SoldOut) => self.definite(user, Final::SoldOut, timing, in_flow),
            Ok(IssueReply::AlreadyIssued) => {
                self.definite(user, Final::AlreadyIssued, timing, in_flow)
            }
            Ok(IssueReply::Queued {
                position,
                poll_after,
                ticket,
            }) => {
                let starts = {
                    let mut slot = self.crowd.trails[user].lock();
                    let trail = slot.get_or_insert_with(Box::default);
                    if ticket.is_some() {
                        trail.ticket = ticket;
                    }
                    trail.place(
                        position,
                        true,
                        Self::seen(timing),
                        || self.joins.fetch_add(1, Ordering::Relaxed),
                        || self.admits.fetch_add(1, Ordering::Relaxed),
                    );
                    trail.last_poll_after_ms = poll_after.as_millis() as u64;
                    trail.failures = 0;
                    let starts = !in_flow
                        && !trail.following
                        && trail.gave_up.is_none()
                        && self.crowd.tally[user].final_answer().is_none();
                    if starts {
                        trail.following = true;
                        trail.flow_started_us = timing.from.as_micros() as u64;
                    }
                    starts
                };
                if starts {
                    self.follow.begin();
                }
                if starts || in_flow {
                    let (action, delay) = if position == 0 {
                        (Action::Poll, Duration::ZERO)
                    } else if starts && self.settings.repress {
                        (Action::Issue, room::jittered(poll_after))
                    } else {
                        (Action::Poll, room::jittered(poll_after))
                    };
                    self.next(user, action, delay, timing);
                }
            }
            Ok(IssueReply::Other) | Err(_) => {
                self.crowd.tally[user]
                    .uncertain
                    .fetch_add(1, Ordering::Relaxed);
                if in_flow {
                    self.retry(user, timing);
                }
            }
        }
        outcome
    }

    fn on_poll(&self, user: usize, reply: Reply<'_>, timing: Timing) -> Result<Outcome, ErrorKind> {
        let reply = reply.map(|(_, body)| room::parse_poll(body));
        let outcome = reply.as_ref().map(PollReply::outcome).map_err(|k| *k);
        let at = Self::seen(timing);
        let next_admit = || self.admits.fetch_add(1, Ordering::Relaxed);
        {
            let mut slot = self.crowd.trails[user].lock();
            if let Some(trail) = slot.as_mut() {
                trail.polls += 1;
                if reply.as_ref().is_ok_and(|r| *r != PollReply::Other) {
                    trail.failures = 0;
                }
            }
        }
        match reply {
            Ok(PollReply::Waiting {
                position,
                poll_after,
                ticket,
            }) => {
                if let Some(trail) = self.crowd.trails[user].lock().as_mut() {
                    if ticket.is_some() {
                        trail.ticket = ticket;
                    }
                    trail.place(position, false, at, || 0, next_admit);
                    trail.last_poll_after_ms = poll_after.as_millis() as u64;
                }
                self.next(user, Action::Poll, room::jittered(poll_after), timing);
            }
            Ok(PollReply::Admitted { token }) => {
                if let Some(trail) = self.crowd.trails[user].lock().as_mut() {
                    trail.admitted(at, next_admit);
                }
                self.next(
                    user,
                    Action::IssueWith(token.into()),
                    Duration::ZERO,
                    timing,
                );
            }
            Ok(PollReply::SoldOut) => self.definite(user, Final::SoldOut, timing, true),
            Ok(PollReply::Expired | PollReply::NotInQueue) => {
                let rejoins = self.crowd.trails[user].lock().as_mut().map(|trail| {
                    trail.rejoining = true;
                    trail.rejoins += 1;
                    trail.rejoins
                });
                if rejoins.unwrap_or(u32::MAX) > room::MAX_REJOINS {
                    self.end_flow(user, Some(GaveUp::Rejoins));
                } else {
                    self.next(user, Action::Issue, Duration::ZERO, timing);
                }
            }
            Ok(PollReply::Other) | Err(_) => self.retry(user, timing),
        }
        outcome
    }
}

/// What an issue request's 2xx answer says (without the waiting room's details).
pub fn parse_issue_answer(body: &[u8]) -> Outcome {
    room::parse_issue(body).outcome()
}

impl Plan for IssuePlan {
    type Step = Step;

    fn jobs(&self) -> Option<u64> {
        Some(self.crowd.users.len() as u64 * self.per_user)
    }

    fn start_at(&self, job: u64) -> Option<Duration> {
        match &self.schedule {
            Schedule::AtOnce => None,
            Schedule::Ramp(ramp) => Some(ramp.release_at(self.user(job) as u64 + 1)),
            Schedule::Rate(rate) => Some(super::rate::slot(job, *rate)),
            Schedule::Times(times) => times.get(self.user(job)).copied(),
        }
    }

    fn request(&self, work: &Work<Step>) -> Request<Full<Bytes>> {
        match work {
            Work::Job(job) => self.issue_request(self.user(*job), None),
            Work::Step(step) => {
                let user = step.user as usize;
                match &step.action {
                    Action::Poll => self.poll_request(user),
                    Action::Issue => self.issue_request(user, None),
                    Action::IssueWith(token) => self.issue_request(user, Some(token)),
                }
            }
        }
    }

    fn kind(&self, work: &Work<Step>) -> Kind {
        match work {
            Work::Step(Step {
                action: Action::Poll,
                ..
            }) => Kind::Poll,
            _ => Kind::Main,
        }
    }

    fn answer(
        &self,
        work: Work<Step>,
        reply: Reply<'_>,
        timing: Timing,
    ) -> Result<Outcome, ErrorKind> {
        match work {
            Work::Job(job) => {
                let user = self.user(job);
                self.crowd.tally[user]
                    .first_from_us
                    .fetch_min(timing.from.as_micros() as u64, Ordering::Relaxed);
                self.on_issue(user, reply, timing, false)
            }
            Work::Step(step) => {
                let user = step.user as usize;
                match step.action {
                    Action::Poll => self.on_poll(user, reply, timing),
                    Action::Issue | Action::IssueWith(_) => {
                        self.on_issue(user, reply, timing, true)
                    }
                }
            }
        }
    }

    fn follow_ups(&self) -> Option<&FollowUps<Step>> {
        Some(&self.follow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn timing(ms: u64) -> Timing {
        let at = Duration::from_millis(ms);
        Timing {
            from: at,
            sent: at,
            done: at,
        }
    }

    fn ticket_of(req: &Request<Full<Bytes>>) -> Option<&str> {
        req.headers()
            .get(PLACE_TICKET)
            .map(|v| v.to_str().expect("ASCII"))
    }

    /// The latest place ticket a user was handed (by QUEUED, then by each WAITING)
    /// goes back with their next poll and issue request; position 0 hands none out and
    /// the last one stays.
    #[tokio::test]
    async fn a_user_sends_back_the_latest_place_ticket() {
        let target = Target::resolve("http://127.0.0.1:9").await.expect("target");
        let user = VirtualUser {
            id: Uuid::new_v4(),
            auth: HeaderValue::from_static("Bearer t"),
        };
        let plan = IssuePlan::new(
            &target,
            Uuid::new_v4(),
            Crowd::new(vec![user]),
            1,
            Schedule::AtOnce,
        );
        let first = plan.request(&Work::Job(0));
        assert_eq!(ticket_of(&first), None, "nothing to send yet");
        let queued =
            br#"{"result":"QUEUED","position":4,"pollAfterMs":1000,"placeTicket":"first"}"#;
        plan.answer(Work::Job(0), Ok((StatusCode::OK, queued)), timing(10))
            .expect("QUEUED");
        let poll = Work::Step(Step {
            user: 0,
            action: Action::Poll,
        });
        assert_eq!(ticket_of(&plan.request(&poll)), Some("first"));
        let waiting =
            br#"{"status":"WAITING","position":2,"pollAfterMs":1000,"placeTicket":"second"}"#;
        plan.answer(poll, Ok((StatusCode::OK, waiting)), timing(20))
            .expect("WAITING");
        let again = Work::Step(Step {
            user: 0,
            action: Action::Issue,
        });
        assert_eq!(ticket_of(&plan.request(&again)), Some("second"));
        let admitted = br#"{"result":"QUEUED","position":0,"pollAfterMs":0}"#;
        plan.answer(again, Ok((StatusCode::OK, admitted)), timing(30))
            .expect("QUEUED at 0");
        let claim = Work::Step(Step {
            user: 0,
            action: Action::IssueWith("adm".into()),
        });
        let claim = plan.request(&claim);
        assert_eq!(ticket_of(&claim), Some("second"), "the last one stays");
        assert_eq!(
            claim.headers().get(ADMISSION_TOKEN).map(|v| v.as_bytes()),
            Some(&b"adm"[..])
        );
    }

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
