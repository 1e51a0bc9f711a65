//! WAL checkpoints off the commit path. With `wal_autocheckpoint` the connection whose
//! commit pushed the WAL past the limit copies the whole WAL into the database file
//! inside that commit, and every caller of that batch waits for it: measured at 10,000
//! issues/s for 60 s, 52 of 4,597 commits took over 100 ms and the worst second's p99
//! was 1.44 s (median second 113 ms). So no connection
//! checkpoints on commit (`wal_autocheckpoint=0`, see `connect.rs`); this task does, on a
//! connection of its own:
//!
//! - every `interval`, a PASSIVE checkpoint beside the commits: it copies what the WAL
//!   holds into the database file and fsyncs it while the writer keeps appending (they
//!   share no lock);
//! - a PASSIVE checkpoint never lets the WAL start over while the writer keeps writing
//!   (SQLite restarts the WAL only when a write begins with every frame copied), so once
//!   the WAL passes `restart_frames` the commits are held for one RESTART checkpoint of
//!   the few frames that arrived since the last PASSIVE one; the next commit writes the
//!   WAL from its start. Same run: 29 restarts, commits held 22 ms on average, never
//!   over 50 ms (the RESTART's fsync of the database file on a busy disk); 5 of 6,621
//!   commits over 100 ms, worst second's p99 481 ms (median second 75 ms). Measured
//!   too: with PASSIVE alone the WAL grew by every write, each checkpoint complete.
//! - at shutdown, after the last batch, a TRUNCATE checkpoint leaves an empty WAL.
//!
//! Readers cannot starve it for long: every read is one short statement on the pool
//! (sqlx holds no transaction between statements), so the oldest snapshot a checkpoint
//! must respect is at most one statement old. RESTART waits for such readers for at most
//! [`READER_WAIT`] while commits are held; if one is still reading, the restart is
//! tried again a round later.
//!
//! Metrics: time per background checkpoint, time commits were held for a restart, WAL
//! size in frames.

use couponrush_telemetry::metrics::names::{
    SQLITE_CHECKPOINT_DURATION_SECONDS, SQLITE_WAL_FRAMES, SQLITE_WAL_RESTART_PAUSE_SECONDS,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

/// Longest wait for readers of the old WAL while commits are held for a restart.
pub const READER_WAIT: Duration = Duration::from_millis(10);

/// PASSIVE rounds at most before a restart, each copying what arrived during the one
/// before, so the restart itself has little left to copy while commits wait.
const CATCH_UP_ROUNDS: usize = 3;

/// Frames that may arrive during a catch-up round and still leave a short restart.
const CATCH_UP_FRAMES: i64 = 512;

#[derive(Debug, Clone, Copy)]
pub struct CheckpointConfig {
    /// Time between background PASSIVE checkpoints.
    pub interval: Duration,
    /// WAL size (frames, one page each) past which the WAL is restarted from its start:
    /// the bound on the WAL file, give or take one interval of writes.
    pub restart_frames: u32,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(1_000),
            restart_frames: 32_768,
        }
    }
}

/// The writer holds this while it commits; the checkpointer takes it to hold commits.
pub(crate) type CommitTurn = Arc<Mutex<()>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Passive,
    Restart,
    Truncate,
}

impl Mode {
    fn sql(self) -> &'static str {
        match self {
            Self::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            Self::Restart => "PRAGMA wal_checkpoint(RESTART)",
            Self::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        }
    }
}

/// What `PRAGMA wal_checkpoint` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpointed {
    /// The checkpoint could not finish (a reader or writer was in the way).
    pub busy: bool,
    /// Frames in the WAL when it ran.
    pub wal_frames: i64,
    /// Frames of those now in the database file.
    pub copied: i64,
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// Frames copied beside the commits; the WAL keeps growing until the bound.
    Copied { wal_frames: i64 },
    /// The WAL was restarted: the next commit writes it from its start.
    Restarted { held: Duration },
    /// A reader kept the WAL in use past [`READER_WAIT`]; tried again next round.
    RestartBusy { wal_frames: i64 },
}

