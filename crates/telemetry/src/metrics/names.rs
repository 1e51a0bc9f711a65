//! The metric names of `docs/METRICS.md`, the contract the dashboards and
//! `deploy/prometheus.yml` rely on. Code records through these constants only, and a
//! test checks this table against the document, so the two cannot drift apart.

/// A process kind, as in the document's "process" column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `couponrush serve` (embedded mode).
    Serve,
    /// `couponrush api`.
    Api,
    /// `couponrush consumer`.
    Consumer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub processes: &'static [Process],
    pub help: &'static str,
}

pub const HTTP_REQUESTS_TOTAL: &str = "couponrush_http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "couponrush_http_request_duration_seconds";
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "couponrush_http_requests_in_flight";
pub const HTTP_REQUESTS_WAITING: &str = "couponrush_http_requests_waiting";
pub const HTTP_TURN_WAIT_SECONDS: &str = "couponrush_http_turn_wait_seconds";
pub const HTTP_REQUESTS_SHED_TOTAL: &str = "couponrush_http_requests_shed_total";
pub const HTTP_CONNECTIONS_OPEN: &str = "couponrush_http_connections_open";
pub const HTTP_CONNECTIONS_ACTIVE: &str = "couponrush_http_connections_active";
pub const ISSUE_OUTCOMES_TOTAL: &str = "couponrush_issue_outcomes_total";
pub const GATE_RESERVE_DURATION_SECONDS: &str = "couponrush_gate_reserve_duration_seconds";
pub const LOG_APPEND_DURATION_SECONDS: &str = "couponrush_log_append_duration_seconds";
pub const GROUP_COMMIT_BATCH_ROWS: &str = "couponrush_group_commit_batch_rows";
pub const GROUP_COMMIT_DURATION_SECONDS: &str = "couponrush_group_commit_duration_seconds";
pub const GROUP_COMMIT_FAILURES_TOTAL: &str = "couponrush_group_commit_failures_total";
pub const SQLITE_CHECKPOINT_DURATION_SECONDS: &str =
    "couponrush_sqlite_checkpoint_duration_seconds";
pub const SQLITE_WAL_RESTART_PAUSE_SECONDS: &str = "couponrush_sqlite_wal_restart_pause_seconds";
pub const SQLITE_WAL_FRAMES: &str = "couponrush_sqlite_wal_frames";
pub const CONSUMER_RECORDS_TOTAL: &str = "couponrush_consumer_records_total";
pub const CONSUMER_BATCH_RECORDS: &str = "couponrush_consumer_batch_records";
pub const CONSUMER_BATCH_DURATION_SECONDS: &str = "couponrush_consumer_batch_duration_seconds";
pub const CONSUMER_POLL_INTERVAL_SECONDS: &str = "couponrush_consumer_poll_interval_seconds";
pub const CONSUMER_RATE_LIMIT_WAIT_SECONDS: &str = "couponrush_consumer_rate_limit_wait_seconds";
pub const CONSUMER_ROWS_INSERTED_TOTAL: &str = "couponrush_consumer_rows_inserted_total";
pub const CONSUMER_ROWS_DUPLICATE_TOTAL: &str = "couponrush_consumer_rows_duplicate_total";
pub const CONSUMER_RETRIES_TOTAL: &str = "couponrush_consumer_retries_total";
pub const CONSUMER_DLQ_PUBLISHED_TOTAL: &str = "couponrush_consumer_dlq_published_total";
pub const CONSUMER_FAILED_EVENTS_TOTAL: &str = "couponrush_consumer_failed_events_total";
pub const CONSUMER_LAG_RECORDS: &str = "couponrush_consumer_lag_records";
pub const DB_POOL_CONNECTIONS: &str = "couponrush_db_pool_connections";
pub const REDIS_ERRORS_TOTAL: &str = "couponrush_redis_errors_total";
pub const RECONCILE_STRANDED_UNITS: &str = "couponrush_reconcile_stranded_units";
pub const RECONCILE_RETURNED_TOTAL: &str = "couponrush_reconcile_returned_total";
pub const RECONCILE_PARKED_UNITS: &str = "couponrush_reconcile_parked_units";
pub const PASSWORD_HASHES_TOTAL: &str = "couponrush_password_hashes_total";
pub const AUTH_THROTTLED_TOTAL: &str = "couponrush_auth_throttled_total";
pub const ROOM_WAITING: &str = "couponrush_room_waiting";
pub const ROOM_STATE: &str = "couponrush_room_state";
pub const ROOM_ADMISSION_RATE: &str = "couponrush_room_admission_rate";
pub const ROOM_TARGET_P95_SECONDS: &str = "couponrush_room_target_p95_seconds";
pub const ROOM_ADMITTED_PER_SECOND: &str = "couponrush_room_admitted_per_second";
pub const ROOM_ADMITTED_TOTAL: &str = "couponrush_room_admitted_total";
pub const ROOM_ABANDONED_TOTAL: &str = "couponrush_room_abandoned_total";
pub const ROOM_POLLS_TOTAL: &str = "couponrush_room_polls_total";
pub const ROOM_WAIT_SECONDS: &str = "couponrush_room_wait_seconds";

