//! [`FailedEventStore`] on MariaDB: the end of the dead-letter path. Writes are rare
//! (only records no retry could persist), so this favours a simple, readable table over
//! speed.

use crate::connect::MysqlStore;
use crate::error::store_error;
use crate::rows::{from_millis, get, millis};
use async_trait::async_trait;
use chrono::Utc;
use couponrush_domain::StoreError;
use couponrush_domain::ports::{FailedEvent, FailedEventStore};
use sqlx::mysql::MySqlRow;
use uuid::Uuid;

/// The `error` column is TEXT (at most 65,535 bytes). A failure record must not fail
/// for being long, so a longer message is cut rather than refused.
const MAX_ERROR_BYTES: usize = 65_535;

#[async_trait]
impl FailedEventStore for MysqlStore {
    async fn record_failed(
        &self,
        payload: &str,
        error: &str,
        trace_id: Option<&str>,
    ) -> Result<Uuid, StoreError> {
        // UUIDv7 minted here, with the timestamp: id order is creation order.
        let id = Uuid::now_v7();
        let now = millis(Utc::now());
        sqlx::query(
            "INSERT INTO coupon_issue_failed_events \
             (id, payload, error, trace_id, status, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 'FAILED', ?, ?)",
        )
        .bind(id)
        .bind(payload)
        .bind(truncate(error, MAX_ERROR_BYTES))
        .bind(trace_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(id)
    }

    async fn list_failed(&self, limit: u32) -> Result<Vec<FailedEvent>, StoreError> {
        // Newest first straight off the primary key (UUIDv7, see record_failed).
        let found = sqlx::query(
            "SELECT id, payload, error, trace_id, status, created_at, updated_at \
             FROM coupon_issue_failed_events ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        found.iter().map(event).collect()
    }

    async fn pending_failed(&self) -> Result<Vec<FailedEvent>, StoreError> {
        // A scan of the table: it holds only the records no retry could persist (a
        // handful after a fault), and reconciliation reads it at most once per pass.
        let found = sqlx::query(
            "SELECT id, payload, error, trace_id, status, created_at, updated_at \
             FROM coupon_issue_failed_events WHERE status = 'FAILED' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        found.iter().map(event).collect()
    }

    async fn find_failed(&self, id: Uuid) -> Result<Option<FailedEvent>, StoreError> {
        let row = sqlx::query(
            "SELECT id, payload, error, trace_id, status, created_at, updated_at \
             FROM coupon_issue_failed_events WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(event).transpose()
    }

    async fn mark_replayed(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE coupon_issue_failed_events SET status = 'REPLAYED', updated_at = ? WHERE id = ?",
        )
        .bind(millis(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }
}

fn event(row: &MySqlRow) -> Result<FailedEvent, StoreError> {
    Ok(FailedEvent {
        id: get(row, "id")?,
        payload: get(row, "payload")?,
        error: get(row, "error")?,
        trace_id: get(row, "trace_id")?,
        status: get(row, "status")?,
        created_at: from_millis(get(row, "created_at")?)?,
        updated_at: from_millis(get(row, "updated_at")?)?,
    })
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("한글", 4), "한", "a 3-byte character is not split");
    }
}
