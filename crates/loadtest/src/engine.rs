//! The worker pool every scenario runs on: `connections` workers, each owning one
//! keep-alive connection, take job numbers from one atomic counter until the plan's jobs
//! (or the time) run out.
//!
//! All connections are opened before the clock starts, so a rush measures requests, not
//! TCP handshakes. A job may carry a start time (ramp, constant arrival rate): the
//! worker that takes it sleeps until then. A plan decides what each job sends and what
//! its answer means; the engine times it and records it.
//!
//! Follow-up steps (the waiting room: a user answered QUEUED polls the line, then issues
//! with the admission token) do not hold a connection while they wait: the plan hands
//! them to its `FollowUps`, a timer moves each one to a ready queue when it is due, and
//! the same workers send them, ready steps before new jobs (and while a worker waits for
//! a job's start time). The run ends when the jobs are done and no user follows a room.

use crate::client::{Conn, ErrorKind, Target};
use crate::progress;
use crate::stats::{Kind, Outcome, Recorder, merge_shards};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use parking_lot::Mutex;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

/// What a worker sends: a job of the plan, or a follow-up step it scheduled.
#[derive(Debug)]
pub enum Work<S> {
    Job(u64),
    Step(S),
}

impl Work<std::convert::Infallible> {
    /// The job number: a plan without steps only has jobs.
    pub fn job(&self) -> u64 {
        match self {
            Self::Job(job) => *job,
            Self::Step(never) => match *never {},
        }
    }
}

/// When a request went out and came back, after the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Where its latency counts from: the send, or with `latency_from_schedule` the
    /// time it was due (a job's start time, a step's due time).
    pub from: Duration,
    pub sent: Duration,
    pub done: Duration,
}

/// An answer as the engine got it: a 2xx status and its body, or why there was none
/// (an error status is `ErrorKind::Http`).
pub type Reply<'a> = Result<(StatusCode, &'a [u8]), ErrorKind>;

/// What a scenario sends, and what the answers mean.
pub trait Plan: Send + Sync + 'static {
    /// Follow-up steps (`std::convert::Infallible` for a plan without any).
    type Step: Send + 'static;

    /// How many jobs; `None`: as many as fit in `RunConfig::duration` (closed loop).
    fn jobs(&self) -> Option<u64>;

    /// When job `job` may start, after the start of the run; `None`: at once.
    fn start_at(&self, _job: u64) -> Option<Duration> {
        None
    }

    fn request(&self, work: &Work<Self::Step>) -> Request<Full<Bytes>>;

    /// Which latency histogram the request goes to.
    fn kind(&self, _work: &Work<Self::Step>) -> Kind {
        Kind::Main
    }

    /// What the answer says, after the plan's bookkeeping (per-user tallies, follow-up
    /// steps): the engine records the result.
    fn answer(
        &self,
        work: Work<Self::Step>,
        reply: Reply<'_>,
        timing: Timing,
    ) -> Result<Outcome, ErrorKind>;

    /// The plan's follow-up queue, if it has one.
    fn follow_ups(&self) -> Option<&FollowUps<Self::Step>> {
        None
    }
}

/// Follow-up steps: scheduled (a timer heap), then ready (a queue the workers take from
/// before new jobs). `pending` counts jobs in flight plus users whose flow is not over
/// (`begin` … `end`), so the workers know when nothing more can come.
pub struct FollowUps<S> {
    ready: Mutex<VecDeque<(Instant, S)>>,
    /// The ready queue's length, read without the lock: a rush that never queues
    /// takes no lock to find nothing ready.
    ready_len: AtomicUsize,
    timers: Mutex<BinaryHeap<Due<S>>>,
    seq: AtomicU64,
    pending: AtomicU64,
    /// Wakes idle workers: one per ready step, all when `pending` drops to 0.
    work: Notify,
    /// Wakes the timer when a step is due earlier than the one it sleeps for.
    timer: Notify,
}

struct Due<S> {
    at: Instant,
    seq: u64,
    step: S,
}

impl<S> PartialEq for Due<S> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<S> Eq for Due<S> {}
impl<S> PartialOrd for Due<S> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<S> Ord for Due<S> {
    /// Reversed: `BinaryHeap` is a max-heap, the earliest must come out first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Steps due within this are sent at once rather than through the timer.
const IMMEDIATE: Duration = Duration::from_millis(1);

impl<S> Default for FollowUps<S> {
    fn default() -> Self {
        Self {
            ready: Mutex::new(VecDeque::new()),
            ready_len: AtomicUsize::new(0),
            timers: Mutex::new(BinaryHeap::new()),
            seq: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            work: Notify::new(),
            timer: Notify::new(),
        }
    }
}

impl<S> FollowUps<S> {
    /// A flow starts: the run does not end before the matching `end`.
    pub fn begin(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// A flow (or a job in flight) is over.
    pub fn end(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.work.notify_waiters();
        }
    }

    /// Jobs in flight plus flows not over.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Sends `step` as soon as a connection is free.
    pub fn now(&self, step: S) {
        {
            let mut ready = self.ready.lock();
            ready.push_back((Instant::now(), step));
            self.ready_len.store(ready.len(), Ordering::Release);
        }
        self.work.notify_one();
    }

