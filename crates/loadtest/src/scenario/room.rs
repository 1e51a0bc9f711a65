//! Following the waiting room, the client's side: what the answers of the issue and
//! queue endpoints say, and what each user saw of the line (`Trail`), for the figures
//! and the waiting-room verdict.
//!
//! A user answered QUEUED holds one place in line and polls `GET /api/coupons/{id}/queue`
//! after `pollAfterMs` (plus 0–10 % jitter) until ADMITTED (then issues with the
//! `Admission-Token` header), SOLD_OUT (their final answer), or EXPIRED / NOT_IN_QUEUE
//! (then issues again, which rejoins at the back). Every QUEUED and WAITING answer
//! carries a place ticket; the user keeps the latest and sends it back as the
//! `Place-Ticket` header of every poll and issue request, so a server that lost its
//! line meanwhile puts them back where they stood. `IssuePlan` drives the flow; this
//! module keeps the pure parts.

use crate::stats::{Outcome, PollStatus};
use rand::Rng;
use serde::Deserialize;
use std::time::Duration;

/// One step of a user's flow through the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub user: u32,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET /api/coupons/{id}/queue`.
    Poll,
    /// `POST /api/coupons/{id}/issue` without a token: a second press while queued, or
    /// a rejoin after EXPIRED / NOT_IN_QUEUE.
    Issue,
    /// `POST /api/coupons/{id}/issue` with the `Admission-Token` a poll handed out.
    IssueWith(Box<str>),
}

/// How users follow the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowSettings {
    /// The first follow-up is a second press of the button (an issue request without
    /// a token, which must keep the place), then polls.
    pub repress: bool,
    /// A user still without a final answer this long after the flow began gives up.
    pub max_wait: Duration,
}

impl Default for FollowSettings {
    fn default() -> Self {
        Self {
            repress: false,
            max_wait: Duration::from_secs(600),
        }
    }
}

/// Failed requests in a row after which a user stops following the room.
pub const MAX_FAILURES: u32 = 5;
/// Rejoins (after EXPIRED / NOT_IN_QUEUE) after which a user stops.
pub const MAX_REJOINS: u32 = 20;
/// The pause before a failed request of the flow is followed by a poll, at least.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// `pollAfter` plus 0–10 % random jitter, so users told the same interval spread out.
pub fn jittered(poll_after: Duration) -> Duration {
    poll_after.mul_f64(1.0 + rand::thread_rng().gen_range(0.0..0.1))
}

/// What an issue request was answered (a 2xx body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueReply {
    Accepted,
    SoldOut,
    AlreadyIssued,
    /// The user holds a place in line: `position` 1 is next, 0 already admitted.
    Queued {
        position: u64,
        poll_after: Duration,
        /// The place ticket to send back (none at position 0).
        ticket: Option<Box<str>>,
    },
    Other,
}

impl IssueReply {
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Accepted => Outcome::Accepted,
            Self::SoldOut => Outcome::SoldOut,
            Self::AlreadyIssued => Outcome::AlreadyIssued,
            Self::Queued { .. } => Outcome::Queued,
            Self::Other => Outcome::Other,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueBody<'a> {
    #[serde(borrow)]
    result: &'a str,
    #[serde(default)]
    position: Option<u64>,
    #[serde(default)]
    poll_after_ms: Option<u64>,
    #[serde(default, borrow)]
    place_ticket: Option<&'a str>,
}

/// When the server names no interval: the server's own floor.
const DEFAULT_POLL_AFTER: Duration = Duration::from_secs(1);

pub fn parse_issue(body: &[u8]) -> IssueReply {
    let Ok(b) = serde_json::from_slice::<IssueBody<'_>>(body) else {
        return IssueReply::Other;
    };
    match b.result {
        "ACCEPTED" => IssueReply::Accepted,
        "SOLD_OUT" => IssueReply::SoldOut,
        "ALREADY_ISSUED" => IssueReply::AlreadyIssued,
        "QUEUED" => match b.position {
            Some(position) => IssueReply::Queued {
                position,
                poll_after: b
                    .poll_after_ms
                    .map_or(DEFAULT_POLL_AFTER, Duration::from_millis),
                ticket: b.place_ticket.map(Box::from),
            },
            None => IssueReply::Other,
        },
        _ => IssueReply::Other,
    }
}

