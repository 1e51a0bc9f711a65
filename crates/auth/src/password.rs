//! argon2id password hashing on the [`HashPool`].
//!
//! Parameters default to OWASP's first recommendation for argon2id (Password Storage
//! Cheat Sheet): 19 MiB of memory, 2 iterations, 1 lane. They are written into every
//! hash (PHC string), so hashes made with other parameters keep verifying, and are
//! reported [`Verification::outdated`] so a successful login upgrades them.
//!
//! An unknown username is verified against a decoy hash made at start with the same
//! parameters: the same work, the same time, as a wrong password for a real user.

use crate::hash_pool::{HashPool, HashPoolSettings, Lost};
use argon2::password_hash::{
    PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use couponrush_domain::ports::{HashError, PasswordHasher, Verification};
use couponrush_domain::{Password, PasswordHash};
use std::sync::Arc;

/// argon2id's cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        // OWASP: m=19456 (19 MiB), t=2, p=1.
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Settings {
    fn params(&self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }

    /// Whether argon2 accepts these parameters (memory at least 8 KiB per lane, …).
    pub fn check(&self) -> Result<(), String> {
        self.params().map(|_| ()).map_err(|e| e.to_string())
    }
}

pub struct Argon2Hasher {
    inner: Arc<Inner>,
    pool: HashPool,
}

struct Inner {
    params: Params,
    /// Verified against when the username is unknown.
    decoy: String,
}

impl Inner {
    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    }

    fn verify(&self, password: &str, phc: Option<&str>) -> Verification {
        let Some(parsed) = phc.and_then(|p| PhcHash::new(p).ok()) else {
            // Unknown user (or a stored value that is no hash): the same work, no match.
            let decoy = PhcHash::new(&self.decoy).expect("the decoy is a valid PHC string");
            let _ = self.argon2().verify_password(password.as_bytes(), &decoy);
            return Verification {
                matches: false,
                outdated: false,
            };
        };
        // Verifies with the parameters written in the hash, whatever ours are now.
        let matches = self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Verification {
            matches,
            outdated: matches && !self.is_current(&parsed),
        }
    }

    fn is_current(&self, parsed: &PhcHash<'_>) -> bool {
        parsed.algorithm == Algorithm::Argon2id.ident()
            && parsed.version == Some(Version::V0x13.into())
            && Params::try_from(parsed).is_ok_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            })
    }
}

impl Argon2Hasher {
    /// Starts the pool and makes the decoy hash (one hash: tens of milliseconds).
    pub fn start(argon2: Argon2Settings, pool: HashPoolSettings) -> Result<Self, HashError> {
        let params = argon2
            .params()
            .map_err(|e| HashError::Failed(format!("argon2 parameters {argon2:?}: {e}")))?;
        let mut inner = Inner {
            params,
            decoy: String::new(),
        };
        let decoy_password = uuid::Uuid::new_v4().to_string();
        inner.decoy = inner
            .hash(&decoy_password)
            .map_err(|e| HashError::Failed(format!("decoy hash: {e}")))?;
        let pool = HashPool::start(pool)
            .map_err(|e| HashError::Failed(format!("starting the hash threads: {e}")))?;
        Ok(Self {
            inner: Arc::new(inner),
            pool,
        })
    }

    pub fn pool_settings(&self) -> HashPoolSettings {
        self.pool.settings()
    }
}

fn lost(_: Lost) -> HashError {
    HashError::Failed("the password-hash job did not complete".into())
}

fn busy(b: crate::hash_pool::Busy) -> HashError {
    HashError::Busy {
        retry_after: b.retry_after,
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let (inner, password) = (self.inner.clone(), password.clone());
        self.pool
            .run(move || inner.hash(password.expose()))
            .await
            .map_err(busy)?
            .map_err(lost)?
            .map(PasswordHash::from_phc)
            .map_err(|e| HashError::Failed(format!("password hashing failed: {e}")))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<Verification, HashError> {
        let (inner, password) = (self.inner.clone(), password.clone());
        let hash = hash.map(|h| h.as_phc().to_owned());
        self.pool
            .run(move || inner.verify(password.expose(), hash.as_deref()))
            .await
            .map_err(busy)?
            .map_err(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(argon2: Argon2Settings) -> Argon2Hasher {
        Argon2Hasher::start(argon2, HashPoolSettings::for_cores(2)).unwrap()
    }

    fn cheap() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn pw(s: &str) -> Password {
        Password::parse(s).unwrap()
    }

    #[tokio::test]
    async fn hash_verifies_only_the_right_password() {
        let h = hasher(Argon2Settings::default());
        let hash = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!hash.as_phc().contains("correct horse"));
        let right = h.verify(&pw("correct horse battery"), Some(&hash)).await;
        assert_eq!(
            right.unwrap(),
            Verification {
                matches: true,
                outdated: false
            }
        );
        let wrong = h.verify(&pw("wrong horse battery"), Some(&hash)).await;
        assert!(!wrong.unwrap().matches);
        let garbage = PasswordHash::from_phc("not a phc string".into());
        assert!(
            !h.verify(&pw("correct horse battery"), Some(&garbage))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches() {
        let h = hasher(cheap());
        let v = h.verify(&pw("whatever you say"), None).await.unwrap();
        assert!(!v.matches);
    }

    #[tokio::test]
    async fn same_password_gets_different_salts() {
        let h = hasher(cheap());
        let (a, b) = (
            h.hash(&pw("same password")).await.unwrap(),
            h.hash(&pw("same password")).await.unwrap(),
        );
        assert_ne!(a.as_phc(), b.as_phc());
    }

    #[tokio::test]
    async fn a_hash_with_other_parameters_verifies_and_is_outdated() {
        let old = hasher(cheap())
            .hash(&pw("an older password"))
            .await
            .unwrap();
        let now = hasher(Argon2Settings {
            memory_kib: 2048,
            ..cheap()
        });
        let v = now
            .verify(&pw("an older password"), Some(&old))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verification {
                matches: true,
                outdated: true
            }
        );
        // A wrong password says nothing about the hash's age.
        let v = now
            .verify(&pw("not the password"), Some(&old))
            .await
            .unwrap();
        assert!(!v.matches && !v.outdated);
    }

    #[test]
    fn invalid_parameters_are_refused_at_start() {
        let bad = Argon2Settings {
            memory_kib: 1,
            ..cheap()
        };
        assert!(Argon2Hasher::start(bad, HashPoolSettings::for_cores(1)).is_err());
    }
}