    /// Sends `step` once `delay` has passed.
    pub fn after(&self, delay: Duration, step: S) {
        if delay < IMMEDIATE {
            return self.now(step);
        }
        let at = Instant::now() + delay;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let first = {
            let mut timers = self.timers.lock();
            timers.push(Due { at, seq, step });
            timers.peek().is_some_and(|d| d.seq == seq)
        };
        if first {
            self.timer.notify_one();
        }
    }

    /// Steps waiting for their time.
    pub fn scheduled(&self) -> usize {
        self.timers.lock().len()
    }

    fn pop(&self) -> Option<(Instant, S)> {
        if !self.has_ready() {
            return None;
        }
        let mut ready = self.ready.lock();
        let step = ready.pop_front();
        self.ready_len.store(ready.len(), Ordering::Release);
        step
    }

    fn has_ready(&self) -> bool {
        self.ready_len.load(Ordering::Acquire) > 0
    }

    /// Moves the due steps to the ready queue; when the next one is due.
    fn release_due(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut timers = self.timers.lock();
            while timers.peek().is_some_and(|d| d.at <= now) {
                let d = timers.pop().expect("peeked");
                due.push((d.at, d.step));
            }
            timers.peek().map(|d| d.at)
        };
        if !due.is_empty() {
            let n = due.len();
            {
                let mut ready = self.ready.lock();
                ready.extend(due);
                self.ready_len.store(ready.len(), Ordering::Release);
            }
            // One wake-up per step (a worker that wakes takes as many as are ready).
            for _ in 0..n.min(4096) {
                self.work.notify_one();
            }
        }
        next
    }
}

/// The timer: moves steps to the ready queue when they are due, until aborted.
async fn timer<P: Plan>(plan: Arc<P>) {
    let Some(f) = plan.follow_ups() else {
        return;
    };
    loop {
        let notified = f.timer.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match f.release_due() {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = notified => {}
                }
            }
            None => notified.await,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub connections: usize,
    pub timeout: Duration,
    /// Closed loop: stop taking jobs after this long.
    pub duration: Option<Duration>,
    /// Jobs whose turn comes later than this after the start are dropped, not sent.
    pub send_deadline: Option<Duration>,
    /// Latency counts from the job's scheduled start rather than from its send, so
    /// waiting for a free connection counts (coordinated-omission correction, as wrk2).
    pub latency_from_schedule: bool,
    /// Print a progress line on stderr every second, with this label.
    pub progress: Option<&'static str>,
}

/// What a run measured.
pub struct Finished {
    pub stats: Recorder,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// The start (every connection open), on the monotonic clock and the wall clock.
    pub t0: Instant,
    pub t0_wall: chrono::DateTime<chrono::Utc>,
}

const SHARDS: usize = 8;

struct Shared<P> {
    plan: Arc<P>,
    config: RunConfig,
    next: AtomicU64,
    shards: Arc<[Mutex<Recorder>]>,
}

pub async fn run<P: Plan>(
    target: &Target,
    plan: Arc<P>,
    config: RunConfig,
) -> anyhow::Result<Finished> {
    // More connections than jobs are never busy: a user has one request in flight at a
    // time, follow-ups included.
    let workers = match plan.jobs() {
        Some(n) => config.connections.min(n.max(1) as usize),
        None => config.connections,
    }
    .max(1);
    let shards: Arc<[Mutex<Recorder>]> = (0..SHARDS.min(workers))
        .map(|_| Mutex::new(Recorder::default()))
        .collect();
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        config: config.clone(),
        next: AtomicU64::new(0),
        shards: shards.clone(),
    });
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(workers);
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (shared, target, ready_tx, start_rx) = (
            shared.clone(),
            target.clone(),
            ready_tx.clone(),
            start_rx.clone(),
        );
        tasks.spawn(worker(w, shared, target, ready_tx, start_rx));
    }
    drop(ready_tx);
    for _ in 0..workers {
        ready_rx.recv().await;
    }
    let timer = plan
        .follow_ups()
        .is_some()
        .then(|| tokio::spawn(timer(plan.clone())));
    let t0 = Instant::now();
    let t0_wall = chrono::Utc::now();
    let _ = start_tx.send(Some(t0));
    let progress = config
        .progress
        .map(|label| tokio::spawn(progress::report(label, shards.clone(), t0)));
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    for task in [progress, timer].into_iter().flatten() {
        task.abort();
    }
    let stats = merge_shards(&shards, true);
    Ok(Finished {
        elapsed: stats.last_done,
        stats,
        t0,
        t0_wall,
    })
}

/// One worker's connection and where it records.
struct Lane<'a, P: Plan> {
    shared: &'a Shared<P>,
    conn: Conn,
    shard: &'a Mutex<Recorder>,
    t0: Instant,
}

