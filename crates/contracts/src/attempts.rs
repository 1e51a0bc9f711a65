//! The [`AttemptLimiter`] contract: the rules of `couponrush_domain::throttle`, held by
//! the in-memory limiter and the Redis one alike. Call [`run_all`] with a factory that
//! makes a fresh limiter (its own key prefix) for a policy. Instants are passed in, from
//! the real clock, so a Redis key's TTL stays meaningful.

use couponrush_domain::Username;
use couponrush_domain::ports::AttemptLimiter;
use couponrush_domain::throttle::{Admission, Rate, ThrottlePolicy};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub async fn run_all<F, Fut>(make: F)
where
    F: Fn(ThrottlePolicy) -> Fut,
    Fut: Future<Output = Arc<dyn AttemptLimiter>>,
{
    a_username_locks_after_its_free_failures_for_doubling_times(make(policy()).await).await;
    rotating_addresses_does_not_reset_a_username(make(policy()).await).await;
    one_address_spraying_usernames_is_throttled(make(policy()).await).await;
    a_successful_login_forgets_the_usernames_failures(make(policy()).await).await;
    failures_are_forgotten_after_a_quiet_period(make(policy()).await).await;
    signups_are_limited_per_address(make(policy()).await).await;
    unlimited_rates_never_throttle(make(unlimited()).await).await;
    concurrent_failures_all_count(
        make(ThrottlePolicy {
            username_free_failures: 30,
            ..policy()
        })
        .await,
    )
    .await;
}

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

