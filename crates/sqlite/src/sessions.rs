//! [`SessionStore`] on SQLite (embedded mode).
//!
//! On the store's pool, like the other small writes (a signup, a status change), not on
//! the group-commit writer's connection: that one is kept for issued-coupon batches and
//! their page cache. A rotation is one `BEGIN IMMEDIATE` transaction: it takes the
//! write lock before its first read, so concurrent rotations of one token queue on the
//! lock (the busy timeout) and each sees the one before it, where a deferred
//! transaction could read first and then fail to upgrade with `SQLITE_BUSY`.

use crate::connect::SqliteStore;
use crate::error::store_error;
use crate::rows::{get, millis};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use couponrush_domain::ports::SessionStore;
use couponrush_domain::{
    RefreshTokenHash, Role, RotateOutcome, SessionFamily, StoreError, StoredRefreshToken, UserId,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, SqliteConnection};
use uuid::Uuid;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_refresh_token(&self, t: &StoredRefreshToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, role, issued_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(t.hash.as_str())
        .bind(t.family.into_uuid())
        .bind(t.user_id.into_uuid())
        .bind(t.role.as_str())
        .bind(millis(t.issued_at))
        .bind(millis(t.expires_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        old: &RefreshTokenHash,
        new_hash: &RefreshTokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        let result = rotate_on(&mut conn, old, new_hash, new_expires_at, now).await;
        if result.is_err() {
            // As in persist.rs: a failed COMMIT can leave SQLite's transaction open
            // behind sqlx's back, and every later use of the connection would nest in
            // it. Closed, not returned to the pool.
            let _ = conn.detach().close().await;
        }
        result
    }

    async fn revoke_family(
        &self,
        token: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Two statements, no transaction: a family only grows (by rotation, under the
        // write lock), and a successor inserted before the UPDATE is revoked by it,
        // one inserted after finds its parent revoked and is never made.
        let family: Option<Uuid> =
            sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = ?")
                .bind(token.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        let Some(family) = family else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        )
        .bind(millis(now))
        .bind(family)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(true)
    }

    async fn purge_expired(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE token_hash IN \
             (SELECT token_hash FROM refresh_tokens WHERE expires_at < ? LIMIT ?)",
        )
        .bind(millis(before))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
        .map_err(store_error)
    }
}

async fn rotate_on(
    conn: &mut SqliteConnection,
    old: &RefreshTokenHash,
    new_hash: &RefreshTokenHash,
    new_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<RotateOutcome, StoreError> {
    // Dropped on an early return, the transaction rolls back: an error changes nothing.
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)?;
    let now_ms = millis(now);
    // The conditional UPDATE is the decision: only a live token is spent, once.
    let spent = sqlx::query(
        "UPDATE refresh_tokens SET used_at = ?1 \
         WHERE token_hash = ?2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1",
    )
    .bind(now_ms)
    .bind(old.as_str())
    .execute(&mut *tx)
    .await
    .map_err(store_error)?
    .rows_affected()
        == 1;
    let row = sqlx::query(
        "SELECT family_id, user_id, role, used_at FROM refresh_tokens WHERE token_hash = ?",
    )
    .bind(old.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(store_error)?;
    let outcome = match row {
        Some(row) if spent => {
            let (family, user_id, role) = owner(&row)?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, role, issued_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(new_hash.as_str())
            .bind(family.into_uuid())
            .bind(user_id.into_uuid())
            .bind(role.as_str())
            .bind(now_ms)
            .bind(millis(new_expires_at))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            RotateOutcome::Rotated {
                family,
                user_id,
                role,
            }
        }
        Some(row) if get::<Option<i64>>(&row, "used_at")?.is_some() => {
            let (family, _, _) = owner(&row)?;
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(family.into_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            RotateOutcome::Reused { family }
        }
        Some(_) => RotateOutcome::Invalid,
        None if spent => {
            return Err(StoreError::Corrupt(
                "a refresh token spent in this transaction is gone".into(),
            ));
        }
        None => RotateOutcome::Invalid,
    };
    tx.commit().await.map_err(store_error)?;
    Ok(outcome)
}

/// Columns: family_id, user_id, role.
fn owner(row: &SqliteRow) -> Result<(SessionFamily, UserId, Role), StoreError> {
    let role: String = get(row, "role")?;
    Ok((
        SessionFamily::from_uuid(get(row, "family_id")?),
        UserId::from_uuid(get(row, "user_id")?),
        Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
    ))
}