/// The `result` label values of [`ISSUE_OUTCOMES_TOTAL`].
pub const ISSUE_RESULTS: [&str; 7] = [
    "accepted",
    "sold_out",
    "already_issued",
    "not_found",
    "not_active",
    "unavailable",
    "queued",
];

/// The `status` label values of [`ROOM_POLLS_TOTAL`].
pub const ROOM_POLL_STATUSES: [&str; 5] =
    ["waiting", "admitted", "sold_out", "expired", "not_in_queue"];

/// The `op` label values of [`PASSWORD_HASHES_TOTAL`].
pub const HASH_OPS: [&str; 2] = ["hash", "verify"];
/// The `outcome` label values of [`PASSWORD_HASHES_TOTAL`]: computed, refused because
/// the pool was full (`AUTH_BUSY`), or failed.
pub const HASH_OUTCOMES: [&str; 3] = ["done", "busy", "failed"];
/// The `action` label values of [`AUTH_THROTTLED_TOTAL`].
pub const THROTTLED_ACTIONS: [&str; 2] = ["login", "signup"];

/// The `route` label of requests no route matched (never the raw path: unbounded series).
pub const UNMATCHED_ROUTE: &str = "unmatched";

use Kind::{Counter, Gauge, Histogram};
use Process::{Api, Consumer, Serve};

const HTTP: &[Process] = &[Serve, Api];
const ALL: &[Process] = &[Serve, Api, Consumer];

