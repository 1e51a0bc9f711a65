//! [`CouponStore`] on MariaDB.

use crate::connect::MysqlStore;
use crate::error::store_error;
use crate::rows::{self, coupon_columns, get, millis};
use async_trait::async_trait;
use couponrush_domain::listing::{CouponQuery, Phase};
use couponrush_domain::ports::CouponStore;
use couponrush_domain::waiting_room::RoomPolicy;
use couponrush_domain::{Coupon, CouponId, CouponStatus, StoreError};
use sqlx::QueryBuilder;

#[async_trait]
impl CouponStore for MysqlStore {
    async fn insert_coupon(&self, c: &Coupon) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO coupons (id, name, coupon_type, discount_type, discount_value, total_quantity, \
             expires_at, opens_at, status, room_mode, prequeue, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.into_uuid())
        .bind(c.name.as_str())
        .bind(c.coupon_type.as_str())
        .bind(c.discount.kind_str())
        .bind(c.discount.value())
        .bind(c.total_quantity.get())
        .bind(millis(c.expires_at))
        .bind(c.opens_at.map(millis))
        .bind(c.status.as_str())
        .bind(c.room.mode.as_str())
        .bind(c.room.prequeue.as_str())
        .bind(millis(c.created_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_coupon(&self, id: CouponId) -> Result<Option<Coupon>, StoreError> {
        let sql = concat!(
            "SELECT ",
            coupon_columns!(),
            " FROM coupons c WHERE c.id = ?"
        );
        let row = sqlx::query(sql)
            .bind(id.into_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(rows::coupon).transpose()
    }

    async fn set_coupon_status(
        &self,
        id: CouponId,
        status: CouponStatus,
    ) -> Result<bool, StoreError> {
        // sqlx connects with CLIENT_FOUND_ROWS, so rows_affected counts matched rows:
        // setting the status a coupon already has still answers true.
        let done = sqlx::query("UPDATE coupons SET status = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(id.into_uuid())
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_room_policy(&self, id: CouponId, room: RoomPolicy) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE coupons SET room_mode = ?, prequeue = ? WHERE id = ?")
            .bind(room.mode.as_str())
            .bind(room.prequeue.as_str())
            .bind(id.into_uuid())
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn issued_count(&self, id: CouponId) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT issued_count FROM coupons WHERE id = ?")
            .bind(id.into_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        match row {
            Some(row) => Ok(u64::from(get::<u32>(&row, "issued_count")?)),
            None => Ok(0),
        }
    }

    async fn list_coupons_with_status(
        &self,
        status: CouponStatus,
    ) -> Result<Vec<Coupon>, StoreError> {
        // No index on status: the table holds coupon definitions (few), and this runs
        // when a gate is warmed, not per request.
        let sql = concat!(
            "SELECT ",
            coupon_columns!(),
            " FROM coupons c WHERE c.status = ? ORDER BY c.created_at, c.id"
        );
        let found = sqlx::query(sql)
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        found.iter().map(rows::coupon).collect()
    }

    async fn list_coupons(&self, query: &CouponQuery) -> Result<Vec<Coupon>, StoreError> {
        let found = listing(query)
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        found.iter().map(rows::coupon).collect()
    }
}

/// The listing's query: the filters as conditions on `expires_at`, `opens_at` and
/// `status`, then keyset pagination on (`created_at`, `id`), newest first.
fn listing(q: &CouponQuery) -> QueryBuilder<sqlx::MySql> {
    let now = millis(q.now);
    let mut b = QueryBuilder::new(concat!(
        "SELECT ",
        coupon_columns!(),
        " FROM coupons c WHERE 1 = 1"
    ));
    match q.status {
        Some(CouponStatus::Expired) => {
            b.push(" AND c.expires_at <= ").push_bind(now);
        }
        Some(stored) => {
            b.push(" AND c.status = ").push_bind(stored.as_str());
            b.push(" AND c.expires_at > ").push_bind(now);
        }
        None => {}
    }
    match q.phase {
        Some(Phase::Upcoming) => {
            b.push(" AND c.expires_at > ").push_bind(now);
            b.push(" AND c.opens_at > ").push_bind(now);
        }
        Some(Phase::Open) => {
            b.push(" AND c.expires_at > ").push_bind(now);
            b.push(" AND (c.opens_at IS NULL OR c.opens_at <= ")
                .push_bind(now)
                .push(")");
        }
        Some(Phase::Ended) => {
            b.push(" AND c.expires_at <= ").push_bind(now);
        }
        None => {}
    }
    if let Some(after) = q.after {
        b.push(" AND (c.created_at < ")
            .push_bind(after.created_at_ms);
        b.push(" OR (c.created_at = ")
            .push_bind(after.created_at_ms);
        b.push(" AND c.id < ")
            .push_bind(after.id.into_uuid())
            .push("))");
    }
    b.push(" ORDER BY c.created_at DESC, c.id DESC LIMIT ")
        .push_bind(i64::from(q.limit));
    b
}
