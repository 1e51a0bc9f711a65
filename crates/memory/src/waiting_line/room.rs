//! One coupon's line in process memory, and each step of it. Every step runs under the
//! room's lock, so the steps are atomic as the Redis scripts are.

use super::ranked::Ranked;
use couponrush_domain::UserId;
use couponrush_domain::waiting_room::{LineFigures, Pace, Place, RoomSwitch, Seat, SharedRoom};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Expired admissions are remembered this long, so a late poll hears EXPIRED rather
/// than "not in line".
const EXPIRED_KEPT_MS: i64 = 10 * 60 * 1000;
/// Abandoned waiters are looked for at most this often: the sweep walks the line.
const SWEEP_EVERY_MS: i64 = 1000;
/// How far ahead of the clock a lost line's order numbers start (see `Room::lost`).
const LOST_ORDER_MARGIN_MS: i64 = 1000;

pub(super) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

struct Waiter {
    order: u64,
    seen_ms: i64,
}

/// An admission: valid until (ms), and whether a poll has told its holder yet. Its
/// validity runs from that poll (`Room::tell`), so a holder whose poll comes late keeps
/// the whole time to claim; until then the heartbeat bound holds it.
#[derive(Clone, Copy)]
struct Admission {
    until: i64,
    told: bool,
    /// When its holder joined the line, until the poll that tells them (`None` for an
    /// admission given back: its wait was told already).
    joined_ms: Option<i64>,
}

#[derive(Default)]
pub(super) struct Room {
    /// Those waiting, by order number.
    line: Ranked,
    waiting: HashMap<UserId, Waiter>,
    /// The last order number given.
    last_order: u64,
    /// User → the admission; kept a while after expiry.
    admitted: HashMap<UserId, Admission>,
    /// How long an admission lasts once its holder is told (the latest admit step's).
    admission_ttl_ms: i64,
    /// Valid until (ms) → admissions granted with it and not used yet: the admissions
    /// outstanding are the counts past now, a few hundred keys (one per step) rather
    /// than every admitted user.
    unused: BTreeMap<i64, u64>,
    shared: SharedRoom,
    rate_set_ms: Option<i64>,
    /// Admissions are accounted up to this instant (fractional ms keep a slow rate exact).
    last_admit_ms: Option<f64>,
    admitted_total: u64,
    abandoned_total: u64,
    shuffled: bool,
    last_sweep_ms: i64,
    /// Nobody is admitted before this instant: the line was found lost and is being
    /// re-seeded from its waiters' tickets. `None` for a line opened at creation.
    reseed_until: Option<i64>,
}

/// The order number a join at `now` gets: the join time × 1024, never less than the
/// last one given plus one. Joins in one millisecond still get distinct, ordered
/// numbers; joins after a restart get numbers above every earlier process's (whose
/// joins were earlier); and the number says when the place was taken, which the wait
/// told with an admission counts from. ms × 1024 stays below 2^53 (exact in the Lua
/// numbers of the Redis line, which uses the same rule) until the year 2248.
fn next_order(last: u64, now: i64) -> u64 {
    let clock = u64::try_from(now).unwrap_or(0).saturating_mul(1024);
    clock.max(last + 1)
}

fn joined_ms(order: u64) -> i64 {
    i64::try_from(order / 1024).unwrap_or(i64::MAX)
}

impl Room {
    /// A line found without its state (this process started after it was in use):
    /// re-seeded from the waiters' tickets for `grace`, and its pre-queue, if any,
    /// counted as drawn (those who re-seat keep the order their tickets carry). Its
    /// order numbers start a second ahead of the clock, as the Redis line's do after a
    /// loss: numbers of the lost line, whose joins were earlier, stay below them even
    /// for a join in the very millisecond of the loss.
    pub fn lost(now: i64, grace: Duration) -> Self {
        Self {
            reseed_until: Some(now.saturating_add(ms(grace))),
            shuffled: true,
            last_order: next_order(0, now.saturating_add(LOST_ORDER_MARGIN_MS)),
            ..Self::default()
        }
    }

