//! A line lost with its store (or its process) and rebuilt from its waiters' seats:
//! those who show a seat of the lost line are put back at its order number, ahead of
//! everyone who joined since; nobody is admitted until the re-seeding window closes;
//! a seat of the line as it is now puts nobody back; an admission of the lost line is
//! still honoured. (That a seat reaches the line only from a ticket signed for its
//! holder and coupon is the place-ticket codec's part, checked with it.)

use super::{LineUnderTest, RESEED_GRACE, fast, opened, position, seat_of, take, waiting};
use couponrush_domain::UserId;
use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::{Pace, Place, RoomSwitch, Seat};
use std::time::Duration;

/// Waits out the re-seeding window of a line lost just now.
pub async fn window_closed() {
    tokio::time::sleep(RESEED_GRACE + Duration::from_millis(200)).await;
}

/// Admits one at a time and returns who was admitted, in that order, among `users`.
pub async fn admission_order(
    line: &dyn WaitingLine,
    coupon: couponrush_domain::CouponId,
    users: &[UserId],
) -> Vec<UserId> {
    let mut order = Vec::new();
    for _ in users {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(line.admit(coupon, fast(1)).await.unwrap().admitted_now, 1);
        for u in users {
            if !order.contains(u)
                && matches!(
                    line.place(coupon, *u, None).await.unwrap(),
                    Place::Admitted { .. }
                )
            {
                order.push(*u);
            }
        }
    }
    order
}

/// Four wait; the line is lost; a newcomer joins. Three of the four come back, out of
/// order, showing their seats: each is put back at their order number, ahead of the
/// newcomer, in the order they first joined; the room drains (there is a line again).
/// Nobody is admitted until the window closes; then the three, and the newcomer last.
/// The fourth never came back and is not in line.
pub async fn tickets_rebuild_a_lost_line_in_its_order(t: LineUnderTest) {
    let c = opened(&*t.line).await;
    let users: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    let mut seats = Vec::new();
    for u in &users {
        seats.push(seat_of(t.line.join(c, *u, None).await.unwrap()));
    }
    let before = t.line.shared(c).await.unwrap().generation;
    assert!(seats.iter().all(|s| s.generation == before));
    assert!(
        seats.windows(2).all(|w| w[0].order < w[1].order),
        "{seats:?}"
    );

    let line = (t.lose)(c).await;
    let newcomer = UserId::new();
    let joined = line.join(c, newcomer, None).await.unwrap();
    assert_eq!(
        position(joined),
        waiting(1),
        "the lost line's waiters are gone"
    );
    let new = seat_of(joined);
    assert!(
        new.generation > before,
        "a new generation: {new:?} after {before}"
    );
    assert!(
        seats.iter().all(|s| s.order < new.order),
        "a newcomer after the loss is behind every place of the lost line: {new:?} {seats:?}"
    );
    assert!(line.shared(c).await.unwrap().reseeding);

    assert_eq!(
        position(line.place(c, users[2], Some(seats[2])).await.unwrap()),
        waiting(1)
    );
    assert_eq!(
        position(line.join(c, users[0], Some(seats[0])).await.unwrap()),
        waiting(1)
    );
    let back = line.place(c, users[1], Some(seats[1])).await.unwrap();
    assert_eq!(position(back), waiting(2));
    assert_eq!(
        seat_of(back),
        Seat {
            generation: new.generation,
            order: seats[1].order
        },
        "the same order number, in the new generation"
    );
    assert_eq!(
        position(line.place(c, users[0], Some(seats[0])).await.unwrap()),
        waiting(1),
        "showing the seat again changes nothing"
    );
    assert_eq!(
        position(line.place(c, newcomer, None).await.unwrap()),
        waiting(4)
    );
    assert_eq!(
        line.shared(c).await.unwrap().switch,
        RoomSwitch::Draining,
        "a line again: newcomers queue behind it"
    );

    let step = line.admit(c, fast(10)).await.unwrap();
    assert_eq!(step.admitted_now, 0, "nobody is admitted while re-seeding");
    assert_eq!(step.waiting, 4);
    window_closed().await;
    assert!(!line.shared(c).await.unwrap().reseeding);
    let candidates = [users[0], users[1], users[2], newcomer];
    assert_eq!(
        admission_order(&*line, c, &candidates).await,
        candidates,
        "the lost line's order, the newcomer last"
    );
    assert_eq!(
        line.place(c, users[3], None).await.unwrap(),
        Place::Absent,
        "never came back"
    );
}