/// What a queue poll was answered (a 2xx body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollReply {
    Waiting {
        position: u64,
        poll_after: Duration,
        ticket: Option<Box<str>>,
    },
    Admitted {
        token: String,
    },
    SoldOut,
    Expired,
    NotInQueue,
    Other,
}

impl PollReply {
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Waiting { .. } => Outcome::Poll(PollStatus::Waiting),
            Self::Admitted { .. } => Outcome::Poll(PollStatus::Admitted),
            Self::SoldOut => Outcome::Poll(PollStatus::SoldOut),
            Self::Expired => Outcome::Poll(PollStatus::Expired),
            Self::NotInQueue => Outcome::Poll(PollStatus::NotInQueue),
            Self::Other => Outcome::Other,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollBody<'a> {
    #[serde(borrow)]
    status: &'a str,
    #[serde(default)]
    position: Option<u64>,
    #[serde(default)]
    poll_after_ms: Option<u64>,
    #[serde(default)]
    admission_token: Option<String>,
    #[serde(default, borrow)]
    place_ticket: Option<&'a str>,
}

pub fn parse_poll(body: &[u8]) -> PollReply {
    let Ok(b) = serde_json::from_slice::<PollBody<'_>>(body) else {
        return PollReply::Other;
    };
    match (b.status, b.position, b.admission_token) {
        ("WAITING", Some(position), _) => PollReply::Waiting {
            position,
            poll_after: b
                .poll_after_ms
                .map_or(DEFAULT_POLL_AFTER, Duration::from_millis),
            ticket: b.place_ticket.map(Box::from),
        },
        ("ADMITTED", _, Some(token)) if !token.is_empty() => PollReply::Admitted { token },
        ("SOLD_OUT", _, _) => PollReply::SoldOut,
        ("EXPIRED", _, _) => PollReply::Expired,
        ("NOT_IN_QUEUE", _, _) => PollReply::NotInQueue,
        _ => PollReply::Other,
    }
}

/// One stay in line, from the QUEUED answer that began it; times are microseconds
/// after the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Join {
    /// The joining issue request was sent…
    pub sent_us: u64,
    /// …and its QUEUED answer received.
    pub recv_us: u64,
    /// The position the server gave at the join.
    pub position: u64,
    /// When the client first saw ADMITTED (or QUEUED at position 0) in this stay.
    pub admitted_us: Option<u64>,
    /// When the last request that found the user still waiting (WAITING, or QUEUED at a
    /// position above 0) in this stay was sent: the server saw them waiting after that
    /// (0: never seen waiting).
    pub waiting_sent_us: u64,
}

/// Why a user stopped following the room without a final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GaveUp {
    /// `MAX_FAILURES` failed requests in a row.
    Failures,
    /// `MAX_REJOINS` rejoins.
    Rejoins,
    /// Past `--max-wait`.
    MaxWait,
}

