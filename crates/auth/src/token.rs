//! HS256 access tokens. Stateless: the issue path trusts a verified token for the user
//! id and role and never reads the users table. Operators' tools (the load generator,
//! scripts) may mint tokens with the same shared secret.

use chrono::{DateTime, Utc};
use couponrush_domain::{Role, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The claims we sign: `sub` (user id), `role`, `iat`, `exp` (seconds since the epoch).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Signs and verifies tokens with one shared secret.
#[derive(Clone)]
pub struct TokenCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: chrono::Duration,
}

impl TokenCodec {
    pub fn new(secret: &[u8], lifetime: std::time::Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime: chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1)),
        }
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime.num_seconds()
    }

    /// A token for `principal`, valid from `now` for the configured lifetime.
    pub fn mint(&self, principal: Principal, now: DateTime<Utc>) -> String {
        let claims = AccessClaims {
            sub: principal.user_id.into_uuid(),
            role: principal.role.as_str().to_owned(),
            iat: now.timestamp(),
            exp: (now + self.lifetime).timestamp(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests and tools that need odd tokens, e.g. expired ones).
    pub fn sign(&self, claims: &AccessClaims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let role = Role::parse(&data.claims.role).ok_or(TokenError::Invalid)?;
        Ok(Principal {
            user_id: UserId::from_uuid(data.claims.sub),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn codec(secret: &[u8]) -> TokenCodec {
        TokenCodec::new(secret, Duration::from_secs(3600))
    }

    #[test]
    fn round_trip() {
        let c = codec(b"secret-one");
        let p = Principal {
            user_id: UserId::new(),
            role: Role::Admin,
        };
        assert_eq!(c.verify(&c.mint(p, Utc::now())), Ok(p));
    }

    #[test]
    fn forged_and_garbage_tokens_are_invalid() {
        let p = Principal {
            user_id: UserId::new(),
            role: Role::User,
        };
        let other = codec(b"another secret").mint(p, Utc::now());
        assert_eq!(
            codec(b"secret-one").verify(&other),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            codec(b"secret-one").verify("not.a.token"),
            Err(TokenError::Invalid)
        );
        assert_eq!(codec(b"secret-one").verify(""), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_token_is_reported_as_expired() {
        let c = codec(b"secret-one");
        let p = Principal {
            user_id: UserId::new(),
            role: Role::User,
        };
        let old = c.mint(p, Utc::now() - chrono::Duration::hours(2));
        assert_eq!(c.verify(&old), Err(TokenError::Expired));
    }

    #[test]
    fn unknown_role_is_invalid() {
        let c = codec(b"secret-one");
        let now = Utc::now().timestamp();
        let t = c.sign(&AccessClaims {
            sub: Uuid::now_v7(),
            role: "ROOT".into(),
            iat: now,
            exp: now + 60,
        });
        assert_eq!(c.verify(&t), Err(TokenError::Invalid));
    }
}
