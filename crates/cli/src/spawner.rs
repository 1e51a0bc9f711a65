//! The [`Spawner`] every process uses: a task on the Tokio runtime it runs in, carrying
//! what the spawning request carried — its tracing span, its trace id (a task-local,
//! which a new task would otherwise lose; the Kafka record's trace header is read
//! from it) and its turn (`append_waiters`).

use crate::append_waiters;
use couponrush_domain::ports::Spawner;
use couponrush_telemetry::trace;
use futures::future::BoxFuture;
use tracing::Instrument;

#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn(&self, work: BoxFuture<'static, ()>) {
        let work = append_waiters::carry(work.instrument(tracing::Span::current()));
        match trace::current_trace_id() {
            Some(id) => tokio::spawn(trace::scope(id, work)),
            None => tokio::spawn(work),
        };
    }
}
