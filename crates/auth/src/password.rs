//! argon2id with the crate's default (OWASP-recommended) parameters. Hashing takes tens
//! of milliseconds on purpose, so it runs on Tokio's blocking pool, not on the workers
//! that serve the issue path.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use async_trait::async_trait;
use couponrush_domain::ports::PasswordHasher;
use couponrush_domain::{Password, PasswordHash, StoreError};

#[derive(Debug, Default, Clone, Copy)]
pub struct Argon2Hasher;

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, StoreError> {
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| PasswordHash::from_phc(h.to_string()))
                .map_err(|e| StoreError::Unavailable(format!("password hashing failed: {e}")))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("password hashing task failed: {e}")))?
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        let (password, hash) = (password.clone(), hash.clone());
        tokio::task::spawn_blocking(move || {
            PhcHash::new(hash.as_phc()).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_right_password() {
        let h = Argon2Hasher;
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = h.hash(&pw).await.unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$"));
        assert!(!hash.as_phc().contains("correct horse"));
        assert!(h.verify(&pw, &hash).await);
        assert!(
            !h.verify(&Password::parse("wrong horse battery").unwrap(), &hash)
                .await
        );
        assert!(
            !h.verify(&pw, &PasswordHash::from_phc("not a phc string".into()))
                .await
        );
    }

    #[tokio::test]
    async fn same_password_gets_different_salts() {
        let pw = Password::parse("same password").unwrap();
        let (a, b) = (
            Argon2Hasher.hash(&pw).await.unwrap(),
            Argon2Hasher.hash(&pw).await.unwrap(),
        );
        assert_ne!(a.as_phc(), b.as_phc());
    }
}
