//! [`IssuePersister`] on SQLite: one batch of accepted requests made durable in one
//! transaction. The group-commit writer calls it for every batch, so embedded mode and
//! the distributed consumers honour the same contract (and run the same contract suite).
//!
//! Rows are inserted with `ON CONFLICT DO NOTHING` (a redelivered row is skipped and
//! counted as a duplicate), then each coupon's `issued_count` moves by the rows actually
//! inserted with a guarded `UPDATE` that refuses the whole batch rather than over-issue.

use crate::connect::SqliteStore;
use crate::error::store_error;
use crate::rows::millis;
use async_trait::async_trait;
use couponrush_domain::ports::{IssuePersister, PersistOutcome};
use couponrush_domain::{CouponId, IssueRequest, StoreError};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use std::collections::BTreeMap;

/// SQLite allows 32,766 bound variables per statement; 4 per row leaves ample margin.
const ROWS_PER_STATEMENT: usize = 1_000;

#[async_trait]
impl IssuePersister for SqliteStore {
    async fn persist(&self, batch: &[IssueRequest]) -> Result<PersistOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(PersistOutcome::default());
        }
        let mut by_coupon: BTreeMap<CouponId, Vec<&IssueRequest>> = BTreeMap::new();
        for r in batch {
            by_coupon.entry(r.coupon_id).or_default().push(r);
        }
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        let result = persist_on(&mut conn, &by_coupon, batch.len()).await;
        if result.is_err() {
            // A failed COMMIT (SQLITE_FULL, an I/O error) can leave SQLite's transaction
            // open while sqlx's count of open transactions says otherwise; its ROLLBACK on
            // drop then only rolls back to a savepoint, and every later batch on this
            // connection nests as a savepoint inside a transaction that never commits:
            // the fault matrix's disk-full run answered 157 users ACCEPTED whose rows
            // never reached the file. A connection that failed a batch is closed, not
            // returned to the pool, so the next batch starts on a clean one.
            let _ = conn.detach().close().await;
        }
        result
    }
}

async fn persist_on(
    conn: &mut SqliteConnection,
    by_coupon: &BTreeMap<CouponId, Vec<&IssueRequest>>,
    batch_len: usize,
) -> Result<PersistOutcome, StoreError> {
    {
        // Dropping the transaction on any early return rolls it back: nothing of a
        // refused or failed batch is kept.
        let mut tx = conn.begin().await.map_err(store_error)?;
        let mut total = 0u64;
        for (&coupon, requests) in by_coupon {
            let mut inserted = 0u64;
            for chunk in requests.chunks(ROWS_PER_STATEMENT) {
                inserted += insert_rows(&mut tx, chunk).await.map_err(|e| {
                    // The foreign key to coupons is what notices an unknown coupon here.
                    match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            StoreError::Conflict(format!(
                                "coupon {coupon} does not exist; batch refused"
                            ))
                        }
                        _ => store_error(e),
                    }
                })?;
            }
            // Only duplicates: the rows exist, so the coupon does and its count includes them.
            if inserted == 0 {
                continue;
            }
            let moved = sqlx::query(
                "UPDATE coupons SET issued_count = issued_count + ?1 WHERE id = ?2 AND issued_count + ?1 <= total_quantity",
            )
            .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
            .bind(coupon.into_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            if moved.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "coupon {coupon}: {inserted} more would pass its total quantity; batch refused"
                )));
            }
            total += inserted;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(PersistOutcome {
            inserted: total,
            duplicates: batch_len as u64 - total,
        })
    }
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[&IssueRequest],
) -> Result<u64, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO issued_coupons (user_id, coupon_id, id, issued_at) ");
    q.push_values(rows, |mut b, r| {
        b.push_bind(r.user_id.into_uuid())
            .push_bind(r.coupon_id.into_uuid())
            .push_bind(r.request_id.into_uuid())
            .push_bind(millis(r.requested_at));
    });
    q.push(" ON CONFLICT (coupon_id, user_id) DO NOTHING");
    Ok(q.build().execute(conn).await?.rows_affected())
}
