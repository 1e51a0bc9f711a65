//! Refresh sessions: a login starts a family of refresh tokens, each refresh trades the
//! presented token for its successor, and logout ends the family. No password is
//! hashed and no user is read on refresh: the stored row carries the user and role.
//!
//! A token presented a second time means a copy is in other hands (the client and the
//! thief cannot both hold the one live token); the store revokes the family, and this
//! logs it with the family id so the session can be traced.

use crate::error::StoreError;
use crate::ids::{SessionFamily, UserId};
use crate::ports::{Clock, SessionStore};
use crate::session::{RefreshToken, RotateOutcome, StoredRefreshToken};
use crate::user::Role;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;

/// A new session's first refresh token.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    pub token: RefreshToken,
    pub expires_at: DateTime<Utc>,
}

/// A successful refresh: who the session belongs to (to mint the access token) and the
/// token that replaces the one presented.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub user_id: UserId,
    pub role: Role,
    pub token: RefreshToken,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, expired or revoked; the client logs in again.
    #[error("the refresh token is invalid, expired or revoked")]
    Invalid,
    /// Used before: the session is revoked, every token of it. Kept apart from
    /// `Invalid` for the log and metrics; a client is told the same as for `Invalid`.
    #[error("the refresh token was used before; its session is revoked")]
    Reused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    refresh_ttl: TimeDelta,
}

impl Sessions {
    /// Each refresh token lives `refresh_ttl` from its issue, so a session lasts as long
    /// as it is refreshed at least that often.
    pub fn new(store: Arc<dyn SessionStore>, clock: Arc<dyn Clock>, refresh_ttl: Duration) -> Self {
        Self {
            store,
            clock,
            // Past chrono's range (~292 million years) is "never" all the same.
            refresh_ttl: TimeDelta::from_std(refresh_ttl).unwrap_or(TimeDelta::MAX),
        }
    }

    /// Starts a session (a login) for `user_id`.
    pub async fn start(&self, user_id: UserId, role: Role) -> Result<IssuedRefresh, StoreError> {
        let token = RefreshToken::generate();
        let now = self.clock.now();
        let expires_at = self.expiry(now);
        self.store
            .insert_refresh_token(&StoredRefreshToken {
                hash: token.hash(),
                family: SessionFamily::new(),
                user_id,
                role,
                issued_at: now,
                expires_at,
            })
            .await?;
        Ok(IssuedRefresh { token, expires_at })
    }

    /// Trades a live token for its successor; the presented one is spent either way.
    pub async fn refresh(&self, token: &RefreshToken) -> Result<Refreshed, SessionError> {
        let next = RefreshToken::generate();
        let now = self.clock.now();
        let expires_at = self.expiry(now);
        match self
            .store
            .rotate_refresh_token(&token.hash(), &next.hash(), expires_at, now)
            .await?
        {
            RotateOutcome::Rotated { user_id, role, .. } => Ok(Refreshed {
                user_id,
                role,
                token: next,
                expires_at,
            }),
            RotateOutcome::Reused { family } => {
                tracing::warn!(%family, "refresh token used twice; its session is revoked");
                Err(SessionError::Reused)
            }
            RotateOutcome::Invalid => Err(SessionError::Invalid),
        }
    }

    /// Ends the token's session. An unknown or already revoked token is fine: the
    /// client is logged out either way, and the answer must not tell tokens apart.
    pub async fn logout(&self, token: &RefreshToken) -> Result<(), StoreError> {
        self.store
            .revoke_family(&token.hash(), self.clock.now())
            .await
            .map(drop)
    }

