//! Coupons: what admins create and users race for, and the rules of their lifecycle.

use crate::error::ValidationError;
use crate::ids::CouponId;
use crate::waiting_room::RoomPolicy;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CouponType {
    Chicken,
    Hamburger,
    Pizza,
}

impl CouponType {
    pub const fn as_str(self) -> &'static str {
        match self {
            CouponType::Chicken => "CHICKEN",
            CouponType::Hamburger => "HAMBURGER",
            CouponType::Pizza => "PIZZA",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "CHICKEN" => Some(Self::Chicken),
            "HAMBURGER" => Some(Self::Hamburger),
            "PIZZA" => Some(Self::Pizza),
            _ => None,
        }
    }
}

/// A discount that can only hold a valid value: a positive fixed amount (in the
/// currency's minor unit) or a percentage in 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    Fixed(u64),
    Percentage(u8),
}

impl Discount {
    /// The largest PERCENTAGE discount.
    pub const MAX_PERCENT: u64 = 100;

    pub fn fixed(amount: u64) -> Result<Self, ValidationError> {
        if amount == 0 {
            return Err(ValidationError::new(
                "discountValue",
                "a FIXED discount must be greater than 0",
            ));
        }
        Ok(Self::Fixed(amount))
    }

    pub fn percentage(percent: u64) -> Result<Self, ValidationError> {
        match u8::try_from(percent) {
            Ok(p) if p >= 1 && u64::from(p) <= Self::MAX_PERCENT => Ok(Self::Percentage(p)),
            _ => Err(ValidationError::new(
                "discountValue",
                "a PERCENTAGE discount must be greater than 0 and at most 100",
            )),
        }
    }

    /// Builds from the API's pair (`discountType`, `discountValue`).
    pub fn parse(kind: &str, value: u64) -> Result<Self, ValidationError> {
        match kind {
            "FIXED" => Self::fixed(value),
            "PERCENTAGE" => Self::percentage(value),
            _ => Err(ValidationError::new(
                "discountType",
                "must be FIXED or PERCENTAGE",
            )),
        }
    }

    pub const fn kind_str(self) -> &'static str {
        match self {
            Discount::Fixed(_) => "FIXED",
            Discount::Percentage(_) => "PERCENTAGE",
        }
    }

    pub const fn value(self) -> u64 {
        match self {
            Discount::Fixed(v) => v,
            Discount::Percentage(p) => p as u64,
        }
    }
}

/// Number of coupons that may ever be issued: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u32);

impl Quantity {
    pub const MIN: u64 = 1;
    /// Stored as a 32-bit count.
    pub const MAX: u64 = u32::MAX as u64;

    pub fn new(n: u64) -> Result<Self, ValidationError> {
        match u32::try_from(n) {
            Ok(q) if u64::from(q) >= Self::MIN => Ok(Self(q)),
            _ => Err(ValidationError::new(
                "totalQuantity",
                format!("must be between {} and {}", Self::MIN, Self::MAX),
            )),
        }
    }
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// 1..=100 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponName(String);

impl CouponName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if raw.trim().is_empty() || chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be 1 to {} characters and not blank", Self::MAX_CHARS),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CouponStatus {
    Pending,
    Active,
    Expired,
    Disabled,
}

impl CouponStatus {
    /// The statuses an admin may give a new coupon: EXPIRED is a consequence of time,
    /// not a choice.
    pub const AT_CREATION: [CouponStatus; 3] = [Self::Pending, Self::Active, Self::Disabled];
    /// The statuses an admin may switch a coupon to.
    pub const SWITCHABLE: [CouponStatus; 2] = [Self::Active, Self::Disabled];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::Expired => "EXPIRED",
            Self::Disabled => "DISABLED",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "PENDING" => Some(Self::Pending),
            "ACTIVE" => Some(Self::Active),
            "EXPIRED" => Some(Self::Expired),
            "DISABLED" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// Why a coupon cannot be issued or changed right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CouponRuleError {
    #[error("the coupon is {} and cannot be issued", .0.as_str())]
    NotActive(CouponStatus),
    #[error("the coupon has expired")]
    Expired,
    #[error("a coupon can only be set to ACTIVE or DISABLED")]
    InvalidTargetStatus(CouponStatus),
    /// ACTIVE, but its scheduled opening has not come yet; carries the opening so the
    /// caller can count down to it.
    #[error("the coupon opens at {}", .0.to_rfc3339())]
    NotOpen(DateTime<Utc>),
}