    fn reseeding(&self, now: i64) -> bool {
        self.reseed_until.is_some_and(|until| now < until)
    }

    pub fn shared(&self, now: i64, generation: u64) -> SharedRoom {
        SharedRoom {
            reseeding: self.reseeding(now),
            generation,
            ..self.shared
        }
    }

    pub fn shared_mut(&mut self) -> &mut SharedRoom {
        &mut self.shared
    }

    fn waiting_place(&self, user: UserId, generation: u64) -> Option<Place> {
        let w = self.waiting.get(&user)?;
        Some(Place::Waiting {
            position: self.line.rank(&(w.order, user))?,
            seat: Seat {
                generation,
                order: w.order,
            },
        })
    }

    fn enqueue(&mut self, user: UserId, order: u64, now: i64) {
        self.line.insert((order, user));
        self.waiting.insert(
            user,
            Waiter {
                order,
                seen_ms: now,
            },
        );
    }

    fn admitted_place(&self, user: UserId, now: i64, generation: u64) -> Option<Place> {
        self.admitted.get(&user).map(|a| {
            if a.until > now {
                Place::Admitted {
                    valid_until_ms: a.until,
                    waited: None,
                    generation,
                }
            } else {
                Place::Expired
            }
        })
    }

    /// Puts `user` back at `seat`'s order number if they are absent and the seat is of
    /// an older generation (the line was lost since it was given); a line again means
    /// newcomers must queue behind it, so an OFF switch turns DRAINING.
    fn reseat(&mut self, user: UserId, seat: Option<Seat>, generation: u64, now: i64) -> bool {
        let Some(seat) = seat.filter(|s| s.generation < generation) else {
            return false;
        };
        if self.waiting.contains_key(&user) || self.admitted.contains_key(&user) {
            return false;
        }
        self.enqueue(user, seat.order, now);
        self.last_order = self.last_order.max(seat.order);
        if self.shared.switch == RoomSwitch::Off {
            self.shared.switch = RoomSwitch::Draining;
        }
        true
    }

    pub fn join(&mut self, user: UserId, seat: Option<Seat>, generation: u64, now: i64) -> Place {
        if let Some(place @ Place::Admitted { .. }) = self.admitted_place(user, now, generation) {
            return place;
        }
        if let Some(w) = self.waiting.get_mut(&user) {
            w.seen_ms = now;
        } else if !self.reseat(user, seat, generation, now) {
            // Newcomer, or back after an admission that expired or was used.
            if let Some(old) = self.admitted.remove(&user) {
                self.forget_unused(old.until, now);
            }
            let order = next_order(self.last_order, now);
            self.last_order = order;
            self.enqueue(user, order, now);
        }
        self.waiting_place(user, generation)
            .expect("a user just placed is waiting")
    }

    pub fn place(&mut self, user: UserId, seat: Option<Seat>, generation: u64, now: i64) -> Place {
        if let Some(w) = self.waiting.get_mut(&user) {
            w.seen_ms = now;
        } else if let Some(told) = self.tell(user, now, generation) {
            return told;
        } else if !self.reseat(user, seat, generation, now) {
            return Place::Absent;
        }
        self.waiting_place(user, generation)
            .expect("a user just found waiting is in line")
    }

    /// The poll that first finds a valid admission tells its holder: from then on it
    /// lasts `admission_ttl`, however late the poll came. That answer alone says how
    /// long the holder waited.
    fn tell(&mut self, user: UserId, now: i64, generation: u64) -> Option<Place> {
        let a = *self.admitted.get(&user)?;
        let mut waited = None;
        if a.until > now && !a.told {
            self.grant(user, now.saturating_add(self.admission_ttl_ms), None, now);
            waited = a
                .joined_ms
                .map(|joined| Duration::from_millis(u64::try_from(now - joined).unwrap_or(0)));
        }
        match self.admitted_place(user, now, generation) {
            Some(Place::Admitted {
                valid_until_ms,
                generation,
                ..
            }) => Some(Place::Admitted {
                valid_until_ms,
                waited,
                generation,
            }),
            other => other,
        }
    }

