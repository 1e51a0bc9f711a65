//! The worker pool every scenario runs on: `connections` workers, each owning one
//! keep-alive connection, take job numbers from one atomic counter until the plan's jobs
//! (or the time) run out.
//!
//! All connections are opened before the clock starts, so a rush measures requests, not
//! TCP handshakes. A job may carry a start time (ramp, constant arrival rate): the
//! worker that takes it sleeps until then. A plan decides what each job sends and what
//! its answer means; the engine times it and records it.

use crate::client::{Conn, ErrorKind, Target};
use crate::progress;
use crate::stats::{Outcome, Recorder, merge_shards};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What a scenario sends, and what the answers mean.
pub trait Plan: Send + Sync + 'static {
    /// How many jobs; `None`: as many as fit in `RunConfig::duration` (closed loop).
    fn jobs(&self) -> Option<u64>;

    /// When job `job` may start, after the start of the run; `None`: at once.
    fn start_at(&self, _job: u64) -> Option<Duration> {
        None
    }

    fn request(&self, job: u64) -> Request<Full<Bytes>>;

    /// What a 2xx answer to job `job` says.
    fn classify(&self, job: u64, status: StatusCode, body: &[u8]) -> Outcome;

    /// Sees every result, `done` after the start (per-user bookkeeping).
    fn settle(&self, _job: u64, _result: Result<Outcome, ErrorKind>, _done: Duration) {}
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
    let workers = match plan.jobs() {
        Some(n) => config.connections.min(n.max(1) as usize),
        None => config.connections,
    }
    .max(1);
    let shards: Arc<[Mutex<Recorder>]> = (0..SHARDS.min(workers))
        .map(|_| Mutex::new(Recorder::default()))
        .collect();
    let shared = Arc::new(Shared {
        plan,
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
    let t0 = Instant::now();
    let _ = start_tx.send(Some(t0));
    let progress = config
        .progress
        .map(|label| tokio::spawn(progress::report(label, shards.clone(), t0)));
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    if let Some(p) = progress {
        p.abort();
    }
    let stats = merge_shards(&shards, true);
    Ok(Finished {
        elapsed: stats.last_done,
        stats,
    })
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
    let shard = &shared.shards[w % shared.shards.len()];
    let jobs = shared.plan.jobs();
    let end = cfg.duration.map(|d| t0 + d);
    let send_deadline = cfg.send_deadline.map(|d| t0 + d);
    loop {
        if end.is_some_and(|e| Instant::now() >= e) {
            return;
        }
        let job = shared.next.fetch_add(1, Ordering::Relaxed);
        if jobs.is_some_and(|n| job >= n) {
            return;
        }
        let scheduled = match shared.plan.start_at(job) {
            Some(offset) => {
                let at = t0 + offset;
                tokio::time::sleep_until(at).await;
                Some(at)
            }
            None => None,
        };
        let sent = Instant::now();
        if send_deadline.is_some_and(|d| sent > d) {
            shard.lock().dropped += 1;
            continue;
        }
        let req = shared.plan.request(job);
        let answer = conn.send(req, cfg.timeout).await;
        let done = Instant::now();
        let from = match scheduled {
            Some(at) if cfg.latency_from_schedule => at,
            _ => sent,
        };
        let (result, message) = match &answer {
            Ok((status, body)) if status.is_success() => {
                (Ok(shared.plan.classify(job, *status, body)), String::new())
            }
            Ok((status, body)) => (
                Err(ErrorKind::Http(status.as_u16())),
                String::from_utf8_lossy(&body[..body.len().min(160)]).into_owned(),
            ),
            Err(f) => (Err(f.kind), f.message.clone()),
        };
        shared.plan.settle(job, result, done - t0);
        shard.lock().record(
            done - t0,
            done - from,
            result.map_err(|k| (k, message.as_str())),
        );
        if matches!(result, Err(ErrorKind::Connect)) {
            // A refused connection fails in microseconds: do not spin on it.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