/// Every family, in the document's order.
#[rustfmt::skip]
pub const FAMILIES: &[Family] = &[
    Family { name: HTTP_REQUESTS_TOTAL, kind: Counter, labels: &["method", "route", "status"], processes: HTTP, help: "Answered HTTP requests." },
    Family { name: HTTP_REQUEST_DURATION_SECONDS, kind: Histogram, labels: &["method", "route", "status"], processes: HTTP, help: "Time to answer an HTTP request." },
    Family { name: HTTP_REQUESTS_IN_FLIGHT, kind: Gauge, labels: &[], processes: HTTP, help: "HTTP requests being handled." },
    Family { name: HTTP_REQUESTS_WAITING, kind: Gauge, labels: &[], processes: HTTP, help: "HTTP requests waiting for a turn (max_requests_in_flight)." },
    Family { name: HTTP_TURN_WAIT_SECONDS, kind: Histogram, labels: &[], processes: HTTP, help: "How long a request that found no free turn waited for one." },
    Family { name: HTTP_REQUESTS_SHED_TOTAL, kind: Counter, labels: &[], processes: HTTP, help: "HTTP requests answered 503 SERVER_BUSY after waiting request_queue_timeout_ms for a turn." },
    Family { name: HTTP_CONNECTIONS_OPEN, kind: Gauge, labels: &[], processes: HTTP, help: "Open client connections (parked between requests, or active)." },
    Family { name: HTTP_CONNECTIONS_ACTIVE, kind: Gauge, labels: &[], processes: HTTP, help: "Client connections the HTTP server is reading, running or answering a request on (holding its buffers)." },
    Family { name: ISSUE_OUTCOMES_TOTAL, kind: Counter, labels: &["result"], processes: HTTP, help: "Issue answers by outcome." },
    Family { name: GATE_RESERVE_DURATION_SECONDS, kind: Histogram, labels: &[], processes: HTTP, help: "One gate step (memory or Redis)." },
    Family { name: LOG_APPEND_DURATION_SECONDS, kind: Histogram, labels: &[], processes: HTTP, help: "Durable append (group commit or Kafka acknowledgement)." },
    Family { name: GROUP_COMMIT_BATCH_ROWS, kind: Histogram, labels: &[], processes: &[Serve], help: "Rows per committed group-commit batch." },
    Family { name: GROUP_COMMIT_DURATION_SECONDS, kind: Histogram, labels: &[], processes: &[Serve], help: "One group-commit batch transaction." },
    Family { name: GROUP_COMMIT_FAILURES_TOTAL, kind: Counter, labels: &[], processes: &[Serve], help: "Failed group-commit batch commits." },
    Family { name: SQLITE_CHECKPOINT_DURATION_SECONDS, kind: Histogram, labels: &[], processes: &[Serve], help: "One background WAL checkpoint (PASSIVE, beside the commits)." },
    Family { name: SQLITE_WAL_RESTART_PAUSE_SECONDS, kind: Histogram, labels: &[], processes: &[Serve], help: "Time commits were held while the WAL restarted." },
    Family { name: SQLITE_WAL_FRAMES, kind: Gauge, labels: &[], processes: &[Serve], help: "Frames in the WAL as of the last checkpoint." },
    Family { name: CONSUMER_RECORDS_TOTAL, kind: Counter, labels: &[], processes: &[Consumer], help: "Records read from the issue topic." },
    Family { name: CONSUMER_BATCH_RECORDS, kind: Histogram, labels: &[], processes: &[Consumer], help: "Records per consumer batch." },
    Family { name: CONSUMER_BATCH_DURATION_SECONDS, kind: Histogram, labels: &[], processes: &[Consumer], help: "Parse, persist and commit of one batch." },
    Family { name: CONSUMER_POLL_INTERVAL_SECONDS, kind: Histogram, labels: &[], processes: &[Consumer], help: "Time between the end of one batch and the start of the next." },
    Family { name: CONSUMER_RATE_LIMIT_WAIT_SECONDS, kind: Histogram, labels: &[], processes: &[Consumer], help: "Time spent waiting for rate-limit permits per batch." },
    Family { name: CONSUMER_ROWS_INSERTED_TOTAL, kind: Counter, labels: &[], processes: &[Consumer], help: "Rows written by the consumer." },
    Family { name: CONSUMER_ROWS_DUPLICATE_TOTAL, kind: Counter, labels: &[], processes: &[Consumer], help: "Redelivered records skipped." },
    Family { name: CONSUMER_RETRIES_TOTAL, kind: Counter, labels: &[], processes: &[Consumer], help: "Persist retries." },
    Family { name: CONSUMER_DLQ_PUBLISHED_TOTAL, kind: Counter, labels: &[], processes: &[Consumer], help: "Records sent to the dead-letter topic." },
    Family { name: CONSUMER_FAILED_EVENTS_TOTAL, kind: Counter, labels: &[], processes: &[Consumer], help: "Records written to the failed-events table." },
    Family { name: CONSUMER_LAG_RECORDS, kind: Gauge, labels: &["topic", "partition"], processes: &[Consumer], help: "High watermark minus committed offset, per assigned partition." },
    Family { name: DB_POOL_CONNECTIONS, kind: Gauge, labels: &["state"], processes: ALL, help: "Database pool connections by state." },
    Family { name: REDIS_ERRORS_TOTAL, kind: Counter, labels: &[], processes: &[Api, Consumer], help: "Failed Redis calls." },
    Family { name: RECONCILE_STRANDED_UNITS, kind: Gauge, labels: &[], processes: &[Api], help: "Units the gate held for users with no record, found by the last reconciliation pass of this node." },
    Family { name: RECONCILE_RETURNED_TOTAL, kind: Counter, labels: &[], processes: &[Api], help: "Stranded units given back by reconciliation." },
    Family { name: PASSWORD_HASHES_TOTAL, kind: Counter, labels: &["op", "outcome"], processes: HTTP, help: "Password hash and verify jobs of the bounded hash pool, by outcome." },
    Family { name: AUTH_THROTTLED_TOTAL, kind: Counter, labels: &["action"], processes: HTTP, help: "Logins and signups refused 429 TOO_MANY_ATTEMPTS before any hashing." },
    Family { name: RECONCILE_PARKED_UNITS, kind: Gauge, labels: &[], processes: &[Api], help: "Units the gate keeps for users whose record is a failed event awaiting replay, found by the last reconciliation pass of this node (not stranded, not given back)." },
    Family { name: ROOM_WAITING, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "Users in a coupon's waiting line, as of this node's last tick." },
    Family { name: ROOM_STATE, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "A waiting room's switch: 0 OFF, 1 ON, 2 DRAINING." },
    Family { name: ROOM_ADMISSION_RATE, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "The admission controller's rate (admissions per second), shared by every node." },
    Family { name: ROOM_TARGET_P95_SECONDS, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "The p95 the admission controller steers to on this node: room_target_p95_ms, or a latency the room does not cause that it tolerates instead." },
    Family { name: ROOM_ADMITTED_PER_SECOND, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "Admissions per second as measured (smoothed over two windows)." },
    Family { name: ROOM_ADMITTED_TOTAL, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "Admissions ever given in a coupon's line (shared: every node reports the same total)." },
    Family { name: ROOM_ABANDONED_TOTAL, kind: Gauge, labels: &["coupon"], processes: HTTP, help: "Waiters dropped from a coupon's line for not polling (shared total)." },
    Family { name: ROOM_POLLS_TOTAL, kind: Counter, labels: &["status"], processes: HTTP, help: "Waiting-line polls answered by this node, by the status told." },
    Family { name: ROOM_WAIT_SECONDS, kind: Histogram, labels: &["coupon"], processes: HTTP, help: "How long admitted waiters waited, from joining the line to the poll that told them ADMITTED (on the line's clock)." },
];

