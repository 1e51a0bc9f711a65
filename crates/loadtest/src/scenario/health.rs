//! Constant load on `GET /health` for `--duration`, every connection sending back to
//! back: the server's HTTP ceiling with the same client, the yardstick for the issue
//! path's figures (scripts/bench prints issue ÷ health).

use crate::client::{ErrorKind, Target};
use crate::engine::{Plan, Reply, RunConfig, Timing, Work};
use crate::stats::Outcome;
use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::Full;

pub struct HealthPlan {
    target: Target,
    uri: Uri,
}

impl HealthPlan {
    pub fn new(target: &Target) -> Self {
        Self {
            target: target.clone(),
            uri: Uri::from_static("/health"),
        }
    }
}

impl Plan for HealthPlan {
    type Step = std::convert::Infallible;
    fn jobs(&self) -> Option<u64> {
        None
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

pub fn config(args: &crate::args::Args) -> RunConfig {
    RunConfig {
        connections: args.connections_or_default(),
        timeout: args.timeout,
        duration: Some(args.duration_or_default()),
        send_deadline: None,
        latency_from_schedule: false,
        progress: (!args.quiet).then_some("health"),
    }
}
