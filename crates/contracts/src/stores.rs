//! The store contracts: [`UserStore`], [`CouponStore`], [`IssuedCouponStore`] and
//! [`IssuePersister`], pinned once for SQLite and MariaDB alike. Call [`run_all`] from
//! an adapter's test with a fresh, empty store; each check makes its own ids, so the
//! checks do not see each other's rows (only the first needs the store empty of admins).
//! Each check panics with a message on violation.

use chrono::{DateTime, Duration, Utc};
use couponrush_domain::listing::{CouponQuery, ListCursor, Phase};
use couponrush_domain::ports::{
    CouponStore, IssuePersister, IssuedCouponStore, PersistOutcome, UserStore,
};
use couponrush_domain::waiting_room::{PrequeueOrder, RoomMode, RoomPolicy};
use couponrush_domain::{
    Coupon, CouponId, CouponName, CouponStatus, CouponType, Discount, IssueRequest, IssuedCoupon,
    PasswordHash, Quantity, RequestId, Role, StoreError, User, UserId, Username,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Everything a database adapter stores.
pub trait Stores: UserStore + CouponStore + IssuedCouponStore + IssuePersister {}
impl<T> Stores for T where T: UserStore + CouponStore + IssuedCouponStore + IssuePersister + ?Sized {}

/// Runs every check on `store`, which must start empty.
pub async fn run_all<S: Stores + ?Sized + 'static>(store: Arc<S>) {
    let s = &*store;
    admin_exists_only_once_an_admin_is_stored(s).await;
    users_round_trip(s).await;
    duplicate_username_conflicts(s).await;
    password_hashes_are_replaced(s).await;

    coupons_round_trip_every_field(s).await;
    coupon_status_changes_are_stored(s).await;
    coupons_are_listed_by_status_oldest_first(s).await;
    coupons_are_listed_newest_first_by_filter_a_page_at_a_time(s).await;

    persisted_rows_are_readable(s).await;
    holders_of_many_coupons_come_in_one_read(s).await;
    owned_coupons_are_listed_newest_first_with_their_coupon(s).await;
    redelivery_is_a_no_op(s).await;
    duplicates_within_one_batch_count_once(s).await;
    over_issue_refuses_the_whole_batch(s).await;
    unknown_coupon_refuses_the_whole_batch(s).await;
    empty_batch_changes_nothing(s).await;
    large_batch_spans_several_statements(s).await;
    coupon_is_used_only_once(s).await;
    concurrent_persists_never_over_issue(store.clone()).await;
}

/// `t` cut to whole milliseconds: the precision every store keeps.
pub fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).expect("time in range")
}

fn user(role: Role) -> User {
    let id = UserId::new();
    User {
        id,
        // 38 characters: fits the 50 allowed, unique per call.
        username: Username::parse(&format!("u-{id}")).expect("valid username"),
        password_hash: PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1${id}")),
        role,
        created_at: ms(Utc::now()),
    }
}

/// A valid coupon of `total` units, expiring in 30 days; not stored.
pub fn coupon(total: u64, status: CouponStatus) -> Coupon {
    let now = ms(Utc::now());
    Coupon {
        id: CouponId::new(),
        name: CouponName::parse("Friday chicken").expect("valid name"),
        coupon_type: CouponType::Chicken,
        discount: Discount::fixed(3000).expect("valid discount"),
        total_quantity: Quantity::new(total).expect("valid quantity"),
        expires_at: now + Duration::days(30),
        opens_at: None,
        status,
        room: RoomPolicy::default(),
        created_at: now,
    }
}

async fn stored_coupon<S: Stores + ?Sized>(store: &S, total: u64) -> Coupon {
    let c = coupon(total, CouponStatus::Active);
    store.insert_coupon(&c).await.expect("insert coupon");
    c
}

/// `user`'s request for `coupon` at `at` (to the millisecond), with a new request id.
pub fn request(user: UserId, coupon: CouponId, at: DateTime<Utc>) -> IssueRequest {
    IssueRequest {
        request_id: RequestId::new(),
        user_id: user,
        coupon_id: coupon,
        requested_at: ms(at),
    }
}

