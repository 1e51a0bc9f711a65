//! [`IssuePersister`] on SQLite: one batch of accepted requests made durable in one
//! transaction. The group-commit writer calls it for every batch, so embedded mode and
//! the distributed consumers honour the same contract (and run the same contract suite).
//!
//! Rows are inserted with `ON CONFLICT DO NOTHING` (a redelivered row is skipped and
//! counted as a duplicate), then each coupon's `issued_count` moves by the rows actually
//! inserted with a guarded `UPDATE` that refuses the whole batch rather than over-issue.
//!
//! The transaction runs whole on a thread of the store's own, on one connection
//! (rusqlite): a batch is one message there and one answer back. Through sqlx each
//! statement (BEGIN, the inserts, the UPDATE, COMMIT) was a message to sqlx's worker
//! thread and a wake of the writer task in return, and on two cores shared with
//! request tasks every such wake could wait for a core: beside sustained runs at
//! 9,846 issues/s the writing thread was runnable but waiting for a core 17–20 % of
//! the time (`pidstat -t`), 4–8 ms at a time in a worst second (kernel tracing); see
//! docs/ARCHITECTURE.md, "One message per batch".

use crate::connect::{BUSY_TIMEOUT, SqliteStore, WRITER_CACHE_KIB, pragma_sql};
use crate::error::{batch_error, unavailable};
use async_trait::async_trait;
use couponrush_domain::ports::{IssuePersister, PersistOutcome};
use couponrush_domain::{CouponId, IssueRequest, StoreError};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use tokio::sync::oneshot;

#[async_trait]
impl IssuePersister for SqliteStore {
    async fn persist(&self, batch: &[IssueRequest]) -> Result<PersistOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(PersistOutcome::default());
        }
        self.writer.persist(batch).await
    }
}

type Answer = Result<PersistOutcome, StoreError>;

struct Job {
    batch: Vec<IssueRequest>,
    done: oneshot::Sender<Answer>,
}

enum State {
    /// No batch yet: the thread starts with the first (a store that only reads has none).
    Idle,
    Running(mpsc::Sender<Job>),
    Closed,
}

/// The store's batch writer: a thread with one connection, started by the first batch
/// and stopped by [`SqliteStore::close`] (or when the last clone of the store is gone).
pub(crate) struct BatchThread {
    path: PathBuf,
    state: Mutex<State>,
}

impl BatchThread {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            state: Mutex::new(State::Idle),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Running(jobs) => return Ok(jobs.clone()),
            State::Closed => return Err(StoreError::Unreachable("the store is closed".into())),
            State::Idle => {}
        }
        let (jobs, queue) = mpsc::channel();
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("sqlite-batches".into())
            .spawn(move || run(&path, &queue))
            .map_err(|e| StoreError::Unavailable(format!("starting the batch writer: {e}")))?;
        *state = State::Running(jobs.clone());
        Ok(jobs)
    }

    async fn persist(&self, batch: &[IssueRequest]) -> Answer {
        let (done, answer) = oneshot::channel();
        let job = Job {
            batch: batch.to_vec(),
            done,
        };
        self.sender()?
            .send(job)
            .map_err(|_| StoreError::Unavailable("the batch writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the batch writer stopped before answering".into())
        })?
    }

    /// The thread ends once the batches sent before are written; later ones are refused.
    pub(crate) fn close(&self) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = State::Closed;
    }
}

/// The thread: one batch at a time, each in one transaction.
fn run(path: &Path, queue: &mpsc::Receiver<Job>) {
    let mut conn: Option<Connection> = None;
    for job in queue {
        let result = match &mut conn {
            Some(c) => persist_on(c, &job.batch),
            None => match open(path) {
                Ok(c) => persist_on(conn.insert(c), &job.batch),
                Err(e) => Err(unavailable(&e)),
            },
        };
        if result.is_err() {
            // A failed COMMIT (SQLITE_FULL, an I/O error) can leave SQLite's transaction
            // in a state nobody should build on: the fault matrix's disk-full run once
            // answered 157 users ACCEPTED whose rows never reached the file, through a
            // connection whose later batches nested inside a transaction that never
            // committed. A connection that failed a batch is closed; the next batch
            // opens a clean one.
            conn = None;
        }
        // A caller that went away: its batch was written or refused all the same.
        let _ = job.done.send(result);
    }
}