    /// Grants an admission until `until`: untold while `joined_ms` is known (an
    /// admission step's), told otherwise (a telling poll's, or one given back).
    pub fn grant(&mut self, user: UserId, until: i64, joined_ms: Option<i64>, now: i64) {
        let admission = Admission {
            until,
            told: joined_ms.is_none(),
            joined_ms,
        };
        if let Some(old) = self.admitted.insert(user, admission) {
            self.forget_unused(old.until, now);
        }
        *self.unused.entry(until).or_default() += 1;
    }

    fn forget_unused(&mut self, until: i64, now: i64) {
        if until <= now {
            return; // expired: no longer counted
        }
        if let Some(n) = self.unused.get_mut(&until) {
            *n -= 1;
            if *n == 0 {
                self.unused.remove(&until);
            }
        }
    }

    /// Uses `user`'s admission (true once); a token of an older `generation` is
    /// honoured without one (see `WaitingLine::take_admission`), and gives up the
    /// user's place in this line.
    pub fn take(&mut self, user: UserId, token_generation: u64, generation: u64, now: i64) -> bool {
        match self.admitted.get(&user) {
            Some(&a) if a.until > now => {
                self.admitted.remove(&user);
                self.forget_unused(a.until, now);
                true
            }
            _ if token_generation < generation => {
                if let Some(w) = self.waiting.remove(&user) {
                    self.line.remove(&(w.order, user));
                }
                true
            }
            _ => false,
        }
    }

    fn outstanding(&self, now: i64) -> u64 {
        self.unused.range(now + 1..).map(|(_, n)| n).sum()
    }

    fn sweep_abandoned(&mut self, now: i64, abandon_after: i64) {
        if now - self.last_sweep_ms < SWEEP_EVERY_MS.min(abandon_after) {
            return;
        }
        self.last_sweep_ms = now;
        let gone: Vec<(UserId, u64)> = self
            .waiting
            .iter()
            .filter(|(_, w)| now - w.seen_ms > abandon_after)
            .map(|(u, w)| (*u, w.order))
            .collect();
        for (user, order) in gone {
            self.waiting.remove(&user);
            self.line.remove(&(order, user));
            self.abandoned_total += 1;
        }
        self.admitted.retain(|_, a| now - a.until < EXPIRED_KEPT_MS);
    }

    fn due(&mut self, pace: &Pace, now: i64) -> u64 {
        if pace.burst == 0 {
            return 0; // nothing is admitted, and the pacing is left as it was
        }
        let now = now as f64;
        let burst = f64::from(pace.burst);
        let Some(last) = self.last_admit_ms else {
            self.last_admit_ms = Some(now);
            return u64::from(pace.burst);
        };
        let raw = ((now - last) * pace.rate_per_sec / 1000.0).floor().max(0.0);
        let due = raw.min(burst);
        if raw > burst || self.waiting.len() as f64 <= due || pace.rate_per_sec <= 0.0 {
            // Capped, or nobody left to take the rest: no credit is carried over.
            self.last_admit_ms = Some(now);
        } else if due > 0.0 {
            // Only what was admitted is accounted: a slow rate keeps its fractions.
            self.last_admit_ms = Some(last + due * 1000.0 / pace.rate_per_sec);
        }
        due as u64
    }

