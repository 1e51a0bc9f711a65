//! The opening second of an event: thousands of first requests for one coupon at once.
//! However many ask, each process reads the coupon once and the coupon's holders at
//! most once, in both modes, against the real stores; a process start rebuilds every
//! gate from one read. Reads are counted by `CountingStore` around the store ports.

use couponrush_auth::{Argon2Hasher, Argon2Settings, HashPoolSettings};
use couponrush_cli::clock::SystemClock;
use couponrush_cli::distributed::kafka_config;
use couponrush_cli::spawner::TokioSpawner;
use couponrush_domain::ports::{CouponStore, IssuePersister};
use couponrush_domain::services::{CouponRush, IssueSettings, Ports, SessionSettings};
use couponrush_domain::throttle::ThrottlePolicy;
use couponrush_domain::{
    Coupon, CouponId, CouponName, CouponStatus, CouponType, Discount, IssueOutcome, IssueRequest,
    NewCoupon, Quantity, RequestId, UserId,
};
use couponrush_kafka::{KafkaLog, KafkaLogDrain};
use couponrush_memory::MemoryGate;
use couponrush_mysql::MysqlStore;
use couponrush_redis::RedisGate;
use couponrush_sqlite::{BatchConfig, GroupCommitLog, GroupCommitWriter, SqliteStore};
use couponrush_testkit::{CountingStore, test_config};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const FIRST_REQUESTS: usize = 2_000;

fn settings() -> IssueSettings {
    IssueSettings {
        coupon_cache_ttl: Duration::from_secs(600),
        // Debug build, every test in parallel: these tests count reads, not time.
        gate_seed_wait: Duration::from_secs(60),
        idempotency_key_ttl: Duration::from_secs(60),
        room: couponrush_cli::config::Config::default().room_settings(),
    }
}

fn coupon(total: u64) -> Coupon {
    let now = chrono::Utc::now();
    Coupon {
        id: CouponId::new(),
        name: CouponName::parse("Opening").unwrap(),
        coupon_type: CouponType::Chicken,
        discount: Discount::fixed(1_000).unwrap(),
        total_quantity: Quantity::new(total).unwrap(),
        expires_at: now + chrono::Duration::days(1),
        opens_at: None,
        status: CouponStatus::Active,
        room: Default::default(),
        created_at: now,
    }
}

fn earlier_holders(coupon: CouponId, n: usize) -> Vec<IssueRequest> {
    (0..n)
        .map(|_| IssueRequest {
            request_id: RequestId::new(),
            user_id: UserId::from_uuid(uuid::Uuid::new_v4()),
            coupon_id: coupon,
            requested_at: chrono::Utc::now(),
        })
        .collect()
}

fn ports<S>(
    store: Arc<CountingStore<S>>,
    users: Arc<S>,
    gate: Arc<dyn couponrush_domain::ports::IssueGate>,
    log: Arc<dyn couponrush_domain::ports::IssueLog>,
    drain: Arc<dyn couponrush_domain::ports::LogDrain>,
) -> Ports
where
    S: couponrush_domain::ports::UserStore
        + couponrush_domain::ports::SessionStore
        + couponrush_domain::ports::CouponStore
        + couponrush_domain::ports::IssuedCouponStore
        + 'static,
{
    Ports {
        sessions: users.clone(),
        users,
        coupons: store.clone(),
        issued: store,
        gate,
        log,
        drain,
        parked: None,
        hasher: Arc::new(
            Argon2Hasher::start(Argon2Settings::default(), HashPoolSettings::for_cores(1)).unwrap(),
        ),
        limiter: Arc::new(couponrush_memory::MemoryAttemptLimiter::new(
            ThrottlePolicy::default(),
        )),
        clock: Arc::new(SystemClock),
        spawner: Arc::new(TokioSpawner),
        idempotency: Arc::new(couponrush_memory::MemoryIdempotency::new()),
        line: Arc::new(couponrush_memory::MemoryWaitingLine::new()),
        admissions: Arc::new(couponrush_auth::AdmissionCodec::new(b"stampede")),
        places: Arc::new(couponrush_auth::PlaceTicketCodec::new(b"stampede")),
    }
}

