//! Idempotency keys on the issue request (`Idempotency-Key`, IETF httpapi draft): a
//! client that lost its answer (a timeout, a dropped connection) retries with the same
//! key and gets the first answer again instead of a second attempt.

use crate::error::ValidationError;
use crate::ids::CouponId;
use crate::issue::IssueOutcome;

/// A client's key: 1 to 255 visible ASCII characters (no spaces), as HTTP header
/// values allow without quoting. Scoped to the user who sends it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "Idempotency-Key",
                format!("must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "Idempotency-Key",
                "must be visible ASCII characters without spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key already stands for when a request claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free: this request runs, and its answer is kept under the key.
    Claimed,
    /// A request with this key is still running.
    InProgress,
    /// A request with this key was answered: that answer is given again.
    Completed(IssueOutcome),
    /// The key was used for another coupon.
    OtherCoupon(CouponId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("order-42_retry.1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "two words", "tab\tkey", "ключ", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
