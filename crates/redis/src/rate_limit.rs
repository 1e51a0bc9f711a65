//! [`RedisRateLimiter`]: one rate limit shared by every consumer instance, so the
//! database sees the configured write rate however many consumers run.
//!
//! GCRA in one Lua script (`scripts/rate_limit.lua`): a single timestamp per limiter,
//! no background refill, and the server's clock, so hosts with skewed clocks still
//! share one budget. Each grant also adds to a counter next to it, which metrics and
//! tests read with [`RedisRateLimiter::granted_total`].
//!
//! Two ways to take permits: [`RateLimiter::try_acquire`] (the port: take them if
//! usable now, else say how long to wait) and [`RedisRateLimiter::acquire`], which
//! books the next free slot and sleeps until it starts: one round trip per chunk and
//! first come first served, where polling would let small requests starve large ones.
//! Pick one per limiter: bookings go ahead of pollers, who only get what is left.

use crate::connect::RedisConnection;
use crate::connect::connection;
use crate::error::{SetupError, unavailable, unexpected};
use crate::keys::{self, check_part};
use crate::scripts::{self, RATE_LIMIT};
use async_trait::async_trait;
use couponrush_domain::StoreError;
use couponrush_domain::ports::RateLimiter;
use std::time::Duration;

/// A sustained rate and how many permits may be taken at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    rate_per_sec: f64,
    burst: u32,
}

impl RateLimit {
    /// `rate_per_sec` must be finite and positive, `burst` at least 1.
    pub fn new(rate_per_sec: f64, burst: u32) -> Result<Self, SetupError> {
        if !(rate_per_sec.is_finite() && rate_per_sec > 0.0) {
            return Err(SetupError::Invalid {
                what: "rate_per_sec",
                why: format!("{rate_per_sec} is not a positive number"),
            });
        }
        if burst == 0 {
            return Err(SetupError::Invalid {
                what: "burst",
                why: "must be at least 1".into(),
            });
        }
        Ok(Self {
            rate_per_sec,
            burst,
        })
    }

    pub fn rate_per_sec(&self) -> f64 {
        self.rate_per_sec
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Microseconds between two permits at the sustained rate.
    fn interval_us(&self) -> f64 {
        1e6 / self.rate_per_sec
    }
}

/// A [`RateLimiter`] whose budget lives in Redis under `<prefix>{ratelimit:<name>}`:
/// every instance built with the same prefix and name shares it.
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: RedisConnection,
    state_key: String,
    granted_key: String,
    limit: RateLimit,
}

impl RedisRateLimiter {
    /// Connects to `url` and loads the script. `key_prefix` and `name` must not
    /// contain `{` or `}`.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        name: &str,
        limit: RateLimit,
    ) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        check_part("rate limiter name", name)?;
        let mut conn = connection(url).await?;
        scripts::preload(&mut conn, &[&RATE_LIMIT]).await?;
        Self::new(conn, key_prefix, name, limit)
    }

    /// A limiter on an existing connection (shared with other adapters of the process).
    pub fn new(
        conn: RedisConnection,
        key_prefix: &str,
        name: &str,
        limit: RateLimit,
    ) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        check_part("rate limiter name", name)?;
        let (state_key, granted_key) = keys::rate_limit(key_prefix, name);
        Ok(Self {
            conn,
            state_key,
            granted_key,
            limit,
        })
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Permits granted under this prefix and name since the counter key was created,
    /// by every instance together (including reserved ones still waiting to be usable).
    pub async fn granted_total(&self) -> Result<u64, StoreError> {
        let total: Option<u64> = redis::cmd("GET")
            .arg(&self.granted_key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(total.unwrap_or(0))
    }

    /// Takes `permits`, sleeping until they may be used, and returns the time spent
    /// sleeping. Each chunk (at most the burst, so a large request never exceeds the
    /// rate) is reserved in one round trip: the limiter books the next free slot and
    /// says when it starts. Callers queue in arrival order instead of polling, so a
    /// batch is not starved by callers asking for single permits. Cancelling keeps
    /// what was reserved: the budget is under-used, never exceeded.
    pub async fn acquire(&self, permits: u32) -> Result<Duration, StoreError> {
        let mut left = permits;
        let mut waited = Duration::ZERO;
        while left > 0 {
            let chunk = left.min(self.limit.burst);
            // A reservation is always taken; `Err` would mean the script refused it,
            // and then waiting and asking again is the safe reading.
            let (taken, wait) = match self.call(chunk, Mode::Reserve).await? {
                Ok(until_usable) => (true, until_usable),
                Err(retry_after) => (false, retry_after),
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                waited += wait;
            }
            if taken {
                left -= chunk;
            }
        }
        Ok(waited)
    }

    /// One script call: `Ok(Ok(until_usable))` when taken, `Ok(Err(retry_after))` when not.
    async fn call(
        &self,
        permits: u32,
        mode: Mode,
    ) -> Result<Result<Duration, Duration>, StoreError> {
        let (taken, us): (i64, i64) = RATE_LIMIT
            .key(&self.state_key)
            .key(&self.granted_key)
            .arg(self.limit.interval_us())
            .arg(self.limit.burst)
            .arg(permits)
            .arg(mode.as_arg())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let wait = u64::try_from(us)
            .map(Duration::from_micros)
            .map_err(|_| unexpected("rate limit", us))?;
        match taken {
            1 => Ok(Ok(wait)),
            0 => Ok(Err(wait)),
            other => Err(unexpected("rate limit", other)),
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    /// Take only what is usable now.
    Try,
    /// Take now, usable after the returned wait.
    Reserve,
}

impl Mode {
    fn as_arg(self) -> &'static str {
        match self {
            Self::Try => "try",
            Self::Reserve => "reserve",
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    /// One script call. A request larger than the burst is granted only once the
    /// limiter is idle (full burst available) and is charged in full, so it cannot wait
    /// forever and the callers after it wait out the excess.
    async fn try_acquire(&self, permits: u32) -> Result<Option<Duration>, StoreError> {
        if permits == 0 {
            return Ok(None);
        }
        Ok(self.call(permits, Mode::Try).await?.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_limits_are_refused() {
        assert!(RateLimit::new(0.0, 1).is_err());
        assert!(RateLimit::new(-5.0, 1).is_err());
        assert!(RateLimit::new(f64::NAN, 1).is_err());
        assert!(RateLimit::new(f64::INFINITY, 1).is_err());
        assert!(RateLimit::new(10.0, 0).is_err());
        assert_eq!(RateLimit::new(4.0, 2).unwrap().interval_us(), 250_000.0);
    }
}
