//! The [`WaitingLine`] contract. Call [`run_all`] from an adapter's test with a factory
//! for fresh, empty lines ([`LineUnderTest`]: the line, and how the adapter loses one
//! coupon's line by its own means); each check panics with a message on violation.
//! The checks of a lost line and its re-seeding from place tickets are in [`loss`].

pub mod loss;

use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::{Pace, Place, RateBounds, RoomSwitch, Seat, SharedRoom};
use couponrush_domain::{CouponId, UserId};
use futures::future::BoxFuture;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long the lines made for the suite admit nobody after a loss (the adapters'
/// `with_reseed_grace`): long enough for a check to show its tickets, short enough
/// to wait out.
pub const RESEED_GRACE: Duration = Duration::from_millis(800);

/// Loses one coupon's line by the adapter's own means (its keys deleted, the process
/// restarted) and returns the line to use from then on.
pub type Lose = Box<dyn Fn(CouponId) -> BoxFuture<'static, Arc<dyn WaitingLine>> + Send + Sync>;

/// A fresh line for one check, and how its adapter loses a coupon's line.
pub struct LineUnderTest {
    pub line: Arc<dyn WaitingLine>,
    pub lose: Lose,
}

pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = LineUnderTest>,
{
    let line = async || make().await.line;
    a_user_holds_one_place_in_arrival_order(line().await).await;
    admission_follows_the_line_at_its_pace(line().await).await;
    an_admission_is_used_once_and_can_be_given_back(line().await).await;
    waiters_who_stop_polling_are_dropped_not_admitted(line().await).await;
    an_unused_admission_expires_and_its_holder_may_join_again(line().await).await;
    an_admission_lasts_from_the_poll_that_tells_it(line().await).await;
    the_shuffle_draws_one_order_once(line().await).await;
    the_shared_state_is_kept_and_a_rate_is_set_once_per_interval(line().await).await;
    a_draining_room_turns_off_once_its_line_is_empty(line().await).await;
    concurrent_joins_get_distinct_places(line().await).await;
    lines_are_independent(line().await).await;
    a_slow_rate_is_kept_when_asked_often(line().await).await;
    admissions_never_outnumber_the_stock_left(line().await).await;
    the_poll_that_tells_an_admission_tells_the_wait_once(line().await).await;
    loss::tickets_rebuild_a_lost_line_in_its_order(make().await).await;
    loss::a_lost_line_admits_nobody_and_stays_draining_until_its_window_closes(make().await).await;
    loss::a_seat_of_the_current_generation_puts_nobody_back(make().await).await;
    loss::an_admission_of_a_lost_line_is_honoured(make().await).await;
}

/// The poll that tells an admission reports how long its holder waited, from joining
/// to that poll, on the line's clock; no other answer does (each wait is counted
/// once). An admission given back was told already.
pub async fn the_poll_that_tells_an_admission_tells_the_wait_once(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let (first, second) = (UserId::new(), UserId::new());
    let joined = now_ms();
    line.join(c, first, None).await.unwrap();
    line.join(c, second, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    line.admit(c, fast(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        matches!(
            line.join(c, first, None).await.unwrap(),
            Place::Admitted { waited: None, .. }
        ),
        "joining again does not tell"
    );
    let before_tell = now_ms();
    let Place::Admitted {
        waited: Some(waited),
        ..
    } = line.place(c, first, None).await.unwrap()
    else {
        panic!("the telling poll carries the wait");
    };
    let after_tell = now_ms();
    assert!(
        waited >= Duration::from_millis(500),
        "joined, 300 ms, admitted, 200 ms, told: waited {waited:?}"
    );
    let bound = u64::try_from(after_tell - joined).unwrap_or(0);
    assert!(
        waited <= Duration::from_millis(bound + 5),
        "at most the time since the join ({bound} ms): {waited:?} (told at {before_tell})"
    );
    assert!(
        matches!(
            line.place(c, first, None).await.unwrap(),
            Place::Admitted { waited: None, .. }
        ),
        "told once"
    );
    assert!(take(&*line, c, first).await);
    line.return_admission(c, first, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        matches!(
            line.place(c, first, None).await.unwrap(),
            Place::Admitted { waited: None, .. }
        ),
        "given back: told already"
    );
    assert_eq!(
        position(line.place(c, second, None).await.unwrap()),
        waiting(1)
    );
}

/// With `outstanding_cap` (the units left), valid unused admissions never exceed it:
/// an admission used (or expired) makes room for the next.
pub async fn admissions_never_outnumber_the_stock_left(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let users: Vec<UserId> = (0..5).map(|_| UserId::new()).collect();
    for u in &users {
        line.join(c, *u, None).await.unwrap();
    }
    let capped = |cap| Pace {
        outstanding_cap: Some(cap),
        ..fast(10)
    };
    assert_eq!(line.admit(c, capped(2)).await.unwrap().admitted_now, 2);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        line.admit(c, capped(2)).await.unwrap().admitted_now,
        0,
        "two admissions outstanding already"
    );
    assert!(take(&*line, c, users[0]).await);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        line.admit(c, capped(2)).await.unwrap().admitted_now,
        1,
        "the used one made room"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(line.admit(c, capped(1)).await.unwrap().admitted_now, 0);
    assert_eq!(
        position(line.place(c, users[3], None).await.unwrap()),
        waiting(1)
    );
    // Given back, it counts again.
    line.return_admission(c, users[0], Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(line.admit(c, capped(3)).await.unwrap().admitted_now, 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(line.admit(c, capped(4)).await.unwrap().admitted_now, 1);
}

/// A pace that admits up to `burst` at once, as fast as asked.
pub fn fast(burst: u32) -> Pace {
    Pace {
        rate_per_sec: 1_000_000.0,
        burst,
        abandon_after: Duration::from_secs(60),
        admission_ttl: Duration::from_secs(30),
        outstanding_cap: None,
    }
}

/// The seat of a waiting place.
pub fn seat_of(place: Place) -> Seat {
    match place {
        Place::Waiting { seat, .. } => seat,
        other => panic!("waiting, got {other:?}"),
    }
}

/// What a waiter's position is expected to be (see [`position`]).
fn waiting(position: u64) -> Option<u64> {
    Some(position)
}

/// A place's position in line, if waiting.
pub fn position(place: Place) -> Option<u64> {
    match place {
        Place::Waiting { position, .. } => Some(position),
        _ => None,
    }
}

/// Uses `user`'s admission as a token of the line's current generation would.
async fn take(line: &dyn WaitingLine, coupon: CouponId, user: UserId) -> bool {
    let generation = line.shared(coupon).await.unwrap().generation;
    line.take_admission(coupon, user, generation).await.unwrap()
}

/// A coupon whose line was opened at its creation, as `Catalog::create` does: no
/// re-seeding window.
async fn opened(line: &dyn WaitingLine) -> CouponId {
    let c = CouponId::new();
    line.open(c).await.unwrap();
    c
}

pub async fn a_user_holds_one_place_in_arrival_order(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let users: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    for (i, u) in users.iter().enumerate() {
        assert_eq!(
            position(line.join(c, *u, None).await.unwrap()),
            waiting(i as u64 + 1)
        );
    }
    assert_eq!(
        position(line.join(c, users[0], None).await.unwrap()),
        waiting(1),
        "joining again keeps the first place"
    );
    assert_eq!(
        position(line.place(c, users[1], None).await.unwrap()),
        waiting(2)
    );
    assert_eq!(
        position(line.place(c, users[2], None).await.unwrap()),
        waiting(3)
    );
    assert_eq!(
        line.place(c, UserId::new(), None).await.unwrap(),
        Place::Absent
    );
    let figures = line.admit(c, fast(0)).await.unwrap();
    assert_eq!(figures.waiting, 3, "a burst of 0 admits nobody");
    assert_eq!(figures.admitted_now, 0);
}

pub async fn admission_follows_the_line_at_its_pace(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let users: Vec<UserId> = (0..5).map(|_| UserId::new()).collect();
    for u in &users {
        line.join(c, *u, None).await.unwrap();
    }
    let figures = line.admit(c, fast(2)).await.unwrap();
    assert_eq!(figures.admitted_now, 2);
    assert_eq!(figures.waiting, 3);
    assert_eq!(figures.admitted_total, 2);
    for u in &users[..2] {
        assert!(
            matches!(
                line.place(c, *u, None).await.unwrap(),
                Place::Admitted { .. }
            ),
            "the first two are admitted"
        );
    }
    assert_eq!(
        position(line.place(c, users[2], None).await.unwrap()),
        waiting(1)
    );
    assert_eq!(
        position(line.place(c, users[4], None).await.unwrap()),
        waiting(3)
    );
    // One per second with a burst of one: what is due follows the time since the
    // last admission, whoever calls.
    let slow = Pace {
        rate_per_sec: 1.0,
        burst: 1,
        ..fast(1)
    };
    assert_eq!(
        line.admit(c, slow).await.unwrap().admitted_now,
        0,
        "nothing is due a moment after the last admission at 1/s"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(line.admit(c, slow).await.unwrap().admitted_now, 1);
    assert_eq!(line.admit(c, slow).await.unwrap().admitted_now, 0);
    assert!(
        matches!(
            line.place(c, users[2], None).await.unwrap(),
            Place::Admitted { .. }
        ),
        "the third in line went next"
    );
    assert_eq!(
        position(line.place(c, users[3], None).await.unwrap()),
        waiting(1)
    );
}

pub async fn an_admission_is_used_once_and_can_be_given_back(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let (a, b) = (UserId::new(), UserId::new());
    line.join(c, a, None).await.unwrap();
    line.join(c, b, None).await.unwrap();
    assert!(!take(&*line, c, a).await, "a waiter has no admission");
    line.admit(c, fast(1)).await.unwrap();
    assert!(
        matches!(line.join(c, a, None).await.unwrap(), Place::Admitted { .. }),
        "joining again keeps the admission"
    );
    assert!(take(&*line, c, a).await);
    assert!(!take(&*line, c, a).await, "single use");
    assert_eq!(line.place(c, a, None).await.unwrap(), Place::Absent);
    line.return_admission(c, a, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(matches!(
        line.place(c, a, None).await.unwrap(),
        Place::Admitted { .. }
    ));
    assert!(take(&*line, c, a).await);
    assert!(!take(&*line, c, b).await);
}

pub async fn waiters_who_stop_polling_are_dropped_not_admitted(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let (gone, stays) = (UserId::new(), UserId::new());
    line.join(c, gone, None).await.unwrap();
    line.join(c, stays, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        position(line.place(c, stays, None).await.unwrap()),
        waiting(2)
    );
    let pace = Pace {
        abandon_after: Duration::from_millis(500),
        ..fast(10)
    };
    let figures = line.admit(c, pace).await.unwrap();
    assert_eq!(figures.admitted_now, 1, "only the one still polling");
    assert_eq!(figures.abandoned_total, 1);
    assert_eq!(figures.waiting, 0);
    assert_eq!(line.place(c, gone, None).await.unwrap(), Place::Absent);
    assert!(matches!(
        line.place(c, stays, None).await.unwrap(),
        Place::Admitted { .. }
    ));
}

pub async fn an_unused_admission_expires_and_its_holder_may_join_again(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let (a, b) = (UserId::new(), UserId::new());
    line.join(c, a, None).await.unwrap();
    let pace = Pace {
        admission_ttl: Duration::from_millis(300),
        ..fast(1)
    };
    line.admit(c, pace).await.unwrap();
    line.join(c, b, None).await.unwrap();
    assert!(
        matches!(
            line.place(c, a, None).await.unwrap(),
            Place::Admitted { .. }
        ),
        "told: from now on it lasts the time to claim"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(line.place(c, a, None).await.unwrap(), Place::Expired);
    assert!(!take(&*line, c, a).await, "expired");
    line.admit(c, fast(0)).await.unwrap();
    assert_eq!(
        line.place(c, a, None).await.unwrap(),
        Place::Expired,
        "an expiry is still told after the next step"
    );
    assert_eq!(
        position(line.join(c, a, None).await.unwrap()),
        waiting(2),
        "back of the line"
    );
}

/// An admission's time to claim runs from the poll that tells its holder: a poll that
/// comes late (a slow phone, an overloaded client) still finds the whole of it. Untold,
/// the admission is held as long as a waiter's place would be, then lapses.
pub async fn an_admission_lasts_from_the_poll_that_tells_it(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let (late, gone) = (UserId::new(), UserId::new());
    line.join(c, late, None).await.unwrap();
    line.join(c, gone, None).await.unwrap();
    let pace = Pace {
        admission_ttl: Duration::from_millis(300),
        abandon_after: Duration::from_millis(900),
        ..fast(2)
    };
    assert_eq!(line.admit(c, pace).await.unwrap().admitted_now, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = now_ms();
    let Place::Admitted { valid_until_ms, .. } = line.place(c, late, None).await.unwrap() else {
        panic!("a poll past the time to claim, but the first: still admitted");
    };
    assert!(
        valid_until_ms >= before + 250,
        "the time to claim starts at the telling: {} ms left",
        valid_until_ms - before
    );
    let Place::Admitted {
        valid_until_ms: again,
        ..
    } = line.place(c, late, None).await.unwrap()
    else {
        panic!("still admitted");
    };
    assert!(again <= valid_until_ms, "a later poll does not extend it");
    assert!(take(&*line, c, late).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        line.place(c, gone, None).await.unwrap(),
        Place::Expired,
        "untold past the heartbeat bound: lapsed"
    );
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

pub async fn the_shuffle_draws_one_order_once(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let users: Vec<UserId> = (0..50).map(|_| UserId::new()).collect();
    for u in &users {
        line.join(c, *u, None).await.unwrap();
    }
    assert!(line.shuffle_once(c, 42).await.unwrap());
    let mut positions = Vec::new();
    for u in &users {
        match line.place(c, *u, None).await.unwrap() {
            Place::Waiting { position, .. } => positions.push(position),
            other => panic!("still waiting after the shuffle, got {other:?}"),
        }
    }
    let distinct: HashSet<u64> = positions.iter().copied().collect();
    assert_eq!(distinct, (1..=50).collect(), "a permutation of the places");
    assert_ne!(
        positions,
        (1..=50).collect::<Vec<_>>(),
        "not the order of arrival"
    );
    assert!(
        !line.shuffle_once(c, 7).await.unwrap(),
        "drawn once per line"
    );
    let again: Vec<Place> =
        futures::future::join_all(users.iter().map(|u| line.place(c, *u, None)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    assert_eq!(
        again.into_iter().map(position).collect::<Vec<_>>(),
        positions.iter().map(|p| waiting(*p)).collect::<Vec<_>>()
    );
    let late = UserId::new();
    assert_eq!(
        position(line.join(c, late, None).await.unwrap()),
        waiting(51),
        "after the shuffle, arrivals queue behind"
    );
    // Admission follows the drawn order.
    line.admit(c, fast(1)).await.unwrap();
    let first = users[positions.iter().position(|p| *p == 1).unwrap()];
    assert!(matches!(
        line.place(c, first, None).await.unwrap(),
        Place::Admitted { .. }
    ));
}

pub async fn the_shared_state_is_kept_and_a_rate_is_set_once_per_interval(
    line: Arc<dyn WaitingLine>,
) {
    let c = opened(&*line).await;
    let fresh = line.shared(c).await.unwrap();
    assert!(fresh.generation > 0, "opened: a generation");
    assert_eq!(
        SharedRoom {
            generation: 0,
            ..fresh
        },
        SharedRoom::default(),
        "opened: off, no rate, no bounds, not re-seeding"
    );
    line.set_switch(c, RoomSwitch::On).await.unwrap();
    assert_eq!(line.shared(c).await.unwrap().switch, RoomSwitch::On);
    let minute = Duration::from_secs(60);
    assert_eq!(line.propose_rate(c, 100.0, minute).await.unwrap(), 100.0);
    assert_eq!(
        line.propose_rate(c, 250.0, minute).await.unwrap(),
        100.0,
        "another node's proposal within the interval is ignored"
    );
    assert_eq!(
        line.propose_rate(c, 250.0, Duration::ZERO).await.unwrap(),
        250.0
    );
    let bounds = RateBounds::new(5.0, 500.0).unwrap();
    line.set_bounds(c, Some(bounds)).await.unwrap();
    let shared = line.shared(c).await.unwrap();
    assert_eq!(shared.bounds, Some(bounds));
    assert_eq!(shared.rate, 250.0);
    line.set_bounds(c, None).await.unwrap();
    assert_eq!(line.shared(c).await.unwrap().bounds, None);
}

pub async fn a_draining_room_turns_off_once_its_line_is_empty(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let (a, b) = (UserId::new(), UserId::new());
    line.set_switch(c, RoomSwitch::Draining).await.unwrap();
    line.join(c, a, None).await.unwrap();
    line.join(c, b, None).await.unwrap();
    line.admit(c, fast(1)).await.unwrap();
    assert_eq!(
        line.shared(c).await.unwrap().switch,
        RoomSwitch::Draining,
        "one still waits"
    );
    // What is due follows elapsed time: let a little pass at the fast pace.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let figures = line.admit(c, fast(1)).await.unwrap();
    assert_eq!(figures.waiting, 0);
    assert_eq!(line.shared(c).await.unwrap().switch, RoomSwitch::Off);
    line.set_switch(c, RoomSwitch::On).await.unwrap();
    line.admit(c, fast(1)).await.unwrap();
    assert_eq!(
        line.shared(c).await.unwrap().switch,
        RoomSwitch::On,
        "an empty line does not turn an ON room off"
    );
}

pub async fn concurrent_joins_get_distinct_places(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    let users: Vec<UserId> = (0..200).map(|_| UserId::new()).collect();
    let mut tasks = Vec::new();
    for u in users.iter().chain(users.iter()) {
        let (line, u) = (line.clone(), *u);
        tasks.push(tokio::spawn(
            async move { line.join(c, u, None).await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut positions = HashSet::new();
    for u in &users {
        match line.place(c, *u, None).await.unwrap() {
            Place::Waiting { position, .. } => assert!(positions.insert(position)),
            other => panic!("waiting, got {other:?}"),
        }
    }
    assert_eq!(positions, (1..=200).collect());
    assert_eq!(line.admit(c, fast(0)).await.unwrap().waiting, 200);
}

pub async fn lines_are_independent(line: Arc<dyn WaitingLine>) {
    let (c1, c2) = (opened(&*line).await, opened(&*line).await);
    let u = UserId::new();
    line.join(c1, u, None).await.unwrap();
    assert_eq!(line.place(c2, u, None).await.unwrap(), Place::Absent);
    line.set_switch(c1, RoomSwitch::On).await.unwrap();
    assert_eq!(line.shared(c2).await.unwrap().switch, RoomSwitch::Off);
    line.admit(c2, fast(5)).await.unwrap();
    assert_eq!(position(line.place(c1, u, None).await.unwrap()), waiting(1));
}

/// A slow rate asked often keeps its fractions: 4/s asked every 100 ms for 2 s admits
/// about 8, not one per step rounded away.
pub async fn a_slow_rate_is_kept_when_asked_often(line: Arc<dyn WaitingLine>) {
    let c = opened(&*line).await;
    for _ in 0..40 {
        line.join(c, UserId::new(), None).await.unwrap();
    }
    let pace = Pace {
        rate_per_sec: 4.0,
        burst: 1,
        ..fast(1)
    };
    let mut admitted = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        admitted += line.admit(c, pace).await.unwrap().admitted_now;
    }
    assert!(
        (7..=10).contains(&admitted),
        "4/s over ~2 s admitted {admitted}"
    );
}