/// What one user saw of the line (created at their first QUEUED answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trail {
    /// A flow follows the room for this user (one at a time, whatever the duplicates).
    pub following: bool,
    /// When the current flow began (µs after the start).
    pub flow_started_us: u64,
    /// The order in which the client received the users' first QUEUED answers (0 first).
    pub join_seq: Option<u64>,
    /// The user's first stay in line.
    pub first_join: Option<Join>,
    /// The stay the user is in now (the first, or the one after the last rejoin).
    pub join: Option<Join>,
    /// Issued again after EXPIRED / NOT_IN_QUEUE: the next QUEUED begins a new stay.
    pub rejoining: bool,
    pub rejoins: u32,
    /// Failed requests of the flow in a row.
    pub failures: u32,
    /// The order in which the client saw users ADMITTED (first time; 0 first).
    pub admitted_seq: Option<u64>,
    pub polls: u32,
    /// The latest interval the server asked for.
    pub last_poll_after_ms: u64,
    /// Answers that put the user further back than the answer before in the same stay
    /// (one sent after the other's receipt), and the latest receipt time of such an
    /// earlier, better place: a shuffle at the opening explains those before it.
    pub increases: u32,
    pub increase_after_us: u64,
    /// The latest-received place in this stay: (position, received µs).
    pub last_seen: Option<(u64, u64)>,
    /// The place ticket of the latest QUEUED or WAITING answer, sent back with every
    /// request of the flow (a server that lost its line puts the user back with it).
    pub ticket: Option<Box<str>>,
    pub gave_up: Option<GaveUp>,
}

/// A request's send and receipt, in µs after the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub sent_us: u64,
    pub recv_us: u64,
}

impl Trail {
    /// A QUEUED (`from_issue`) or WAITING answer at `position`. Returns whether it
    /// began a stay (the user's first QUEUED, or the first after a rejoin); `next_join`
    /// numbers a user's first stay, `next_admit` their first admission.
    pub fn place(
        &mut self,
        position: u64,
        from_issue: bool,
        at: Seen,
        next_join: impl FnOnce() -> u64,
        next_admit: impl FnOnce() -> u64,
    ) -> bool {
        // QUEUED at a place in line after an admission in this stay: the admission
        // lapsed unused and the issue request joined again, at the back.
        let lapsed = from_issue
            && position > 0
            && !self.rejoining
            && self.join.is_some_and(|j| j.admitted_us.is_some());
        if lapsed {
            self.rejoins += 1;
        }
        let begins = from_issue && (self.join.is_none() || self.rejoining || lapsed);
        if begins {
            let join = Join {
                sent_us: at.sent_us,
                recv_us: at.recv_us,
                position,
                admitted_us: None,
                waiting_sent_us: 0,
            };
            if self.first_join.is_none() {
                self.first_join = Some(join);
                self.join_seq = Some(next_join());
            }
            self.join = Some(join);
            self.rejoining = false;
            self.last_seen = None;
        }
        let Some(join) = self.join.as_mut() else {
            return begins;
        };
        if position == 0 {
            join.admitted_us.get_or_insert(at.recv_us);
            if self.admitted_seq.is_none() {
                self.admitted_seq = Some(next_admit());
            }
        } else {
            join.waiting_sent_us = join.waiting_sent_us.max(at.sent_us);
            if let Some((before, received)) = self.last_seen
                && at.sent_us >= received
                && position > before
            {
                self.increases += 1;
                self.increase_after_us = self.increase_after_us.max(received);
            }
        }
        if self
            .last_seen
            .is_none_or(|(_, received)| at.recv_us >= received)
        {
            self.last_seen = Some((position, at.recv_us));
        }
        begins
    }

