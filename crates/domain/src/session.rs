//! Refresh-token sessions: the long-lived secret a client trades for a new access token
//! (and a new refresh token: each one is single use), and what a store keeps of it.
//!
//! Only the SHA-256 of a token is stored. A token carries 256 random bits, so a fast
//! hash is enough (no salt, no argon2: nothing short of the token itself finds the
//! preimage), and a refresh costs no password hash. A leaked table holds no usable token.

use crate::error::ValidationError;
use crate::ids::{SessionFamily, UserId};
use crate::user::Role;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;

/// Random bytes per token: 256 bits, beyond any guessing.
const SECRET_BYTES: usize = 32;

/// The secret a client holds: `rt_` and 64 lowercase hex digits (256 random bits).
/// Hex rather than base64url: one spelling per secret, so the hash of what a client
/// sends back is the hash that was stored; and it is URL-, header- and JSON-safe.
/// Debug never shows it, and there is no Display, so it cannot slip into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Tells a refresh token from an access token (a JWT) at a glance, in a bug report
    /// or a secret scanner.
    pub const PREFIX: &'static str = "rt_";
    /// Characters in a token.
    pub const LEN: usize = Self::PREFIX.len() + 2 * SECRET_BYTES;

    /// A fresh token from the OS CSPRNG.
    ///
    /// # Panics
    /// If the OS random generator fails, which happens only where no process could get
    /// randomness at all (`Uuid::new_v4` panics there too); a token made of anything
    /// less than the OS generator would be worse than no token.
    pub fn generate() -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).expect("the OS random number generator failed");
        let mut token = String::with_capacity(Self::LEN);
        token.push_str(Self::PREFIX);
        push_hex(&mut token, &secret);
        Self(token)
    }

    /// Accepts exactly the shape [`generate`](Self::generate) makes; anything else
    /// (another prefix, length or case) is not a token of ours.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let well_formed = raw.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == 2 * SECRET_BYTES
                && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !well_formed {
            return Err(ValidationError::new(
                "refresh_token",
                "is not a refresh token",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The token as sent to the client; for the HTTP answer only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks the token up by.
    pub fn hash(&self) -> RefreshTokenHash {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut hex = String::with_capacity(RefreshTokenHash::LEN);
        push_hex(&mut hex, &digest);
        RefreshTokenHash(hex)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

/// SHA-256 of a whole token (prefix included) as 64 lowercase hex digits: the stored
/// key. Not a secret: it cannot be presented in place of the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(String);

impl RefreshTokenHash {
    /// Characters in a hash.
    pub const LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One refresh token as a store keeps it. The role rides along (roles never change
/// here) so a refresh can mint an access token without reading the users table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub hash: RefreshTokenHash,
    pub family: SessionFamily,
    pub user_id: UserId,
    pub role: Role,
    pub issued_at: DateTime<Utc>,
    /// The token is refused from this instant on.
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token for rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was live: it is now used, and its successor is stored in its family.
    Rotated {
        family: SessionFamily,
        user_id: UserId,
        role: Role,
    },
    /// The token had been used already: a copy is in someone else's hands, so its whole
    /// family is revoked.
    Reused { family: SessionFamily },
    /// Unknown, expired, or revoked (logged out, or killed with its family): refused,
    /// and nothing changed.
    Invalid,
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), RefreshToken::LEN);
        assert!(a.expose().starts_with("rt_"));
        assert_eq!(RefreshToken::parse(a.expose()), Ok(a.clone()));
        // 256 bits in 64 hex digits: every digit is used, none is fixed.
        let digits: std::collections::HashSet<char> = (0..32)
            .flat_map(|_| {
                RefreshToken::generate().expose()[3..]
                    .chars()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(digits.len(), 16, "{digits:?}");
    }

    #[test]
    fn only_the_generated_shape_parses() {
        let good = format!("rt_{}", "0123456789abcdef".repeat(4));
        assert!(RefreshToken::parse(&good).is_ok());
        for bad in [
            String::new(),
            "rt_".into(),
            good.to_uppercase(),
            good.replace("rt_", "at_"),
            good[..good.len() - 1].to_owned(),
            format!("{good}0"),
            good.replacen('a', "g", 1),
            format!("rt_{}", "é".repeat(32)),
            format!(" {}", &good[..good.len() - 1]),
        ] {
            let e = RefreshToken::parse(&bad).unwrap_err();
            assert_eq!(e.field, "refresh_token", "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = RefreshToken::generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(&t.expose()[3..]), "{shown}");
    }

    #[test]
    fn hash_is_sha256_of_the_token_in_lowercase_hex() {
        let t = RefreshToken::parse(&format!("rt_{}", "0".repeat(64))).unwrap();
        // printf 'rt_%064d' 0 | sha256sum
        assert_eq!(
            t.hash().as_str(),
            "0f6dc38dad440512346cd951b4dd6a54dea6e53d3034961ae602217be93d889d"
        );
        assert_eq!(t.hash().as_str().len(), RefreshTokenHash::LEN);
        assert_ne!(t.hash(), RefreshToken::generate().hash());
    }
}
