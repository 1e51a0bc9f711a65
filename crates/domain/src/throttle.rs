//! Limits on sign-in attempts, as pure arithmetic over a little state per key, so the
//! in-memory limiter (embedded mode) and the Redis scripts (distributed mode) apply
//! the same rules and one contract suite pins both.
//!
//! Two rules:
//! - **per username**: a few failed logins are free; after them each failure locks the
//!   username out for a time that doubles with every further failure, up to a cap. The
//!   count lives under the username, not the address, so rotating addresses does not
//!   reset it; it is forgotten after a quiet period or a successful login. A lockout
//!   delays, never disables: the real owner waits at most the cap.
//! - **per client address**: a token bucket (GCRA: one number per key, the theoretical
//!   arrival time of the next permit) for failed logins from one address across every
//!   username (password spraying), and another for signups.
//!
//! Times are milliseconds since the Unix epoch, passed in, so tests choose the instant.

use std::time::Duration;

/// A bucket: `limit` events at once, refilled evenly over `period`. `limit == 0` means
/// no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub period: Duration,
}

impl Rate {
    pub const UNLIMITED: Rate = Rate {
        limit: 0,
        period: Duration::from_secs(1),
    };

    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.limit == 0
    }

    /// Milliseconds one event adds to the bucket's arrival time (at least 1).
    pub fn interval_ms(&self) -> i64 {
        (millis(self.period) / i64::from(self.limit.max(1))).max(1)
    }

    /// How far the arrival time may run ahead of now: the burst.
    pub fn tolerance_ms(&self) -> i64 {
        millis(self.period) - self.interval_ms()
    }
}

/// The throttling rules, chosen in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failed logins of one username before the first lockout.
    pub username_free_failures: u32,
    /// The first lockout; each further failure doubles it.
    pub username_base_lockout: Duration,
    pub username_max_lockout: Duration,
    /// A username's failures are forgotten after this long without one.
    pub username_forget_after: Duration,
    /// Failed logins from one address, over every username.
    pub address_failures: Rate,
    /// Signups from one address.
    pub address_signups: Rate,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            username_free_failures: 5,
            username_base_lockout: Duration::from_secs(1),
            username_max_lockout: Duration::from_secs(15 * 60),
            username_forget_after: Duration::from_secs(15 * 60),
            address_failures: Rate::per_minute(30),
            address_signups: Rate::per_minute(20),
        }
    }
}

/// What a limiter answers before any password is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over a limit: ask again after this long.
    Throttled {
        retry_after: Duration,
    },
}

impl Admission {
    fn after_ms(ms: i64) -> Self {
        if ms <= 0 {
            Admission::Allowed
        } else {
            Admission::Throttled {
                retry_after: Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)),
            }
        }
    }

    /// The longer wait of two answers.
    pub fn and(self, other: Admission) -> Admission {
        match (self, other) {
            (Admission::Allowed, x) | (x, Admission::Allowed) => x,
            (Admission::Throttled { retry_after: a }, Admission::Throttled { retry_after: b }) => {
                Admission::Throttled {
                    retry_after: a.max(b),
                }
            }
        }
    }
}

/// One username's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsernameFailures {
    pub failures: u32,
    pub last_failure_ms: i64,
    pub locked_until_ms: i64,
}

impl UsernameFailures {
    pub fn admission(&self, now_ms: i64) -> Admission {
        Admission::after_ms(self.locked_until_ms - now_ms)
    }

    /// The state after one more failure at `now_ms`.
    pub fn failed(self, policy: &ThrottlePolicy, now_ms: i64) -> Self {
        let forgotten = now_ms - self.last_failure_ms > millis(policy.username_forget_after);
        let failures = if forgotten { 1 } else { self.failures + 1 };
        let locked_until_ms = match failures.checked_sub(policy.username_free_failures + 1) {
            None => self.locked_until_ms,
            Some(doublings) => now_ms + lockout_ms(policy, doublings),
        };
        Self {
            failures,
            last_failure_ms: now_ms,
            locked_until_ms,
        }
    }

    /// When the state can be dropped: no lockout left and nothing to remember.
    pub fn expires_at_ms(&self, policy: &ThrottlePolicy) -> i64 {
        self.locked_until_ms
            .max(self.last_failure_ms + millis(policy.username_forget_after))
    }
}