/// One request per new user for `coupon`, a millisecond apart.
fn requests(coupon: CouponId, n: usize) -> Vec<IssueRequest> {
    let t0 = Utc::now();
    (0..n)
        .map(|i| request(UserId::new(), coupon, t0 + Duration::milliseconds(i as i64)))
        .collect()
}

fn outcome(inserted: u64, duplicates: u64) -> PersistOutcome {
    PersistOutcome {
        inserted,
        duplicates,
    }
}

fn sorted(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort();
    users
}

fn assert_conflict_naming(result: Result<PersistOutcome, StoreError>, coupon: CouponId) {
    match result {
        Err(StoreError::Conflict(message)) => assert!(
            message.contains(&coupon.to_string()),
            "the refusal should name coupon {coupon}: {message}"
        ),
        other => panic!("expected a Conflict naming coupon {coupon}, got {other:?}"),
    }
}

// ---- users ----

pub async fn admin_exists_only_once_an_admin_is_stored<S: Stores + ?Sized>(store: &S) {
    assert!(
        !store.admin_exists().await.unwrap(),
        "the store must start empty"
    );
    store.insert_user(&user(Role::User)).await.unwrap();
    assert!(
        !store.admin_exists().await.unwrap(),
        "a USER is not an admin"
    );
    store.insert_user(&user(Role::Admin)).await.unwrap();
    assert!(store.admin_exists().await.unwrap());
}

pub async fn users_round_trip<S: Stores + ?Sized>(store: &S) {
    let mut u = user(Role::User);
    // Non-ASCII (and a 4-byte character) must survive the column's encoding.
    u.username = Username::parse(&format!("사용자🎟-{}", &u.id.to_string()[..8])).unwrap();
    store.insert_user(&u).await.unwrap();
    assert_eq!(
        store.find_user_by_username(&u.username).await.unwrap(),
        Some(u.clone())
    );
    let stranger = Username::parse(&format!("nobody-{}", UserId::new())).unwrap();
    assert_eq!(store.find_user_by_username(&stranger).await.unwrap(), None);
}

pub async fn duplicate_username_conflicts<S: Stores + ?Sized>(store: &S) {
    let first = user(Role::User);
    store.insert_user(&first).await.unwrap();
    let mut second = user(Role::Admin);
    second.username = first.username.clone();
    match store.insert_user(&second).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken username must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        store.find_user_by_username(&first.username).await.unwrap(),
        Some(first),
        "the first owner keeps the name"
    );
}

/// A login re-hashes with current parameters: the new hash is what the next login reads,
/// and only that user's row changes.
pub async fn password_hashes_are_replaced<S: Stores + ?Sized>(store: &S) {
    let (u, other) = (user(Role::User), user(Role::User));
    store.insert_user(&u).await.unwrap();
    store.insert_user(&other).await.unwrap();
    let upgraded = PasswordHash::from_phc(format!("$argon2id$v=19$m=65536,t=3,p=1${}", u.id));
    assert!(store.update_password_hash(u.id, &upgraded).await.unwrap());
    let found = store.find_user_by_username(&u.username).await.unwrap();
    // Compared as text first: PasswordHash's Debug hides it (these are not real hashes).
    assert_eq!(
        found.as_ref().map(|f| f.password_hash.as_phc()),
        Some(upgraded.as_phc()),
        "the next login reads the new hash"
    );
    assert_eq!(
        found,
        Some(User {
            password_hash: upgraded.clone(),
            ..u.clone()
        })
    );
    assert_eq!(
        store.find_user_by_username(&other.username).await.unwrap(),
        Some(other),
        "another user's hash is untouched"
    );
    assert!(
        !store
            .update_password_hash(UserId::new(), &upgraded)
            .await
            .unwrap(),
        "an unknown id changes no row"
    );
}

// ---- coupons ----