/// The families a process of this kind serves.
pub fn families_of(process: Process) -> impl Iterator<Item = &'static Family> {
    FAMILIES
        .iter()
        .filter(move |f| f.processes.contains(&process))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of the table in docs/METRICS.md: (name, type, labels, processes).
    fn documented() -> Vec<(String, String, Vec<String>, Vec<String>)> {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/METRICS.md"
        ))
        .expect("docs/METRICS.md");
        let ticked = |cell: &str| -> Vec<String> {
            // Label cells read "`result` (`accepted`, …)": the label names are the
            // ticked words outside parentheses.
            let mut outside = String::new();
            let mut depth = 0;
            for c in cell.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ if depth == 0 => outside.push(c),
                    _ => {}
                }
            }
            outside
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        doc.lines()
            .filter(|l| l.starts_with("| `couponrush_"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                let name = cells[0].trim_matches('`').to_owned();
                let processes = cells[3].split(',').map(|p| p.trim().to_owned()).collect();
                (name, cells[1].to_owned(), ticked(cells[2]), processes)
            })
            .collect()
    }

    fn process_names(f: &Family) -> Vec<String> {
        if f.processes == ALL {
            return vec!["all".into()];
        }
        f.processes
            .iter()
            .map(|p| match p {
                Serve => "serve",
                Api => "api",
                Consumer => "consumer",
            })
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_table_matches_docs_metrics_md() {
        let doc = documented();
        let code: Vec<_> = FAMILIES
            .iter()
            .map(|f| {
                (
                    f.name.to_owned(),
                    f.kind.as_str().to_owned(),
                    f.labels.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>(),
                    process_names(f),
                )
            })
            .collect();
        assert_eq!(code, doc, "FAMILIES and docs/METRICS.md disagree");
    }
}
