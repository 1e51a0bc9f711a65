//! What a run measured: latency histograms (HDR, microseconds), outcome and error counts,
//! overall and per second of the run.
//!
//! Two kinds of request: the scenario's own (issue requests, /health, state reads), whose
//! latency is `latency` and the per-second latency, and the waiting room's queue polls,
//! timed apart in `poll_latency` (cheap reads at the client's pace would flatter the
//! issue path's figures). Both count as requests, per second too.
//!
//! Workers record into a few sharded `Recorder`s (worker `w` uses shard `w % shards`), so
//! the hot path takes an uncontended lock instead of one lock all workers fight over; the
//! progress line and the summary merge the shards. Per-second histograms keep 2
//! significant digits (1 % is plenty for a chart), the overall one 3.

use crate::client::ErrorKind;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a request that got a 2xx answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    SoldOut,
    AlreadyIssued,
    /// An issue answer QUEUED: the waiting room is on and the user holds a place in
    /// line. Not a final answer: the user goes on polling.
    Queued,
    /// A queue poll (`GET /api/coupons/{id}/queue`) answered.
    Poll(PollStatus),
    /// A 2xx that is not an issue answer (health, state checks).
    Ok,
    /// A 2xx issue answer with an unknown result.
    Other,
}

/// What a queue poll said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStatus {
    Waiting,
    Admitted,
    SoldOut,
    /// The admission passed unused: issuing again rejoins at the back.
    Expired,
    NotInQueue,
}

/// Which latency histogram a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The scenario's requests (issue, health, state reads): `latency`.
    Main,
    /// Waiting-room queue polls: `poll_latency`.
    Poll,
}

/// Counts per outcome (requests, not users).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcomes {
    pub accepted: u64,
    pub sold_out: u64,
    pub already_issued: u64,
    /// Issue requests answered QUEUED.
    pub queued: u64,
    /// Queue polls answered (any status; see `PollCounts`).
    pub polls: u64,
    pub ok: u64,
    pub other: u64,
}

impl Outcomes {
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Accepted => self.accepted += 1,
            Outcome::SoldOut => self.sold_out += 1,
            Outcome::AlreadyIssued => self.already_issued += 1,
            Outcome::Queued => self.queued += 1,
            Outcome::Poll(_) => self.polls += 1,
            Outcome::Ok => self.ok += 1,
            Outcome::Other => self.other += 1,
        }
    }
    pub fn merge(&mut self, o: &Self) {
        self.accepted += o.accepted;
        self.sold_out += o.sold_out;
        self.already_issued += o.already_issued;
        self.queued += o.queued;
        self.polls += o.polls;
        self.ok += o.ok;
        self.other += o.other;
    }
    pub fn total(&self) -> u64 {
        self.accepted
            + self.sold_out
            + self.already_issued
            + self.queued
            + self.polls
            + self.ok
            + self.other
    }
}

/// Queue polls by the status they answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollCounts {
    pub waiting: u64,
    pub admitted: u64,
    pub sold_out: u64,
    pub expired: u64,
    pub not_in_queue: u64,
}

impl PollCounts {
    pub fn add(&mut self, s: PollStatus) {
        match s {
            PollStatus::Waiting => self.waiting += 1,
            PollStatus::Admitted => self.admitted += 1,
            PollStatus::SoldOut => self.sold_out += 1,
            PollStatus::Expired => self.expired += 1,
            PollStatus::NotInQueue => self.not_in_queue += 1,
        }
    }
    pub fn merge(&mut self, o: &Self) {
        self.waiting += o.waiting;
        self.admitted += o.admitted;
        self.sold_out += o.sold_out;
        self.expired += o.expired;
        self.not_in_queue += o.not_in_queue;
    }
}

fn histogram(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new(sigfig).expect("valid significant figures");
    h.auto(true);
    h
}

/// One second of the run, by completion time.
#[derive(Debug, Clone)]
pub struct Second {
    /// Of `Kind::Main` requests only.
    pub latency: Histogram<u64>,
    pub outcomes: Outcomes,
    pub errors: u64,
}

impl Default for Second {
    fn default() -> Self {
        Self {
            latency: histogram(2),
            outcomes: Outcomes::default(),
            errors: 0,
        }
    }
}

impl Second {
    pub fn requests(&self) -> u64 {
        self.outcomes.total() + self.errors
    }
}

/// One shard's records; merged shards make the run's totals.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// `Kind::Main` requests.
    pub latency: Histogram<u64>,
    /// `Kind::Poll` requests (empty without a waiting room).
    pub poll_latency: Histogram<u64>,
    pub outcomes: Outcomes,
    pub polls: PollCounts,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// The first few distinct messages of transport errors, to explain them.
    pub error_examples: Vec<String>,
    /// Arrivals never sent: their slot passed the end of the run while every connection
    /// was busy (rate mode).
    pub dropped: u64,
    pub seconds: Vec<Second>,
    /// Completion time of the last request, since the start.
    pub last_done: Duration,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            latency: histogram(3),
            poll_latency: histogram(3),
            outcomes: Outcomes::default(),
            polls: PollCounts::default(),
            errors: BTreeMap::new(),
            error_examples: Vec::new(),
            dropped: 0,
            seconds: Vec::new(),
            last_done: Duration::ZERO,
        }
    }
}

const MAX_EXAMPLES: usize = 5;

