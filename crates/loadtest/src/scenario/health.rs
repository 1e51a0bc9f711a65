//! Load on `GET /health` for `--duration`. Closed loop by default, every connection
//! sending back to back: the server's HTTP ceiling with the same client, the yardstick
//! for the issue path's figures (scripts/bench prints issue ÷ health). With `--rate`, a
//! request every `1 / rate` seconds with latency counted from its slot, as `--scenario
//! rate` does: the per-second p99 of a server that stores nothing, at the issue path's
//! rate, on the same box and client: what the box's own hiccups do to that figure.

use crate::args::Args;
use crate::client::{ErrorKind, Target};
use crate::engine::{Plan, Reply, RunConfig, Timing, Work};
use crate::scenario::rate;
use crate::stats::Outcome;
use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::Full;
use std::time::Duration;

pub struct HealthPlan {
    target: Target,
    uri: Uri,
    /// Requests per second and how many in all; `None`: closed loop.
    paced: Option<(f64, u64)>,
}

impl HealthPlan {
    pub fn new(target: &Target, args: &Args) -> Self {
        Self {
            target: target.clone(),
            uri: Uri::from_static("/health"),
            paced: args.rate.map(|rate| (rate.max(1) as f64, args.arrivals())),
        }
    }
}

impl Plan for HealthPlan {
    type Step = std::convert::Infallible;
    fn jobs(&self) -> Option<u64> {
        self.paced.map(|(_, n)| n)
    }
    fn start_at(&self, job: u64) -> Option<Duration> {
        self.paced.map(|(rate, _)| rate::slot(job, rate))
    }
    fn request(&self, _work: &Work<Self::Step>) -> Request<Full<Bytes>> {
        self.target.request(Method::GET, &self.uri, None, None)
    }
    fn answer(
        &self,
        _work: Work<Self::Step>,
        reply: Reply<'_>,
        _timing: Timing,
    ) -> Result<Outcome, ErrorKind> {
        reply.map(|_| Outcome::Ok)
    }
}

pub fn config(args: &Args) -> RunConfig {
    if args.rate.is_some() {
        return rate::paced_config(args, "health");
    }
    RunConfig {
        connections: args.connections_or_default(),
        timeout: args.timeout,
        duration: Some(args.duration_or_default()),
        send_deadline: None,
        latency_from_schedule: false,
        progress: (!args.quiet).then_some("health"),
    }
}
