//! A waiting line that comes back stale: a failover to a replica that kept the room's
//! keys as they were a moment before, without the latest joins. The replica is played
//! by the room's own keys, DUMPed after the first waiters and RESTOREd after the rest.
//! Its generation is still there, so only a witness of a place it never gave can tell:
//! a waiter's place ticket, or a node that handed out such a place.

mod support;

use couponrush_contracts::waiting_line::loss::{admission_order, window_closed};
use couponrush_contracts::waiting_line::{RESEED_GRACE, fast, position, seat_of};
use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::Seat;
use couponrush_domain::{CouponId, UserId};
use couponrush_redis::{RedisConnection, RedisWaitingLine};

async fn node(url: &str, prefix: &str) -> RedisWaitingLine {
    RedisWaitingLine::connect(url, prefix)
        .await
        .expect("waiting line")
        .with_reseed_grace(RESEED_GRACE)
}

/// The room's keys as they are now (key, dump, time to live in ms).
type Snapshot = Vec<(String, Vec<u8>, i64)>;

async fn snapshot(conn: &mut RedisConnection, keys: Vec<String>) -> Snapshot {
    let mut taken = Vec::new();
    for key in keys {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap();
        if let Some(dump) = dump {
            taken.push((key, dump, ttl.max(0)));
        }
    }
    taken
}

/// The replica takes over: every key of the room as the snapshot had it, and no other.
async fn fail_over_to(conn: &mut RedisConnection, all: Vec<String>, snapshot: &Snapshot) {
    redis::cmd("DEL")
        .arg(all)
        .query_async::<()>(conn)
        .await
        .unwrap();
    for (key, dump, ttl) in snapshot {
        redis::cmd("RESTORE")
            .arg(key)
            .arg(*ttl)
            .arg(dump.as_slice())
            .query_async::<()>(conn)
            .await
            .unwrap();
    }
}

/// A line that comes back stale: `kept` of `users` joined before the replica's copy,
/// the rest after; then the replica takes over. Returns the node that handed out every
/// place, the coupon, the users, their seats and the generation before the failover.
struct Stale {
    first: RedisWaitingLine,
    c: CouponId,
    users: Vec<UserId>,
    seats: Vec<Seat>,
    before: u64,
}

async fn stale_line(url: &str, prefix: &str, users: usize, kept: usize) -> Stale {
    let mut conn = support::raw(url).await;
    let first = node(url, prefix).await;
    let c = CouponId::new();
    first.open(c).await.unwrap();
    let users: Vec<UserId> = (0..users).map(|_| UserId::new()).collect();
    let mut seats = Vec::new();
    for u in &users[..kept] {
        seats.push(seat_of(first.join(c, *u, None).await.unwrap()));
    }
    let replica = snapshot(&mut conn, first.room_keys(c)).await;
    for u in &users[kept..] {
        seats.push(seat_of(first.join(c, *u, None).await.unwrap()));
    }
    let before = first.shared(c).await.unwrap();
    assert!(!before.reseeding);
    fail_over_to(&mut conn, first.room_keys(c), &replica).await;
    Stale {
        first,
        c,
        users,
        seats,
        before: before.generation,
    }
}

/// Once the re-seeding window has closed, `everyone` is admitted in that order: the
/// order they first joined in, across the failover, the newcomer last.
async fn admitted_in_arrival_order(line: &dyn WaitingLine, c: CouponId, everyone: [UserId; 5]) {
    window_closed().await;
    assert_eq!(
        admission_order(line, c, &everyone).await,
        everyone,
        "arrival order across the failover, the newcomer last"
    );
}

/// Two wait; the replica's copy is taken; two more join; the replica takes over. A node
/// that never saw the lost joins asks about the room: it looks whole. Then one of the
/// lost waiters polls there with their ticket: a place of this generation beyond the
/// line's order counter, so the line is stale and is re-seeded as a lost one. Both
/// lost waiters are put back at their places, a newcomer after them queues behind;
/// nobody is admitted during the window; then all five in the order they first joined.
#[tokio::test]
async fn a_ticket_the_stale_line_never_gave_has_it_rebuilt_in_arrival_order() {
    let (url, prefix) = (support::url(), support::prefix());
    let Stale {
        c,
        users,
        seats,
        before,
        ..
    } = stale_line(&url, &prefix, 4, 2).await;

    let second = node(&url, &prefix).await;
    assert!(
        !second.shared(c).await.unwrap().reseeding,
        "no witness yet: the line looks whole"
    );
    let back = second.place(c, users[3], Some(seats[3])).await.unwrap();
    let shared = second.shared(c).await.unwrap();
    assert!(
        shared.reseeding,
        "a ticket the line never gave: stale, re-seeded"
    );
    assert!(
        shared.generation > before,
        "{} after {before}",
        shared.generation
    );
    assert_eq!(
        position(back),
        Some(3),
        "behind the two the stale line kept"
    );
    assert_eq!(
        seat_of(back).order,
        seats[3].order,
        "put back at the ticket's order number"
    );
    let newcomer = UserId::new();
    assert_eq!(
        position(second.join(c, newcomer, None).await.unwrap()),
        Some(4)
    );
    assert_eq!(
        position(second.join(c, users[2], Some(seats[2])).await.unwrap()),
        Some(3),
        "put back ahead of the one who came back before them, in arrival order"
    );
    assert_eq!(
        position(second.place(c, newcomer, None).await.unwrap()),
        Some(5)
    );
    let step = second.admit(c, fast(10)).await.unwrap();
    assert_eq!(step.admitted_now, 0, "nobody is admitted while re-seeding");

    admitted_in_arrival_order(
        &second,
        c,
        [users[0], users[1], users[2], users[3], newcomer],
    )
    .await;
    support::cleanup(&url, &[prefix]).await;
}