pub async fn coupons_round_trip_every_field<S: Stores + ?Sized>(store: &S) {
    let t0 = ms(Utc::now());
    let fixed = Coupon {
        id: CouponId::new(),
        name: CouponName::parse("금요일 치킨 🍗 \"half\" price").unwrap(),
        coupon_type: CouponType::Chicken,
        // Above 2^53: no trip through a float on the way.
        discount: Discount::fixed(9_007_199_254_740_993).unwrap(),
        total_quantity: Quantity::new(1).unwrap(),
        expires_at: t0 + Duration::days(30) + Duration::milliseconds(123),
        // Scheduled, to the millisecond.
        opens_at: Some(t0 + Duration::days(1) + Duration::milliseconds(456)),
        status: CouponStatus::Pending,
        room: RoomPolicy {
            mode: RoomMode::Always,
            prequeue: PrequeueOrder::Shuffled,
        },
        created_at: t0 - Duration::milliseconds(7),
    };
    let percent = Coupon {
        id: CouponId::new(),
        name: CouponName::parse("Pizza night").unwrap(),
        coupon_type: CouponType::Pizza,
        discount: Discount::percentage(100).unwrap(),
        // The largest quantity the domain allows.
        total_quantity: Quantity::new(u64::from(u32::MAX)).unwrap(),
        expires_at: t0 + Duration::milliseconds(1),
        // No opening: NULL, and read back as None.
        opens_at: None,
        status: CouponStatus::Disabled,
        room: RoomPolicy {
            mode: RoomMode::Off,
            prequeue: PrequeueOrder::Fifo,
        },
        created_at: t0,
    };
    let small = Coupon {
        id: CouponId::new(),
        name: CouponName::parse("b").unwrap(),
        coupon_type: CouponType::Hamburger,
        discount: Discount::percentage(1).unwrap(),
        total_quantity: Quantity::new(100).unwrap(),
        expires_at: t0 + Duration::hours(1),
        // An opening already past.
        opens_at: Some(t0 - Duration::hours(1)),
        status: CouponStatus::Active,
        room: RoomPolicy::default(),
        created_at: t0,
    };
    for c in [&fixed, &percent, &small] {
        store.insert_coupon(c).await.unwrap();
        assert_eq!(
            store.find_coupon(c.id).await.unwrap().as_ref(),
            Some(c),
            "every field, times to the millisecond"
        );
        assert_eq!(store.issued_count(c.id).await.unwrap(), 0);
    }
    assert_eq!(store.find_coupon(CouponId::new()).await.unwrap(), None);
    let changed = RoomPolicy {
        mode: RoomMode::Auto,
        prequeue: PrequeueOrder::Shuffled,
    };
    assert!(store.set_room_policy(small.id, changed).await.unwrap());
    assert_eq!(
        store.find_coupon(small.id).await.unwrap().unwrap().room,
        changed
    );
    assert!(
        !store
            .set_room_policy(CouponId::new(), changed)
            .await
            .unwrap(),
        "an unknown coupon changes no row"
    );
}

pub async fn coupon_status_changes_are_stored<S: Stores + ?Sized>(store: &S) {
    let c = coupon(10, CouponStatus::Pending);
    store.insert_coupon(&c).await.unwrap();
    for status in [
        CouponStatus::Active,
        CouponStatus::Disabled,
        CouponStatus::Active,
    ] {
        assert!(store.set_coupon_status(c.id, status).await.unwrap());
        let found = store.find_coupon(c.id).await.unwrap().unwrap();
        assert_eq!(found.status, status);
        assert_eq!(
            Coupon {
                status: c.status,
                ..found
            },
            c,
            "only the status changes"
        );
    }
    assert!(
        !store
            .set_coupon_status(CouponId::new(), CouponStatus::Active)
            .await
            .unwrap(),
        "no such coupon"
    );
}

