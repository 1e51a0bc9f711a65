//! [`RedisAttemptLimiter`]: failed-login and signup counters shared by every api node,
//! so a client cannot spread its guesses over nodes. The rules are those of
//! `couponrush_domain::throttle`; the writes are Lua scripts (`scripts/username_failed.lua`,
//! `scripts/bucket.lua`) so concurrent failures on several nodes all count.
//!
//! One key per username and per address, each its own hash tag (`{auth-user:<hex>}`,
//! `{auth-addr:<ip>}`), so every script touches one slot and the keys spread over a
//! cluster. The username goes in as hex: it may contain braces, which would move the
//! tag. Every key carries a TTL: an idle username or address leaves nothing behind.
//! The instant comes from the caller (the node's clock); nodes' clocks within a second
//! of each other are close enough for lockouts measured in seconds.

use crate::connect::RedisConnection;
use crate::error::{SetupError, unavailable};
use crate::keys::{self, check_part};
use crate::scripts::{BUCKET, USERNAME_FAILED};
use async_trait::async_trait;
use couponrush_domain::ports::AttemptLimiter;
use couponrush_domain::throttle::{Admission, Bucket, Rate, ThrottlePolicy, UsernameFailures};
use couponrush_domain::{StoreError, Username};
use std::net::IpAddr;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisAttemptLimiter {
    conn: RedisConnection,
    prefix: String,
    policy: ThrottlePolicy,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RedisAttemptLimiter {
    pub fn new(
        conn: RedisConnection,
        key_prefix: &str,
        policy: ThrottlePolicy,
    ) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        Ok(Self {
            conn,
            prefix: key_prefix.to_owned(),
            policy,
        })
    }

    fn username_key(&self, username: &Username) -> String {
        keys::auth_username(&self.prefix, username)
    }

    fn address_key(&self, client: IpAddr, what: &str) -> String {
        keys::auth_address(&self.prefix, client, what)
    }

    async fn bucket(
        &self,
        key: &str,
        rate: &Rate,
        now_ms: i64,
        mode: &str,
    ) -> Result<i64, StoreError> {
        BUCKET
            .key(key)
            .arg(now_ms)
            .arg(rate.interval_ms())
            .arg(rate.tolerance_ms())
            .arg(mode)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

fn throttled_for(ms: i64) -> Admission {
    if ms <= 0 {
        Admission::Allowed
    } else {
        Admission::Throttled {
            retry_after: Duration::from_millis(ms.unsigned_abs()),
        }
    }
}

#[async_trait]
impl AttemptLimiter for RedisAttemptLimiter {
    async fn login_admission(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<Admission, StoreError> {
        let (mut a, mut b) = (self.conn.clone(), self.conn.clone());
        let user_key = self.username_key(username);
        let addr_key = self.address_key(client, "failures");
        // Two slots, so two commands; sent together on the multiplexed connection.
        let (locked_until, tat): (Option<i64>, Option<i64>) = tokio::try_join!(
            async {
                redis::cmd("HGET")
                    .arg(&user_key)
                    .arg("u")
                    .query_async(&mut a)
                    .await
            },
            async { redis::cmd("GET").arg(&addr_key).query_async(&mut b).await },
        )
        .map_err(unavailable)?;
        let by_name = UsernameFailures {
            locked_until_ms: locked_until.unwrap_or(0),
            ..UsernameFailures::default()
        }
        .admission(now_ms);
        let by_address = Bucket {
            tat_ms: tat.unwrap_or(0),
        }
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
        let user_key = self.username_key(username);
        let mut conn = self.conn.clone();
        let by_name = async {
            USERNAME_FAILED
                .key(&user_key)
                .arg(now_ms)
                .arg(p.username_free_failures)
                .arg(ms(p.username_base_lockout))
                .arg(ms(p.username_max_lockout))
                .arg(ms(p.username_forget_after))
                .invoke_async::<i64>(&mut conn)
                .await
                .map_err(unavailable)
        };
        let addr_key = self.address_key(client, "failures");
        let by_address = async {
            if p.address_failures.is_unlimited() {
                return Ok(0);
            }
            self.bucket(&addr_key, &p.address_failures, now_ms, "count")
                .await
        };
        tokio::try_join!(by_name, by_address)?;
        Ok(())
    }

    async fn login_succeeded(&self, username: &Username) -> Result<(), StoreError> {
        redis::cmd("DEL")
            .arg(self.username_key(username))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn signup_attempt(&self, client: IpAddr, now_ms: i64) -> Result<Admission, StoreError> {
        let rate = self.policy.address_signups;
        if rate.is_unlimited() {
            return Ok(Admission::Allowed);
        }
        let key = self.address_key(client, "signups");
        Ok(throttled_for(
            self.bucket(&key, &rate, now_ms, "try").await?,
        ))
    }
}