/// `base × 2^doublings`, capped.
fn lockout_ms(policy: &ThrottlePolicy, doublings: u32) -> i64 {
    let base = millis(policy.username_base_lockout);
    let cap = millis(policy.username_max_lockout);
    base.checked_shl(doublings.min(40))
        .map_or(cap, |v| v.min(cap))
}

/// A GCRA bucket's state: the theoretical arrival time of the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    pub tat_ms: i64,
}

impl Bucket {
    /// Whether one more event fits now.
    pub fn admission(&self, rate: &Rate, now_ms: i64) -> Admission {
        if rate.is_unlimited() {
            return Admission::Allowed;
        }
        Admission::after_ms(self.tat_ms.max(now_ms) - now_ms - rate.tolerance_ms())
    }

    /// The state after one event at `now_ms` (counted whether or not it fitted: the
    /// caller checks first).
    pub fn counted(self, rate: &Rate, now_ms: i64) -> Self {
        Self {
            tat_ms: self.tat_ms.max(now_ms) + rate.interval_ms(),
        }
    }

    /// When the bucket is full again and its state can be dropped.
    pub fn expires_at_ms(&self) -> i64 {
        self.tat_ms
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            username_free_failures: 3,
            username_base_lockout: Duration::from_secs(1),
            username_max_lockout: Duration::from_secs(8),
            username_forget_after: Duration::from_secs(60),
            address_failures: Rate::per_minute(6),
            address_signups: Rate::per_minute(2),
        }
    }

    fn locked_for(state: &UsernameFailures, now: i64) -> u64 {
        match state.admission(now) {
            Admission::Allowed => 0,
            Admission::Throttled { retry_after } => retry_after.as_millis() as u64,
        }
    }

    #[test]
    fn a_username_is_locked_after_its_free_failures_for_doubling_times_up_to_the_cap() {
        let p = policy();
        let mut s = UsernameFailures::default();
        let now = 1_000_000;
        let mut seen = Vec::new();
        for _ in 0..8 {
            s = s.failed(&p, now);
            seen.push(locked_for(&s, now));
        }
        assert_eq!(seen, [0, 0, 0, 1_000, 2_000, 4_000, 8_000, 8_000]);
        assert_eq!(s.admission(now + 8_000), Admission::Allowed);
    }

    #[test]
    fn a_quiet_period_forgets_the_failures() {
        let p = policy();
        let mut s = UsernameFailures::default();
        for _ in 0..4 {
            s = s.failed(&p, 0);
        }
        assert_eq!(locked_for(&s, 0), 1_000);
        let later = 60_001;
        s = s.failed(&p, later);
        assert_eq!(s.failures, 1);
        assert_eq!(s.admission(later), Admission::Allowed);
    }

    #[test]
    fn a_bucket_takes_its_burst_then_one_per_interval() {
        let rate = Rate::per_minute(6); // one per 10 s, burst 6
        let mut b = Bucket::default();
        let now = 5_000_000;
        for _ in 0..6 {
            assert_eq!(b.admission(&rate, now), Admission::Allowed);
            b = b.counted(&rate, now);
        }
        assert_eq!(
            b.admission(&rate, now),
            Admission::Throttled {
                retry_after: Duration::from_secs(10)
            }
        );
        assert_eq!(b.admission(&rate, now + 10_000), Admission::Allowed);
        assert_eq!(b.expires_at_ms(), now + 60_000);
    }

    #[test]
    fn an_unlimited_rate_never_throttles() {
        let mut b = Bucket::default();
        for _ in 0..1_000 {
            b = b.counted(&Rate::UNLIMITED, 0);
        }
        assert_eq!(b.admission(&Rate::UNLIMITED, 0), Admission::Allowed);
    }

    #[test]
    fn the_longer_wait_wins() {
        let t = |s| Admission::Throttled {
            retry_after: Duration::from_secs(s),
        };
        assert_eq!(Admission::Allowed.and(t(3)), t(3));
        assert_eq!(t(5).and(t(3)), t(5));
        assert_eq!(
            Admission::Allowed.and(Admission::Allowed),
            Admission::Allowed
        );
    }
}
