//! [`UserStore`] on MariaDB.

use crate::connect::MysqlStore;
use crate::error::store_error;
use crate::rows::{corrupt, from_millis, get, millis};
use async_trait::async_trait;
use couponrush_domain::ports::UserStore;
use couponrush_domain::{PasswordHash, Role, StoreError, User, UserId, Username};
use uuid::Uuid;

#[async_trait]
impl UserStore for MysqlStore {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.into_uuid())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_phc())
        .bind(user.role.as_str())
        .bind(millis(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, role, created_at FROM users WHERE username = ?",
        )
        .bind(username.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        let name: String = get(&row, "username")?;
        let role: String = get(&row, "role")?;
        Ok(Some(User {
            id: UserId::from_uuid(get::<Uuid>(&row, "id")?),
            username: Username::parse(&name).map_err(|e| corrupt("username", e))?,
            password_hash: PasswordHash::from_phc(get(&row, "password_hash")?),
            role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
            created_at: from_millis(get(&row, "created_at")?)?,
        }))
    }

    async fn admin_exists(&self) -> Result<bool, StoreError> {
        sqlx::query("SELECT 1 FROM users WHERE role = 'ADMIN' LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map(|r| r.is_some())
            .map_err(store_error)
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<bool, StoreError> {
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash.as_phc())
            .bind(id.into_uuid())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(store_error)
    }
}