impl Recorder {
    /// A request finished `done` after the start, having waited `latency`.
    pub fn record(
        &mut self,
        kind: Kind,
        done: Duration,
        latency: Duration,
        result: Result<Outcome, (ErrorKind, &str)>,
    ) {
        // Auto-resizing histograms: `record` grows them (`saturating_record` would clamp).
        let micros = (latency.as_micros() as u64).max(1);
        let idx = done.as_secs() as usize;
        if self.seconds.len() <= idx {
            self.seconds.resize_with(idx + 1, Second::default);
        }
        let second = &mut self.seconds[idx];
        match kind {
            Kind::Main => {
                let _ = self.latency.record(micros);
                let _ = second.latency.record(micros);
            }
            Kind::Poll => {
                let _ = self.poll_latency.record(micros);
            }
        }
        match result {
            Ok(o) => {
                self.outcomes.add(o);
                second.outcomes.add(o);
                if let Outcome::Poll(status) = o {
                    self.polls.add(status);
                }
            }
            Err((kind, message)) => {
                *self.errors.entry(kind).or_default() += 1;
                second.errors += 1;
                let example = format!("{}: {message}", kind.label());
                if self.error_examples.len() < MAX_EXAMPLES
                    && !self.error_examples.contains(&example)
                {
                    self.error_examples.push(example);
                }
            }
        }
        self.last_done = self.last_done.max(done);
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.merge_totals(other);
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.latency
                .add(&theirs.latency)
                .expect("auto-resizing histograms merge");
            mine.outcomes.merge(&theirs.outcomes);
            mine.errors += theirs.errors;
        }
    }

    /// Everything but the per-second series: what the progress line needs.
    pub fn merge_totals(&mut self, other: &Recorder) {
        self.latency
            .add(&other.latency)
            .expect("auto-resizing histograms merge");
        self.poll_latency
            .add(&other.poll_latency)
            .expect("auto-resizing histograms merge");
        self.outcomes.merge(&other.outcomes);
        self.polls.merge(&other.polls);
        for (k, n) in &other.errors {
            *self.errors.entry(*k).or_default() += n;
        }
        for e in &other.error_examples {
            if self.error_examples.len() < MAX_EXAMPLES && !self.error_examples.contains(e) {
                self.error_examples.push(e.clone());
            }
        }
        self.dropped += other.dropped;
        self.last_done = self.last_done.max(other.last_done);
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn requests(&self) -> u64 {
        self.outcomes.total() + self.error_total()
    }
}

/// Merges shards (locked one at a time, briefly); `with_seconds: false` skips the
/// per-second series.
pub fn merge_shards(shards: &[parking_lot::Mutex<Recorder>], with_seconds: bool) -> Recorder {
    let mut total = Recorder::default();
    for s in shards {
        if with_seconds {
            total.merge(&s.lock());
        } else {
            total.merge_totals(&s.lock());
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges_per_second() {
        let mut a = Recorder::default();
        a.record(
            Kind::Main,
            Duration::from_millis(200),
            Duration::from_millis(3),
            Ok(Outcome::Accepted),
        );
        a.record(
            Kind::Main,
            Duration::from_millis(2100),
            Duration::from_millis(5),
            Err((ErrorKind::Timeout, "x")),
        );
        let mut b = Recorder::default();
        b.record(
            Kind::Main,
            Duration::from_millis(900),
            Duration::from_millis(1),
            Ok(Outcome::SoldOut),
        );
        b.record(
            Kind::Main,
            Duration::from_millis(950),
            Duration::from_millis(1),
            Err((ErrorKind::Http(503), "busy")),
        );
        a.merge(&b);
        assert_eq!(a.requests(), 4);
        assert_eq!(a.seconds.len(), 3, "second 1 is empty but present");
        assert_eq!(a.seconds[0].requests(), 3);
        assert_eq!(a.seconds[1].requests(), 0);
        assert_eq!(a.seconds[2].errors, 1);
        assert_eq!(a.errors[&ErrorKind::Http(503)], 1);
        assert_eq!(a.error_examples.len(), 2);
        assert!(
            a.latency.equivalent(a.latency.max(), 5000),
            "max within HDR precision"
        );
        assert_eq!(a.last_done, Duration::from_millis(2100));
    }

    #[test]
    fn polls_count_as_requests_but_keep_their_own_latency() {
        let mut r = Recorder::default();
        r.record(
            Kind::Main,
            Duration::from_millis(100),
            Duration::from_millis(2),
            Ok(Outcome::Queued),
        );
        r.record(
            Kind::Poll,
            Duration::from_millis(300),
            Duration::from_millis(900),
            Ok(Outcome::Poll(PollStatus::Waiting)),
        );
        r.record(
            Kind::Poll,
            Duration::from_millis(400),
            Duration::from_millis(1),
            Err((ErrorKind::Http(503), "busy")),
        );
        assert_eq!(r.requests(), 3);
        assert_eq!((r.outcomes.queued, r.outcomes.polls), (1, 1));
        assert_eq!(r.polls.waiting, 1);
        assert_eq!(r.latency.len(), 1, "only the issue request");
        assert_eq!(r.poll_latency.len(), 2);
        assert_eq!(r.seconds[0].requests(), 3);
        assert_eq!(r.seconds[0].latency.len(), 1);
    }
}