/// A node that was told the count since the replica's copy needs no ticket, even after
/// a newcomer joined the stale line through a node that was not: its next question
/// about the room (every node's ticker asks each tick) finds the line stale, and the
/// lost waiters come back ahead of the newcomer.
#[tokio::test]
async fn a_node_told_more_places_than_the_stale_line_gave_finds_it_at_its_next_call() {
    let (url, prefix) = (support::url(), support::prefix());
    let Stale {
        first,
        c,
        users,
        seats,
        before,
    } = stale_line(&url, &prefix, 4, 1).await;

    let second = node(&url, &prefix).await;
    let newcomer = UserId::new();
    assert_eq!(
        position(second.join(c, newcomer, None).await.unwrap()),
        Some(2),
        "the stale line looks whole to a node that saw none of it"
    );
    let after = first.shared(c).await.unwrap();
    assert!(after.reseeding, "stale: re-seeded");
    assert!(after.generation > before);
    assert_eq!(
        first.shared(c).await.unwrap().generation,
        after.generation,
        "found once: the new generation stands"
    );
    for (u, seat) in users[1..].iter().zip(&seats[1..]).rev() {
        second.place(c, *u, Some(*seat)).await.unwrap();
    }
    admitted_in_arrival_order(
        &first,
        c,
        [users[0], users[1], users[2], users[3], newcomer],
    )
    .await;
    support::cleanup(&url, &[prefix]).await;
}

/// Whole lines are never taken for stale ones: two nodes join and ask in turn, each
/// witnessing what the other did.
#[tokio::test]
async fn a_whole_line_shared_by_two_nodes_is_never_found_stale() {
    let (url, prefix) = (support::url(), support::prefix());
    let (a, b) = (node(&url, &prefix).await, node(&url, &prefix).await);
    let c = CouponId::new();
    a.open(c).await.unwrap();
    let generation = a.shared(c).await.unwrap().generation;
    for i in 0..6 {
        let (joins, asks) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let seat = seat_of(joins.join(c, UserId::new(), None).await.unwrap());
        assert_eq!(seat.generation, generation);
        for line in [asks, joins] {
            let shared = line.shared(c).await.unwrap();
            assert!(!shared.reseeding, "join {i}");
            assert_eq!(shared.generation, generation);
        }
    }
    a.admit(c, fast(2)).await.unwrap();
    assert_eq!(b.shared(c).await.unwrap().generation, generation);
    support::cleanup(&url, &[prefix]).await;
}

/// A replica from before a re-seed: the line was lost and rebuilt in a new generation,
/// then the master failed over to a replica still holding the old one. A ticket of the
/// newer generation proves the line is behind: it is re-seeded above that generation
/// and the ticket's holder is put back at their place.
#[tokio::test]
async fn a_ticket_of_a_generation_the_line_has_not_reached_proves_it_stale() {
    let (url, prefix) = (support::url(), support::prefix());
    let mut conn = support::raw(&url).await;
    let line = node(&url, &prefix).await;
    let c = CouponId::new();
    line.open(c).await.unwrap();
    let early = UserId::new();
    line.join(c, early, None).await.unwrap();
    let old = line.shared(c).await.unwrap().generation;
    let replica = snapshot(&mut conn, line.room_keys(c)).await;
    redis::cmd("DEL")
        .arg(line.room_keys(c))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let late = UserId::new();
    let late_seat = seat_of(line.join(c, late, None).await.unwrap());
    assert!(late_seat.generation > old, "re-seeded after the loss");
    fail_over_to(&mut conn, line.room_keys(c), &replica).await;

    let fresh = node(&url, &prefix).await;
    let back = fresh.place(c, late, Some(late_seat)).await.unwrap();
    let shared = fresh.shared(c).await.unwrap();
    assert!(shared.reseeding);
    assert!(shared.generation > late_seat.generation);
    assert_eq!(position(back), Some(2), "behind the one the old line kept");
    assert_eq!(seat_of(back).order, late_seat.order);
    support::cleanup(&url, &[prefix]).await;
}