/// A coupon as an admin asked for it, validated, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCoupon {
    pub name: CouponName,
    pub coupon_type: CouponType,
    pub discount: Discount,
    pub total_quantity: Quantity,
    pub expires_at: DateTime<Utc>,
    /// When issuing starts; `None` opens at once. May lie in the past.
    pub opens_at: Option<DateTime<Utc>>,
    pub status: CouponStatus,
    /// The waiting room's mode and pre-queue order.
    pub room: RoomPolicy,
}

impl NewCoupon {
    /// Checks what cannot be checked field by field: expiry in the future, an opening
    /// before it, and an initial status an admin may choose (EXPIRED is a consequence
    /// of time, not a choice).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        if self.expires_at <= now {
            return Err(ValidationError::new("expiresAt", "must be in the future"));
        }
        if self.opens_at.is_some_and(|at| at >= self.expires_at) {
            return Err(ValidationError::new("opensAt", "must be before expiresAt"));
        }
        if !CouponStatus::AT_CREATION.contains(&self.status) {
            return Err(ValidationError::new(
                "status",
                "must be PENDING, ACTIVE or DISABLED",
            ));
        }
        Ok(())
    }

    pub fn into_coupon(self, id: CouponId, created_at: DateTime<Utc>) -> Coupon {
        Coupon {
            id,
            name: self.name,
            coupon_type: self.coupon_type,
            discount: self.discount,
            total_quantity: self.total_quantity,
            expires_at: self.expires_at,
            opens_at: self.opens_at,
            status: self.status,
            room: self.room,
            created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub id: CouponId,
    pub name: CouponName,
    pub coupon_type: CouponType,
    pub discount: Discount,
    pub total_quantity: Quantity,
    pub expires_at: DateTime<Utc>,
    /// Scheduled opening: before it an ACTIVE coupon is not issued yet. Compared with
    /// the clock on every request, so a definition cached before the opening opens on
    /// time without being read again.
    pub opens_at: Option<DateTime<Utc>>,
    /// The status as stored; read [`Coupon::effective_status`] for decisions.
    pub status: CouponStatus,
    /// The waiting room's mode and pre-queue order.
    pub room: RoomPolicy,
    pub created_at: DateTime<Utc>,
}

impl Coupon {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// A coupon past its expiry is EXPIRED whatever is stored: no job has to run at
    /// midnight for the rule to hold.
    pub fn effective_status(&self, now: DateTime<Utc>) -> CouponStatus {
        if self.is_expired(now) {
            CouponStatus::Expired
        } else {
            self.status
        }
    }

    /// Issuing is allowed only while ACTIVE, not expired, and open. Status comes first:
    /// a DISABLED coupon is not worth a countdown.
    pub fn ensure_issuable(&self, now: DateTime<Utc>) -> Result<(), CouponRuleError> {
        match self.effective_status(now) {
            CouponStatus::Active => self.ensure_open(now),
            other => Err(CouponRuleError::NotActive(other)),
        }
    }

    /// Open from `opens_at` on (inclusive), or always when none is set.
    pub fn ensure_open(&self, now: DateTime<Utc>) -> Result<(), CouponRuleError> {
        match self.opens_at {
            Some(at) if now < at => Err(CouponRuleError::NotOpen(at)),
            _ => Ok(()),
        }
    }

    /// An admin may switch between ACTIVE and DISABLED (and leave PENDING) until expiry.
    pub fn ensure_status_change(
        &self,
        target: CouponStatus,
        now: DateTime<Utc>,
    ) -> Result<(), CouponRuleError> {
        if !CouponStatus::SWITCHABLE.contains(&target) {
            return Err(CouponRuleError::InvalidTargetStatus(target));
        }
        if self.is_expired(now) {
            return Err(CouponRuleError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Duration;

    pub(crate) fn coupon(status: CouponStatus, expires_in: Duration, now: DateTime<Utc>) -> Coupon {
        NewCoupon {
            name: CouponName::parse("Friday chicken").unwrap(),
            coupon_type: CouponType::Chicken,
            discount: Discount::fixed(3000).unwrap(),
            total_quantity: Quantity::new(100).unwrap(),
            expires_at: now + expires_in,
            opens_at: None,
            status,
            room: RoomPolicy::default(),
        }
        .into_coupon(CouponId::new(), now)
    }

    #[test]
    fn discount_rules() {
        assert_eq!(Discount::parse("FIXED", 1), Ok(Discount::Fixed(1)));
        assert_eq!(
            Discount::parse("FIXED", 0).unwrap_err().field,
            "discountValue"
        );
        assert_eq!(
            Discount::parse("PERCENTAGE", 100),
            Ok(Discount::Percentage(100))
        );
        assert!(Discount::parse("PERCENTAGE", 0).is_err());
        assert!(Discount::parse("PERCENTAGE", 101).is_err());
        assert!(
            Discount::parse("PERCENTAGE", 356).is_err(),
            "no wrap-around into u8"
        );
        assert_eq!(
            Discount::parse("BOGO", 5).unwrap_err().field,
            "discountType"
        );
    }

    #[test]
    fn quantity_rules() {
        assert!(Quantity::new(0).is_err());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert!(Quantity::new(u64::from(u32::MAX) + 1).is_err());
    }

    #[test]
    fn name_rules() {
        assert!(CouponName::parse("   ").is_err());
        assert!(CouponName::parse(&"n".repeat(101)).is_err());
        assert!(CouponName::parse("tab\tname").is_err());
        assert!(CouponName::parse("Pizza night").is_ok());
    }

    #[test]
    fn new_coupon_rejects_past_expiry_and_expired_status() {
        let now = Utc::now();
        let make = |expires_at, status| {
            NewCoupon {
                name: CouponName::parse("x").unwrap(),
                coupon_type: CouponType::Pizza,
                discount: Discount::percentage(10).unwrap(),
                total_quantity: Quantity::new(1).unwrap(),
                expires_at,
                opens_at: None,
                status,
                room: RoomPolicy::default(),
            }
            .validate(now)
        };
        assert_eq!(
            make(now, CouponStatus::Active).unwrap_err().field,
            "expiresAt"
        );
        assert_eq!(
            make(now - Duration::seconds(1), CouponStatus::Active)
                .unwrap_err()
                .field,
            "expiresAt"
        );
        assert_eq!(
            make(now + Duration::hours(1), CouponStatus::Expired)
                .unwrap_err()
                .field,
            "status"
        );
        assert!(make(now + Duration::hours(1), CouponStatus::Pending).is_ok());
    }

    #[test]
    fn expiry_overrides_stored_status() {
        let now = Utc::now();
        let c = coupon(CouponStatus::Active, Duration::hours(1), now);
        assert_eq!(c.effective_status(now), CouponStatus::Active);
        assert_eq!(
            c.effective_status(now + Duration::hours(1)),
            CouponStatus::Expired
        );
        assert_eq!(
            c.effective_status(now + Duration::hours(2)),
            CouponStatus::Expired
        );
    }

    #[test]
    fn issuable_only_when_active_and_not_expired() {
        let now = Utc::now();
        assert!(
            coupon(CouponStatus::Active, Duration::hours(1), now)
                .ensure_issuable(now)
                .is_ok()
        );
        for s in [
            CouponStatus::Pending,
            CouponStatus::Disabled,
            CouponStatus::Expired,
        ] {
            assert_eq!(
                coupon(s, Duration::hours(1), now).ensure_issuable(now),
                Err(CouponRuleError::NotActive(s))
            );
        }
        let c = coupon(CouponStatus::Active, Duration::hours(1), now);
        assert_eq!(
            c.ensure_issuable(now + Duration::hours(3)),
            Err(CouponRuleError::NotActive(CouponStatus::Expired))
        );
    }

    #[test]
    fn new_coupon_opens_before_it_expires() {
        let now = Utc::now();
        let expires_at = now + Duration::hours(1);
        let make = |opens_at| {
            NewCoupon {
                name: CouponName::parse("x").unwrap(),
                coupon_type: CouponType::Pizza,
                discount: Discount::percentage(10).unwrap(),
                total_quantity: Quantity::new(1).unwrap(),
                expires_at,
                opens_at,
                status: CouponStatus::Active,
                room: RoomPolicy::default(),
            }
            .validate(now)
        };
        assert!(make(None).is_ok());
        assert!(make(Some(now + Duration::minutes(59))).is_ok());
        assert!(make(Some(now - Duration::hours(1))).is_ok(), "already open");
        for at in [expires_at, expires_at + Duration::seconds(1)] {
            assert_eq!(make(Some(at)).unwrap_err().field, "opensAt");
        }
    }

    #[test]
    fn not_open_before_opens_at_and_open_from_it_on() {
        let now = Utc::now();
        let opens_at = now + Duration::minutes(10);
        let mut c = coupon(CouponStatus::Active, Duration::hours(1), now);
        c.opens_at = Some(opens_at);
        for before in [now, opens_at - Duration::milliseconds(1)] {
            assert_eq!(
                c.ensure_issuable(before),
                Err(CouponRuleError::NotOpen(opens_at))
            );
        }
        assert_eq!(c.ensure_issuable(opens_at), Ok(()), "open at the instant");
        assert_eq!(c.ensure_issuable(opens_at + Duration::seconds(1)), Ok(()));
        // Status and expiry still rule: a disabled coupon gets no countdown, and an
        // expired one stays expired.
        c.status = CouponStatus::Disabled;
        assert_eq!(
            c.ensure_issuable(now),
            Err(CouponRuleError::NotActive(CouponStatus::Disabled))
        );
        c.status = CouponStatus::Active;
        assert_eq!(
            c.ensure_issuable(now + Duration::hours(2)),
            Err(CouponRuleError::NotActive(CouponStatus::Expired))
        );
    }

    #[test]
    fn status_changes() {
        let now = Utc::now();
        let c = coupon(CouponStatus::Pending, Duration::hours(1), now);
        assert!(c.ensure_status_change(CouponStatus::Active, now).is_ok());
        assert!(c.ensure_status_change(CouponStatus::Disabled, now).is_ok());
        assert_eq!(
            c.ensure_status_change(CouponStatus::Pending, now),
            Err(CouponRuleError::InvalidTargetStatus(CouponStatus::Pending))
        );
        assert_eq!(
            c.ensure_status_change(CouponStatus::Active, now + Duration::hours(2)),
            Err(CouponRuleError::Expired)
        );
    }

    #[test]
    fn enum_spellings_round_trip() {
        for t in [
            CouponType::Chicken,
            CouponType::Hamburger,
            CouponType::Pizza,
        ] {
            assert_eq!(CouponType::parse(t.as_str()), Some(t));
        }
        for s in [
            CouponStatus::Pending,
            CouponStatus::Active,
            CouponStatus::Expired,
            CouponStatus::Disabled,
        ] {
            assert_eq!(CouponStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CouponType::parse("chicken"), None);
    }
}
