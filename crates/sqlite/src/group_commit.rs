//! Group commit: the embedded [`IssueLog`]. Accepted requests queue to one writer task,
//! which commits them in batches (up to `max_rows`, or whatever arrived within
//! `max_wait` of the first) and only then answers each caller. One fsync serves a whole
//! batch, which is what lets a durable answer keep up with a rush.
//!
//! The batch itself is written by [`IssuePersister::persist`] (see `persist.rs`), the
//! same contract the distributed consumers write through. A failed commit answers every
//! caller of that batch with an error; the issue use case then releases their gate
//! reservations, so nothing answered ACCEPTED is lost and nothing unanswered is kept.
//!
//! The writer never checkpoints the WAL itself: a [`Checkpointer`] beside it does,
//! holding commits only for the short WAL restart (see `checkpoint.rs`). When no request
//! has come for a while, the writer copies issued rows into the by-user table, a chunk
//! at a time, giving way to the next batch after each (see `by_user.rs`).
//!
//! Metrics: rows per committed batch, time per batch transaction, failed commits.

use crate::by_user::{ByUserConfig, ByUserFiller, Filled};
use crate::checkpoint::{CheckpointConfig, Checkpointer, CommitTurn};
use crate::connect::SqliteStore;
use async_trait::async_trait;
use couponrush_domain::IssueRequest;
use couponrush_domain::StoreError;
use couponrush_domain::ports::{IssueLog, IssuePersister, LogDrain, LogError};
use couponrush_telemetry::metrics::names::{
    GROUP_COMMIT_BATCH_ROWS, GROUP_COMMIT_DURATION_SECONDS, GROUP_COMMIT_FAILURES_TOTAL,
};
use sqlx::Connection;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    pub max_rows: usize,
    /// How long the writer waits for more rows after the first of a batch arrives.
    /// Zero commits whatever is queued at once (batches still form under load, while
    /// the previous commit runs).
    pub max_wait: Duration,
    /// Requests that may wait for the writer before appends are slowed down.
    pub queue_capacity: usize,
    /// When the WAL is copied into the database file, off the commit path.
    pub checkpoint: CheckpointConfig,
    /// When issued rows are copied into the by-user table, off the commit path.
    pub by_user: ByUserConfig,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_rows: 1_000,
            max_wait: Duration::from_millis(2),
            queue_capacity: 65_536,
            checkpoint: CheckpointConfig::default(),
            by_user: ByUserConfig::default(),
        }
    }
}

struct Pending {
    request: IssueRequest,
    done: oneshot::Sender<Result<(), LogError>>,
}

/// The sending side: cheap to share. When every clone is dropped the writer commits
/// what is queued and stops.
pub struct GroupCommitLog {
    queue: mpsc::Sender<Pending>,
}

/// The writer task; await [`GroupCommitWriter::finished`] at shutdown to be sure the
/// last batch is committed (and the WAL checkpointed after it).
pub struct GroupCommitWriter {
    task: JoinHandle<()>,
}

impl GroupCommitWriter {
    pub async fn finished(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "group-commit writer task failed");
        }
    }
}

impl GroupCommitLog {
    /// Starts the writer on `store` (opened by `open_writer`: its batches run on the
    /// store's batch thread, one connection of its own, see `persist.rs`) and its
    /// checkpointer on another connection to the same database.
    pub fn start(store: &SqliteStore, config: BatchConfig) -> (Self, GroupCommitWriter) {
        let (queue, rx) = mpsc::channel(config.queue_capacity.max(1));
        let turn = CommitTurn::default();
        let checkpointer = Checkpointer::new(
            &store.pool().connect_options(),
            turn.clone(),
            config.checkpoint,
        );
        let (stop, stopped) = oneshot::channel();
        let checkpoints = tokio::spawn(checkpointer.run(stopped));
        let store = store.clone();
        let task = tokio::spawn(async move {
            run_writer(store, rx, config, turn).await;
            // The last batch is in: let the checkpointer truncate the WAL and stop.
            let _ = stop.send(());
            if let Err(e) = checkpoints.await {
                tracing::error!(error = %e, "WAL checkpoint task failed");
            }
        });
        (Self { queue }, GroupCommitWriter { task })
    }
}

