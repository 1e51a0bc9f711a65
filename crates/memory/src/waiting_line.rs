//! The embedded waiting line: one coupon's line in process memory.
//!
//! Places are slots numbered in arrival order; a Fenwick tree counts the occupied
//! ones, so a waiter's position (occupied slots up to theirs) costs O(log n) however
//! long the line is — 100,000 waiters polling must not each walk the line. Admission
//! takes slots from the head; a waiter dropped for not polling leaves a hole the
//! count skips.

use async_trait::async_trait;
use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::{
    LineFigures, Pace, Place, RateBounds, RoomSwitch, SharedRoom,
};
use couponrush_domain::{CouponId, StoreError, UserId};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Expired admissions are remembered this long, so a late poll hears EXPIRED rather
/// than "not in line".
const EXPIRED_KEPT_MS: i64 = 10 * 60 * 1000;
/// Abandoned waiters are looked for at most this often: the sweep walks the line.
const SWEEP_EVERY_MS: i64 = 1000;

#[derive(Default)]
pub struct MemoryWaitingLine {
    rooms: Mutex<HashMap<CouponId, Arc<Mutex<Room>>>>,
}

impl MemoryWaitingLine {
    pub fn new() -> Self {
        Self::default()
    }

    fn room(&self, coupon: CouponId) -> Arc<Mutex<Room>> {
        self.rooms.lock().entry(coupon).or_default().clone()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

struct Waiter {
    slot: usize,
    seen_ms: i64,
    /// When the waiter joined: the wait told with the admission counts from here.
    joined_ms: i64,
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
struct Room {
    /// Slot → who holds it; `None` once admitted or dropped.
    slots: Vec<Option<UserId>>,
    occupied: Fenwick,
    /// No occupied slot lies before this one.
    head: usize,
    waiting: HashMap<UserId, Waiter>,
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
}

impl Room {
    fn position(&self, slot: usize) -> u64 {
        self.occupied.prefix(slot)
    }

    fn enqueue(&mut self, user: UserId, now: i64) -> u64 {
        let slot = self.slots.len();
        self.slots.push(Some(user));
        self.occupied.add(slot, 1);
        self.waiting.insert(
            user,
            Waiter {
                slot,
                seen_ms: now,
                joined_ms: now,
            },
        );
        self.position(slot)
    }

    fn remove_slot(&mut self, slot: usize) {
        if self.slots[slot].take().is_some() {
            self.occupied.add(slot, -1);
        }
    }

    fn admitted_place(&self, user: UserId, now: i64) -> Option<Place> {
        self.admitted.get(&user).map(|a| {
            if a.until > now {
                Place::Admitted {
                    valid_until_ms: a.until,
                    waited: None,
                }
            } else {
                Place::Expired
            }
        })
    }

    /// The poll that first finds a valid admission tells its holder: from then on it
    /// lasts `admission_ttl`, however late the poll came. That answer alone says how
    /// long the holder waited.
    fn tell(&mut self, user: UserId, now: i64) -> Option<Place> {
        let a = *self.admitted.get(&user)?;
        let mut waited = None;
        if a.until > now && !a.told {
            self.grant(user, now.saturating_add(self.admission_ttl_ms), None, now);
            waited = a
                .joined_ms
                .map(|joined| Duration::from_millis(u64::try_from(now - joined).unwrap_or(0)));
        }
        match self.admitted_place(user, now) {
            Some(Place::Admitted { valid_until_ms, .. }) => Some(Place::Admitted {
                valid_until_ms,
                waited,
            }),
            other => other,
        }
    }

    /// Grants an admission until `until`: untold while `joined_ms` is known (an
    /// admission step's), told otherwise (a telling poll's, or one given back).
    fn grant(&mut self, user: UserId, until: i64, joined_ms: Option<i64>, now: i64) {
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

    fn outstanding(&self, now: i64) -> u64 {
        self.unused.range(now + 1..).map(|(_, n)| n).sum()
    }

    fn sweep_abandoned(&mut self, now: i64, abandon_after: i64) {
        if now - self.last_sweep_ms < SWEEP_EVERY_MS.min(abandon_after) {
            return;
        }
        self.last_sweep_ms = now;
        let gone: Vec<(UserId, usize)> = self
            .waiting
            .iter()
            .filter(|(_, w)| now - w.seen_ms > abandon_after)
            .map(|(u, w)| (*u, w.slot))
            .collect();
        for (user, slot) in gone {
            self.waiting.remove(&user);
            self.remove_slot(slot);
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

    fn admit(&mut self, pace: &Pace, now: i64) -> LineFigures {
        self.sweep_abandoned(now, ms(pace.abandon_after));
        self.unused = self.unused.split_off(&(now + 1));
        let mut due = self.due(pace, now);
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
        while admitted_now < due && self.head < self.slots.len() {
            let slot = self.head;
            self.head += 1;
            let Some(user) = self.slots[slot] else {
                continue;
            };
            self.remove_slot(slot);
            let Some(waiter) = self.waiting.remove(&user) else {
                continue;
            };
            if now - waiter.seen_ms > abandon_after {
                // Gone quiet before its turn came: dropped, not admitted.
                self.abandoned_total += 1;
                continue;
            }
            self.grant(user, valid_until, Some(waiter.joined_ms), now);
            admitted_now += 1;
        }
        self.admitted_total += admitted_now;
        if self.shared.switch == RoomSwitch::Draining && self.waiting.is_empty() {
            self.shared.switch = RoomSwitch::Off;
        }
        LineFigures {
            waiting: self.waiting.len() as u64,
            admitted_total: self.admitted_total,
            abandoned_total: self.abandoned_total,
            admitted_now,
        }
    }

    fn shuffle(&mut self, seed: u64) {
        let slots: Vec<usize> = (self.head..self.slots.len())
            .filter(|s| self.slots[*s].is_some())
            .collect();
        let mut users: Vec<UserId> = slots.iter().filter_map(|s| self.slots[*s]).collect();
        let mut rng = SplitMix64(seed);
        for i in (1..users.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            users.swap(i, j);
        }
        for (slot, user) in slots.into_iter().zip(users) {
            self.slots[slot] = Some(user);
            if let Some(w) = self.waiting.get_mut(&user) {
                w.slot = slot;
            }
        }
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

/// Counts of occupied slots, prefix sums in O(log n); grows by doubling.
#[derive(Default)]
struct Fenwick {
    tree: Vec<i64>,
}

impl Fenwick {
    fn add(&mut self, index: usize, delta: i64) {
        if index >= self.tree.len() {
            self.grow(index + 1);
        }
        let mut i = index + 1;
        while i <= self.tree.len() {
            self.tree[i - 1] += delta;
            i += i & i.wrapping_neg();
        }
    }

    /// Sum over `0..=index`.
    fn prefix(&self, index: usize) -> u64 {
        let mut i = (index + 1).min(self.tree.len());
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i - 1];
            i -= i & i.wrapping_neg();
        }
        sum.max(0) as u64
    }

    fn grow(&mut self, at_least: usize) {
        let values: Vec<i64> = (0..self.tree.len())
            .map(|i| {
                let upto = self.prefix(i) as i64;
                let before = if i == 0 { 0 } else { self.prefix(i - 1) as i64 };
                upto - before
            })
            .collect();
        let size = at_least.max(self.tree.len() * 2).max(1024);
        self.tree = vec![0; size];
        // Linear build: each node passes its sum to its parent.
        for (i, v) in values.into_iter().enumerate() {
            self.tree[i] += v;
        }
        for i in 1..=size {
            let parent = i + (i & i.wrapping_neg());
            if parent <= size {
                self.tree[parent - 1] += self.tree[i - 1];
            }
        }
    }
}

#[async_trait]
impl WaitingLine for MemoryWaitingLine {
    async fn join(&self, coupon: CouponId, user: UserId) -> Result<Place, StoreError> {
        let room = self.room(coupon);
        let mut room = room.lock();
        let now = now_ms();
        if let Some(place @ Place::Admitted { .. }) = room.admitted_place(user, now) {
            return Ok(place);
        }
        if let Some(slot) = room.waiting.get_mut(&user).map(|w| {
            w.seen_ms = now;
            w.slot
        }) {
            return Ok(Place::Waiting {
                position: room.position(slot),
            });
        }
        room.admitted.remove(&user);
        Ok(Place::Waiting {
            position: room.enqueue(user, now),
        })
    }

    async fn place(&self, coupon: CouponId, user: UserId) -> Result<Place, StoreError> {
        let room = self.room(coupon);
        let mut room = room.lock();
        let now = now_ms();
        if let Some(slot) = room.waiting.get_mut(&user).map(|w| {
            w.seen_ms = now;
            w.slot
        }) {
            return Ok(Place::Waiting {
                position: room.position(slot),
            });
        }
        Ok(room.tell(user, now).unwrap_or(Place::Absent))
    }

    async fn admit(&self, coupon: CouponId, pace: Pace) -> Result<LineFigures, StoreError> {
        let room = self.room(coupon);
        let mut room = room.lock();
        Ok(room.admit(&pace, now_ms()))
    }

    async fn take_admission(&self, coupon: CouponId, user: UserId) -> Result<bool, StoreError> {
        let room = self.room(coupon);
        let mut room = room.lock();
        let now = now_ms();
        match room.admitted.get(&user) {
            Some(&a) if a.until > now => {
                room.admitted.remove(&user);
                room.forget_unused(a.until, now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn return_admission(
        &self,
        coupon: CouponId,
        user: UserId,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let room = self.room(coupon);
        let now = now_ms();
        // Given back by its holder, who is there: told already.
        room.lock()
            .grant(user, now.saturating_add(ms(ttl)), None, now);
        Ok(())
    }

    async fn shuffle_once(&self, coupon: CouponId, seed: u64) -> Result<bool, StoreError> {
        let room = self.room(coupon);
        let mut room = room.lock();
        if room.shuffled {
            return Ok(false);
        }
        room.shuffled = true;
        room.shuffle(seed);
        Ok(true)
    }

    async fn shared(&self, coupon: CouponId) -> Result<SharedRoom, StoreError> {
        Ok(self.room(coupon).lock().shared)
    }

    async fn set_switch(&self, coupon: CouponId, switch: RoomSwitch) -> Result<(), StoreError> {
        self.room(coupon).lock().shared.switch = switch;
        Ok(())
    }

    async fn propose_rate(
        &self,
        coupon: CouponId,
        rate: f64,
        min_interval: Duration,
    ) -> Result<f64, StoreError> {
        let room = self.room(coupon);
        let mut room = room.lock();
        let now = now_ms();
        if room
            .rate_set_ms
            .is_none_or(|at| now - at >= ms(min_interval))
        {
            room.shared.rate = rate;
            room.rate_set_ms = Some(now);
        }
        Ok(room.shared.rate)
    }

    async fn set_bounds(
        &self,
        coupon: CouponId,
        bounds: Option<RateBounds>,
    ) -> Result<(), StoreError> {
        self.room(coupon).lock().shared.bounds = bounds;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fenwick_tree_counts_what_is_occupied_across_growth() {
        let mut f = Fenwick::default();
        for i in 0..3000 {
            f.add(i, 1);
        }
        f.add(10, -1);
        f.add(2000, -1);
        assert_eq!(f.prefix(9), 10);
        assert_eq!(f.prefix(10), 10);
        assert_eq!(f.prefix(2999), 2998);
        assert_eq!(f.prefix(50_000), 2998, "past the end counts everything");
    }

    #[test]
    fn positions_skip_the_holes_left_by_admission_and_abandonment() {
        let mut room = Room::default();
        let users: Vec<UserId> = (0..5).map(|_| UserId::new()).collect();
        for u in &users {
            room.enqueue(*u, 0);
        }
        let slot = |room: &Room, u: &UserId| room.waiting[u].slot;
        room.remove_slot(slot(&room, &users[1]));
        room.waiting.remove(&users[1]);
        assert_eq!(room.position(slot(&room, &users[4])), 4);
        assert_eq!(room.position(slot(&room, &users[2])), 2);
    }
}
