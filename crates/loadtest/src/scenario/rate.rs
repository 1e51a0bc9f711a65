//! Constant arrival rate (k6's `constant-arrival-rate`): a new user arrives every
//! `1 / --rate` seconds for `--duration`, whether or not earlier ones were answered; the
//! coupon has one unit per arrival by default, so the run measures the issue path, not
//! SOLD_OUT answers.
//!
//! Latency counts from the scheduled arrival (wrk2's correction for coordinated
//! omission): when every connection is busy, the wait is the server's fault and shows.
//! Arrivals whose slot comes more than `--timeout` after the end are dropped and counted,
//! which bounds the run at `duration + 2 × timeout`.

use super::issue::Schedule;
use crate::args::Args;
use crate::engine::RunConfig;
use std::time::Duration;

/// Requests per user, schedule and engine settings of a constant-rate run.
pub fn shape(args: &Args) -> (u64, Schedule, RunConfig) {
    let rate = args.rate.unwrap_or(1).max(1) as f64;
    (1, Schedule::Rate(rate), paced_config(args, "rate"))
}

/// Engine settings of any run paced at `--rate` (issues, or a paced `/health`): a fixed
/// number of jobs, latency from each one's slot, slots more than `--timeout` late
/// dropped.
pub fn paced_config(args: &Args, progress: &'static str) -> RunConfig {
    RunConfig {
        connections: args.connections_or_default(),
        timeout: args.timeout,
        duration: None,
        send_deadline: Some(args.duration_or_default() + args.timeout),
        latency_from_schedule: true,
        progress: (!args.quiet).then_some(progress),
    }
}

/// When job `job` of a run paced at `rate` per second starts.
pub fn slot(job: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(job as f64 / rate)
}
