//! The Lua scripts, compiled into the binary and hashed once. Calls go by SHA
//! (`EVALSHA`); `Script::invoke_async` reloads a script the server answers NOSCRIPT
//! for (after a restart, a failover or `SCRIPT FLUSH`), so preloading is only an
//! optimisation that spares the first rush a wave of NOSCRIPT round trips.

use crate::connect::RedisConnection;
use redis::Script;
use std::sync::LazyLock;

pub(crate) static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reserve.lua")));
pub(crate) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/release.lua")));
pub(crate) static SEED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/seed.lua")));
pub(crate) static RATE_LIMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/rate_limit.lua")));
pub(crate) static USERNAME_FAILED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/username_failed.lua")));
pub(crate) static BUCKET: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/bucket.lua")));
/// A script that asks about a room, behind `line_generation.lua` (the check that finds
/// a lost line and starts its re-seeding; see that file).
macro_rules! line_script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("scripts/line_generation.lua"),
                include_str!(concat!("scripts/", $file))
            ))
        })
    };
}

pub(crate) static LINE_OPEN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/line_open.lua")));
pub(crate) static LINE_SHARED: LazyLock<Script> = line_script!("line_shared.lua");
pub(crate) static LINE_JOIN: LazyLock<Script> = line_script!("line_join.lua");
pub(crate) static LINE_PLACE: LazyLock<Script> = line_script!("line_place.lua");
pub(crate) static LINE_ADMIT: LazyLock<Script> = line_script!("line_admit.lua");
pub(crate) static LINE_TAKE: LazyLock<Script> = line_script!("line_take.lua");
pub(crate) static LINE_RETURN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/line_return.lua")));
pub(crate) static LINE_SHUFFLE: LazyLock<Script> = line_script!("line_shuffle.lua");
pub(crate) static LINE_RATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/line_rate.lua")));

/// Return codes of `reserve.lua`.
pub(crate) mod reserve {
    pub const RESERVED: i64 = 0;
    pub const ALREADY_ISSUED: i64 = 1;
    pub const SOLD_OUT: i64 = 2;
    pub const NOT_SEEDED: i64 = 3;
}

/// Return codes of `seed.lua`.
pub(crate) mod seed {
    pub const SEEDED: i64 = 1;
    pub const ALREADY_SEEDED: i64 = 0;
    pub const STAGING_LOST: i64 = -1;
}

/// The first element of what `line_join.lua` and `line_place.lua` return.
pub(crate) mod place {
    pub const WAITING: i64 = 0;
    pub const ADMITTED: i64 = 1;
    pub const EXPIRED: i64 = 2;
    pub const ABSENT: i64 = 3;
}

/// What `line_take.lua` returns.
pub(crate) mod take {
    pub const NONE: i64 = 0;
    pub const TAKEN: i64 = 1;
    /// The token's line was lost since: honoured without an entry.
    pub const HONOURED: i64 = 2;
}

/// Loads `scripts` into the server's script cache.
pub(crate) async fn preload(
    conn: &mut RedisConnection,
    scripts: &[&Script],
) -> Result<(), redis::RedisError> {
    for script in scripts {
        script.prepare_invoke().load_async(conn).await?;
    }
    Ok(())
}
