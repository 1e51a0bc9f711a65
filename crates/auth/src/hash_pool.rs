//! A pool of its own for password hashing: a fixed number of OS threads, at a low
//! scheduling priority, behind a bounded queue.
//!
//! Why not Tokio's blocking pool: it grows to 512 threads, so a login storm (or one
//! client guessing passwords) ran hundreds of argon2 hashes at once, each with its own
//! 19 MiB, and took both cores from the issue path: `/health` fell from ~118k req/s to
//! ~1.1k. Here at most `threads` hashes run; `queue` more may wait; past that a job is
//! refused at once ([`Busy`]) and the caller answers 503 `AUTH_BUSY` with
//! `Retry-After`. The threads run at `nice` (19 by default), so the kernel gives the
//! async workers the CPU first: hashing gets what the rush leaves.
//!
//! A job whose caller has gone (the client disconnected while it waited) is skipped
//! rather than hashed for nobody.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The pool's size and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashPoolSettings {
    /// Hashes computed at once.
    pub threads: usize,
    /// Jobs that may wait for a thread; past them a job is refused.
    pub queue: usize,
    /// The threads' nice value (0 normal … 19 lowest).
    pub nice: i32,
}

impl HashPoolSettings {
    /// One thread per core, eight waiting jobs per thread, lowest priority.
    pub fn for_cores(cores: usize) -> Self {
        let threads = cores.max(1);
        Self {
            threads,
            queue: threads * 8,
            nice: 19,
        }
    }
}

/// The pool is full: nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// About how long the jobs ahead need.
    pub retry_after: Duration,
}

/// The job was taken but not run (the pool shut down or the job panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    jobs: SyncSender<Job>,
    settings: HashPoolSettings,
    /// Microseconds the last job took: what `Retry-After` is estimated from.
    last_cost_us: Arc<AtomicU64>,
}

impl HashPool {
    pub fn start(settings: HashPoolSettings) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(settings.queue);
        let queue = Arc::new(Mutex::new(queue));
        let last_cost_us = Arc::new(AtomicU64::new(50_000));
        for i in 0..settings.threads.max(1) {
            let (queue, cost) = (queue.clone(), last_cost_us.clone());
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || work(&queue, &cost, settings.nice))?;
        }
        Ok(Self {
            jobs,
            settings,
            last_cost_us,
        })
    }

    pub fn settings(&self) -> HashPoolSettings {
        self.settings
    }

    /// Runs `job` on a pool thread, or refuses it at once when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, Lost>, Busy> {
        let (tx, rx) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(job());
        });
        match self.jobs.try_send(wrapped) {
            Ok(()) => Ok(rx.await.map_err(|_| Lost)),
            Err(TrySendError::Full(_)) => Err(Busy {
                retry_after: self.retry_after(),
            }),
            Err(TrySendError::Disconnected(_)) => Ok(Err(Lost)),
        }
    }

    /// The time a full queue needs to drain, rounded up to whole seconds.
    fn retry_after(&self) -> Duration {
        let cost = self.last_cost_us.load(Ordering::Relaxed);
        let waiting = (self.settings.queue + self.settings.threads) as u64;
        let us = cost * waiting / self.settings.threads.max(1) as u64;
        Duration::from_secs(us.div_ceil(1_000_000).max(1))
    }
}

fn work(queue: &Mutex<Receiver<Job>>, last_cost_us: &AtomicU64, nice: i32) {
    lower_priority(nice);
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = match queue.lock().recv() {
            Ok(job) => job,
            Err(_) => return, // the pool was dropped
        };
        let started = Instant::now();
        // A panicking job drops its sender: the caller sees `Lost`, the thread lives on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        last_cost_us.store(us.max(1), Ordering::Relaxed);
    }
}

/// On Linux a nice value belongs to a thread, so this lowers only the calling one.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), nice) {
        tracing::warn!(error = %e, nice, "could not lower the password-hash thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize, queue: usize) -> HashPool {
        HashPool::start(HashPoolSettings {
            threads,
            queue,
            nice: 0,
        })
        .unwrap()
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn runs_a_job_and_returns_its_value() {
        let p = pool(1, 1);
        assert_eq!(p.run(|| 6 * 7).await, Ok(Ok(42)));
    }

    #[tokio::test]
    async fn refuses_at_once_when_every_thread_and_queue_slot_is_taken() {
        let p = Arc::new(pool(1, 2));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        // One job runs (held by `gate`), two wait in the queue.
        let mut held = Vec::new();
        for i in 0..3 {
            let (gate, started) = (gate.clone(), started_tx.clone());
            let p = p.clone();
            held.push(tokio::spawn(async move {
                p.run(move || {
                    let _ = started.send(());
                    let _ = gate.lock().recv();
                    i
                })
                .await
            }));
            if i == 0 {
                started_rx.recv().await.unwrap(); // the first one is on the thread
            }
        }
        // On this single-threaded runtime each yield lets the spawned callers run up
        // to their wait for the result, that is, past their place in the queue.
        settle().await;
        let refused = p.run(|| 99).await;
        let Err(Busy { retry_after }) = refused else {
            panic!("expected Busy, got {refused:?}");
        };
        assert!(retry_after >= Duration::from_secs(1));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        let mut got = Vec::new();
        for h in held {
            got.push(h.await.unwrap().unwrap().unwrap());
        }
        assert_eq!(got, [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_not_run() {
        let p = Arc::new(pool(1, 4));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let blocker = {
            let p = p.clone();
            tokio::spawn(async move {
                p.run(move || {
                    let _ = started_tx.send(());
                    let _ = gate.recv();
                })
                .await
            })
        };
        started_rx.recv().await.unwrap();
        let ran = Arc::new(AtomicU64::new(0));
        let abandoned = {
            let (p, ran) = (p.clone(), ran.clone());
            tokio::spawn(async move { p.run(move || ran.fetch_add(1, Ordering::SeqCst)).await })
        };
        settle().await;
        abandoned.abort();
        let _ = abandoned.await;
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap().unwrap();
        // A job queued after the abandoned one runs, so the abandoned one was passed.
        assert_eq!(p.run(|| 1).await, Ok(Ok(1)));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_panicking_job_is_lost_and_the_thread_lives_on() {
        let p = pool(1, 1);
        let lost = p.run(|| -> u32 { panic!("boom") }).await;
        assert_eq!(lost, Ok(Err(Lost)));
        assert_eq!(p.run(|| 5).await, Ok(Ok(5)));
    }
}