pub async fn coupons_are_listed_by_status_oldest_first<S: Stores + ?Sized>(store: &S) {
    let t0 = ms(Utc::now());
    let mut older = coupon(5, CouponStatus::Active);
    older.created_at = t0 - Duration::seconds(2);
    let mut newer = coupon(5, CouponStatus::Active);
    newer.created_at = t0 - Duration::seconds(1);
    let pending = coupon(5, CouponStatus::Pending);
    // Inserted out of order, so the order must come from created_at.
    for c in [&newer, &pending, &older] {
        store.insert_coupon(c).await.unwrap();
    }
    let mine = [older.id, newer.id, pending.id];
    let listed = |all: Vec<Coupon>, status: CouponStatus| {
        assert!(
            all.iter().all(|c| c.status == status),
            "only {status:?} coupons"
        );
        all.into_iter()
            .filter(|c| mine.contains(&c.id))
            .collect::<Vec<_>>()
    };
    let active = listed(
        store
            .list_coupons_with_status(CouponStatus::Active)
            .await
            .unwrap(),
        CouponStatus::Active,
    );
    assert_eq!(active, vec![older.clone(), newer.clone()]);
    let pendings = listed(
        store
            .list_coupons_with_status(CouponStatus::Pending)
            .await
            .unwrap(),
        CouponStatus::Pending,
    );
    assert_eq!(pendings, vec![pending]);

    store
        .set_coupon_status(newer.id, CouponStatus::Disabled)
        .await
        .unwrap();
    let active = listed(
        store
            .list_coupons_with_status(CouponStatus::Active)
            .await
            .unwrap(),
        CouponStatus::Active,
    );
    assert_eq!(active, vec![older]);
}

