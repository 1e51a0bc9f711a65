//! [`RedisGate`]: the issue gate shared by every api node. Per coupon, a stock counter
//! and a set of holders; each step is one Lua script, so it is atomic and costs one
//! round trip.
//!
//! Holders are stored as the 16 raw bytes of the user id rather than the 36-character
//! text: a rush's holder set is the gate's whole memory footprint, and the shorter
//! member stays in a smaller allocator class (the same reason SQLite keeps ids as
//! BLOBs). `redis-cli` shows them escaped; `is_holder` is the way to ask.

use crate::connect::RedisConnection;
use crate::connect::connection;
use crate::error::{SetupError, unavailable, unexpected};
use crate::keys::{CouponKeys, check_part};
use crate::scripts::{self, RELEASE, RESERVE, SEED, reserve};
use async_trait::async_trait;
use couponrush_domain::ports::{GateStats, IssueGate, Reservation};
use couponrush_domain::{CouponId, Quantity, StoreError, UserId};

/// The distributed [`IssueGate`]. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisGate {
    pub(crate) conn: RedisConnection,
    prefix: String,
}

impl RedisGate {
    /// Connects to `url` and loads the scripts. `key_prefix` (may be empty) goes in
    /// front of every key, to isolate deployments and tests on one server; it must not
    /// contain `{` or `}`.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        let mut conn = connection(url).await?;
        scripts::preload(&mut conn, &[&RESERVE, &RELEASE, &SEED]).await?;
        Self::new(conn, key_prefix)
    }

    /// A gate on an existing connection (shared with other adapters of the process).
    pub fn new(conn: RedisConnection, key_prefix: &str) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        Ok(Self {
            conn,
            prefix: key_prefix.to_owned(),
        })
    }

    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn keys(&self, coupon: CouponId) -> CouponKeys {
        CouponKeys::new(&self.prefix, coupon)
    }
}

/// Members asked for per SSCAN call when listing holders.
const HOLDERS_PER_SCAN: usize = 10_000;

/// What a user is inside the holders set.
pub(crate) fn member(user: UserId) -> [u8; 16] {
    *user.as_uuid().as_bytes()
}

#[async_trait]
impl IssueGate for RedisGate {
    async fn reserve(&self, coupon: CouponId, user: UserId) -> Result<Reservation, StoreError> {
        let keys = self.keys(coupon);
        let code: i64 = RESERVE
            .key(&keys.stock)
            .key(&keys.holders)
            .arg(&member(user))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match code {
            reserve::RESERVED => Ok(Reservation::Reserved),
            reserve::ALREADY_ISSUED => Ok(Reservation::AlreadyIssued),
            reserve::SOLD_OUT => Ok(Reservation::SoldOut),
            reserve::NOT_SEEDED => Ok(Reservation::NotSeeded),
            other => Err(unexpected("reserve", other)),
        }
    }

    async fn release(&self, coupon: CouponId, user: UserId) -> Result<(), StoreError> {
        let keys = self.keys(coupon);
        RELEASE
            .key(&keys.stock)
            .key(&keys.holders)
            .arg(&member(user))
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn seed(
        &self,
        coupon: CouponId,
        total: Quantity,
        holders: &[UserId],
    ) -> Result<(), StoreError> {
        crate::seed::seed(self, coupon, total, holders).await
    }

    async fn is_holder(&self, coupon: CouponId, user: UserId) -> Result<bool, StoreError> {
        redis::cmd("SISMEMBER")
            .arg(&self.keys(coupon).holders)
            .arg(&member(user))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn list_holders(&self, coupon: CouponId) -> Result<Option<Vec<UserId>>, StoreError> {
        let keys = self.keys(coupon);
        let mut conn = self.conn.clone();
        let seeded: bool = redis::cmd("EXISTS")
            .arg(&keys.stock)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if !seeded {
            return Ok(None);
        }
        // SSCAN in pages rather than SMEMBERS: a coupon of a million holders must not
        // block Redis (and every rush it serves) for one long reply.
        let mut holders = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, page): (u64, Vec<Vec<u8>>) = redis::cmd("SSCAN")
                .arg(&keys.holders)
                .arg(cursor)
                .arg("COUNT")
                .arg(HOLDERS_PER_SCAN)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            for m in page {
                let bytes: [u8; 16] = m.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("a holder of {coupon} is {} bytes", m.len()))
                })?;
                holders.push(UserId::from_uuid(uuid::Uuid::from_bytes(bytes)));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // SSCAN may return a member more than once.
        holders.sort_unstable();
        holders.dedup();
        Ok(Some(holders))
    }

    async fn stats(&self, coupon: CouponId) -> Result<Option<GateStats>, StoreError> {
        let keys = self.keys(coupon);
        // MULTI/EXEC: both numbers from the same instant, so holders + remaining adds up
        // even during a rush.
        let (stock, holders): (Option<i64>, u64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&keys.stock)
            .cmd("SCARD")
            .arg(&keys.holders)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        stock
            .map(|s| {
                let remaining = u64::try_from(s)
                    .map_err(|_| StoreError::Corrupt(format!("negative stock {s}")))?;
                Ok(GateStats { remaining, holders })
            })
            .transpose()
    }
}
