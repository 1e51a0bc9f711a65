//! [`IssuedCouponStore`] on SQLite (reads and "use"; rows are written by the group-commit log).

use crate::connect::SqliteStore;
use crate::error::store_error;
use crate::rows::{self, coupon_columns, get, millis};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use couponrush_domain::ports::IssuedCouponStore;
use couponrush_domain::{CouponId, IssuedCoupon, OwnedCoupon, StoreError, UserId};
use futures::TryStreamExt;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;
use uuid::Uuid;

/// Coupons per holders query: far below either database's bound-parameter limit.
const COUPONS_PER_HOLDERS_QUERY: usize = 500;

/// A user's coupons. Issued rows are clustered by coupon (migration 0008); the by-user
/// table lists a coupon's holders once the writer has copied them all (`by_user.rs`),
/// and a coupon it has not (yet) is probed in `issued_coupons` itself, a primary-key
/// lookup each: the coupons of an event still running or just ended, a handful. CROSS
/// JOIN fixes each loop's order (SQLite never reorders it) and INDEXED BY the partial
/// index that finds those coupons without reading the others. Public so a test can
/// `EXPLAIN` it.
pub const LIST_OWNED_SELECT: &str = concat!(
    "SELECT i.user_id, i.coupon_id, i.id, i.issued_at, i.used_at, ",
    coupon_columns!(),
    " FROM issued_by_user u \
     CROSS JOIN coupons c ON c.id = u.coupon_id \
     CROSS JOIN issued_coupons i ON i.coupon_id = u.coupon_id AND i.user_id = u.user_id \
     WHERE u.user_id = ?1 AND c.by_user_count >= c.issued_count \
     UNION ALL \
     SELECT i.user_id, i.coupon_id, i.id, i.issued_at, i.used_at, ",
    coupon_columns!(),
    " FROM coupons c INDEXED BY coupons_not_by_user \
     CROSS JOIN issued_coupons i ON i.coupon_id = c.id AND i.user_id = ?1 \
     WHERE c.issued_count > c.by_user_count \
     ORDER BY issued_at DESC"
);

/// The holders read up to its list of coupon ids (public so a test can `EXPLAIN` it).
pub const HOLDERS_SELECT: &str =
    "SELECT coupon_id, user_id FROM issued_coupons WHERE coupon_id IN (";

#[async_trait]
impl IssuedCouponStore for SqliteStore {
    async fn find_issued(
        &self,
        user: UserId,
        coupon: CouponId,
    ) -> Result<Option<IssuedCoupon>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, coupon_id, id, issued_at, used_at FROM issued_coupons WHERE coupon_id = ? AND user_id = ?",
        )
        .bind(coupon.into_uuid())
        .bind(user.into_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(rows::issued).transpose()
    }

    async fn list_owned(&self, user: UserId) -> Result<Vec<OwnedCoupon>, StoreError> {
        let found = sqlx::query(LIST_OWNED_SELECT)
            .bind(user.into_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        found
            .iter()
            .map(|row| {
                Ok(OwnedCoupon {
                    issued: rows::issued(row)?,
                    coupon: rows::coupon(row)?,
                })
            })
            .collect()
    }

    async fn holders_of(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, Vec<UserId>>, StoreError> {
        // A range read per coupon of the primary key (coupon_id, user_id), so the cost
        // follows this coupon's holders, not the rows of every earlier event.
        let mut holders: HashMap<CouponId, Vec<UserId>> = HashMap::new();
        for chunk in coupons.chunks(COUPONS_PER_HOLDERS_QUERY) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(HOLDERS_SELECT);
            let mut ids = q.separated(", ");
            for id in chunk {
                ids.push_bind(id.into_uuid());
            }
            q.push(")");
            // Streamed: a start with 1,000,000 earlier holders would otherwise hold
            // every driver row at once (hundreds of bytes each) beside the ids kept.
            let mut rows = q.build().fetch(&self.pool);
            while let Some(row) = rows.try_next().await.map_err(store_error)? {
                holders
                    .entry(CouponId::from_uuid(get::<Uuid>(&row, "coupon_id")?))
                    .or_default()
                    .push(UserId::from_uuid(get::<Uuid>(&row, "user_id")?));
            }
        }
        Ok(holders)
    }

    async fn mark_used(
        &self,
        user: UserId,
        coupon: CouponId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE issued_coupons SET used_at = ? WHERE user_id = ? AND coupon_id = ? AND used_at IS NULL",
        )
        .bind(millis(at))
        .bind(user.into_uuid())
        .bind(coupon.into_uuid())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }
}
