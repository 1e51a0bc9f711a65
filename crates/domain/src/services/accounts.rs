//! Sign-up, log-in and the first admin.

use crate::error::StoreError;
use crate::ids::UserId;
use crate::ports::{Clock, PasswordHasher, UserStore};
use crate::user::{Password, Role, User, Username};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("the username is already taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: deliberately one case, so callers cannot probe
    /// which usernames exist.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl Accounts {
    pub fn new(
        users: Arc<dyn UserStore>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            hasher,
            clock,
        }
    }

    pub async fn signup(
        &self,
        username: Username,
        password: &Password,
    ) -> Result<User, SignupError> {
        self.create(username, password, Role::User).await
    }

    async fn create(
        &self,
        username: Username,
        password: &Password,
        role: Role,
    ) -> Result<User, SignupError> {
        let password_hash = self
            .hasher
            .hash(password)
            .await
            .map_err(SignupError::Store)?;
        let user = User {
            id: UserId::new(),
            username,
            password_hash,
            role,
            created_at: self.clock.now(),
        };
        match self.users.insert_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(SignupError::UsernameTaken),
            Err(e) => Err(SignupError::Store(e)),
        }
    }

    pub async fn login(
        &self,
        username: &Username,
        password: &Password,
    ) -> Result<User, LoginError> {
        let user = self
            .users
            .find_user_by_username(username)
            .await?
            .ok_or(LoginError::InvalidCredentials)?;
        if self.hasher.verify(password, &user.password_hash).await {
            Ok(user)
        } else {
            Err(LoginError::InvalidCredentials)
        }
    }

    /// Creates the admin account if no admin exists yet. Returns the new admin, or
    /// `None` when one already existed (its password is then left alone).
    pub async fn ensure_admin(
        &self,
        username: Username,
        password: &Password,
    ) -> Result<Option<User>, SignupError> {
        if self
            .users
            .admin_exists()
            .await
            .map_err(SignupError::Store)?
        {
            return Ok(None);
        }
        self.create(username, password, Role::Admin).await.map(Some)
    }
}
