//! When a member of a consumer group leaves, the others take its partitions over.
//! (Verifies the broker's group coordination, which the consumer's crash safety rests on.)

use couponrush_kafka::rdkafka::ClientConfig;
use couponrush_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use couponrush_kafka::{KafkaConfig, ensure_topics};
use std::time::{Duration, Instant};

fn member(bootstrap: &str, group: &str, topic: &str, strategy: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", strategy)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

async fn poll_for(c: &StreamConsumer, d: Duration) {
    let _ = tokio::time::timeout(d, async {
        loop {
            let _ = c.recv().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivor_takes_over_partitions_of_a_member_that_left() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    for strategy in ["cooperative-sticky", "range"] {
        let topic = couponrush_testenv::unique("takeover");
        let config = KafkaConfig {
            bootstrap_servers: couponrush_testenv::kafka_bootstrap(),
            topic: topic.clone(),
            partitions: 6,
            linger_ms: 1,
            produce_timeout: Duration::from_secs(5),
            idempotence: false,
        };
        ensure_topics(&config).await.unwrap();
        let group = format!("{topic}-g");
        let a = member(&config.bootstrap_servers, &group, &topic, strategy);
        let b = member(&config.bootstrap_servers, &group, &topic, strategy);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            tokio::join!(
                poll_for(&a, Duration::from_millis(200)),
                poll_for(&b, Duration::from_millis(200))
            );
            let (na, nb) = (
                a.assignment().unwrap().count(),
                b.assignment().unwrap().count(),
            );
            if na > 0 && nb > 0 && na + nb == 6 {
                break;
            }
        }
        let nb_before = b.assignment().unwrap().count();
        eprintln!(
            "{strategy}: a={} b={nb_before}",
            a.assignment().unwrap().count()
        );
        drop(a);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) && b.assignment().unwrap().count() < 6 {
            poll_for(&b, Duration::from_millis(200)).await;
        }
        eprintln!(
            "{strategy}: after a left, b={} in {:?}",
            b.assignment().unwrap().count(),
            start.elapsed()
        );
        assert_eq!(
            b.assignment().unwrap().count(),
            6,
            "{strategy}: the survivor holds every partition"
        );
    }
}
