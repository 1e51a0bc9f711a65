//! Sign-up, log-in and the first admin.
//!
//! A login costs one password verification whatever happens (unknown username or
//! wrong password alike), except when it is throttled: then it costs none, and the
//! limiter is asked before the user is even looked up. If the limiter's store is
//! away, attempts are let through (logged): the bounded hash pool still caps the CPU a
//! guessing client can take, and nobody is locked out by an outage.

use crate::error::StoreError;
use crate::ids::UserId;
use crate::ports::{AttemptLimiter, Clock, HashError, PasswordHasher, UserStore};
use crate::throttle::Admission;
use crate::user::{Password, Role, User, Username};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("the username is already taken")]
    UsernameTaken,
    #[error("too many signups from this address")]
    Throttled { retry_after: Duration },
    #[error("too many sign-ins at once")]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Store(StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: deliberately one case, so callers cannot probe
    /// which usernames exist.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failures for this username or from this address; nothing was checked.
    #[error("too many failed attempts")]
    Throttled { retry_after: Duration },
    #[error("too many sign-ins at once")]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<HashError> for LoginError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after } => LoginError::Busy { retry_after },
            HashError::Failed(m) => LoginError::Store(StoreError::Unavailable(m)),
        }
    }
}

impl From<HashError> for SignupError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after } => SignupError::Busy { retry_after },
            HashError::Failed(m) => SignupError::Store(StoreError::Unavailable(m)),
        }
    }
}

#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    limiter: Arc<dyn AttemptLimiter>,
    clock: Arc<dyn Clock>,
}

impl Accounts {
    pub fn new(
        users: Arc<dyn UserStore>,
        hasher: Arc<dyn PasswordHasher>,
        limiter: Arc<dyn AttemptLimiter>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            hasher,
            limiter,
            clock,
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    pub async fn signup(
        &self,
        username: Username,
        password: &Password,
        client: IpAddr,
    ) -> Result<User, SignupError> {
        match self.limiter.signup_attempt(client, self.now_ms()).await {
            Ok(Admission::Allowed) => {}
            Ok(Admission::Throttled { retry_after }) => {
                return Err(SignupError::Throttled { retry_after });
            }
            Err(e) => {
                tracing::warn!(error = %e, "signup limiter unavailable; letting the signup through")
            }
        }
        self.create(username, password, Role::User).await
    }

    async fn create(
        &self,
        username: Username,
        password: &Password,
        role: Role,
    ) -> Result<User, SignupError> {
        let password_hash = self.hasher.hash(password).await?;
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
        client: IpAddr,
    ) -> Result<User, LoginError> {
        match self
            .limiter
            .login_admission(username, client, self.now_ms())
            .await
        {
            Ok(Admission::Allowed) => {}
            Ok(Admission::Throttled { retry_after }) => {
                return Err(LoginError::Throttled { retry_after });
            }
            Err(e) => {
                tracing::warn!(error = %e, "login limiter unavailable; letting the attempt through")
            }
        }
        let user = self.users.find_user_by_username(username).await?;
        let checked = self
            .hasher
            .verify(password, user.as_ref().map(|u| &u.password_hash))
            .await?;
        match user {
            Some(user) if checked.matches => {
                if let Err(e) = self.limiter.login_succeeded(username).await {
                    tracing::warn!(error = %e, "could not reset a username's failed logins");
                }
                if checked.outdated {
                    self.upgrade_hash(&user, password).await;
                }
                Ok(user)
            }
            _ => {
                if let Err(e) = self
                    .limiter
                    .login_failed(username, client, self.now_ms())
                    .await
                {
                    tracing::warn!(error = %e, "could not count a failed login");
                }
                Err(LoginError::InvalidCredentials)
            }
        }
    }

    /// Re-hashes a password whose stored hash has older parameters. Best effort: the
    /// login has succeeded either way, and the next one tries again.
    async fn upgrade_hash(&self, user: &User, password: &Password) {
        let upgraded = match self.hasher.hash(password).await {
            Ok(hash) => self.users.update_password_hash(user.id, &hash).await,
            Err(e) => {
                tracing::debug!(error = %e, "password hash upgrade postponed");
                return;
            }
        };
        if let Err(e) = upgraded {
            tracing::warn!(error = %e, "password hash upgrade failed");
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
