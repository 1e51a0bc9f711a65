//! Opening the database: WAL, full fsync on commit, embedded migrations, and a page
//! cache sized for what each connection does.

use crate::persist::BatchThread;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
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

/// Every connection's settings: the pools' connections (sqlx, below) and the batch
/// thread's (rusqlite, `persist.rs`) apply this one list, so a commit means the same on
/// either, plus a page cache sized for the connection ([`cache_size`]).
const PRAGMAS: [(&str, &str); 5] = [
    ("journal_mode", "WAL"),
    // FULL: a commit is on disk before we answer ACCEPTED. With batched commits it
    // costs the same as NORMAL.
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    // A multi-row INSERT keeps a statement journal (to undo a half-done statement);
    // in memory it costs no writes. Measured: about a tenth of the writer's time.
    ("temp_store", "MEMORY"),
    // No connection checkpoints inside its own commit: the group-commit writer's
    // checkpointer does, off the commit path (checkpoint.rs).
    ("wal_autocheckpoint", "0"),
];

/// How long a connection waits for SQLite's lock before a statement fails.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The `cache_size` pragma's value for `kib` KiB (negative: KiB rather than pages).
fn cache_size(kib: u32) -> String {
    format!("-{kib}")
}

/// [`PRAGMAS`] and a `kib` KiB page cache as one batch of SQL, for a connection that
/// is not sqlx's (the batch thread's).
pub(crate) fn pragma_sql(kib: u32) -> String {
    let cache = cache_size(kib);
    PRAGMAS
        .iter()
        .copied()
        .chain([("cache_size", cache.as_str())])
        .map(|(name, value)| format!("PRAGMA {name} = {value};"))
        .collect()
}

fn options(path: &Path, cache_kib: u32) -> SqliteConnectOptions {
    PRAGMAS
        .iter()
        .fold(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .busy_timeout(BUSY_TIMEOUT),
            |options, &(name, value)| options.pragma(name, value),
        )
        .pragma("cache_size", cache_size(cache_kib))
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
