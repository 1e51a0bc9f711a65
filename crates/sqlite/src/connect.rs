//! Opening the database: WAL, full fsync on commit, embedded migrations.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// The store behind every SQLite port. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    pub fn pool(&self) -> &SqlitePool {
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

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before we answer ACCEPTED. With batched commits it
        // costs the same as NORMAL.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // A multi-row INSERT keeps a statement journal (to undo a half-done statement);
        // in memory it costs no writes. Measured: about a tenth of the writer's time.
        .pragma("temp_store", "MEMORY")
        // 64 MiB of page cache: random user ids touch pages all over the issued-coupons
        // B-tree, and a page found in the cache is a pread saved.
        .pragma("cache_size", "-65536")
        .pragma("wal_autocheckpoint", "10000")
}

/// Opens (creating if needed) the database file and runs the embedded migrations.
pub async fn open(path: &Path, max_connections: u32) -> Result<SqliteStore, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .connect_with(options(path))
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(SqliteStore { pool })
}

/// Opens a store on one connection of its own, for the batch writer, on a database that
/// [`open`] has migrated. SQLite drops a connection's page cache whenever another
/// connection has written; writes spread over a pool therefore re-read the B-tree pages
/// they touch on every batch, while one writing connection keeps them cached.
pub async fn open_writer(path: &Path) -> Result<SqliteStore, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .connect_with(options(path).create_if_missing(false))
        .await?;
    Ok(SqliteStore { pool })
}
