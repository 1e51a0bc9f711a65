//! The by-user table (`issued_by_user`, migration 0008), filled behind the writer.
//!
//! Issued rows are clustered by coupon, so a sustained event writes only its own
//! coupon's pages. An entry by user written in the same commit would put a random page
//! of a table as old as the database back on every row, which is what made WAL restarts
//! hold commits for tens of milliseconds. So the writer copies a coupon's rows into the
//! by-user table itself, a chunk per transaction, only when no request has come for a
//! while, and gives way to the next batch after each chunk (`group_commit.rs`).
//!
//! `coupons.by_user_count` is how many of a coupon's rows the table holds. It is set
//! only once every row counted by `issued_count` when the copy began is in, and only if
//! that count has not moved since; a coupon short of it is listed by a probe of
//! `issued_coupons` itself (`issued.rs`), so "my coupons" never misses a row.

use sqlx::{Connection, SqliteConnection};
use uuid::Uuid;

/// When and how much the writer copies into the by-user table.
#[derive(Debug, Clone, Copy)]
pub struct ByUserConfig {
    /// How long no request must have come before the writer copies.
    pub idle: std::time::Duration,
    /// Rows per transaction: the longest a batch that arrives meanwhile waits is one
    /// such transaction.
    pub chunk_rows: u32,
}

impl Default for ByUserConfig {
    fn default() -> Self {
        Self {
            idle: std::time::Duration::from_millis(1_000),
            chunk_rows: 500,
        }
    }
}

/// Where the copy of one coupon stands.
struct Cursor {
    coupon: Uuid,
    /// `issued_count` when this coupon's copy began.
    target: i64,
    /// The smallest user id not copied yet (an empty blob sorts before every id).
    from: Vec<u8>,
    /// For the log line once the coupon is done.
    copied: u64,
    started: std::time::Instant,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    /// A chunk was copied; more may be left.
    Chunk { rows: u64 },
    /// A coupon's copy ended: its rows are all listed by user now.
    Complete,
    /// Its count moved during the copy; it stays probed and is copied again later.
    Moved,
    /// Every coupon's rows are in the table.
    Nothing,
}

#[derive(Default)]
pub(crate) struct ByUserFiller {
    cursor: Option<Cursor>,
}

impl ByUserFiller {
    /// One chunk of one coupon, in one transaction.
    pub(crate) async fn step(
        &mut self,
        conn: &mut SqliteConnection,
        chunk_rows: u32,
    ) -> Result<Filled, sqlx::Error> {
        let step = self.chunk(conn, chunk_rows).await;
        if step.is_err() {
            // The cursor may have moved past a chunk whose transaction then failed and
            // was rolled back: the coupon's copy starts over rather than skip it.
            self.cursor = None;
        }
        step
    }

