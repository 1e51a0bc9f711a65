//! Issuing and using coupons: the request a caller makes, the answers it can get,
//! and the issued coupon a user ends up owning.

use crate::coupon::Coupon;
use crate::ids::{CouponId, RequestId, UserId};
use chrono::{DateTime, Utc};

/// One accepted issue request on its way to durable storage. Its `request_id` becomes
/// the issued coupon's id, so writing it twice is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueRequest {
    pub request_id: RequestId,
    pub user_id: UserId,
    pub coupon_id: CouponId,
    pub requested_at: DateTime<Utc>,
}

/// The definite answer every caller of issue gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueOutcome {
    /// Reserved in the gate and durably recorded.
    Accepted,
    SoldOut,
    AlreadyIssued,
}

impl IssueOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "ACCEPTED",
            Self::SoldOut => "SOLD_OUT",
            Self::AlreadyIssued => "ALREADY_ISSUED",
        }
    }
    /// The inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACCEPTED" => Some(Self::Accepted),
            "SOLD_OUT" => Some(Self::SoldOut),
            "ALREADY_ISSUED" => Some(Self::AlreadyIssued),
            _ => None,
        }
    }
}

/// Where a user stands with one coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueState {
    None,
    /// Reserved in the gate but not yet persisted.
    Accepted,
    Issued,
    Used,
}

impl IssueState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Accepted => "ACCEPTED",
            Self::Issued => "ISSUED",
            Self::Used => "USED",
        }
    }
}

/// A coupon a user owns: one per (user, coupon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCoupon {
    pub id: RequestId,
    pub user_id: UserId,
    pub coupon_id: CouponId,
    pub issued_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Why an owned coupon cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UseRuleError {
    #[error("this coupon has already been used")]
    AlreadyUsed,
    #[error("this coupon has expired")]
    Expired,
}

impl IssuedCoupon {
    pub fn from_request(req: &IssueRequest) -> Self {
        Self {
            id: req.request_id,
            user_id: req.user_id,
            coupon_id: req.coupon_id,
            issued_at: req.requested_at,
            used_at: None,
        }
    }

    pub fn state(&self) -> IssueState {
        if self.used_at.is_some() {
            IssueState::Used
        } else {
            IssueState::Issued
        }
    }

    /// A coupon can be used once, before its coupon expires.
    pub fn ensure_usable(&self, coupon: &Coupon, now: DateTime<Utc>) -> Result<(), UseRuleError> {
        if self.used_at.is_some() {
            return Err(UseRuleError::AlreadyUsed);
        }
        if coupon.is_expired(now) {
            return Err(UseRuleError::Expired);
        }
        Ok(())
    }
}

/// An issued coupon together with the coupon it instantiates, for "my coupons".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedCoupon {
    pub issued: IssuedCoupon,
    pub coupon: Coupon,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupon::CouponStatus;
    use crate::coupon::tests::coupon;
    use chrono::Duration;

    fn issued(c: &Coupon, now: DateTime<Utc>) -> IssuedCoupon {
        IssuedCoupon::from_request(&IssueRequest {
            request_id: RequestId::new(),
            user_id: UserId::new(),
            coupon_id: c.id,
            requested_at: now,
        })
    }

    #[test]
    fn usable_once_before_expiry() {
        let now = Utc::now();
        let c = coupon(CouponStatus::Active, Duration::hours(1), now);
        let mut ic = issued(&c, now);
        assert_eq!(ic.state(), IssueState::Issued);
        assert!(ic.ensure_usable(&c, now).is_ok());
        ic.used_at = Some(now);
        assert_eq!(ic.state(), IssueState::Used);
        assert_eq!(ic.ensure_usable(&c, now), Err(UseRuleError::AlreadyUsed));
    }

    #[test]
    fn expired_coupon_cannot_be_used() {
        let now = Utc::now();
        let c = coupon(CouponStatus::Active, Duration::hours(1), now);
        let ic = issued(&c, now);
        assert_eq!(
            ic.ensure_usable(&c, now + Duration::hours(1)),
            Err(UseRuleError::Expired)
        );
    }

    #[test]
    fn disabled_coupon_already_owned_can_still_be_used() {
        // Disabling stops issuing; it does not take back what users already own.
        let now = Utc::now();
        let c = coupon(CouponStatus::Disabled, Duration::hours(1), now);
        assert!(issued(&c, now).ensure_usable(&c, now).is_ok());
    }
}
