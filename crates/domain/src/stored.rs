//! Decoding stored rows into domain values, shared by every database adapter: columns
//! arrive as plain values (text, integers, Unix milliseconds) and are re-validated here,
//! so a row that breaks an invariant becomes `StoreError::Corrupt` the same way in
//! SQLite and MariaDB.

use crate::coupon::{Coupon, CouponName, CouponStatus, CouponType, Discount, Quantity};
use crate::error::StoreError;
use crate::ids::{CouponId, RequestId, UserId};
use crate::issue::IssuedCoupon;
use crate::waiting_room::{PrequeueOrder, RoomMode, RoomPolicy};
use chrono::{DateTime, Utc};
use uuid::Uuid;

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Times are stored as Unix milliseconds.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("timestamp out of range", ms))
}

/// A `coupons` row as read.
pub struct StoredCoupon {
    pub id: Uuid,
    pub name: String,
    pub coupon_type: String,
    pub discount_type: String,
    pub discount_value: u64,
    pub total_quantity: u64,
    pub expires_at_ms: i64,
    /// NULL: open as soon as ACTIVE.
    pub opens_at_ms: Option<i64>,
    pub status: String,
    pub room_mode: String,
    pub prequeue: String,
    pub created_at_ms: i64,
}

impl TryFrom<StoredCoupon> for Coupon {
    type Error = StoreError;

    fn try_from(r: StoredCoupon) -> Result<Self, StoreError> {
        Ok(Coupon {
            id: CouponId::from_uuid(r.id),
            name: CouponName::parse(&r.name).map_err(|e| corrupt("name", e))?,
            coupon_type: CouponType::parse(&r.coupon_type)
                .ok_or_else(|| corrupt("coupon_type", &r.coupon_type))?,
            discount: Discount::parse(&r.discount_type, r.discount_value)
                .map_err(|e| corrupt("discount", e))?,
            total_quantity: Quantity::new(r.total_quantity)
                .map_err(|e| corrupt("total_quantity", e))?,
            expires_at: from_millis(r.expires_at_ms)?,
            opens_at: r.opens_at_ms.map(from_millis).transpose()?,
            status: CouponStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            room: RoomPolicy {
                mode: RoomMode::parse(&r.room_mode).map_err(|e| corrupt("room_mode", e))?,
                prequeue: PrequeueOrder::parse(&r.prequeue).map_err(|e| corrupt("prequeue", e))?,
            },
            created_at: from_millis(r.created_at_ms)?,
        })
    }
}

/// An `issued_coupons` row as read.
pub struct StoredIssued {
    pub id: Uuid,
    pub user_id: Uuid,
    pub coupon_id: Uuid,
    pub issued_at_ms: i64,
    pub used_at_ms: Option<i64>,
}

impl TryFrom<StoredIssued> for IssuedCoupon {
    type Error = StoreError;

    fn try_from(r: StoredIssued) -> Result<Self, StoreError> {
        Ok(IssuedCoupon {
            id: RequestId::from_uuid(r.id),
            user_id: UserId::from_uuid(r.user_id),
            coupon_id: CouponId::from_uuid(r.coupon_id),
            issued_at: from_millis(r.issued_at_ms)?,
            used_at: r.used_at_ms.map(from_millis).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> StoredCoupon {
        StoredCoupon {
            id: Uuid::now_v7(),
            name: "Pizza night".into(),
            coupon_type: "PIZZA".into(),
            discount_type: "PERCENTAGE".into(),
            discount_value: 10,
            total_quantity: 5,
            expires_at_ms: 1_900_000_000_000,
            opens_at_ms: Some(1_899_000_000_000),
            status: "ACTIVE".into(),
            room_mode: "ALWAYS".into(),
            prequeue: "SHUFFLED".into(),
            created_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn valid_row_decodes_and_invalid_rows_are_corrupt() {
        assert!(Coupon::try_from(row()).is_ok());
        let bad = [
            StoredCoupon {
                status: "GONE".into(),
                ..row()
            },
            StoredCoupon {
                discount_value: 101,
                ..row()
            },
            StoredCoupon {
                total_quantity: 0,
                ..row()
            },
            StoredCoupon {
                coupon_type: "SUSHI".into(),
                ..row()
            },
            StoredCoupon {
                expires_at_ms: i64::MAX,
                ..row()
            },
            StoredCoupon {
                opens_at_ms: Some(i64::MAX),
                ..row()
            },
            StoredCoupon {
                room_mode: "SOMETIMES".into(),
                ..row()
            },
        ];
        for r in bad {
            assert!(matches!(Coupon::try_from(r), Err(StoreError::Corrupt(_))));
        }
    }
}