pub async fn coupons_are_listed_newest_first_by_filter_a_page_at_a_time<S: Stores + ?Sized>(
    store: &S,
) {
    // A window of its own, years before any other check's coupons: a cursor just past
    // its newest coupon lists exactly these.
    let now = DateTime::from_timestamp_millis(991_000_000_000).expect("2001");
    let window = now - Duration::days(100);
    let at = |i: i64| window + Duration::seconds(i);
    let make = |created: DateTime<Utc>, status, opens: Option<i64>, expires_in_days: i64| {
        let mut c = coupon(10, status);
        c.created_at = created;
        c.opens_at = opens.map(|h| now + Duration::hours(h));
        c.expires_at = now + Duration::days(expires_in_days);
        c
    };
    let open = make(at(1), CouponStatus::Active, None, 30);
    let upcoming = make(at(2), CouponStatus::Active, Some(1), 30);
    let ended = make(at(3), CouponStatus::Active, None, -1);
    let disabled = make(at(4), CouponStatus::Disabled, None, 30);
    // Two created in the same millisecond: the id breaks the tie.
    let pending_a = make(at(5), CouponStatus::Pending, None, 30);
    let pending_b = make(at(5), CouponStatus::Pending, Some(-1), 30);
    let all = [&open, &upcoming, &ended, &disabled, &pending_a, &pending_b];
    for c in [&ended, &pending_b, &open, &disabled, &upcoming, &pending_a] {
        store.insert_coupon(c).await.unwrap();
    }
    let mut newest_first: Vec<&Coupon> = all.to_vec();
    newest_first.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id.into_uuid())));
    let start = ListCursor {
        created_at_ms: at(5).timestamp_millis() + 1,
        id: CouponId::from_uuid(uuid::Uuid::max()),
    };
    let query = |status, phase| CouponQuery {
        status,
        phase,
        after: Some(start),
        limit: 100,
        now,
    };
    let ids = |found: Vec<Coupon>| found.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let expect = |keep: &dyn Fn(&Coupon) -> bool| {
        newest_first
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    let list = |q: CouponQuery| async move { ids(store.list_coupons(&q).await.unwrap()) };

    assert_eq!(
        list(query(None, None)).await,
        expect(&|_| true),
        "every coupon, newest first, ties by id"
    );
    assert_eq!(
        list(query(Some(CouponStatus::Active), None)).await,
        vec![upcoming.id, open.id],
        "ACTIVE means stored ACTIVE and not expired"
    );
    assert_eq!(
        list(query(Some(CouponStatus::Expired), None)).await,
        vec![ended.id]
    );
    assert_eq!(
        list(query(Some(CouponStatus::Disabled), None)).await,
        vec![disabled.id]
    );
    assert_eq!(
        list(query(None, Some(Phase::Upcoming))).await,
        vec![upcoming.id]
    );
    assert_eq!(
        list(query(None, Some(Phase::Open))).await,
        expect(&|c| c.id != upcoming.id && c.id != ended.id),
        "open: not expired, and no opening or one that has passed"
    );
    assert_eq!(list(query(None, Some(Phase::Ended))).await, vec![ended.id]);
    assert_eq!(
        list(query(Some(CouponStatus::Active), Some(Phase::Open))).await,
        vec![open.id]
    );

    // Two at a time, each page after the last coupon of the one before.
    let mut paged = Vec::new();
    let mut after = Some(start);
    loop {
        let page = store
            .list_coupons(&CouponQuery {
                limit: 2,
                after,
                ..query(None, None)
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(ListCursor::after(last));
        assert!(page.len() <= 2, "a page holds at most the limit");
        paged.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(
        paged,
        expect(&|_| true),
        "the pages together list each coupon once"
    );
}

// ---- issued coupons and the persister ----

pub async fn persisted_rows_are_readable<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 10).await;
    let batch = requests(c.id, 3);
    assert_eq!(store.persist(&batch).await.unwrap(), outcome(3, 0));
    for r in &batch {
        assert_eq!(
            store.find_issued(r.user_id, c.id).await.unwrap(),
            Some(IssuedCoupon::from_request(r)),
            "the row keeps the request's id and time"
        );
    }
    assert_eq!(
        sorted(store.holders(c.id).await.unwrap()),
        sorted(batch.iter().map(|r| r.user_id).collect())
    );
    assert_eq!(store.issued_count(c.id).await.unwrap(), 3);
    assert_eq!(store.find_issued(UserId::new(), c.id).await.unwrap(), None);
    assert!(store.holders(CouponId::new()).await.unwrap().is_empty());
}

pub async fn holders_of_many_coupons_come_in_one_read<S: Stores + ?Sized>(store: &S) {
    let (a, b, empty) = (
        stored_coupon(store, 10).await,
        stored_coupon(store, 10).await,
        stored_coupon(store, 10).await,
    );
    let (for_a, for_b) = (requests(a.id, 3), requests(b.id, 2));
    store.persist(&for_a).await.unwrap();
    store.persist(&for_b).await.unwrap();
    // Enough coupons for the adapter to split the read into several statements.
    let mut asked: Vec<CouponId> = (0..1_200).map(|_| CouponId::new()).collect();
    asked.extend([empty.id, b.id, a.id]);
    let mut holders = store.holders_of(&asked).await.unwrap();
    assert_eq!(
        sorted(holders.remove(&a.id).expect("a's holders")),
        sorted(for_a.iter().map(|r| r.user_id).collect())
    );
    assert_eq!(
        sorted(holders.remove(&b.id).expect("b's holders")),
        sorted(for_b.iter().map(|r| r.user_id).collect())
    );
    assert!(
        holders.is_empty(),
        "coupons without holders have no entry: {holders:?}"
    );
    assert!(store.holders_of(&[]).await.unwrap().is_empty());
}

pub async fn owned_coupons_are_listed_newest_first_with_their_coupon<S: Stores + ?Sized>(
    store: &S,
) {
    let (c1, c2, c3) = (
        stored_coupon(store, 5).await,
        stored_coupon(store, 5).await,
        stored_coupon(store, 5).await,
    );
    let u = UserId::new();
    let t0 = Utc::now() - Duration::minutes(1);
    let r1 = request(u, c1.id, t0 + Duration::milliseconds(10));
    let r2 = request(u, c2.id, t0 + Duration::milliseconds(30));
    let r3 = request(u, c3.id, t0 + Duration::milliseconds(20));
    // Someone else's coupon must not show up.
    let other = request(UserId::new(), c1.id, t0);
    store.persist(&[r1, other]).await.unwrap();
    store.persist(&[r2, r3]).await.unwrap();

    let owned = store.list_owned(u).await.unwrap();
    let got: Vec<_> = owned
        .iter()
        .map(|o| (o.issued.clone(), o.coupon.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (IssuedCoupon::from_request(&r2), c2),
            (IssuedCoupon::from_request(&r3), c3),
            (IssuedCoupon::from_request(&r1), c1),
        ],
        "newest first, each with its coupon"
    );
    assert!(store.list_owned(UserId::new()).await.unwrap().is_empty());
}

pub async fn redelivery_is_a_no_op<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 10).await;
    let batch = requests(c.id, 3);
    assert_eq!(store.persist(&batch).await.unwrap(), outcome(3, 0));
    assert_eq!(
        store.persist(&batch).await.unwrap(),
        outcome(0, 3),
        "the same batch again"
    );
    assert_eq!(store.issued_count(c.id).await.unwrap(), 3);

    // A new request for a (user, coupon) that exists is skipped: the first row stays.
    let mut again = batch[0];
    again.request_id = RequestId::new();
    again.requested_at = ms(Utc::now() + Duration::seconds(5));
    let fresh = requests(c.id, 1)[0];
    assert_eq!(
        store.persist(&[again, batch[1], fresh]).await.unwrap(),
        outcome(1, 2),
        "a partly redelivered batch"
    );
    assert_eq!(
        store.find_issued(batch[0].user_id, c.id).await.unwrap(),
        Some(IssuedCoupon::from_request(&batch[0]))
    );
    assert_eq!(store.issued_count(c.id).await.unwrap(), 4);
    assert_eq!(store.holders(c.id).await.unwrap().len(), 4);
}