    /// A poll answered ADMITTED.
    pub fn admitted(&mut self, at: Seen, next_admit: impl FnOnce() -> u64) {
        if let Some(join) = self.join.as_mut() {
            join.admitted_us.get_or_insert(at.recv_us);
        }
        if self.admitted_seq.is_none() {
            self.admitted_seq = Some(next_admit());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(sent_us: u64, recv_us: u64) -> Seen {
        Seen { sent_us, recv_us }
    }

    #[test]
    fn issue_and_poll_answers_parse() {
        assert_eq!(
            parse_issue(br#"{"result":"ACCEPTED"}"#),
            IssueReply::Accepted
        );
        assert_eq!(
            parse_issue(
                br#"{"result":"QUEUED","position":7,"etaSeconds":null,"beyondStock":true,"pollAfterMs":2500}"#
            ),
            IssueReply::Queued {
                position: 7,
                poll_after: Duration::from_millis(2500),
                ticket: None,
            }
        );
        assert_eq!(
            parse_issue(
                br#"{"result":"QUEUED","position":7,"pollAfterMs":1000,"placeTicket":"p.t.k"}"#
            ),
            IssueReply::Queued {
                position: 7,
                poll_after: Duration::from_secs(1),
                ticket: Some("p.t.k".into()),
            }
        );
        assert_eq!(
            parse_issue(br#"{"result":"QUEUED"}"#),
            IssueReply::Other,
            "no position"
        );
        assert_eq!(parse_issue(b"nope"), IssueReply::Other);
        assert_eq!(
            parse_poll(br#"{"status":"WAITING","position":3,"etaSeconds":1,"beyondStock":false,"pollAfterMs":1000,"placeTicket":"p.t.k"}"#),
            PollReply::Waiting {
                position: 3,
                poll_after: Duration::from_secs(1),
                ticket: Some("p.t.k".into()),
            }
        );
        assert_eq!(
            parse_poll(br#"{"status":"ADMITTED","admissionToken":"t.k.n","validUntil":"2030-01-01T00:00:00Z"}"#),
            PollReply::Admitted {
                token: "t.k.n".into()
            }
        );
        assert_eq!(parse_poll(br#"{"status":"ADMITTED"}"#), PollReply::Other);
        assert_eq!(parse_poll(br#"{"status":"SOLD_OUT"}"#), PollReply::SoldOut);
        assert_eq!(parse_poll(br#"{"status":"EXPIRED"}"#), PollReply::Expired);
        assert_eq!(
            parse_poll(br#"{"status":"NOT_IN_QUEUE"}"#),
            PollReply::NotInQueue
        );
        assert_eq!(
            PollReply::SoldOut.outcome(),
            Outcome::Poll(PollStatus::SoldOut)
        );
    }

    #[test]
    fn a_trail_keeps_the_first_stay_and_notices_a_worse_place() {
        let mut t = Trail::default();
        let (mut joins, mut admits) = (0, 0);
        let mut join = || {
            joins += 1;
            joins - 1
        };
        assert!(t.place(12, true, seen(100, 200), &mut join, || 0));
        assert!(
            !t.place(12, true, seen(300, 400), &mut join, || 0),
            "a re-press"
        );
        assert!(!t.place(9, false, seen(500, 600), &mut join, || 0));
        assert_eq!(t.increases, 0);
        // Overlapping requests: not ordered, not compared.
        assert!(!t.place(10, false, seen(550, 650), &mut join, || 0));
        assert_eq!(t.increases, 0);
        assert!(!t.place(11, false, seen(700, 800), &mut join, || 0));
        assert_eq!((t.increases, t.increase_after_us), (1, 650));
        let j = t.join.unwrap();
        assert_eq!((j.position, j.sent_us, j.waiting_sent_us), (12, 100, 700));
        t.admitted(seen(900, 1000), || {
            admits += 1;
            7
        });
        t.admitted(seen(1100, 1200), || unreachable!("numbered once"));
        assert_eq!(t.admitted_seq, Some(7));
        assert_eq!(t.join.unwrap().admitted_us, Some(1000));
        // A rejoin begins a new stay, the first one stays recorded.
        t.rejoining = true;
        assert!(t.place(40, true, seen(2000, 2100), &mut join, || 0));
        assert_eq!(t.first_join.unwrap().position, 12);
        assert_eq!(t.join.unwrap().position, 40);
        assert_eq!(t.join.unwrap().admitted_us, None);
        assert_eq!(t.join_seq, Some(0));
        // Admitted again, then QUEUED at a place: the admission lapsed, a new stay (not
        // a worse place in the old one).
        assert!(!t.place(0, true, seen(3000, 3100), &mut join, || 8));
        assert!(t.place(25, true, seen(4000, 4100), &mut join, || 0));
        assert_eq!((t.rejoins, t.increases), (1, 1));
        assert_eq!(t.join.unwrap().position, 25);
        assert_eq!(
            t.admitted_seq,
            Some(7),
            "the first admission's number stays"
        );
        assert_eq!((joins, admits), (1, 1));
    }
}
