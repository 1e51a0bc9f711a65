//! The issue producer runs without idempotence by default (ARCHITECTURE.md, "Producer
//! idempotence is off"), so a retried produce request can write a record twice. The
//! sink must make that harmless: every accepted record here is in the topic three
//! times, next to each other and batches apart, for a coupon the originals sell out;
//! one row per user, `issued_count` exact, no dead letter.

use couponrush_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use couponrush_kafka::rdkafka::message::{Message, OwnedMessage};
use couponrush_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use couponrush_kafka::rdkafka::util::Timeout;
use couponrush_kafka::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use couponrush_testkit::Distributed;
use reqwest::StatusCode;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const N: usize = 30;
const COPIES: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_twice_issue_once_and_count_once() {
    let stack = Distributed::spawn(|c| c.consumer_batch_max_records = 10).await;
    let app = &stack.api;
    let coupon = app.active_coupon(N as u64).await;
    let users: Vec<_> = (0..N).map(|_| app.mint_user()).collect();
    for (_, token) in &users {
        let r = app.issue(token, coupon).await;
        assert_eq!(r.str("result"), "ACCEPTED", "{:?}", r.body);
    }

    // No consumer yet: the originals wait in the topic. Write each one again, twice in
    // a row, into its own partition, as a producer retry would.
    let kafka = couponrush_cli::distributed::kafka_config(&stack.config);
    let originals = read_all(&kafka.bootstrap_servers, &kafka.topic, kafka.partitions, N).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .create()
        .unwrap();
    for m in &originals {
        for _ in 0..COPIES {
            let record = FutureRecord::to(&kafka.topic)
                .partition(m.partition())
                .key(m.key().unwrap())
                .payload(m.payload().unwrap());
            producer
                .send(record, Timeout::After(Duration::from_secs(10)))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }

    let consumer = stack.start_consumer().await;
    let written = (N * (1 + COPIES)) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    // `consumed` counts a record when it arrives; these two once its batch is persisted.
    let settled = || {
        let c = &consumer.counters;
        c.inserted.load(Ordering::Relaxed) + c.duplicates.load(Ordering::Relaxed)
    };
    while settled() < written && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = &consumer.counters;
    assert_eq!(c.consumed.load(Ordering::Relaxed), written, "{c:?}");
    assert_eq!(c.inserted.load(Ordering::Relaxed), N as u64, "{c:?}");
    assert_eq!(
        c.duplicates.load(Ordering::Relaxed),
        (N * COPIES) as u64,
        "{c:?}"
    );
    assert_eq!(c.dead_lettered.load(Ordering::Relaxed), 0, "{c:?}");

    let rows = stack.persisted_holders(coupon).await;
    assert_eq!(rows.len(), N, "one row per user");
    let expected: HashSet<_> = users.iter().map(|(u, _)| u.into_uuid()).collect();
    assert_eq!(rows.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(stack.issued_count(coupon).await, N as u64);
    assert_eq!(
        app.coupon_stats(coupon).await.body["persisted"],
        N as u64,
        "counted once"
    );
    for (_, token) in &users {
        assert_eq!(app.issue_state(token, coupon).await.str("state"), "ISSUED");
    }
    let (_, late) = app.mint_user();
    assert_eq!(app.issue(&late, coupon).await.str("result"), "SOLD_OUT");
    let failed = app.failed_events().await;
    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(
        failed.body.as_array().map(Vec::len),
        Some(0),
        "no dead letter"
    );
    consumer.stop().await;
    stack.api.stop().await;
}

/// Every record of `topic` (from the start of each partition, no group offsets), once
/// `want` have arrived.
async fn read_all(bootstrap: &str, topic: &str, partitions: i32, want: usize) -> Vec<OwnedMessage> {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    reader.assign(&tpl).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < want && Instant::now() < deadline {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), reader.recv()).await {
            seen.push(m.detach());
        }
    }
    assert_eq!(seen.len(), want, "the accepted records in the topic");
    seen
}