struct Embedded {
    app: CouponRush,
    counted: Arc<CountingStore<SqliteStore>>,
    store: SqliteStore,
    _writer: GroupCommitWriter,
    _dir: tempfile::TempDir,
}

async fn embedded_in(dir: tempfile::TempDir) -> Embedded {
    let path = dir.path().join("couponrush.db");
    let store = couponrush_sqlite::open(&path, 8).await.expect("open");
    let writer_store = couponrush_sqlite::open_writer(&path).await.expect("writer");
    let (log, writer) = GroupCommitLog::start(&writer_store, BatchConfig::default());
    let log = Arc::new(log);
    let counted = Arc::new(CountingStore::new(Arc::new(store.clone())));
    let app = CouponRush::new(
        ports(
            counted.clone(),
            Arc::new(store.clone()),
            Arc::new(MemoryGate::new()),
            log.clone(),
            log,
        ),
        settings(),
        SessionSettings {
            refresh_token_ttl: Duration::from_secs(60),
        },
    );
    Embedded {
        app,
        counted,
        store,
        _writer: writer,
        _dir: dir,
    }
}

struct DistributedStack {
    app: CouponRush,
    counted: Arc<CountingStore<MysqlStore>>,
    store: MysqlStore,
}

async fn distributed() -> DistributedStack {
    // The seed of a coupon the gate lacks waits out the produce timeout first.
    let config = test_config(|c| c.kafka_produce_timeout_ms = 2_000).await;
    couponrush_mysql::migrate(&config.database_url)
        .await
        .expect("migrate");
    let store = couponrush_mysql::open(&config.database_url, 8)
        .await
        .expect("open");
    let gate = RedisGate::connect(&config.redis_url, &config.redis_key_prefix)
        .await
        .expect("redis");
    let kafka = kafka_config(&config);
    couponrush_kafka::ensure_topics(&kafka)
        .await
        .expect("topics");
    let log = KafkaLog::new(&kafka).expect("producer");
    let drain = KafkaLogDrain::new(&kafka, &config.consumer_group).expect("drain");
    let counted = Arc::new(CountingStore::new(Arc::new(store.clone())));
    let app = CouponRush::new(
        ports(
            counted.clone(),
            Arc::new(store.clone()),
            Arc::new(gate),
            Arc::new(log),
            Arc::new(drain),
        ),
        settings(),
        SessionSettings {
            refresh_token_ttl: Duration::from_secs(60),
        },
    );
    DistributedStack {
        app,
        counted,
        store,
    }
}

/// `FIRST_REQUESTS` new users ask for `coupon` at once; answers by kind.
async fn stampede(app: &CouponRush, coupon: CouponId) -> HashMap<&'static str, usize> {
    let tasks: Vec<_> = (0..FIRST_REQUESTS)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.issuing
                    .issue(coupon, UserId::from_uuid(uuid::Uuid::new_v4()))
                    .await
            })
        })
        .collect();
    let mut tally = HashMap::new();
    for task in tasks {
        let kind = match task.await.expect("task") {
            Ok(IssueOutcome::Accepted) => "accepted",
            Ok(IssueOutcome::SoldOut) => "sold_out",
            Ok(IssueOutcome::AlreadyIssued) => "already_issued",
            Err(e) => panic!("a first request failed: {e}"),
        };
        *tally.entry(kind).or_default() += 1;
    }
    tally
}

/// A coupon another process created (the store has it, this process's gate and cache
/// do not), 10 of whose 500 units are already persisted.
async fn coupon_created_elsewhere<S: CouponStore + IssuePersister>(
    store: &S,
) -> (Coupon, Vec<IssueRequest>) {
    let c = coupon(500);
    store.insert_coupon(&c).await.unwrap();
    let earlier = earlier_holders(c.id, 10);
    store.persist(&earlier).await.unwrap();
    (c, earlier)
}