    pub fn admit(&mut self, pace: &Pace, now: i64) -> LineFigures {
        self.sweep_abandoned(now, ms(pace.abandon_after));
        self.unused = self.unused.split_off(&(now + 1));
        let reseeding = self.reseeding(now);
        // While re-seeding, nobody is let through: a waiter who has not shown their
        // ticket yet may belong ahead of everyone now in line.
        let mut due = if reseeding { 0 } else { self.due(pace, now) };
        if let Some(cap) = pace.outstanding_cap {
            // Never more admissions waiting to be used than units left.
            due = due.min(cap.saturating_sub(self.outstanding(now)));
        }
        let abandon_after = ms(pace.abandon_after);
        self.admission_ttl_ms = ms(pace.admission_ttl);
        // Untold, an admission is held as long as a waiter's place would be (the
        // heartbeat bound), and at least the time to claim.
        let valid_until = now.saturating_add(abandon_after.max(self.admission_ttl_ms));
        let mut admitted_now = 0;
        while admitted_now < due {
            let Some((order, user)) = self.line.pop_first() else {
                break;
            };
            let Some(waiter) = self.waiting.remove(&user) else {
                continue;
            };
            if now - waiter.seen_ms > abandon_after {
                // Gone quiet before its turn came: dropped, not admitted.
                self.abandoned_total += 1;
                continue;
            }
            self.grant(user, valid_until, Some(joined_ms(order)), now);
            admitted_now += 1;
        }
        self.admitted_total += admitted_now;
        if !reseeding && self.shared.switch == RoomSwitch::Draining && self.waiting.is_empty() {
            self.shared.switch = RoomSwitch::Off;
        }
        LineFigures {
            waiting: self.waiting.len() as u64,
            admitted_total: self.admitted_total,
            abandoned_total: self.abandoned_total,
            admitted_now,
        }
    }

    /// Draws a random order for everyone in line, once: the same order numbers, dealt
    /// out again. False if drawn before (or the line was found lost: see `lost`).
    pub fn shuffle_once(&mut self, seed: u64) -> bool {
        if std::mem::replace(&mut self.shuffled, true) {
            return false;
        }
        let mut users: Vec<UserId> = self.line.entries_mut().map(|e| e.1).collect();
        let mut rng = SplitMix64(seed);
        for i in (1..users.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            users.swap(i, j);
        }
        for (entry, user) in self.line.entries_mut().zip(users) {
            entry.1 = user;
            if let Some(w) = self.waiting.get_mut(&user) {
                w.order = entry.0;
            }
        }
        true
    }

    /// Sets the rate unless it was set less than `min_interval_ms` ago; the rate in force.
    pub fn propose_rate(&mut self, rate: f64, min_interval_ms: i64, now: i64) -> f64 {
        if self
            .rate_set_ms
            .is_none_or(|at| now - at >= min_interval_ms)
        {
            self.shared.rate = rate;
            self.rate_set_ms = Some(now);
        }
        self.shared.rate
    }
}

/// A small, well-mixed generator: the shuffle needs an unbiased draw from a seed the
/// caller picked with the OS's randomness, not a cryptographic stream.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_follow_the_clock_and_never_repeat() {
        assert_eq!(next_order(0, 1_000), 1_024_000);
        assert_eq!(next_order(1_024_000, 1_000), 1_024_001, "same millisecond");
        assert_eq!(
            next_order(1_024_001, 999),
            1_024_002,
            "the clock stepped back"
        );
        assert_eq!(
            joined_ms(next_order(0, 1_764_900_000_123)),
            1_764_900_000_123
        );
        assert!(
            next_order(0, 7_000_000_000_000) < 1 << 53,
            "exact as a Lua number"
        );
    }

    #[test]
    fn positions_skip_the_places_left_by_admission_and_abandonment() {
        let mut room = Room::default();
        let users: Vec<UserId> = (0..5).map(|_| UserId::new()).collect();
        for (i, u) in users.iter().enumerate() {
            room.join(*u, None, 1, 4_900 + i as i64);
        }
        room.waiting.get_mut(&users[1]).unwrap().seen_ms = 0;
        room.sweep_abandoned(5_000, 1_000);
        let position = |room: &Room, u: UserId| match room.waiting_place(u, 1) {
            Some(Place::Waiting { position, .. }) => position,
            other => panic!("waiting, got {other:?}"),
        };
        assert_eq!(position(&room, users[4]), 4);
        assert_eq!(position(&room, users[2]), 2);
    }
}
