//! The faults of the matrix, and how big a run is.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Embedded: SIGKILL the server mid-rush, start it again on its data.
    EmbeddedKill,
    /// Embedded: the data directory's disk fills up mid-rush, then space is freed.
    EmbeddedDiskFull,
    /// Distributed: SIGKILL one of the two api nodes, start it again.
    ApiKill,
    /// Distributed: SIGKILL one of two consumers, start it again.
    ConsumerKill,
    /// Distributed: stop the broker (SIGTERM), start it again on its data.
    BrokerRestart,
    /// Distributed: SIGKILL the broker, start it again on its data.
    BrokerKill,
    /// Distributed: freeze the broker (SIGSTOP), then let it run (SIGCONT).
    BrokerFreeze,
    /// Distributed: Redis loses every key (FLUSHALL) while the consumers lag behind.
    RedisFlush,
    /// Distributed: Redis is killed and comes back empty (no persistence).
    RedisRestart,
    /// Distributed: MariaDB is killed and started again.
    MariadbRestart,
    /// Distributed: the consumers' writes fail (issued table missing) long enough for
    /// records to go to the dead-letter topic; then the table is back and an admin
    /// replays the failed events.
    ConsumerDbErrors,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::EmbeddedKill,
        Fault::EmbeddedDiskFull,
        Fault::ApiKill,
        Fault::ConsumerKill,
        Fault::BrokerRestart,
        Fault::BrokerKill,
        Fault::BrokerFreeze,
        Fault::RedisFlush,
        Fault::RedisRestart,
        Fault::MariadbRestart,
        Fault::ConsumerDbErrors,
    ];

    /// How the fault reads in the table.
    pub fn describe(self) -> &'static str {
        match self {
            Self::EmbeddedKill => "embedded: kill -9 of the server, restart",
            Self::EmbeddedDiskFull => "embedded: disk full, then space freed",
            Self::ApiKill => "distributed: kill -9 of one of two api nodes, restart",
            Self::ConsumerKill => "distributed: kill -9 of one of two consumers, restart",
            Self::BrokerRestart => "distributed: broker stop (SIGTERM), restart on its data",
            Self::BrokerKill => "distributed: broker kill -9, restart on its data",
            Self::BrokerFreeze => "distributed: broker SIGSTOP, SIGCONT",
            Self::RedisFlush => "distributed: Redis FLUSHALL with a consumer backlog",
            Self::RedisRestart => "distributed: Redis restart without persistence",
            Self::MariadbRestart => "distributed: MariaDB kill -9, restart",
            Self::ConsumerDbErrors => "distributed: consumer database errors → DLQ → replay",
        }
    }

    pub fn is_embedded(self) -> bool {
        matches!(self, Self::EmbeddedKill | Self::EmbeddedDiskFull)
    }
}

/// How big a run is: a steady arrival of fresh users (more than the stock), and when
/// the fault comes and how long it lasts.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub users: u64,
    pub per_sec: u64,
    pub quantity: u64,
    pub fault_at: Duration,
    pub hold: Duration,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

impl Size {
    /// For CI: every fault on a small rush (a debug build copes).
    pub fn short() -> Self {
        Self {
            users: 600,
            per_sec: 150,
            quantity: 400,
            fault_at: Duration::from_millis(1_500),
            hold: Duration::from_millis(1_500),
            timeout: Duration::from_secs(5),
        }
    }

    /// `scripts/faults`: a release build, thousands of users.
    pub fn full() -> Self {
        Self {
            users: 6_000,
            per_sec: 1_000,
            quantity: 4_000,
            fault_at: Duration::from_secs(2),
            hold: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
        }
    }
}