pub async fn duplicates_within_one_batch_count_once<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 10).await;
    let u = UserId::new();
    let first = request(u, c.id, Utc::now());
    let second = request(u, c.id, Utc::now() + Duration::milliseconds(1));
    assert_eq!(
        store.persist(&[first, second, first]).await.unwrap(),
        outcome(1, 2)
    );
    assert_eq!(store.issued_count(c.id).await.unwrap(), 1);
    assert_eq!(store.holders(c.id).await.unwrap(), vec![u]);
}

pub async fn over_issue_refuses_the_whole_batch<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 3).await;
    let d = stored_coupon(store, 5).await;
    let first = requests(c.id, 2);
    assert_eq!(store.persist(&first).await.unwrap(), outcome(2, 0));

    // Two more for c (one too many) together with a valid row for d.
    let mut batch = requests(c.id, 2);
    let for_d = requests(d.id, 1)[0];
    batch.push(for_d);
    assert_conflict_naming(store.persist(&batch).await, c.id);
    assert_eq!(store.issued_count(c.id).await.unwrap(), 2);
    assert_eq!(
        store.issued_count(d.id).await.unwrap(),
        0,
        "nothing of it persists"
    );
    for r in &batch {
        assert_eq!(
            store.find_issued(r.user_id, r.coupon_id).await.unwrap(),
            None
        );
    }
    assert_eq!(store.holders(c.id).await.unwrap().len(), 2);

    // Filling to exactly the total is fine; one past it is not.
    assert_eq!(store.persist(&batch[..1]).await.unwrap(), outcome(1, 0));
    assert_eq!(store.issued_count(c.id).await.unwrap(), 3);
    assert_conflict_naming(store.persist(&requests(c.id, 1)).await, c.id);
    // Redelivering rows of a sold-out coupon is still harmless.
    assert_eq!(store.persist(&first).await.unwrap(), outcome(0, 2));
    assert_eq!(store.issued_count(c.id).await.unwrap(), 3);
}