/// A lost line admits nobody during its window, and a DRAINING room (as a node that
/// saw the room on sets it) does not turn off with its line empty before the window
/// closes: someone may still come back. A lost line counts as drawn: no shuffle.
pub async fn a_lost_line_admits_nobody_and_stays_draining_until_its_window_closes(
    t: LineUnderTest,
) {
    let c = opened(&*t.line).await;
    t.line.join(c, UserId::new(), None).await.unwrap();
    let line = (t.lose)(c).await;
    line.set_switch(c, RoomSwitch::Draining).await.unwrap();
    let step = line.admit(c, fast(5)).await.unwrap();
    assert_eq!((step.admitted_now, step.waiting), (0, 0));
    let shared = line.shared(c).await.unwrap();
    assert!(shared.reseeding);
    assert_eq!(shared.switch, RoomSwitch::Draining, "empty, but re-seeding");
    assert!(
        !line.shuffle_once(c, 42).await.unwrap(),
        "a lost line keeps the order its tickets carry"
    );
    let late = UserId::new();
    line.join(c, late, None).await.unwrap();
    assert_eq!(line.admit(c, fast(5)).await.unwrap().admitted_now, 0);
    window_closed().await;
    assert_eq!(line.admit(c, fast(5)).await.unwrap().admitted_now, 1);
    assert!(matches!(
        line.place(c, late, None).await.unwrap(),
        Place::Admitted { .. }
    ));
    assert_eq!(
        line.shared(c).await.unwrap().switch,
        RoomSwitch::Off,
        "window closed, line empty: off"
    );
}

/// A seat of the line as it is now puts nobody back: a waiter dropped for not polling
/// stays dropped, one whose admission was used stays served; joining with it goes to
/// the back. (A seat of a generation the line has not reached is the adapter's own
/// matter: the Redis line takes it for proof that it came back stale from a replica,
/// `redis/tests/waiting_line_stale.rs`.)
pub async fn a_seat_of_the_current_generation_puts_nobody_back(t: LineUnderTest) {
    let line = t.line;
    let c = opened(&*line).await;
    let (served, quiet, other) = (UserId::new(), UserId::new(), UserId::new());
    let served_seat = seat_of(line.join(c, served, None).await.unwrap());
    let quiet_seat = seat_of(line.join(c, quiet, None).await.unwrap());
    line.join(c, other, None).await.unwrap();
    assert_eq!(line.admit(c, fast(1)).await.unwrap().admitted_now, 1);
    assert!(take(&*line, c, served).await);
    assert_eq!(
        line.place(c, served, Some(served_seat)).await.unwrap(),
        Place::Absent,
        "served"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    line.place(c, other, None).await.unwrap();
    let quick = Pace {
        abandon_after: Duration::from_millis(300),
        ..fast(0)
    };
    assert_eq!(line.admit(c, quick).await.unwrap().abandoned_total, 1);
    assert_eq!(
        line.place(c, quiet, Some(quiet_seat)).await.unwrap(),
        Place::Absent,
        "dropped for not polling"
    );
    let rejoined = line.join(c, quiet, Some(quiet_seat)).await.unwrap();
    assert_eq!(position(rejoined), waiting(2), "to the back");
    assert!(seat_of(rejoined).order > quiet_seat.order);
}

/// An admission given before the loss is still honoured by the line (its token is
/// valid; single use falls to the gate, one coupon per user), and its holder's place in
/// the rebuilt line, if they re-seated, goes. A token of the current generation with no
/// admission behind it is not.
pub async fn an_admission_of_a_lost_line_is_honoured(t: LineUnderTest) {
    let c = opened(&*t.line).await;
    let (admitted, waiter) = (UserId::new(), UserId::new());
    let admitted_seat = seat_of(t.line.join(c, admitted, None).await.unwrap());
    let waiter_seat = seat_of(t.line.join(c, waiter, None).await.unwrap());
    t.line.admit(c, fast(1)).await.unwrap();
    let Place::Admitted { generation, .. } = t.line.place(c, admitted, None).await.unwrap() else {
        panic!("admitted");
    };
    let line = (t.lose)(c).await;
    assert_eq!(
        position(line.place(c, admitted, Some(admitted_seat)).await.unwrap()),
        waiting(1),
        "re-seated from the ticket of their wait"
    );
    assert_eq!(
        position(line.place(c, waiter, Some(waiter_seat)).await.unwrap()),
        waiting(2)
    );
    assert!(
        line.take_admission(c, admitted, generation).await.unwrap(),
        "the lost line's admission is honoured"
    );
    assert_eq!(
        position(line.place(c, waiter, None).await.unwrap()),
        waiting(1),
        "the served holder left the rebuilt line"
    );
    assert!(!take(&*line, c, waiter).await, "no admission in this line");
}
