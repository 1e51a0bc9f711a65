//! The [`Spawner`] every process uses: a task on the Tokio runtime it runs in.

use couponrush_domain::ports::Spawner;
use futures::future::BoxFuture;

#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn(&self, work: BoxFuture<'static, ()>) {
        tokio::spawn(work);
    }
}
