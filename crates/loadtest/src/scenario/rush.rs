//! The rush: every user presses "get coupon" at (nearly) the same moment, each with
//! `--duplicates` extra concurrent presses, optionally released along `--ramp` stages.
//!
//! Latency counts from the send: with `--connections` below the number of users, the
//! rest wait their turn in the generator, and that wait shows up in "all users answered
//! in", not in the server's latency.

use super::issue::Schedule;
use crate::args::Args;
use crate::engine::RunConfig;

/// Requests per user, schedule and engine settings of a rush.
pub fn shape(args: &Args) -> (u64, Schedule, RunConfig) {
    let schedule = match &args.ramp {
        Some(ramp) => Schedule::Ramp(ramp.clone()),
        None => Schedule::AtOnce,
    };
    let config = RunConfig {
        connections: args.connections_or_default(),
        timeout: args.timeout,
        duration: None,
        send_deadline: None,
        latency_from_schedule: false,
        progress: (!args.quiet).then_some("rush"),
    };
    (1 + u64::from(args.duplicates), schedule, config)
}