pub async fn unknown_coupon_refuses_the_whole_batch<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 5).await;
    let unknown = CouponId::new();
    let valid = requests(c.id, 1)[0];
    let stray = requests(unknown, 1)[0];
    assert_conflict_naming(store.persist(&[valid, stray]).await, unknown);
    assert_eq!(store.find_issued(valid.user_id, c.id).await.unwrap(), None);
    assert_eq!(
        store.find_issued(stray.user_id, unknown).await.unwrap(),
        None
    );
    assert_eq!(store.issued_count(c.id).await.unwrap(), 0);
}

pub async fn empty_batch_changes_nothing<S: Stores + ?Sized>(store: &S) {
    assert_eq!(store.persist(&[]).await.unwrap(), outcome(0, 0));
}

/// More rows than adapters put in one statement (1,000), in one batch.
pub async fn large_batch_spans_several_statements<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 2_500).await;
    let batch = requests(c.id, 2_500);
    assert_eq!(store.persist(&batch).await.unwrap(), outcome(2_500, 0));
    assert_eq!(store.issued_count(c.id).await.unwrap(), 2_500);
    assert_eq!(store.holders(c.id).await.unwrap().len(), 2_500);
    assert_eq!(store.persist(&batch).await.unwrap(), outcome(0, 2_500));
    assert_conflict_naming(store.persist(&requests(c.id, 1)).await, c.id);
}

pub async fn coupon_is_used_only_once<S: Stores + ?Sized>(store: &S) {
    let c = stored_coupon(store, 5).await;
    let r = requests(c.id, 1)[0];
    store.persist(&[r]).await.unwrap();
    let at = ms(Utc::now());
    assert!(store.mark_used(r.user_id, c.id, at).await.unwrap());
    assert!(
        !store
            .mark_used(r.user_id, c.id, at + Duration::seconds(1))
            .await
            .unwrap(),
        "a second use changes nothing"
    );
    let found = store.find_issued(r.user_id, c.id).await.unwrap().unwrap();
    assert_eq!(found.used_at, Some(at), "the first use's time is kept");
    assert!(
        !store.mark_used(UserId::new(), c.id, at).await.unwrap(),
        "not owned"
    );
    // A used coupon is still owned, and redelivering its request does not reset it.
    assert_eq!(store.persist(&[r]).await.unwrap(), outcome(0, 1));
    assert_eq!(
        store
            .find_issued(r.user_id, c.id)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at)
    );
}

/// 20 batches of 5 new users for a coupon of 50, each batch sent twice, all at once.
/// Transient `Unavailable` answers are retried, as consumers do; the contract says that
/// is safe. Exactly 50 are issued, and each batch is kept whole or not at all.
pub async fn concurrent_persists_never_over_issue<S: Stores + ?Sized + 'static>(store: Arc<S>) {
    let c = stored_coupon(&*store, 50).await;
    let batches: Vec<Vec<IssueRequest>> = (0..20).map(|_| requests(c.id, 5)).collect();
    let tasks = batches.iter().chain(batches.iter()).map(|batch| {
        let store = store.clone();
        let batch = batch.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                match store.persist(&batch).await {
                    Ok(done) => return Some(done),
                    Err(StoreError::Conflict(_)) => return None,
                    Err(e) if e.is_transient() => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    Err(e) => panic!("persist: {e}"),
                }
            }
            panic!("persist stayed unavailable");
        })
    });
    let results = futures::future::join_all(tasks).await;
    let inserted: u64 = results
        .into_iter()
        .map(|r| r.expect("task").map_or(0, |o| o.inserted))
        .sum();
    assert_eq!(inserted, 50, "rows inserted across all calls");
    assert_eq!(store.issued_count(c.id).await.unwrap(), 50);
    let holders: HashSet<UserId> = store.holders(c.id).await.unwrap().into_iter().collect();
    assert_eq!(holders.len(), 50);
    for batch in &batches {
        let kept = batch
            .iter()
            .filter(|r| holders.contains(&r.user_id))
            .count();
        assert!(
            kept == 0 || kept == 5,
            "a batch is kept whole or not at all ({kept} of 5)"
        );
    }
}
