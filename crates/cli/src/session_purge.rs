//! The hourly purge of expired refresh tokens, in every process that serves the API.
//! Without it the table grows by a row per login and per refresh, forever. Several api
//! nodes purging at once is harmless: each DELETE takes what is left.

use couponrush_domain::services::Sessions;
use std::time::Duration;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_secs(3600);

/// Stops the purge when dropped (with the process's serving).
pub struct SessionPurge(JoinHandle<()>);

impl Drop for SessionPurge {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Purges now, then every hour.
pub fn spawn(sessions: Sessions) -> SessionPurge {
    SessionPurge(tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            match sessions.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired refresh tokens purged"),
                Err(e) => tracing::warn!(error = %e, "purging expired refresh tokens failed"),
            }
        }
    }))
}
