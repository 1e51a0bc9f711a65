//! Maps sqlx errors, and the batch thread's rusqlite errors, to the domain's
//! [`StoreError`], once.

use couponrush_domain::{CouponId, StoreError};

pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// A failed statement or commit of the batch thread (`persist.rs`).
pub(crate) fn unavailable(e: &rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A batch's insert for `coupon` failed: the foreign key to coupons is what notices an
/// unknown coupon, which refuses the batch; anything else is the database's.
pub(crate) fn batch_error(e: &rusqlite::Error, coupon: CouponId) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::Conflict(format!("coupon {coupon} does not exist; batch refused"))
        }
        _ => unavailable(e),
    }
}
