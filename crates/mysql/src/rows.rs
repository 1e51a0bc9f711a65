//! Row ↔ domain conversions shared by the stores. Times are BIGINT Unix milliseconds
//! (see the migration for why).

use couponrush_domain::stored::{StoredCoupon, StoredIssued};
pub(crate) use couponrush_domain::stored::{from_millis, millis};
use couponrush_domain::{Coupon, IssuedCoupon, StoreError};
use sqlx::Row;
use sqlx::mysql::MySqlRow;

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn get<'r, T>(row: &'r MySqlRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>,
{
    row.try_get(col).map_err(|e| corrupt(col, e))
}

/// Columns: c_id, name, coupon_type, discount_type, discount_value, total_quantity,
/// expires_at, opens_at, status, room_mode, prequeue, created_at.
/// A macro rather than a const so queries stay `&'static str` (sqlx refuses runtime SQL).
macro_rules! coupon_columns {
    () => {
        "c.id AS c_id, c.name, c.coupon_type, c.discount_type, c.discount_value, \
         c.total_quantity, c.expires_at, c.opens_at, c.status, c.room_mode, c.prequeue, c.created_at"
    };
}
pub(crate) use coupon_columns;

pub(crate) fn coupon(row: &MySqlRow) -> Result<Coupon, StoreError> {
    StoredCoupon {
        id: get(row, "c_id")?,
        name: get(row, "name")?,
        coupon_type: get(row, "coupon_type")?,
        discount_type: get(row, "discount_type")?,
        discount_value: get(row, "discount_value")?,
        total_quantity: u64::from(get::<u32>(row, "total_quantity")?),
        expires_at_ms: get(row, "expires_at")?,
        opens_at_ms: get(row, "opens_at")?,
        status: get(row, "status")?,
        room_mode: get(row, "room_mode")?,
        prequeue: get(row, "prequeue")?,
        created_at_ms: get(row, "created_at")?,
    }
    .try_into()
}

/// Columns: user_id, coupon_id, id, issued_at, used_at.
pub(crate) fn issued(row: &MySqlRow) -> Result<IssuedCoupon, StoreError> {
    StoredIssued {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        coupon_id: get(row, "coupon_id")?,
        issued_at_ms: get(row, "issued_at")?,
        used_at_ms: get(row, "used_at")?,
    }
    .try_into()
}