/// The writer's connection, with the pools' settings (`connect.rs`): WAL, a commit on
/// disk before it returns, foreign keys, no checkpoint on commit, the writer's cache.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&pragma_sql(WRITER_CACHE_KIB))?;
    Ok(conn)
}

fn persist_on(conn: &mut Connection, batch: &[IssueRequest]) -> Answer {
    let mut by_coupon: BTreeMap<CouponId, Vec<&IssueRequest>> = BTreeMap::new();
    for r in batch {
        by_coupon.entry(r.coupon_id).or_default().push(r);
    }
    // IMMEDIATE: the write lock is taken at BEGIN, where the busy timeout covers it.
    // Dropping the transaction on any early return rolls it back: nothing of a refused
    // or failed batch is kept.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| unavailable(&e))?;
    let mut total = 0u64;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO issued_coupons (user_id, coupon_id, id, issued_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (coupon_id, user_id) DO NOTHING",
            )
            .map_err(|e| unavailable(&e))?;
        let mut count = tx
            .prepare_cached(
                "UPDATE coupons SET issued_count = issued_count + ?1 \
                 WHERE id = ?2 AND issued_count + ?1 <= total_quantity",
            )
            .map_err(|e| unavailable(&e))?;
        for (&coupon, requests) in &by_coupon {
            let coupon_key = coupon.into_uuid();
            let mut inserted = 0u64;
            for r in requests {
                // Ids as 16-byte blobs, as sqlx writes a Uuid.
                let (user, request) = (r.user_id.into_uuid(), r.request_id.into_uuid());
                let row = params![
                    &user.as_bytes()[..],
                    &coupon_key.as_bytes()[..],
                    &request.as_bytes()[..],
                    crate::rows::millis(r.requested_at),
                ];
                // 0 or 1: a row already there is skipped.
                inserted += insert.execute(row).map_err(|e| batch_error(&e, coupon))? as u64;
            }
            // Only duplicates: the rows exist, so the coupon does and its count includes them.
            if inserted == 0 {
                continue;
            }
            let moved = count
                .execute(params![
                    i64::try_from(inserted).unwrap_or(i64::MAX),
                    &coupon_key.as_bytes()[..]
                ])
                .map_err(|e| unavailable(&e))?;
            if moved != 1 {
                return Err(StoreError::Conflict(format!(
                    "coupon {coupon}: {inserted} more would pass its total quantity; batch refused"
                )));
            }
            total += inserted;
        }
    }
    tx.commit().map_err(|e| unavailable(&e))?;
    Ok(PersistOutcome {
        inserted: total,
        duplicates: batch.len() as u64 - total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::open;
    use chrono::Utc;
    use couponrush_contracts::stores::{coupon, request};
    use couponrush_domain::ports::CouponStore;
    use couponrush_domain::{CouponStatus, UserId};

    /// The batch thread outlives nothing it should not: a batch after `close` is refused
    /// at once, where a thread gone without telling would leave its caller waiting.
    #[tokio::test]
    async fn a_closed_store_refuses_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("t.db"), 1).await.unwrap();
        let c = coupon(10, CouponStatus::Active);
        store.insert_coupon(&c).await.unwrap();
        let first = [request(UserId::new(), c.id, Utc::now())];
        assert_eq!(store.persist(&first).await.unwrap().inserted, 1);

        store.close().await;
        let after = store
            .persist(&[request(UserId::new(), c.id, Utc::now())])
            .await;
        assert!(
            matches!(after, Err(StoreError::Unreachable(_))),
            "{after:?}"
        );
    }

    /// The batch thread's connection has the pools' settings: what makes a commit
    /// durable before ACCEPTED (FULL) and leaves checkpoints to the checkpointer.
    #[tokio::test]
    async fn the_batch_connection_commits_to_disk_and_never_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        open(&path, 1).await.unwrap().close().await;
        let conn = super::open(&path).unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "2", "FULL");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("wal_autocheckpoint"), "0");
        assert_eq!(pragma("cache_size"), format!("-{WRITER_CACHE_KIB}"));
        assert_eq!(pragma("busy_timeout"), "5000");
    }
}
