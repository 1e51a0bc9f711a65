//! Opening the database: WAL, full fsync on commit, embedded migrations, and a page
//! cache sized for what each connection does.

use crate::persist::BatchThread;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The store behind every SQLite port. Cheap to clone (a pool handle, and the batch
/// writer's thread, shared).
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) writer: Arc<BatchThread>,
}

impl SqliteStore {
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.writer.close();
        self.pool.close().await;
    }

    /// Whether the database answers (for `/ready`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Page cache of each pool connection. Reads are point lookups (a login, one issue
/// state, a coupon) and every group commit empties a reader's cache anyway (SQLite drops
/// a connection's cache when another one wrote), so a reader needs little more than the
/// B-tree's interior pages: about 1 MiB for a million issued rows.
pub const READER_CACHE_KIB: u32 = 2 * 1024;

/// Page cache of the batch writer, the one connection that keeps its cache (it is the
/// only one writing issued coupons). Random user ids touch leaf pages all over the
/// issued-coupons B-tree; a page missing here is a pread from the OS page cache, which
/// costs little: measured, 1,000,000 random inserts in 1,000-row transactions ran at
/// 41,800 rows/s of CPU with 2 MiB, 45,800 with 16 MiB and 44,200 with 64 MiB (the whole
/// 64 MB table). 16 MiB holds every interior page and a batch's dirty pages many times over.
pub const WRITER_CACHE_KIB: u32 = 16 * 1024;

fn options(path: &Path, cache_kib: u32) -> SqliteConnectOptions {
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
        // Negative: KiB rather than pages.
        .pragma("cache_size", format!("-{cache_kib}"))
        // No connection checkpoints inside its own commit: the group-commit writer's
        // checkpointer does, off the commit path (checkpoint.rs).
        .pragma("wal_autocheckpoint", "0")
}

/// Opens (creating if needed) the database file and runs the embedded migrations.
pub async fn open(path: &Path, max_connections: u32) -> Result<SqliteStore, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .connect_with(options(path, READER_CACHE_KIB))
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(SqliteStore {
        pool,
        writer: Arc::new(BatchThread::new(path)),
    })
}

/// Opens the group-commit writer's store on a database that [`open`] has migrated. Its
/// batches go through its batch thread's connection (`persist.rs`, with the writer's
/// [`WRITER_CACHE_KIB`]): SQLite drops a connection's page cache whenever another
/// connection has written, so writes spread over a pool would re-read the B-tree pages
/// they touch on every batch, while one writing connection keeps them cached. Its pool
/// holds one more connection, for what the writer does while no batch comes (the
/// by-user copy, `by_user.rs`) and for the checkpointer's settings; a reader's cache
/// is enough for it, which keeps the budget of "Memory" (docs/ARCHITECTURE.md).
pub async fn open_writer(path: &Path) -> Result<SqliteStore, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .connect_with(options(path, READER_CACHE_KIB).create_if_missing(false))
        .await?;
    Ok(SqliteStore {
        pool,
        writer: Arc::new(BatchThread::new(path)),
    })
}
