//! Seeding a coupon's gate, possibly with a large holder list (a rebuild after Redis
//! lost its data, of a coupon that already issued many units).
//!
//! One script call with every holder would be atomic but would block Redis for as
//! long as it takes to add them all (every other coupon's rush stalls) and could
//! outlast the response timeout. So a large list is staged first: chunks go into a
//! set only this seeder writes (same hash tag, so same slot), refreshed with a TTL in
//! case the seeder dies; then one script either discards the staging set (already
//! seeded) or moves it into place and creates the stock key last. "Seeded only once"
//! is decided by that one atomic step, and a seeder whose staging set expired midway
//! finds out (its size no longer matches) instead of seeding too few holders.

use crate::error::{unavailable, unexpected};
use crate::gate::{RedisGate, member};
use crate::scripts::{SEED, seed};
use couponrush_domain::{CouponId, Quantity, StoreError, UserId};

/// Holders sent per command: ~80 KB, a few milliseconds of server time per chunk.
const CHUNK: usize = 5_000;

/// How long a dead seeder's staging set lingers; refreshed by every chunk.
const STAGING_TTL_MS: u64 = 60_000;

pub(crate) async fn seed(
    gate: &RedisGate,
    coupon: CouponId,
    total: Quantity,
    holders: &[UserId],
) -> Result<(), StoreError> {
    let keys = gate.keys(coupon);
    let mut conn = gate.conn.clone();
    let mut members: Vec<[u8; 16]> = holders.iter().map(|&u| member(u)).collect();
    // The final script compares the staging set's size with what was sent: duplicates
    // would make a complete set look incomplete.
    members.sort_unstable();
    members.dedup();

    let staging = keys.staging();
    let staged = if members.len() <= CHUNK {
        0
    } else {
        // Nodes warming up after a restart all seed every coupon: don't ship a big list
        // for a coupon that is seeded already.
        let seeded: bool = redis::cmd("EXISTS")
            .arg(&keys.stock)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if seeded {
            return Ok(());
        }
        let staged = (members.len() - 1) / CHUNK * CHUNK;
        for chunk in members[..staged].chunks(CHUNK) {
            let mut sadd = redis::cmd("SADD");
            sadd.arg(&staging);
            for m in chunk {
                sadd.arg(m);
            }
            redis::pipe()
                .add_command(sadd)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&staging)
                .arg(STAGING_TTL_MS)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        staged
    };

    let mut call = SEED.key(&keys.stock);
    call.key(&keys.holders)
        .key(&staging)
        .arg(total.get())
        .arg(staged);
    for m in &members[staged..] {
        call.arg(m);
    }
    let code: i64 = call.invoke_async(&mut conn).await.map_err(unavailable)?;
    match code {
        seed::SEEDED | seed::ALREADY_SEEDED => Ok(()),
        seed::STAGING_LOST => Err(StoreError::Unavailable(format!(
            "seeding coupon {coupon}: the staged holders expired before the seed completed"
        ))),
        other => Err(unexpected("seed", other)),
    }
}