    async fn chunk(
        &mut self,
        conn: &mut SqliteConnection,
        chunk_rows: u32,
    ) -> Result<Filled, sqlx::Error> {
        let cursor = match &mut self.cursor {
            Some(cursor) => cursor,
            None => {
                let next: Option<(Uuid, i64)> = sqlx::query_as(
                    "SELECT id, issued_count FROM coupons INDEXED BY coupons_not_by_user \
                     WHERE issued_count > by_user_count LIMIT 1",
                )
                .fetch_optional(&mut *conn)
                .await?;
                let Some((coupon, target)) = next else {
                    return Ok(Filled::Nothing);
                };
                self.cursor.insert(Cursor {
                    coupon,
                    target,
                    from: Vec::new(),
                    copied: 0,
                    started: std::time::Instant::now(),
                })
            }
        };
        // IMMEDIATE: the chunk reads before it writes, and a deferred transaction that
        // read cannot wait for the write lock; a coupon created or a session written
        // on the pool meanwhile failed the copy with SQLITE_BUSY (seen in the bench).
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        // The first id past this chunk, if any: the chunk is [from, past).
        let past: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT user_id FROM issued_coupons WHERE coupon_id = ?1 AND user_id >= ?2 \
             ORDER BY user_id LIMIT 1 OFFSET ?3",
        )
        .bind(cursor.coupon)
        .bind(&cursor.from)
        .bind(i64::from(chunk_rows.max(1)))
        .fetch_optional(&mut *tx)
        .await?;
        let copied = sqlx::query(
            "INSERT OR IGNORE INTO issued_by_user (user_id, coupon_id) \
             SELECT user_id, coupon_id FROM issued_coupons \
             WHERE coupon_id = ?1 AND user_id >= ?2 AND (?3 IS NULL OR user_id < ?3)",
        )
        .bind(cursor.coupon)
        .bind(&cursor.from)
        .bind(past.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        cursor.copied += copied;
        let filled = match past {
            Some(past) => {
                cursor.from = past;
                Filled::Chunk { rows: copied }
            }
            None => {
                // Rows issued after the copy began may sit below `from`: the count is
                // only taken if none came.
                let done = sqlx::query(
                    "UPDATE coupons SET by_user_count = ?2 WHERE id = ?1 AND issued_count = ?2",
                )
                .bind(cursor.coupon)
                .bind(cursor.target)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 1 {
                    Filled::Complete
                } else {
                    Filled::Moved
                }
            }
        };
        tx.commit().await?;
        if matches!(filled, Filled::Complete | Filled::Moved)
            && let Some(done) = self.cursor.take()
        {
            tracing::info!(
                coupon = %done.coupon,
                rows = done.copied,
                took_ms = done.started.elapsed().as_millis(),
                complete = filled == Filled::Complete,
                "issued rows copied into the by-user table"
            );
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{SqliteStore, open};
    use chrono::Utc;
    use couponrush_contracts::stores::{coupon, request};
    use couponrush_domain::ports::{CouponStore, IssuePersister};
    use couponrush_domain::{CouponId, CouponStatus, UserId};

    /// A store on a temp file (`connections` in its pool) with one coupon.
    async fn store_with_coupon(
        dir: &tempfile::TempDir,
        connections: u32,
    ) -> (SqliteStore, CouponId) {
        let store = open(&dir.path().join("t.db"), connections).await.unwrap();
        let c = coupon(10, CouponStatus::Active);
        store.insert_coupon(&c).await.unwrap();
        (store, c.id)
    }

    /// `n` rows of new users for `coupon`, persisted as the writer would.
    async fn issue(store: &SqliteStore, coupon: CouponId, n: usize) {
        let rows: Vec<_> = (0..n)
            .map(|_| request(UserId::new(), coupon, Utc::now()))
            .collect();
        store.persist(&rows).await.unwrap();
    }

    /// Steps on until a coupon's copy ends; what ended it.
    async fn finish(filler: &mut ByUserFiller, conn: &mut SqliteConnection, chunk: u32) -> Filled {
        loop {
            match filler.step(conn, chunk).await.unwrap() {
                Filled::Chunk { .. } => {}
                ended => return ended,
            }
        }
    }

    async fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(conn)
            .await
            .unwrap()
    }

    /// A row issued while a coupon's copy runs may land below the cursor: the copy must
    /// not call the coupon complete, and the next copy must take that row too.
    #[tokio::test]
    async fn a_copy_during_which_the_count_moved_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (store, coupon) = store_with_coupon(&dir, 2).await;
        issue(&store, coupon, 3).await;
        let mut conn = store.pool().acquire().await.unwrap();
        let mut filler = ByUserFiller::default();

        assert_eq!(
            filler.step(&mut conn, 1).await.unwrap(),
            Filled::Chunk { rows: 1 }
        );
        issue(&store, coupon, 2).await;
        assert_eq!(finish(&mut filler, &mut conn, 1).await, Filled::Moved);
        assert_eq!(
            count(&mut conn, "SELECT by_user_count FROM coupons").await,
            0
        );

        assert_eq!(finish(&mut filler, &mut conn, 2).await, Filled::Complete);
        assert_eq!(
            count(&mut conn, "SELECT by_user_count FROM coupons").await,
            5
        );
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM issued_by_user").await,
            5
        );
        assert_eq!(filler.step(&mut conn, 2).await.unwrap(), Filled::Nothing);
    }

    /// Coupons are created and sessions written on the pool while the writer copies:
    /// a chunk must wait for such a write, not fail (it read before writing, and a
    /// deferred transaction that has read cannot wait for the write lock).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chunk_waits_for_a_write_on_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (store, coupon) = store_with_coupon(&dir, 3).await;
        issue(&store, coupon, 4).await;

        let mut other = store.pool().acquire().await.unwrap();
        let mut write = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("UPDATE coupons SET name = 'renamed'")
            .execute(&mut *write)
            .await
            .unwrap();
        let copier = store.clone();
        let copy = tokio::spawn(async move {
            let mut conn = copier.pool().acquire().await.unwrap();
            let mut filler = ByUserFiller::default();
            let mut steps = vec![filler.step(&mut conn, 10).await];
            steps.push(filler.step(&mut conn, 10).await);
            steps
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        write.commit().await.unwrap();
        let steps = copy.await.unwrap();
        assert!(
            matches!(steps[..], [Ok(Filled::Complete), Ok(Filled::Nothing)]),
            "{steps:?}"
        );
    }

    /// A chunk whose commit fails is rolled back after the cursor moved past it; the
    /// copy must not then call the coupon complete without those rows.
    #[tokio::test]
    async fn a_chunk_whose_commit_failed_is_copied_again() {
        let dir = tempfile::tempdir().unwrap();
        let (store, coupon) = store_with_coupon(&dir, 2).await;
        issue(&store, coupon, 6).await;
        let mut conn = store.pool().acquire().await.unwrap();
        // The second of three chunks: its statements succeed, its COMMIT fails (a
        // deferred foreign key left broken by a trigger is only checked at commit).
        for sql in [
            "CREATE TABLE poison (c BLOB REFERENCES coupons (id) DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TRIGGER poison_second_chunk AFTER INSERT ON issued_by_user \
             WHEN (SELECT COUNT(*) FROM issued_by_user) = 3 \
             BEGIN INSERT INTO poison VALUES (x'00'); END",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        let mut filler = ByUserFiller::default();
        assert_eq!(
            filler.step(&mut conn, 2).await.unwrap(),
            Filled::Chunk { rows: 2 }
        );
        assert!(
            filler.step(&mut conn, 2).await.is_err(),
            "the second chunk's commit fails"
        );
        sqlx::query("DROP TRIGGER poison_second_chunk")
            .execute(&mut *conn)
            .await
            .unwrap();
        assert_eq!(finish(&mut filler, &mut conn, 2).await, Filled::Complete);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM issued_by_user").await,
            6,
            "every row, the failed chunk's included"
        );
    }
}
