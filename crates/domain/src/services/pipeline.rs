//! The issue pipeline as an operator watches it: how far the consumers are behind the
//! log (distributed mode), for the admin console next to each coupon's figures.

use crate::StoreError;
use crate::ports::LogDrain;
use std::sync::Arc;

#[derive(Clone)]
pub struct Pipeline {
    drain: Arc<dyn LogDrain>,
}

impl Pipeline {
    pub fn new(drain: Arc<dyn LogDrain>) -> Self {
        Self { drain }
    }

    /// Records accepted and not yet persisted (or dead-lettered), over the whole log;
    /// `None` in embedded mode, where nothing is answered ACCEPTED before it is stored.
    pub async fn consumer_lag(&self) -> Result<Option<u64>, StoreError> {
        self.drain.behind().await
    }
}
