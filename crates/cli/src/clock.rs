//! The [`Clock`] every process uses: the wall clock for rules, Tokio's timer for waits.

use chrono::{DateTime, Utc};
use couponrush_domain::ports::Clock;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(duration).boxed()
    }
}
