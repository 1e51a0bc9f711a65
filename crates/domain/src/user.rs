//! Users: who may log in and with which role.

use crate::error::ValidationError;
use crate::ids::UserId;
use std::fmt;

/// 1..=50 characters, no control characters, no leading or trailing blanks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "username",
                format!("must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        if raw.trim() != raw {
            return Err(ValidationError::new(
                "username",
                "must not start or end with whitespace",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "username",
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plain password on its way to the hasher. Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Bounded so a huge body cannot make argon2 chew on megabytes.
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(ValidationError::new(
                "password",
                format!(
                    "must be {} to {} characters",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A password hash in PHC string format; never returned by the API.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::User => "USER",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ADMIN" => Some(Role::Admin),
            "USER" => Some(Role::User),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_bounds() {
        assert!(Username::parse("a").is_ok());
        assert!(Username::parse(&"x".repeat(50)).is_ok());
        assert!(
            Username::parse(&"한".repeat(50)).is_ok(),
            "counts characters, not bytes"
        );
        assert_eq!(Username::parse("").unwrap_err().field, "username");
        assert!(Username::parse(&"x".repeat(51)).is_err());
        assert!(Username::parse(" alice").is_err());
        assert!(Username::parse("al\u{0}ice").is_err());
    }

    #[test]
    fn password_bounds_and_no_leak_in_debug() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        let p = Password::parse("correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        let h = PasswordHash::from_phc("$argon2id$secret".into());
        assert!(!format!("{h:?}").contains("secret"));
    }

    #[test]
    fn role_round_trip() {
        for r in [Role::Admin, Role::User] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