    /// Deletes every token that has expired, in batches (see
    /// [`SessionStore::purge_expired`]); returns how many went. A used token is kept
    /// until it expires, since presenting it again is what reveals a stolen copy.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        const BATCH: u32 = 10_000;
        let now = self.clock.now();
        let mut total = 0;
        loop {
            let n = self.store.purge_expired(now, BATCH).await?;
            total += n;
            if n < u64::from(BATCH) {
                return Ok(total);
            }
        }
    }

    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(self.refresh_ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    //! How the service drives the port; what rotation means is the store's contract
    //! (crates/contracts/src/sessions.rs), pinned against the real adapters.

    use super::*;
    use crate::session::RefreshTokenHash;
    use async_trait::async_trait;
    use futures::future::BoxFuture;
    use parking_lot::Mutex;

    const TTL: Duration = Duration::from_secs(3600);

    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Rotation {
        old: RefreshTokenHash,
        new_hash: RefreshTokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    }

    /// Records what it is asked and answers `answer` to every rotation.
    struct Recorder {
        answer: Result<RotateOutcome, StoreError>,
        inserted: Mutex<Vec<StoredRefreshToken>>,
        rotations: Mutex<Vec<Rotation>>,
        revoked: Mutex<Vec<RefreshTokenHash>>,
        /// Expired rows left, and the purge calls seen (before, limit).
        expired: Mutex<u64>,
        purges: Mutex<Vec<(DateTime<Utc>, u32)>>,
    }

    #[async_trait]
    impl SessionStore for Recorder {
        async fn insert_refresh_token(&self, t: &StoredRefreshToken) -> Result<(), StoreError> {
            self.inserted.lock().push(t.clone());
            Ok(())
        }
        async fn rotate_refresh_token(
            &self,
            old: &RefreshTokenHash,
            new_hash: &RefreshTokenHash,
            new_expires_at: DateTime<Utc>,
            now: DateTime<Utc>,
        ) -> Result<RotateOutcome, StoreError> {
            self.rotations.lock().push(Rotation {
                old: old.clone(),
                new_hash: new_hash.clone(),
                new_expires_at,
                now,
            });
            self.answer.clone()
        }
        async fn revoke_family(
            &self,
            token: &RefreshTokenHash,
            _: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            self.revoked.lock().push(token.clone());
            Ok(false)
        }
        async fn purge_expired(
            &self,
            before: DateTime<Utc>,
            limit: u32,
        ) -> Result<u64, StoreError> {
            self.purges.lock().push((before, limit));
            let mut left = self.expired.lock();
            let n = (*left).min(u64::from(limit));
            *left -= n;
            Ok(n)
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000).unwrap()
    }

    fn sessions(answer: Result<RotateOutcome, StoreError>) -> (Sessions, Arc<Recorder>) {
        let store = Arc::new(Recorder {
            answer,
            inserted: Mutex::default(),
            rotations: Mutex::default(),
            revoked: Mutex::default(),
            expired: Mutex::new(25_000),
            purges: Mutex::default(),
        });
        let s = Sessions::new(store.clone(), Arc::new(FixedClock(now())), TTL);
        (s, store)
    }

    #[tokio::test]
    async fn purging_repeats_in_batches_until_a_short_one() {
        let (s, store) = sessions(Ok(RotateOutcome::Invalid));
        assert_eq!(s.purge_expired().await.unwrap(), 25_000);
        let purges = store.purges.lock().clone();
        assert_eq!(purges.len(), 3, "10,000 + 10,000 + 5,000: {purges:?}");
        assert!(
            purges
                .iter()
                .all(|&(before, limit)| before == now() && limit == 10_000)
        );
        assert_eq!(s.purge_expired().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn start_stores_the_hash_of_the_token_it_returns_in_a_new_family() {
        let (s, store) = sessions(Ok(RotateOutcome::Invalid));
        let user = UserId::new();
        let a = s.start(user, Role::Admin).await.unwrap();
        let b = s.start(user, Role::Admin).await.unwrap();
        assert_eq!(a.expires_at, now() + TimeDelta::hours(1));
        let inserted = store.inserted.lock().clone();
        assert_eq!(
            inserted[0],
            StoredRefreshToken {
                hash: a.token.hash(),
                family: inserted[0].family,
                user_id: user,
                role: Role::Admin,
                issued_at: now(),
                expires_at: a.expires_at,
            }
        );
        assert_eq!(inserted[1].hash, b.token.hash());
        assert_ne!(
            inserted[0].family, inserted[1].family,
            "each login is a family"
        );
    }

    #[tokio::test]
    async fn refresh_rotates_the_presented_hash_into_the_returned_one() {
        let user = UserId::new();
        let (s, store) = sessions(Ok(RotateOutcome::Rotated {
            family: SessionFamily::new(),
            user_id: user,
            role: Role::User,
        }));
        let presented = RefreshToken::generate();
        let got = s.refresh(&presented).await.unwrap();
        assert_eq!((got.user_id, got.role), (user, Role::User));
        assert_ne!(got.token, presented);
        assert_eq!(
            store.rotations.lock().clone(),
            vec![Rotation {
                old: presented.hash(),
                new_hash: got.token.hash(),
                new_expires_at: now() + TimeDelta::hours(1),
                now: now(),
            }]
        );
        assert_eq!(got.expires_at, now() + TimeDelta::hours(1));
    }

    #[tokio::test]
    async fn refused_rotations_are_errors() {
        let t = RefreshToken::generate();
        let (s, _) = sessions(Ok(RotateOutcome::Reused {
            family: SessionFamily::new(),
        }));
        assert!(matches!(s.refresh(&t).await, Err(SessionError::Reused)));
        let (s, _) = sessions(Ok(RotateOutcome::Invalid));
        assert!(matches!(s.refresh(&t).await, Err(SessionError::Invalid)));
        let (s, _) = sessions(Err(StoreError::Unavailable("down".into())));
        assert!(matches!(
            s.refresh(&t).await,
            Err(SessionError::Store(StoreError::Unavailable(_)))
        ));
    }

    #[tokio::test]
    async fn logout_of_an_unknown_token_is_fine() {
        let (s, store) = sessions(Ok(RotateOutcome::Invalid));
        let t = RefreshToken::generate();
        s.logout(&t).await.unwrap();
        assert_eq!(store.revoked.lock().clone(), vec![t.hash()]);
    }

    #[test]
    fn a_ttl_past_chronos_range_does_not_overflow() {
        let store: Arc<dyn SessionStore> = sessions(Ok(RotateOutcome::Invalid)).1;
        let s = Sessions::new(store, Arc::new(FixedClock(now())), Duration::MAX);
        assert_eq!(s.expiry(now()), DateTime::<Utc>::MAX_UTC);
    }
}
