//! [`MemoryAttemptLimiter`]: embedded mode's failed-login and signup counters, the
//! rules of `couponrush_domain::throttle` over three maps under one lock.
//!
//! Memory stays bounded by time: every entry has an instant after which it says
//! nothing (a drained bucket, a forgotten username), and every 1,024th write sweeps
//! the expired ones. A client spraying usernames costs ~100 bytes per username for the
//! forget period (15 minutes by default).

use async_trait::async_trait;
use couponrush_domain::ports::AttemptLimiter;
use couponrush_domain::throttle::{Admission, Bucket, ThrottlePolicy, UsernameFailures};
use couponrush_domain::{StoreError, Username};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;

pub struct MemoryAttemptLimiter {
    policy: ThrottlePolicy,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    usernames: HashMap<String, UsernameFailures>,
    address_failures: HashMap<IpAddr, Bucket>,
    address_signups: HashMap<IpAddr, Bucket>,
    writes: u64,
}

const SWEEP_EVERY: u64 = 1_024;

impl State {
    fn wrote(&mut self, policy: &ThrottlePolicy, now_ms: i64) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.usernames
                .retain(|_, s| s.expires_at_ms(policy) > now_ms);
            self.address_failures
                .retain(|_, b| b.expires_at_ms() > now_ms);
            self.address_signups
                .retain(|_, b| b.expires_at_ms() > now_ms);
        }
    }
}

impl MemoryAttemptLimiter {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    /// Entries held (for tests of the sweep).
    pub fn entries(&self) -> usize {
        let s = self.state.lock();
        s.usernames.len() + s.address_failures.len() + s.address_signups.len()
    }
}

#[async_trait]
impl AttemptLimiter for MemoryAttemptLimiter {
    async fn login_admission(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<Admission, StoreError> {
        let s = self.state.lock();
        let by_name = s
            .usernames
            .get(username.as_str())
            .map_or(Admission::Allowed, |f| f.admission(now_ms));
        let by_address = s
            .address_failures
            .get(&client)
            .copied()
            .unwrap_or_default()
            .admission(&self.policy.address_failures, now_ms);
        Ok(by_name.and(by_address))
    }

    async fn login_failed(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let p = &self.policy;
        let mut s = self.state.lock();
        let f = s.usernames.entry(username.as_str().to_owned()).or_default();
        *f = f.failed(p, now_ms);
        if !p.address_failures.is_unlimited() {
            let b = s.address_failures.entry(client).or_default();
            *b = b.counted(&p.address_failures, now_ms);
        }
        s.wrote(p, now_ms);
        Ok(())
    }

    async fn login_succeeded(&self, username: &Username) -> Result<(), StoreError> {
        self.state.lock().usernames.remove(username.as_str());
        Ok(())
    }

    async fn signup_attempt(&self, client: IpAddr, now_ms: i64) -> Result<Admission, StoreError> {
        let rate = self.policy.address_signups;
        if rate.is_unlimited() {
            return Ok(Admission::Allowed);
        }
        let mut s = self.state.lock();
        let bucket = s.address_signups.get(&client).copied().unwrap_or_default();
        let admission = bucket.admission(&rate, now_ms);
        if admission == Admission::Allowed {
            s.address_signups
                .insert(client, bucket.counted(&rate, now_ms));
            s.wrote(&self.policy, now_ms);
        }
        Ok(admission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponrush_domain::throttle::Rate;
    use std::time::Duration;

    #[tokio::test]
    async fn expired_entries_are_swept() {
        let policy = ThrottlePolicy {
            username_forget_after: Duration::from_secs(1),
            address_failures: Rate::per_minute(1_000_000),
            ..ThrottlePolicy::default()
        };
        let l = MemoryAttemptLimiter::new(policy);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..SWEEP_EVERY - 1 {
            let name = Username::parse(&format!("user-{i}")).unwrap();
            l.login_failed(&name, ip, 0).await.unwrap();
        }
        assert_eq!(l.entries() as u64, SWEEP_EVERY); // the names and one address
        // Much later, one more write sweeps everything expired.
        let later = 3_600_000;
        let name = Username::parse("late").unwrap();
        l.login_failed(&name, ip, later).await.unwrap();
        assert_eq!(l.entries(), 2);
    }
}