#[async_trait]
impl IssueLog for GroupCommitLog {
    async fn append(&self, request: IssueRequest) -> Result<(), LogError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { request, done })
            .await
            .map_err(|_| LogError::Unavailable("the batch writer has stopped".into()))?;
        answer.await.map_err(|_| {
            LogError::Unavailable("the batch writer stopped before committing".into())
        })?
    }
}

/// Nothing to wait for. The embedded gate lives in this process and never drops a
/// coupon it holds, so it seeds a coupon only when no reservation of it can exist: at
/// start (after a restart every record answered was committed, and the queue died
/// with the process unanswered) or for a coupon it has never held.
#[async_trait]
impl LogDrain for GroupCommitLog {
    async fn drained(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

async fn run_writer(
    store: SqliteStore,
    mut rx: mpsc::Receiver<Pending>,
    config: BatchConfig,
    turn: CommitTurn,
) {
    let max_rows = config.max_rows.max(1);
    let mut batch: Vec<Pending> = Vec::with_capacity(max_rows);
    // Reused across batches: the persister takes plain requests, the waiters stay here.
    let mut requests: Vec<IssueRequest> = Vec::with_capacity(max_rows);
    let batch_rows = metrics::histogram!(GROUP_COMMIT_BATCH_ROWS);
    let commit_time = metrics::histogram!(GROUP_COMMIT_DURATION_SECONDS);
    let failures = metrics::counter!(GROUP_COMMIT_FAILURES_TOTAL);
    let mut filler = ByUserFiller::default();
    // How long to wait for requests before the next by-user chunk; None: nothing to copy
    // until a batch commits. At start a copy may be left from before a restart.
    let mut fill_after = Some(config.by_user.idle);
    loop {
        let received = match fill_after {
            None => rx.recv_many(&mut batch, max_rows).await,
            Some(wait) => {
                match tokio::time::timeout(wait, rx.recv_many(&mut batch, max_rows)).await {
                    Ok(received) => received,
                    Err(_) => {
                        fill_after = fill_chunk(&store, &turn, &mut filler, config.by_user).await;
                        continue;
                    }
                }
            }
        };
        if received == 0 {
            break; // every sender is gone and the queue is empty
        }
        let deadline = Instant::now() + config.max_wait;
        while batch.len() < max_rows && !config.max_wait.is_zero() {
            let room = max_rows - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        requests.clear();
        requests.extend(batch.iter().map(|p| p.request));
        let started = Instant::now();
        // Timed with the wait for the turn: a WAL restart's pause counts as commit time.
        let result = {
            let _turn = turn.lock().await;
            store.persist(&requests).await
        };
        commit_time.record(started.elapsed());
        #[allow(clippy::cast_precision_loss)] // at most max_rows
        match &result {
            Ok(_) => {
                batch_rows.record(batch.len() as f64);
                fill_after = Some(config.by_user.idle);
            }
            Err(_) => failures.increment(1),
        }
        if let Err(e) = &result {
            tracing::error!(rows = batch.len(), error = %e, "issue batch commit failed; reservations will be released");
        }
        for pending in batch.drain(..) {
            let answer = result
                .as_ref()
                .map(|_| ())
                .map_err(|e| LogError::Unavailable(e.to_string()));
            // A caller that went away still has its row: it can see it as ISSUED.
            let _ = pending.done.send(answer);
        }
    }
}

/// One chunk of the by-user copy, in the writer's turn. Returns how long to wait for
/// requests before the next: none at all while there is more to copy (a batch that has
/// arrived still goes first), or `None` once every row is in or the copy failed (the
/// next committed batch starts it again).
async fn fill_chunk(
    store: &SqliteStore,
    turn: &CommitTurn,
    filler: &mut ByUserFiller,
    config: ByUserConfig,
) -> Option<Duration> {
    let _turn = turn.lock().await;
    let step = async {
        let mut conn = store.pool().acquire().await?;
        let step = filler.step(&mut conn, config.chunk_rows).await;
        if step.is_err() {
            // As after a failed batch (persist.rs): a connection whose transaction
            // failed is not reused.
            let _ = conn.detach().close().await;
        }
        step
    };
    match step.await {
        Ok(Filled::Chunk { .. } | Filled::Complete | Filled::Moved) => Some(Duration::ZERO),
        Ok(Filled::Nothing) => None,
        Err(e) => {
            tracing::warn!(error = %e, "copying issued rows into the by-user table failed; tried again after the next batch");
            None
        }
    }
}
