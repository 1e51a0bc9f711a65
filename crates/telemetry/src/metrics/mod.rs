//! Metrics: one Prometheus recorder per process behind the `metrics` facade, rendered
//! as Prometheus text by whichever server answers `GET /metrics`.
//!
//! Installing is idempotent: tests start many servers in one process, and every one of
//! them renders the same global registry. Code records with the `metrics` macros and
//! the names in [`names`]; [`register`] makes a process's families visible (at zero)
//! before anything happened, so dashboards and alerts see them from the first scrape.

pub mod names;
mod occupancy;
mod pool;

pub use names::{Family, Kind, Process};
pub use occupancy::Occupancy;
pub use pool::{PoolSampler, sample_pool};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Latency buckets in seconds: 100 µs (a memory gate step) to 10 s (a stuck dependency).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Batch-size buckets (rows or records): one row to the largest configurable batches.
pub const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

/// Waiting-room waits in seconds: 100 ms (admitted at the first poll) to 10 min (a
/// long line at a slow rate); beyond it, the `+Inf` bucket.
pub const WAIT_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// How often histogram samples are folded into their buckets between scrapes, so an
/// unscraped process does not accumulate raw samples.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder on first call; later calls return the same handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            // Someone installed another recorder first: /metrics will stay empty.
            tracing::warn!(error = %e, "a metrics recorder was already installed");
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no metrics upkeep thread; scrapes still drain samples");
        }
        handle
    })
}

fn builder() -> PrometheusBuilder {
    // Every histogram gets buckets (never a summary): by unit suffix, latency otherwise;
    // a full name wins over a suffix (the exporter tries full, prefix, suffix in turn).
    PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(names::ROOM_WAIT_SECONDS.into()), WAIT_BUCKETS)
        })
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_rows".into()), SIZE_BUCKETS))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_records".into()), SIZE_BUCKETS))
        .expect("bucket lists are non-empty constants")
}

/// The registry as Prometheus text ([`CONTENT_TYPE`]).
pub fn render() -> String {
    install().render()
}

/// Installs the recorder and registers the families this kind of process serves:
/// described (`# HELP`), and those without labels (plus every issue outcome) at zero.
/// Families with open-ended labels (routes, partitions) appear with their first sample.
pub fn register(process: Process) {
    install();
    for family in names::families_of(process) {
        let (name, help) = (family.name, family.help);
        match family.kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
        if family.labels.is_empty() {
            match family.kind {
                Kind::Counter => metrics::counter!(name).increment(0),
                // Registers without changing a value another server may have set.
                Kind::Gauge => metrics::gauge!(name).increment(0.0),
                Kind::Histogram => drop(metrics::histogram!(name)),
            }
        }
    }
    if matches!(process, Process::Serve | Process::Api) {
        for result in names::ISSUE_RESULTS {
            metrics::counter!(names::ISSUE_OUTCOMES_TOTAL, "result" => result).increment(0);
        }
        for op in names::HASH_OPS {
            for outcome in names::HASH_OUTCOMES {
                metrics::counter!(names::PASSWORD_HASHES_TOTAL, "op" => op, "outcome" => outcome)
                    .increment(0);
            }
        }
        for status in names::ROOM_POLL_STATUSES {
            metrics::counter!(names::ROOM_POLLS_TOTAL, "status" => status).increment(0);
        }
        for action in names::THROTTLED_ACTIONS {
            metrics::counter!(names::AUTH_THROTTLED_TOTAL, "action" => action).increment(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_families_render_with_buckets_before_any_sample() {
        register(Process::Serve);
        register(Process::Serve); // idempotent
        metrics::histogram!(names::GROUP_COMMIT_BATCH_ROWS).record(3.0);
        let text = render();
        for f in names::families_of(Process::Serve).filter(|f| f.labels.is_empty()) {
            assert!(
                text.contains(&format!("# TYPE {} {}", f.name, f.kind.as_str())),
                "{} missing:\n{text}",
                f.name
            );
        }
        assert!(text.contains("couponrush_gate_reserve_duration_seconds_bucket{le=\"0.0001\"} 0"));
        assert!(text.contains("couponrush_group_commit_batch_rows_bucket{le=\"5\"} 1"));
        assert!(text.contains("couponrush_issue_outcomes_total{result=\"not_active\"} 0"));
        metrics::histogram!(names::ROOM_WAIT_SECONDS, "coupon" => "c").record(42.0);
        let text = render();
        assert!(
            text.contains("couponrush_room_wait_seconds_bucket{coupon=\"c\",le=\"30\"} 0")
                && text.contains("couponrush_room_wait_seconds_bucket{coupon=\"c\",le=\"60\"} 1"),
            "waits have buckets of their own:\n{text}"
        );
        assert!(
            !text.contains("couponrush_consumer_"),
            "only the serve families"
        );
    }
}
