//! [`SessionStore`] on MariaDB (distributed mode): one table every api node shares, so
//! a token spent or revoked on one node is refused on all.
//!
//! A rotation is one transaction led by a conditional UPDATE of the presented token.
//! InnoDB's row lock on that token is what orders concurrent rotations of it: each
//! later one waits for the one before to commit, then finds the token used. Reads
//! after it are locking reads (`FOR UPDATE`, the UPDATEs themselves), which see the
//! latest committed rows, not the REPEATABLE READ snapshot, so a loser's family revoke
//! includes the successor the winner just inserted.

use crate::connect::MysqlStore;
use crate::error::{is_deadlock, store_error};
use crate::rows::{corrupt, get, millis};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use couponrush_domain::ports::SessionStore;
use couponrush_domain::{
    RefreshTokenHash, Role, RotateOutcome, SessionFamily, StoreError, StoredRefreshToken, UserId,
};
use sqlx::MySqlPool;
use sqlx::mysql::MySqlRow;
use uuid::Uuid;

/// A rotation racing a revoke of its family (a logout, a reuse) can deadlock on the
/// family index; InnoDB rolls the victim back whole, so running it again is safe.
const DEADLOCK_RETRIES: u32 = 3;

#[async_trait]
impl SessionStore for MysqlStore {
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
        let mut retries = 0;
        loop {
            match rotate_once(&self.pool, old, new_hash, new_expires_at, now).await {
                Err(Failure::Db(e)) if is_deadlock(&e) && retries < DEADLOCK_RETRIES => {
                    retries += 1;
                    tracing::debug!(retries, "refresh-token rotation deadlocked; retrying");
                }
                Err(Failure::Db(e)) => return Err(store_error(e)),
                Err(Failure::Store(e)) => return Err(e),
                Ok(outcome) => return Ok(outcome),
            }
        }
    }

    async fn revoke_family(
        &self,
        token: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Two statements, no transaction: a family only grows (by rotation, under the
        // parent's row lock), and a successor committed before the UPDATE is revoked by
        // it, one still being inserted holds a lock the UPDATE waits for, and a later
        // one finds its parent revoked and is never made.
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
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ? LIMIT ?")
            .bind(millis(before))
            .bind(limit)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(store_error)
    }
}

enum Failure {
    /// From the driver: retried if it is a deadlock.
    Db(sqlx::Error),
    /// Already mapped (a row that does not decode).
    Store(StoreError),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

async fn rotate_once(
    pool: &MySqlPool,
    old: &RefreshTokenHash,
    new_hash: &RefreshTokenHash,
    new_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<RotateOutcome, Failure> {
    // Dropped on an early return, the transaction rolls back: an error changes nothing.
    let mut tx = pool.begin().await?;
    let now_ms = millis(now);
    // The conditional UPDATE is the decision: only a live token is spent, once. Its row
    // lock is held to the end, whatever it matched.
    let spent = sqlx::query(
        "UPDATE refresh_tokens SET used_at = ? \
         WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
    )
    .bind(now_ms)
    .bind(old.as_str())
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query(
        "SELECT family_id, user_id, role, used_at FROM refresh_tokens WHERE token_hash = ? FOR UPDATE",
    )
    .bind(old.as_str())
    .fetch_optional(&mut *tx)
    .await?;
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
            .await?;
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
            .await?;
            RotateOutcome::Reused { family }
        }
        Some(_) => RotateOutcome::Invalid,
        None if spent => {
            return Err(Failure::Store(StoreError::Corrupt(
                "a refresh token spent in this transaction is gone".into(),
            )));
        }
        None => RotateOutcome::Invalid,
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Columns: family_id, user_id, role.
fn owner(row: &MySqlRow) -> Result<(SessionFamily, UserId, Role), StoreError> {
    let role: String = get(row, "role")?;
    Ok((
        SessionFamily::from_uuid(get(row, "family_id")?),
        UserId::from_uuid(get(row, "user_id")?),
        Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
    ))
}