pub(crate) struct Checkpointer {
    options: SqliteConnectOptions,
    conn: Option<SqliteConnection>,
    turn: CommitTurn,
    config: CheckpointConfig,
}

impl Checkpointer {
    /// `options` are the writer's; the checkpointer opens its own connection from them
    /// (lazily, and again after an error).
    pub(crate) fn new(
        options: &SqliteConnectOptions,
        turn: CommitTurn,
        config: CheckpointConfig,
    ) -> Self {
        let options = options
            .clone()
            // A checkpoint copies frames straight from the WAL: no page cache needed.
            .pragma("cache_size", "-64")
            .busy_timeout(READER_WAIT);
        Self {
            options,
            conn: None,
            turn,
            config,
        }
    }

    async fn checkpoint(&mut self, mode: Mode) -> Result<Checkpointed, sqlx::Error> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.options.connect().await?),
        };
        let result: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as(mode.sql()).fetch_one(&mut *conn).await;
        match result {
            Ok((busy, wal_frames, copied)) => Ok(Checkpointed {
                busy: busy != 0,
                wal_frames,
                copied,
            }),
            Err(e) => {
                // A fresh connection next time, whatever state this one is in.
                self.conn = None;
                Err(e)
            }
        }
    }

    /// One round: a PASSIVE checkpoint beside the commits; past the bound, a few more
    /// to catch up, then a RESTART with commits held.
    pub(crate) async fn round(&mut self) -> Result<Round, sqlx::Error> {
        let started = Instant::now();
        let mut last = self.checkpoint(Mode::Passive).await?;
        metrics::histogram!(SQLITE_CHECKPOINT_DURATION_SECONDS).record(started.elapsed());
        #[allow(clippy::cast_precision_loss)] // frames are far below 2^52
        metrics::gauge!(SQLITE_WAL_FRAMES).set(last.wal_frames as f64);
        if last.wal_frames < i64::from(self.config.restart_frames) {
            return Ok(Round::Copied {
                wal_frames: last.wal_frames,
            });
        }
        for _ in 0..CATCH_UP_ROUNDS {
            let started = Instant::now();
            let next = self.checkpoint(Mode::Passive).await?;
            let took = started.elapsed();
            metrics::histogram!(SQLITE_CHECKPOINT_DURATION_SECONDS).record(took);
            let arrived = next.wal_frames - last.wal_frames;
            tracing::debug!(arrived, took_us = took.as_micros(), "WAL catch-up round");
            last = next;
            if arrived <= CATCH_UP_FRAMES {
                break;
            }
        }
        let turn = self.turn.clone();
        let held = turn.lock().await;
        let started = Instant::now();
        let restart = self.checkpoint(Mode::Restart).await;
        let pause = started.elapsed();
        drop(held);
        metrics::histogram!(SQLITE_WAL_RESTART_PAUSE_SECONDS).record(pause);
        let restart = restart?;
        if restart.busy {
            return Ok(Round::RestartBusy {
                wal_frames: restart.wal_frames,
            });
        }
        metrics::gauge!(SQLITE_WAL_FRAMES).set(0.0);
        // `left`: frames the restart itself copied with commits held (its cost on a disk
        // that writes them at random: see docs/ARCHITECTURE.md, "WAL checkpoints").
        tracing::debug!(
            frames = restart.wal_frames,
            left = restart.wal_frames - last.copied,
            held_us = pause.as_micros(),
            "WAL restarted"
        );
        Ok(Round::Restarted { held: pause })
    }

    /// Rounds every `interval` until `stop`, then a TRUNCATE checkpoint (the caller
    /// stops it after the last commit) and the connection closes.
    pub(crate) async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let first_warning = 2 * i64::from(self.config.restart_frames);
        let mut warn_at = first_warning;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticks.tick() => {}
            }
            match self.round().await {
                // Readers should never hold the WAL for long: say so once per doubling.
                Ok(Round::RestartBusy { wal_frames }) if wal_frames >= warn_at => {
                    warn_at = 2 * wal_frames;
                    tracing::warn!(wal_frames, "readers keep the WAL from restarting");
                }
                Ok(Round::Restarted { .. }) => warn_at = first_warning,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "WAL checkpoint failed"),
            }
        }
        // Commits have stopped: no turn needed.
        match self.checkpoint(Mode::Truncate).await {
            Ok(c) if !c.busy => tracing::debug!(frames = c.wal_frames, "WAL truncated"),
            Ok(_) => tracing::info!("WAL not truncated at shutdown: a reader was still using it"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint at shutdown failed"),
        }
        if let Some(conn) = self.conn.take()
            && let Err(e) = conn.close().await
        {
            tracing::warn!(error = %e, "closing the checkpoint connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{open, open_writer};
    use crate::{BatchConfig, GroupCommitLog, SqliteStore};

    async fn stores(dir: &tempfile::TempDir) -> (SqliteStore, SqliteStore) {
        let path = dir.path().join("t.db");
        let readers = open(&path, 2).await.unwrap();
        let writer = open_writer(&path).await.unwrap();
        sqlx::query("CREATE TABLE scratch (b BLOB)")
            .execute(writer.pool())
            .await
            .unwrap();
        (readers, writer)
    }

    /// About 250 pages of WAL.
    async fn write_pages(writer: &SqliteStore) {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
             INSERT INTO scratch SELECT randomblob(1000) FROM n",
        )
        .execute(writer.pool())
        .await
        .unwrap();
    }

    fn checkpointer(writer: &SqliteStore, restart_frames: u32) -> Checkpointer {
        let config = CheckpointConfig {
            interval: Duration::from_secs(3600),
            restart_frames,
        };
        Checkpointer::new(
            &writer.pool().connect_options(),
            CommitTurn::default(),
            config,
        )
    }

    #[tokio::test]
    async fn commits_never_checkpoint_and_a_big_wal_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let (readers, writer) = stores(&dir).await;
        for pool in [readers.pool(), writer.pool()] {
            let (pages,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(pages, 0, "a commit must not run a checkpoint");
        }
        let mut checkpointer = checkpointer(&writer, 100);
        for _ in 0..3 {
            write_pages(&writer).await;
        }
        let wal = checkpointer.checkpoint(Mode::Passive).await.unwrap();
        assert!(wal.wal_frames > 600, "{wal:?}");

        assert!(matches!(
            checkpointer.round().await.unwrap(),
            Round::Restarted { .. }
        ));
        // The next commit writes the WAL from its start.
        write_pages(&writer).await;
        let after = checkpointer.checkpoint(Mode::Passive).await.unwrap();
        assert!(
            after.wal_frames < wal.wal_frames / 2,
            "{after:?} after {wal:?}"
        );
    }

    #[tokio::test]
    async fn a_small_wal_is_only_copied() {
        let dir = tempfile::tempdir().unwrap();
        let (_readers, writer) = stores(&dir).await;
        let mut checkpointer = checkpointer(&writer, 100_000);
        write_pages(&writer).await;
        let round = checkpointer.round().await.unwrap();
        assert!(
            matches!(round, Round::Copied { wal_frames } if wal_frames > 200),
            "{round:?}"
        );
        let again = checkpointer.checkpoint(Mode::Passive).await.unwrap();
        assert_eq!(again.copied, again.wal_frames, "everything was copied");
    }

    #[tokio::test]
    async fn the_writer_leaves_an_empty_wal_when_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (readers, writer) = stores(&dir).await;
        let (log, finished) = GroupCommitLog::start(&writer, BatchConfig::default());
        write_pages(&writer).await;
        let wal = dir.path().join("t.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        drop(log);
        finished.finished().await;
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "truncated");
        writer.close().await;
        readers.close().await;
    }
}