fn unlimited() -> ThrottlePolicy {
    ThrottlePolicy {
        address_failures: Rate::UNLIMITED,
        address_signups: Rate::UNLIMITED,
        ..policy()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn name() -> Username {
    Username::parse(&format!("user-{}", uuid::Uuid::new_v4())).unwrap()
}

/// A fresh address from 10.0.0.0/8 or fd00::/8, so checks never share one.
fn address() -> IpAddr {
    let b = *uuid::Uuid::new_v4().as_bytes();
    if b[0].is_multiple_of(2) {
        IpAddr::from([10, b[1], b[2], b[3]])
    } else {
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        v6[1..].copy_from_slice(&b[1..]);
        IpAddr::from(v6)
    }
}

fn throttled(secs: f64) -> Admission {
    Admission::Throttled {
        retry_after: Duration::from_secs_f64(secs),
    }
}

async fn admission(l: &dyn AttemptLimiter, u: &Username, ip: IpAddr, at: i64) -> Admission {
    l.login_admission(u, ip, at).await.expect("login_admission")
}

pub async fn a_username_locks_after_its_free_failures_for_doubling_times(
    l: Arc<dyn AttemptLimiter>,
) {
    let (u, t) = (name(), now());
    let mut seen = Vec::new();
    for i in 0..7 {
        // Each failure from a new address: only the username's rule is at work.
        let ip = address();
        l.login_failed(&u, ip, t + i).await.unwrap();
        seen.push(admission(&*l, &u, address(), t + i).await);
    }
    assert_eq!(
        seen,
        [
            Admission::Allowed,
            Admission::Allowed,
            Admission::Allowed,
            throttled(1.0),
            throttled(2.0),
            throttled(4.0),
            throttled(8.0),
        ],
        "3 free failures, then 1 s doubling up to the 8 s cap"
    );
    l.login_failed(&u, address(), t + 7).await.unwrap();
    assert_eq!(admission(&*l, &u, address(), t + 7).await, throttled(8.0));
    assert_eq!(
        admission(&*l, &u, address(), t + 7 + 8_000).await,
        Admission::Allowed,
        "a lockout ends"
    );
    assert_eq!(
        admission(&*l, &name(), address(), t).await,
        Admission::Allowed,
        "another username is not locked"
    );
}

pub async fn rotating_addresses_does_not_reset_a_username(l: Arc<dyn AttemptLimiter>) {
    let (u, t) = (name(), now());
    for i in 0..4 {
        l.login_failed(&u, address(), t + i).await.unwrap();
    }
    let fresh = address();
    assert_eq!(admission(&*l, &u, fresh, t + 4).await, throttled(0.999));
}

pub async fn one_address_spraying_usernames_is_throttled(l: Arc<dyn AttemptLimiter>) {
    let (ip, t) = (address(), now());
    // Burst of 6 a minute: six failures fit, the seventh attempt waits 10 s.
    for _ in 0..6 {
        let u = name();
        assert_eq!(admission(&*l, &u, ip, t).await, Admission::Allowed);
        l.login_failed(&u, ip, t).await.unwrap();
    }
    assert_eq!(admission(&*l, &name(), ip, t).await, throttled(10.0));
    assert_eq!(
        admission(&*l, &name(), ip, t + 10_000).await,
        Admission::Allowed,
        "the bucket refills one failure per 10 s"
    );
    assert_eq!(
        admission(&*l, &name(), address(), t).await,
        Admission::Allowed,
        "another address is not throttled"
    );
}

pub async fn a_successful_login_forgets_the_usernames_failures(l: Arc<dyn AttemptLimiter>) {
    let (u, ip, t) = (name(), address(), now());
    for i in 0..3 {
        l.login_failed(&u, ip, t + i).await.unwrap();
    }
    l.login_succeeded(&u).await.unwrap();
    l.login_failed(&u, ip, t + 3).await.unwrap();
    assert_eq!(
        admission(&*l, &u, address(), t + 3).await,
        Admission::Allowed,
        "one failure after a success is the first of three free ones"
    );
}

pub async fn failures_are_forgotten_after_a_quiet_period(l: Arc<dyn AttemptLimiter>) {
    let (u, t) = (name(), now());
    for i in 0..3 {
        l.login_failed(&u, address(), t + i).await.unwrap();
    }
    let later = t + 2 + 60_001;
    l.login_failed(&u, address(), later).await.unwrap();
    assert_eq!(
        admission(&*l, &u, address(), later).await,
        Admission::Allowed
    );
}

pub async fn signups_are_limited_per_address(l: Arc<dyn AttemptLimiter>) {
    let (ip, t) = (address(), now());
    assert_eq!(l.signup_attempt(ip, t).await.unwrap(), Admission::Allowed);
    assert_eq!(l.signup_attempt(ip, t).await.unwrap(), Admission::Allowed);
    // Two a minute: the third waits 30 s, and being refused does not push it further.
    assert_eq!(l.signup_attempt(ip, t).await.unwrap(), throttled(30.0));
    assert_eq!(l.signup_attempt(ip, t).await.unwrap(), throttled(30.0));
    assert_eq!(
        l.signup_attempt(ip, t + 30_000).await.unwrap(),
        Admission::Allowed
    );
    assert_eq!(
        l.signup_attempt(address(), t).await.unwrap(),
        Admission::Allowed,
        "another address has its own budget"
    );
}

pub async fn unlimited_rates_never_throttle(l: Arc<dyn AttemptLimiter>) {
    let (ip, t) = (address(), now());
    for _ in 0..50 {
        assert_eq!(l.signup_attempt(ip, t).await.unwrap(), Admission::Allowed);
        let u = name();
        l.login_failed(&u, ip, t).await.unwrap();
        assert_eq!(admission(&*l, &u, ip, t).await, Admission::Allowed);
    }
}

pub async fn concurrent_failures_all_count(l: Arc<dyn AttemptLimiter>) {
    let (u, t) = (name(), now());
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (l, u) = (l.clone(), u.clone());
            tokio::spawn(async move { l.login_failed(&u, address(), t).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        admission(&*l, &u, address(), t).await,
        Admission::Allowed,
        "30 failures are the 30 free ones"
    );
    l.login_failed(&u, address(), t).await.unwrap();
    assert_eq!(
        admission(&*l, &u, address(), t).await,
        throttled(1.0),
        "the 31st locks: none of the 30 concurrent ones was lost"
    );
}
