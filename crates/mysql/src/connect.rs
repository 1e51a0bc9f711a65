//! Connecting and migrating. Opening never changes the schema: many consumer and API
//! processes connect, while migrations run once per deploy (and are safe if several
//! processes run them anyway: a `GET_LOCK` advisory lock serialises migrators).

use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The store behind every MariaDB port. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct MysqlStore {
    pub(crate) pool: MySqlPool,
}

impl MysqlStore {
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers (for `/ready`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Connects a pool of at most `max_connections` to an already migrated database.
/// Connects eagerly, so a wrong URL or a down server fails at start, not on the first
/// request.
pub async fn open(url: &str, max_connections: u32) -> Result<MysqlStore, sqlx::Error> {
    let options = MySqlConnectOptions::from_str(url)?;
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections.max(1))
        // Also bounds the first connect: a request waiting longer than this for a
        // connection is better answered 503, and a process that cannot reach the
        // database at start had better exit and be restarted than hang.
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(MysqlStore { pool })
}

/// Applies the embedded migrations (`crates/mysql/migrations`) that are not applied yet.
/// Running it again, or from several processes at once, is harmless.
pub async fn migrate(url: &str) -> Result<(), sqlx::Error> {
    // Two connections: one holds the lock, the migrator uses the other. A pool rather
    // than bare connections because migrating through `&mut MySqlConnection` makes a
    // future callers cannot `tokio::spawn` (sqlx's `Acquire` is not general over the
    // borrow's lifetime).
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(MySqlConnectOptions::from_str(url)?)
        .await?;
    let result = migrate_locked(&pool).await;
    // Closing also drops the lock if anything above failed half way.
    pool.close().await;
    result
}

/// sqlx serialises migrators with `GET_LOCK(name, -1)`, but MariaDB answers a negative
/// timeout with NULL at once instead of waiting, so concurrent migrators race (and one
/// fails on a duplicate version row). This lock, with a real timeout, is held around the
/// whole run. It is named after the database, so migrating different databases in
/// parallel (as tests do) does not serialise.
async fn migrate_locked(pool: &MySqlPool) -> Result<(), sqlx::Error> {
    let mut lock = pool.acquire().await?;
    let got: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('couponrush_migrate_', SHA1(DATABASE())), ?)")
            .bind(MIGRATION_LOCK_WAIT.as_secs())
            .fetch_one(&mut *lock)
            .await?;
    if got != Some(1) {
        return Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "another migration held the lock for {} s",
                MIGRATION_LOCK_WAIT.as_secs()
            ),
        )));
    }
    let result = sqlx::migrate!("./migrations").run(pool).await;
    // A failed release is harmless: closing the pool ends the session, which frees it.
    sqlx::query("SELECT RELEASE_LOCK(CONCAT('couponrush_migrate_', SHA1(DATABASE())))")
        .execute(&mut *lock)
        .await
        .ok();
    Ok(result?)
}

/// How long connecting (and later, waiting for a free pooled connection) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a migrator waits for another one to finish.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(300);
