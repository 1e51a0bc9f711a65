//! `RedisWaitingLine` runs the same contract suite as every other `WaitingLine`, against
//! the real Redis, each check under a fresh key prefix; plus what only Redis can get
//! wrong: keys that expire, a slow rate kept exact across calls, and a shuffle of a
//! line far longer than one Lua `unpack()`.

mod support;

use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::{Pace, Place};
use couponrush_domain::{CouponId, UserId};
use couponrush_redis::RedisWaitingLine;
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_waiting_line_honours_the_waiting_line_contract() {
    let url = support::url();
    let prefixes = Arc::new(Mutex::new(Vec::new()));
    couponrush_contracts::waiting_line::run_all(|| {
        let url = url.clone();
        let prefixes = prefixes.clone();
        async move {
            let prefix = support::prefix();
            prefixes.lock().unwrap().push(prefix.clone());
            support::line_under_test(&url, &prefix).await
        }
    })
    .await;
    let prefixes = prefixes.lock().unwrap().clone();
    support::cleanup(&url, &prefixes).await;
}

/// Every key of a room shares one hash tag and carries a TTL (the shuffle, which
/// rebuilds the line, included): an abandoned room leaves nothing behind.
#[tokio::test]
async fn a_rooms_keys_share_a_tag_and_expire() {
    let url = support::url();
    let prefix = support::prefix();
    let line = RedisWaitingLine::connect(&url, &prefix).await.unwrap();
    let c = CouponId::new();
    line.open(c).await.unwrap();
    let (a, b) = (UserId::new(), UserId::new());
    line.join(c, a, None).await.unwrap();
    line.join(c, b, None).await.unwrap();
    line.join(c, UserId::new(), None).await.unwrap();
    assert!(line.shuffle_once(c, 1).await.unwrap());
    line.admit(c, couponrush_contracts::waiting_line::fast(1))
        .await
        .unwrap();
    line.set_switch(c, couponrush_domain::waiting_room::RoomSwitch::On)
        .await
        .unwrap();
    let mut conn = support::raw(&url).await;
    let mut found = support::keys(&mut conn, &prefix).await;
    found.sort();
    let tag = format!("{prefix}{{room:{c}}}");
    assert_eq!(
        found,
        ["admitted", "joined", "line", "seen", "state"]
            .map(|k| format!("{tag}:{k}"))
            .to_vec()
    );
    for key in &found {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 3_600_000, "{key} expires in {ttl} ms");
    }
    support::cleanup(&url, &[prefix]).await;
}

/// Four a second, asked ten times a second: each step admits only what its share of a
/// second allows, and the remainder carries over instead of being rounded away.
#[tokio::test]
async fn a_slow_rate_keeps_its_fractions_across_steps() {
    let url = support::url();
    let prefix = support::prefix();
    let line = RedisWaitingLine::connect(&url, &prefix).await.unwrap();
    let c = CouponId::new();
    line.open(c).await.unwrap();
    for _ in 0..40 {
        line.join(c, UserId::new(), None).await.unwrap();
    }
    let pace = Pace {
        rate_per_sec: 4.0,
        burst: 1,
        ..couponrush_contracts::waiting_line::fast(1)
    };
    // The first step ever admits a burst and starts the accounting.
    assert_eq!(line.admit(c, pace).await.unwrap().admitted_now, 1);
    let start = Instant::now();
    let mut admitted = 0;
    while start.elapsed() < Duration::from_millis(2_000) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        admitted += line.admit(c, pace).await.unwrap().admitted_now;
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(
        (7..=9).contains(&admitted),
        "{admitted} admitted in {secs:.2} s at 4/s"
    );
    support::cleanup(&url, &[prefix]).await;
}

/// 100,000 waiters shuffled in one script: still a permutation of the same places, and
/// quick enough not to hold Redis (and every other room on it) for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_line_is_shuffled_in_one_step() {
    const WAITERS: usize = 100_000;
    let url = support::url();
    let prefix = support::prefix();
    let line = RedisWaitingLine::connect(&url, &prefix).await.unwrap();
    let c = CouponId::new();
    line.open(c).await.unwrap();
    let users: Vec<UserId> = (0..WAITERS).map(|_| UserId::new()).collect();
    futures::stream::iter(users.iter().map(|u| line.join(c, *u, None)))
        .buffer_unordered(256)
        .for_each(|r| async move {
            assert!(matches!(r.unwrap(), Place::Waiting { .. }));
        })
        .await;

    let start = Instant::now();
    assert!(line.shuffle_once(c, 0x5eed).await.unwrap());
    let took = start.elapsed();
    eprintln!("shuffled {WAITERS} waiters in {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    let sample: Vec<UserId> = users.iter().step_by(97).copied().collect();
    let mut positions = HashSet::new();
    let mut moved = 0;
    for (i, u) in sample.iter().enumerate() {
        match line.place(c, *u, None).await.unwrap() {
            Place::Waiting { position, .. } => {
                assert!((1..=WAITERS as u64).contains(&position));
                assert!(positions.insert(position), "{position} held twice");
                if position != (i * 97 + 1) as u64 {
                    moved += 1;
                }
            }
            other => panic!("waiting, got {other:?}"),
        }
    }
    assert!(moved > sample.len() * 9 / 10, "only {moved} moved");
    let figures = line
        .admit(c, couponrush_contracts::waiting_line::fast(0))
        .await
        .unwrap();
    assert_eq!(figures.waiting, WAITERS as u64);
    assert!(matches!(
        line.join(c, UserId::new(), None).await.unwrap(),
        Place::Waiting { position, .. } if position == WAITERS as u64 + 1
    ));
    support::cleanup(&url, &[prefix]).await;
}

/// Scripts go by SHA: a server that forgot them (SCRIPT FLUSH, a restart, a failover)
/// gets them again on the next call. On a private server, so the shared one's script
/// cache stays as other suites expect it.
#[tokio::test]
async fn every_line_script_reloads_after_script_flush() {
    let server = couponrush_testenv::RedisProcess::start().await;
    let url = server.url();
    let line = RedisWaitingLine::connect(&url, "").await.unwrap();
    let raw = support::raw(&url).await;
    let flush = || async {
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async::<()>(&mut raw.clone())
            .await
            .unwrap();
    };
    let c = CouponId::new();
    let u = UserId::new();
    let fast = couponrush_contracts::waiting_line::fast(1);
    flush().await;
    line.open(c).await.unwrap();
    flush().await;
    assert!(!line.shared(c).await.unwrap().reseeding, "opened");
    flush().await;
    assert!(matches!(
        line.join(c, u, None).await.unwrap(),
        Place::Waiting { position: 1, .. }
    ));
    flush().await;
    assert!(matches!(
        line.place(c, u, None).await.unwrap(),
        Place::Waiting { position: 1, .. }
    ));
    flush().await;
    assert!(line.shuffle_once(c, 9).await.unwrap());
    flush().await;
    assert_eq!(line.admit(c, fast).await.unwrap().admitted_now, 1);
    flush().await;
    let generation = line.shared(c).await.unwrap().generation;
    flush().await;
    assert!(line.take_admission(c, u, generation).await.unwrap());
    flush().await;
    line.return_admission(c, u, Duration::from_secs(5))
        .await
        .unwrap();
    flush().await;
    assert_eq!(
        line.propose_rate(c, 12.5, Duration::ZERO).await.unwrap(),
        12.5
    );
    assert!(matches!(
        line.place(c, u, None).await.unwrap(),
        Place::Admitted { .. }
    ));
}