async fn assert_one_read_each(
    app: &CouponRush,
    coupon: &Coupon,
    earlier: &[IssueRequest],
    reads: impl Fn() -> (usize, usize),
) {
    let tally = stampede(app, coupon.id).await;
    assert_eq!(tally.get("accepted"), Some(&490), "{tally:?}");
    assert_eq!(
        tally.get("sold_out"),
        Some(&(FIRST_REQUESTS - 490)),
        "{tally:?}"
    );
    assert_eq!(
        reads(),
        (1, 1),
        "(coupon reads, holder reads) for {FIRST_REQUESTS} first requests"
    );
    // The seed counted the earlier holders.
    assert_eq!(
        app.issuing
            .issue(coupon.id, earlier[0].user_id)
            .await
            .unwrap(),
        IssueOutcome::AlreadyIssued
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_seeds_a_coupon_created_elsewhere_once_under_a_stampede() {
    let stack = embedded_in(tempfile::tempdir().unwrap()).await;
    let (c, earlier) = coupon_created_elsewhere(&stack.store).await;
    let counted = stack.counted.clone();
    assert_one_read_each(&stack.app, &c, &earlier, || {
        (counted.coupon_reads(), counted.holder_reads())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distributed_seeds_a_coupon_created_elsewhere_once_under_a_stampede() {
    let stack = distributed().await;
    let (c, earlier) = coupon_created_elsewhere(&stack.store).await;
    let counted = stack.counted.clone();
    assert_one_read_each(&stack.app, &c, &earlier, || {
        (counted.coupon_reads(), counted.holder_reads())
    })
    .await;
}

fn new_coupon(total: u64) -> NewCoupon {
    NewCoupon {
        name: CouponName::parse("Created here").unwrap(),
        coupon_type: CouponType::Pizza,
        discount: Discount::percentage(10).unwrap(),
        total_quantity: Quantity::new(total).unwrap(),
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
        opens_at: None,
        status: CouponStatus::Active,
        room: Default::default(),
    }
}

async fn assert_no_reads_for_a_coupon_created_here(
    app: &CouponRush,
    reads: impl Fn() -> (usize, usize),
) {
    let created = app.catalog.create(new_coupon(100)).await.unwrap();
    let before = reads();
    let tally = stampede(app, created.id).await;
    assert_eq!(tally.get("accepted"), Some(&100), "{tally:?}");
    assert_eq!(
        reads(),
        before,
        "a coupon created by this process is cached and seeded at creation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_rush_on_a_coupon_created_here_reads_no_store() {
    let stack = embedded_in(tempfile::tempdir().unwrap()).await;
    let counted = stack.counted.clone();
    assert_no_reads_for_a_coupon_created_here(&stack.app, || {
        (counted.coupon_reads(), counted.holder_reads())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distributed_rush_on_a_coupon_created_here_reads_no_store() {
    let stack = distributed().await;
    let counted = stack.counted.clone();
    assert_no_reads_for_a_coupon_created_here(&stack.app, || {
        (counted.coupon_reads(), counted.holder_reads())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_rebuilds_every_gate_from_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("couponrush.db");
    // Earlier events: K active coupons with holders, one sold out, one disabled.
    let store = couponrush_sqlite::open(&path, 2).await.unwrap();
    let mut expected = Vec::new();
    for (total, held) in [(10, 3), (5, 5), (100, 0), (50, 20), (7, 1)] {
        let c = coupon(total);
        store.insert_coupon(&c).await.unwrap();
        if held > 0 {
            store.persist(&earlier_holders(c.id, held)).await.unwrap();
        }
        expected.push((c.id, total, held as u64));
    }
    let mut disabled = coupon(10);
    disabled.status = CouponStatus::Disabled;
    store.insert_coupon(&disabled).await.unwrap();
    store.close().await;

    let stack = embedded_in(dir).await;
    let seeded = stack.app.issuing.warm_gate().await.unwrap();
    assert_eq!(seeded, expected.len(), "every issuable coupon, none other");
    assert_eq!(stack.counted.holder_reads(), 1, "one read for all of them");
    for (id, total, held) in expected {
        let stats = stack.app.issuing.stats(id).await.unwrap();
        assert_eq!(stats.reserved_in_gate, Some(held));
        assert_eq!(stats.remaining_in_gate, Some(total - held));
    }
    let stats = stack.app.issuing.stats(disabled.id).await.unwrap();
    assert_eq!(
        stats.reserved_in_gate, None,
        "a disabled coupon is not seeded"
    );
}
