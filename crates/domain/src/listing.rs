//! Listing coupons (events): which ones, in which order, a page at a time.
//!
//! Newest first by creation time (ties by id), a page at a time with a keyset cursor:
//! the position after the last coupon of a page, so a page never repeats or skips a
//! coupon when new ones are created meanwhile (they come before the first page).
//! Users see what they can take part in (ACTIVE, not ended); admins see everything.

use crate::coupon::{Coupon, CouponStatus};
use crate::error::ValidationError;
use crate::ids::CouponId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where an event stands in time, from its opening and expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not expired, opening later (`opens_at` in the future).
    Upcoming,
    /// Not expired and open (no `opens_at`, or it has passed).
    Open,
    /// Past its expiry.
    Ended,
}

/// The position after a coupon in the listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at_ms: i64,
    pub id: CouponId,
}

impl ListCursor {
    /// The position right after `coupon`.
    pub fn after(coupon: &Coupon) -> Self {
        Self {
            created_at_ms: coupon.created_at.timestamp_millis(),
            id: coupon.id,
        }
    }

    /// The cursor as clients see it: opaque, URL-safe.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.created_at_ms, self.id.into_uuid().simple())
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("cursor", "not a cursor this server handed out");
        let (ms, id) = s.split_once('_').ok_or_else(bad)?;
        Ok(Self {
            created_at_ms: ms.parse().map_err(|_| bad())?,
            id: CouponId::from_uuid(Uuid::try_parse(id).map_err(|_| bad())?),
        })
    }
}

/// The most coupons one page holds, and the default.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 20;

/// What a store is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponQuery {
    /// The effective status: EXPIRED means past the expiry whatever is stored; any other
    /// means stored so and not expired.
    pub status: Option<CouponStatus>,
    pub phase: Option<Phase>,
    /// Only coupons after this position.
    pub after: Option<ListCursor>,
    /// At most this many (a store returns up to `limit`; the service asks one more to
    /// know whether another page follows).
    pub limit: u32,
    /// The time the phases and expiry are judged at.
    pub now: DateTime<Utc>,
}

/// Checks a requested page size.
pub fn page_size(requested: Option<u32>) -> Result<u32, ValidationError> {
    match requested {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ValidationError::new(
            "limit",
            format!("between 1 and {MAX_PAGE}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_forged_one_is_refused() {
        let c = ListCursor {
            created_at_ms: 1_796_400_000_123,
            id: CouponId::new(),
        };
        assert_eq!(ListCursor::parse(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "123",
            "x_y",
            "12_notauuid",
            "_0196f1b2c3d4e5f60718293a4b5c6d7e",
        ] {
            assert_eq!(ListCursor::parse(bad).unwrap_err().field, "cursor", "{bad}");
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_size(Some(1)).unwrap(), 1);
        assert_eq!(page_size(Some(MAX_PAGE)).unwrap(), MAX_PAGE);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(MAX_PAGE + 1)).is_err());
    }
}
