//! Database pool gauges, sampled periodically: `idle` and `in_use` connections of
//! whatever pool the process holds (sqlx's `size()` / `num_idle()`, read by a closure
//! so this crate names no database driver).

use super::names::DB_POOL_CONNECTIONS;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the pool is sampled: often enough to see a rush, cheap (two atomics).
pub const POOL_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Stops sampling when dropped.
#[derive(Debug)]
pub struct PoolSampler(JoinHandle<()>);

impl Drop for PoolSampler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Samples `read() -> (size, idle)` now and every [`POOL_SAMPLE_EVERY`] until the
/// returned guard is dropped. Must be called inside a Tokio runtime.
pub fn sample_pool(read: impl Fn() -> (u32, usize) + Send + 'static) -> PoolSampler {
    let idle = metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle");
    let in_use = metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use");
    PoolSampler(tokio::spawn(async move {
        let mut tick = tokio::time::interval(POOL_SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (size, idle_now) = read();
            let size = f64::from(size);
            #[allow(clippy::cast_precision_loss)] // a pool holds a handful of connections
            let idle_now = idle_now as f64;
            idle.set(idle_now);
            in_use.set((size - idle_now).max(0.0));
        }
    }))
}
