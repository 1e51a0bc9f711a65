//! A consumer that resumes from a committed offset in the middle of a producer batch
//! must get the records from that offset on. The consumer's crash safety rests on this
//! (a new owner resumes from the last commit), so it is checked against the broker.

use couponrush_kafka::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use couponrush_kafka::rdkafka::message::Message;
use couponrush_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use couponrush_kafka::rdkafka::util::Timeout;
use couponrush_kafka::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use couponrush_kafka::{KafkaConfig, ensure_topics};
use std::time::Duration;

fn member(bootstrap: &str, group: &str, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_inside_a_producer_batch_loses_nothing() {
    let topic = couponrush_testenv::unique("midbatch");
    let bootstrap = couponrush_testenv::kafka_bootstrap();
    let config = KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        topic: topic.clone(),
        partitions: 1,
        linger_ms: 50,
        produce_timeout: Duration::from_secs(5),
        idempotence: false,
    };
    ensure_topics(&config).await.unwrap();
    // One linger window: the 40 records travel as one batch.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "100")
        .create()
        .unwrap();
    let sends = (0..40).map(|i| {
        let payload = format!("record-{i}");
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::<(), _>::to(&topic).payload(&payload),
                    Timeout::After(Duration::from_secs(5)),
                )
                .await
                .map_err(|(e, _)| e)
        }
    });
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
    let group = format!("{topic}-g");
    let first = member(&bootstrap, &group, &topic);
    for _ in 0..10 {
        tokio::time::timeout(Duration::from_secs(20), first.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(10))
        .unwrap();
    first.commit(&tpl, CommitMode::Sync).unwrap();
    drop(first);

    let second = member(&bootstrap, &group, &topic);
    let m = tokio::time::timeout(Duration::from_secs(30), second.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m.offset(),
        10,
        "resumed at the committed offset, not at the next batch"
    );
    assert_eq!(m.payload(), Some(&b"record-10"[..]));
}