impl<P: Plan> Lane<'_, P> {
    /// Sends `work`, lets the plan read the answer, records the result. `due`: when it
    /// was meant to start (latency counts from there with `latency_from_schedule`).
    async fn serve(&mut self, work: Work<P::Step>, due: Option<Instant>) {
        let cfg = &self.shared.config;
        let plan = &self.shared.plan;
        let kind = plan.kind(&work);
        let req = plan.request(&work);
        let sent = Instant::now();
        let answer = self.conn.send(req, cfg.timeout).await;
        let done = Instant::now();
        let from = match due {
            Some(at) if cfg.latency_from_schedule => at.min(sent),
            _ => sent,
        };
        let (reply, message) = match &answer {
            Ok((status, body)) if status.is_success() => (Ok((*status, &body[..])), String::new()),
            Ok((status, body)) => (
                Err(ErrorKind::Http(status.as_u16())),
                String::from_utf8_lossy(&body[..body.len().min(160)]).into_owned(),
            ),
            Err(f) => (Err(f.kind), f.message.clone()),
        };
        let t0 = self.t0;
        let timing = Timing {
            from: from - t0,
            sent: sent - t0,
            done: done - t0,
        };
        let result = plan.answer(work, reply, timing);
        self.shard.lock().record(
            kind,
            done - t0,
            done - from,
            result.map_err(|k| (k, message.as_str())),
        );
        if matches!(result, Err(ErrorKind::Connect)) {
            // A refused connection fails in microseconds: do not spin on it.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends a ready follow-up step, if there is one.
    async fn step(&mut self) -> bool {
        let Some((due, step)) = self.shared.plan.follow_ups().and_then(FollowUps::pop) else {
            return false;
        };
        self.serve(Work::Step(step), Some(due)).await;
        true
    }

    /// Waits until `at`, sending the follow-up steps that become ready meanwhile.
    async fn until(&mut self, at: Instant) {
        let plan = self.shared.plan.clone();
        let Some(f) = plan.follow_ups() else {
            tokio::time::sleep_until(at).await;
            return;
        };
        while Instant::now() < at {
            if self.step().await {
                continue;
            }
            let notified = f.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if f.has_ready() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(at) => return,
                _ = notified => {}
            }
        }
    }
}

async fn worker<P: Plan>(
    w: usize,
    shared: Arc<Shared<P>>,
    target: Target,
    ready: mpsc::Sender<()>,
    mut start: watch::Receiver<Option<Instant>>,
) {
    let cfg = &shared.config;
    let mut conn = Conn::new(&target);
    // A failure here shows up again, counted, on this worker's first send.
    let _ = conn.connect(cfg.timeout).await;
    let _ = ready.send(()).await;
    drop(ready);
    let Ok(t0) = start
        .wait_for(Option::is_some)
        .await
        .map(|t| t.expect("set"))
    else {
        return;
    };
    let plan = shared.plan.clone();
    let follow = plan.follow_ups();
    let mut lane = Lane {
        shared: &shared,
        conn,
        shard: &shared.shards[w % shared.shards.len()],
        t0,
    };
    let jobs = plan.jobs();
    let end = cfg.duration.map(|d| t0 + d);
    let send_deadline = cfg.send_deadline.map(|d| t0 + d);
    let mut jobs_left = true;
    loop {
        if end.is_some_and(|e| Instant::now() >= e) {
            return;
        }
        if lane.step().await {
            continue;
        }
        if jobs_left {
            // Counted before it is taken: a worker that finds the jobs gone and nothing
            // pending knows no job in flight can still start a flow.
            if let Some(f) = follow {
                f.begin();
            }
            let job = shared.next.fetch_add(1, Ordering::Relaxed);
            if jobs.is_some_and(|n| job >= n) {
                jobs_left = false;
            } else {
                let scheduled = match plan.start_at(job) {
                    Some(offset) => {
                        let at = t0 + offset;
                        lane.until(at).await;
                        Some(at)
                    }
                    None => None,
                };
                if send_deadline.is_some_and(|d| Instant::now() > d) {
                    lane.shard.lock().dropped += 1;
                } else {
                    lane.serve(Work::Job(job), scheduled).await;
                }
            }
            if let Some(f) = follow {
                f.end();
            }
            continue;
        }
        // No job left: follow-up steps until no flow is pending.
        let Some(f) = follow else {
            return;
        };
        let notified = f.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if f.has_ready() {
            continue;
        }
        if f.pending() == 0 {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_come_out_in_due_order() {
        let f = FollowUps::<u32>::default();
        f.after(Duration::from_millis(90), 3);
        f.after(Duration::from_millis(30), 1);
        f.after(Duration::from_millis(60), 2);
        f.now(0);
        assert_eq!(f.scheduled(), 3);
        assert_eq!(f.pop().map(|s| s.1), Some(0));
        let next = f.release_due().expect("three waiting");
        assert!(f.pop().is_none(), "nothing due yet");
        tokio::time::sleep_until(next).await;
        f.release_due();
        assert_eq!(f.pop().map(|s| s.1), Some(1));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(f.release_due(), None, "all released");
        assert_eq!(
            (f.pop().map(|s| s.1), f.pop().map(|s| s.1)),
            (Some(2), Some(3))
        );
        f.begin();
        f.begin();
        f.end();
        assert_eq!(f.pending(), 1);
    }
}
