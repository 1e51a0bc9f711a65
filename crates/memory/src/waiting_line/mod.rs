//! The embedded waiting line: each coupon's line in process memory.
//!
//! Places are kept by order number ([`ranked`]): a position costs a search and a sum
//! over blocks however long the line is — 100,000 waiters polling must not each walk
//! the line — and a place ticket from before a restart can put its waiter back at any
//! order number ahead of those who joined since. Admission takes from the head; a
//! waiter dropped for not polling leaves no hole.
//!
//! A process is one generation of every line in it: a line its coupon's creation opened
//! here has no re-seeding window; any other line this process is asked about was in use
//! before it started (or never), and is re-seeded from its waiters' tickets.

mod ranked;
mod room;

use async_trait::async_trait;
use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::{
    DEFAULT_RESEED_GRACE, LineFigures, Pace, Place, RateBounds, RoomSwitch, Seat, SharedRoom,
};
use couponrush_domain::{CouponId, StoreError, UserId};
use parking_lot::Mutex;
use room::{Room, ms};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct MemoryWaitingLine {
    /// This line's generation: the clock (ms) when it was made.
    generation: u64,
    /// How long a line found lost admits nobody.
    reseed_grace: Duration,
    rooms: Mutex<HashMap<CouponId, Arc<Mutex<Room>>>>,
}

impl Default for MemoryWaitingLine {
    fn default() -> Self {
        Self::new()
    }
}

/// A generation after every earlier one of this process, even two made within a
/// millisecond (tests restart servers in one process); later processes start later.
fn next_generation() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let previous = LAST
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or_default();
    now.max(previous + 1)
}

impl MemoryWaitingLine {
    pub fn new() -> Self {
        Self {
            generation: next_generation(),
            reseed_grace: DEFAULT_RESEED_GRACE,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    /// How long a line found lost (one this process did not open) admits nobody.
    pub fn with_reseed_grace(mut self, grace: Duration) -> Self {
        self.reseed_grace = grace;
        self
    }

    fn room(&self, coupon: CouponId) -> Arc<Mutex<Room>> {
        self.rooms
            .lock()
            .entry(coupon)
            .or_insert_with(|| Arc::new(Mutex::new(Room::lost(now_ms(), self.reseed_grace))))
            .clone()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl WaitingLine for MemoryWaitingLine {
    async fn open(&self, coupon: CouponId) -> Result<(), StoreError> {
        self.rooms.lock().entry(coupon).or_default();
        Ok(())
    }

    async fn join(
        &self,
        coupon: CouponId,
        user: UserId,
        seat: Option<Seat>,
    ) -> Result<Place, StoreError> {
        let room = self.room(coupon);
        let place = room.lock().join(user, seat, self.generation, now_ms());
        Ok(place)
    }

    async fn place(
        &self,
        coupon: CouponId,
        user: UserId,
        seat: Option<Seat>,
    ) -> Result<Place, StoreError> {
        let room = self.room(coupon);
        let place = room.lock().place(user, seat, self.generation, now_ms());
        Ok(place)
    }

    async fn admit(&self, coupon: CouponId, pace: Pace) -> Result<LineFigures, StoreError> {
        let room = self.room(coupon);
        let figures = room.lock().admit(&pace, now_ms());
        Ok(figures)
    }

    async fn take_admission(
        &self,
        coupon: CouponId,
        user: UserId,
        generation: u64,
    ) -> Result<bool, StoreError> {
        let room = self.room(coupon);
        let taken = room
            .lock()
            .take(user, generation, self.generation, now_ms());
        Ok(taken)
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
        let drawn = room.lock().shuffle_once(seed);
        Ok(drawn)
    }

    async fn shared(&self, coupon: CouponId) -> Result<SharedRoom, StoreError> {
        let room = self.room(coupon);
        let shared = room.lock().shared(now_ms(), self.generation);
        Ok(shared)
    }

    async fn set_switch(&self, coupon: CouponId, switch: RoomSwitch) -> Result<(), StoreError> {
        self.room(coupon).lock().shared_mut().switch = switch;
        Ok(())
    }

    async fn propose_rate(
        &self,
        coupon: CouponId,
        rate: f64,
        min_interval: Duration,
    ) -> Result<f64, StoreError> {
        let room = self.room(coupon);
        let rate = room.lock().propose_rate(rate, ms(min_interval), now_ms());
        Ok(rate)
    }

    async fn set_bounds(
        &self,
        coupon: CouponId,
        bounds: Option<RateBounds>,
    ) -> Result<(), StoreError> {
        self.room(coupon).lock().shared_mut().bounds = bounds;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_only_grow() {
        let (a, b) = (next_generation(), next_generation());
        assert!(b > a);
        assert!(a >= u64::try_from(now_ms()).unwrap() - 1_000);
    }
}
