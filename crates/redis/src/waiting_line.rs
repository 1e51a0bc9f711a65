//! [`RedisWaitingLine`]: the coupons' waiting rooms shared by every api node. Per
//! coupon, three sorted sets and a hash under the tag `{room:<coupon>}` (`keys.rs`):
//! the line (user → order number), the heartbeats (user → last poll), the admissions
//! (user → valid until) and the room's state (order counter, switch, rate, bounds,
//! admission accounting); and a hash of admitted users' join times, kept until the poll
//! that tells them reports their wait. Every step that reads and writes is one Lua script
//! (`scripts/line_*.lua`): atomic across nodes, one round trip, and O(log n) for the
//! calls every waiter makes (join, poll), so 100,000 waiters polling cost no more each
//! than ten.
//!
//! Time is the Redis server's (`TIME` inside the scripts), never the caller's, so the
//! nodes' clocks need not agree on who was quiet or which admission expired.
//!
//! The state holds the line's generation. Every script that asks about a room starts
//! with `line_generation.lua`: a room whose state has none was lost (a flush, a failover
//! to a replica that lacked it, a restart without persistence), and is re-seeded from
//! its waiters' place tickets for `reseed_grace` before anyone is admitted (see
//! `WaitingLine`). A failover to a replica that kept the state but lacks its latest
//! writes is caught by a witness: the line counts the places it gave in its
//! generation, this adapter remembers the highest count it was told per coupon and
//! hands it to every script, and a count the line never reached proves it stale, as
//! does a place ticket beyond its order counter; it is then treated as lost
//! (`line_generation.lua`). Every node asks about the rooms it serves each tick, so a
//! node that saw the count since the replica's copy finds it at its next tick, unless
//! as many newcomers as the replica lost joined first through nodes that saw less.
//!
//! Rates cross Lua as decimal strings both ways: a Lua number handed back to Redis is
//! truncated to an integer, and a string stored as given reads back exactly.
//!
//! The keys expire when a room goes quiet, so abandoned rooms do not live forever: the
//! line's keys a day after the last join or admission step, the state a month after its
//! last write (longer, so that admin-set bounds outlive a quiet spell, and never
//! shorter than the line: a line outliving its order counter would give newcomers
//! places ahead of those waiting).

use crate::connect::{RedisConnection, connection};
use crate::error::{SetupError, unavailable, unexpected};
use crate::keys::{RoomKeys, check_part};
use crate::scripts::{
    self, LINE_ADMIT, LINE_JOIN, LINE_OPEN, LINE_PLACE, LINE_RATE, LINE_RETURN, LINE_SHARED,
    LINE_SHUFFLE, LINE_TAKE, place, take,
};
use async_trait::async_trait;
use couponrush_domain::ports::WaitingLine;
use couponrush_domain::waiting_room::{
    DEFAULT_RESEED_GRACE, LineFigures, Pace, Place, RateBounds, RoomSwitch, Seat, SharedRoom,
};
use couponrush_domain::{CouponId, StoreError, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The line's keys live this long after the last join or admission step.
const LINE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The state lives this long after its last write; at least [`LINE_TTL`].
const STATE_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Durations handed to the scripts are capped here (about 31 years): past 2^53 a
/// Lua number stops counting milliseconds exactly.
const MAX_MS: u64 = 1_000_000_000_000;
/// Admission rates handed to the admission step are capped here: any burst is due at
/// once well before, and the product with a time stays finite.
const MAX_RATE: f64 = 1e12;

/// The distributed [`WaitingLine`]. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisWaitingLine {
    conn: RedisConnection,
    prefix: String,
    /// How long a line found lost admits nobody.
    reseed_grace: Duration,
    /// Per coupon, the highest count of places given (generation, count) this adapter
    /// was told: the witness that tells a stale line (a failover to a replica behind
    /// the master) from a whole one.
    witnessed: Arc<Mutex<HashMap<CouponId, Witness>>>,
}

impl RedisWaitingLine {
    /// Connects to `url` and loads the scripts. `key_prefix` (may be empty) goes in
    /// front of every key; it must not contain `{` or `}`.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        let mut conn = connection(url).await?;
        scripts::preload(
            &mut conn,
            &[
                &LINE_OPEN,
                &LINE_SHARED,
                &LINE_JOIN,
                &LINE_PLACE,
                &LINE_ADMIT,
                &LINE_TAKE,
                &LINE_RETURN,
                &LINE_SHUFFLE,
                &LINE_RATE,
            ],
        )
        .await?;
        Self::new(conn, key_prefix)
    }

    /// A line on an existing connection (shared with other adapters of the process).
    pub fn new(conn: RedisConnection, key_prefix: &str) -> Result<Self, SetupError> {
        check_part("key prefix", key_prefix)?;
        Ok(Self {
            conn,
            prefix: key_prefix.to_owned(),
            reseed_grace: DEFAULT_RESEED_GRACE,
            witnessed: Arc::default(),
        })
    }

    /// How long a line found lost admits nobody (default [`DEFAULT_RESEED_GRACE`]).
    pub fn with_reseed_grace(mut self, grace: Duration) -> Self {
        self.reseed_grace = grace;
        self
    }

    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Every key of one coupon's room (they share one hash tag): what an operator
    /// inspects, and what a test deletes to lose the line.
    pub fn room_keys(&self, coupon: CouponId) -> Vec<String> {
        self.keys(coupon).all()
    }

    fn keys(&self, coupon: CouponId) -> RoomKeys {
        RoomKeys::new(&self.prefix, coupon)
    }

    /// The witness a script gets (`line_generation.lua`): `0 0` for none.
    fn witness(&self, coupon: CouponId) -> Witness {
        self.witnessed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&coupon)
            .copied()
            .unwrap_or_default()
    }

    /// Remembers a count the line told, if it is the highest seen.
    fn saw(&self, coupon: CouponId, told: Witness) {
        let mut witnessed = self
            .witnessed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let known = witnessed.entry(coupon).or_default();
        if (told.generation, told.joins) > (known.generation, known.joins) {
            *known = told;
        }
    }
}

/// A line's generation and the places it gave in it, as a script told them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Witness {
    generation: u64,
    joins: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(MAX_MS)
}

/// What a user is inside the room's sets: the id's usual text, so `redis-cli` shows
/// who waits (a line is short-lived; the gate's holders are the footprint that counts).
fn member(user: UserId) -> String {
    user.to_string()
}

/// A rate as the admission step reads it: a finite, non-negative decimal.
fn rate_arg(rate: f64) -> String {
    let rate = if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, MAX_RATE)
    };
    rate.to_string()
}

/// The seed of the shuffle's 32-bit generator: every bit of `seed` matters, and
/// neighbouring seeds give unrelated orders (one SplitMix64 step, high half).
fn shuffle_seed(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 32
}

/// What `line_join.lua` and `line_place.lua` return: a code, a value, the wait (ms) of
/// the poll that tells an admission (-1 otherwise), the line's generation, a waiter's
/// order number, and the places given in the generation.
type PlaceReply = (i64, i64, i64, u64, u64, u64);

/// The count a place reply tells (the witness of `line_generation.lua`).
fn told(reply: &PlaceReply) -> Witness {
    Witness {
        generation: reply.3,
        joins: reply.5,
    }
}

fn read_place(
    script: &str,
    (code, value, waited, generation, order, _): PlaceReply,
) -> Result<Place, StoreError> {
    match code {
        place::WAITING => u64::try_from(value)
            .map(|position| Place::Waiting {
                position,
                seat: Seat { generation, order },
            })
            .map_err(|_| unexpected(script, value)),
        place::ADMITTED => Ok(Place::Admitted {
            valid_until_ms: value,
            waited: u64::try_from(waited).ok().map(Duration::from_millis),
            generation,
        }),
        place::EXPIRED => Ok(Place::Expired),
        place::ABSENT => Ok(Place::Absent),
        other => Err(unexpected(script, other)),
    }
}

fn parse_rate(coupon: CouponId, field: &str, raw: &str) -> Result<f64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("room {coupon}: {field} is {raw:?}")))
}

/// A place ticket's seat as the join and place scripts take it: generation and order
/// number, `0 0` for none (no generation is 0).
fn seat_args(seat: Option<Seat>) -> (u64, u64) {
    seat.map_or((0, 0), |s| (s.generation, s.order))
}

#[async_trait]
impl WaitingLine for RedisWaitingLine {
    async fn open(&self, coupon: CouponId) -> Result<(), StoreError> {
        LINE_OPEN
            .key(&self.keys(coupon).state)
            .arg(ms(STATE_TTL))
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn join(
        &self,
        coupon: CouponId,
        user: UserId,
        seat: Option<Seat>,
    ) -> Result<Place, StoreError> {
        let keys = self.keys(coupon);
        let (generation, order) = seat_args(seat);
        let witness = self.witness(coupon);
        let reply: PlaceReply = LINE_JOIN
            .key(&keys.line)
            .key(&keys.seen)
            .key(&keys.admitted)
            .key(&keys.state)
            .key(&keys.joined)
            .arg(member(user))
            .arg(ms(LINE_TTL))
            .arg(ms(STATE_TTL))
            .arg(ms(self.reseed_grace))
            .arg(generation)
            .arg(order)
            .arg(witness.generation)
            .arg(witness.joins)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.saw(coupon, told(&reply));
        read_place("line join", reply)
    }

    async fn place(
        &self,
        coupon: CouponId,
        user: UserId,
        seat: Option<Seat>,
    ) -> Result<Place, StoreError> {
        let keys = self.keys(coupon);
        let (generation, order) = seat_args(seat);
        let witness = self.witness(coupon);
        let reply: PlaceReply = LINE_PLACE
            .key(&keys.line)
            .key(&keys.seen)
            .key(&keys.admitted)
            .key(&keys.state)
            .key(&keys.joined)
            .arg(member(user))
            .arg(ms(LINE_TTL))
            .arg(ms(STATE_TTL))
            .arg(ms(self.reseed_grace))
            .arg(generation)
            .arg(order)
            .arg(witness.generation)
            .arg(witness.joins)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.saw(coupon, told(&reply));
        read_place("line place", reply)
    }

    async fn admit(&self, coupon: CouponId, pace: Pace) -> Result<LineFigures, StoreError> {
        let keys = self.keys(coupon);
        let witness = self.witness(coupon);
        let (waiting, admitted_total, abandoned_total, admitted_now): (u64, u64, u64, u64) =
            LINE_ADMIT
                .key(&keys.line)
                .key(&keys.seen)
                .key(&keys.admitted)
                .key(&keys.state)
                .key(&keys.joined)
                .arg(rate_arg(pace.rate_per_sec))
                .arg(pace.burst)
                .arg(ms(pace.abandon_after))
                .arg(ms(pace.admission_ttl))
                .arg(ms(LINE_TTL))
                .arg(ms(STATE_TTL))
                .arg(
                    pace.outstanding_cap
                        .map_or(-1, |cap| i64::try_from(cap).unwrap_or(i64::MAX)),
                )
                .arg(ms(self.reseed_grace))
                .arg(witness.generation)
                .arg(witness.joins)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
        Ok(LineFigures {
            waiting,
            admitted_total,
            abandoned_total,
            admitted_now,
        })
    }

    async fn take_admission(
        &self,
        coupon: CouponId,
        user: UserId,
        generation: u64,
    ) -> Result<bool, StoreError> {
        let keys = self.keys(coupon);
        let witness = self.witness(coupon);
        let taken: i64 = LINE_TAKE
            .key(&keys.admitted)
            .key(&keys.state)
            .key(&keys.line)
            .key(&keys.seen)
            .key(&keys.joined)
            .arg(member(user))
            .arg(generation)
            .arg(ms(self.reseed_grace))
            .arg(ms(STATE_TTL))
            .arg(witness.generation)
            .arg(witness.joins)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match taken {
            take::TAKEN | take::HONOURED => Ok(true),
            take::NONE => Ok(false),
            other => Err(unexpected("line take", other)),
        }
    }

    async fn return_admission(
        &self,
        coupon: CouponId,
        user: UserId,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        LINE_RETURN
            .key(&self.keys(coupon).admitted)
            .arg(member(user))
            .arg(ms(ttl))
            .arg(ms(LINE_TTL))
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn shuffle_once(&self, coupon: CouponId, seed: u64) -> Result<bool, StoreError> {
        let keys = self.keys(coupon);
        let witness = self.witness(coupon);
        let drawn: i64 = LINE_SHUFFLE
            .key(&keys.line)
            .key(&keys.state)
            .arg(shuffle_seed(seed))
            .arg(ms(STATE_TTL))
            .arg(ms(self.reseed_grace))
            .arg(witness.generation)
            .arg(witness.joins)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match drawn {
            1 => Ok(true),
            0 => Ok(false),
            other => Err(unexpected("line shuffle", other)),
        }
    }

    async fn shared(&self, coupon: CouponId) -> Result<SharedRoom, StoreError> {
        let witness = self.witness(coupon);
        let (switch, rate, min, max, reseeding, generation, joins): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            u64,
            u64,
        ) = LINE_SHARED
            .key(&self.keys(coupon).state)
            .arg(ms(self.reseed_grace))
            .arg(ms(STATE_TTL))
            .arg(witness.generation)
            .arg(witness.joins)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.saw(coupon, Witness { generation, joins });
        let switch = match switch {
            None => RoomSwitch::Off,
            Some(code) => code
                .parse()
                .map(RoomSwitch::from_code)
                .map_err(|_| StoreError::Corrupt(format!("room {coupon}: switch is {code:?}")))?,
        };
        let rate = match rate {
            None => 0.0,
            Some(raw) => parse_rate(coupon, "rate", &raw)?,
        };
        let bounds = match (min, max) {
            (Some(min), Some(max)) => Some(RateBounds {
                min: parse_rate(coupon, "min_rate", &min)?,
                max: parse_rate(coupon, "max_rate", &max)?,
            }),
            _ => None,
        };
        Ok(SharedRoom {
            switch,
            rate,
            bounds,
            reseeding: reseeding == 1,
            generation,
        })
    }

    async fn set_switch(&self, coupon: CouponId, switch: RoomSwitch) -> Result<(), StoreError> {
        let state = self.keys(coupon).state;
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&state)
            .arg("switch")
            .arg(switch.code())
            .ignore()
            .cmd("PEXPIRE")
            .arg(&state)
            .arg(ms(STATE_TTL))
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn propose_rate(
        &self,
        coupon: CouponId,
        rate: f64,
        min_interval: Duration,
    ) -> Result<f64, StoreError> {
        let in_force: String = LINE_RATE
            .key(&self.keys(coupon).state)
            .arg(rate.to_string())
            .arg(ms(min_interval))
            .arg(ms(STATE_TTL))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        parse_rate(coupon, "rate", &in_force)
    }

    async fn set_bounds(
        &self,
        coupon: CouponId,
        bounds: Option<RateBounds>,
    ) -> Result<(), StoreError> {
        let state = self.keys(coupon).state;
        let mut pipe = redis::pipe();
        pipe.atomic();
        match bounds {
            Some(b) => pipe
                .cmd("HSET")
                .arg(&state)
                .arg("min_rate")
                .arg(b.min.to_string())
                .arg("max_rate")
                .arg(b.max.to_string())
                .ignore(),
            None => pipe
                .cmd("HDEL")
                .arg(&state)
                .arg("min_rate")
                .arg("max_rate")
                .ignore(),
        };
        pipe.cmd("PEXPIRE")
            .arg(&state)
            .arg(ms(STATE_TTL))
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_reach_the_script_as_finite_decimals() {
        assert_eq!(rate_arg(1.0), "1");
        assert_eq!(rate_arg(0.25), "0.25");
        assert_eq!(rate_arg(f64::NAN), "0");
        assert_eq!(rate_arg(-3.0), "0");
        assert_eq!(rate_arg(f64::INFINITY), "1000000000000");
        assert!(STATE_TTL >= LINE_TTL);
    }

    #[test]
    fn shuffle_seeds_fit_the_generator_and_use_every_bit() {
        for seed in [0, 1, 42, u64::MAX, 1 << 40] {
            assert!(shuffle_seed(seed) < 1 << 32);
        }
        assert_ne!(shuffle_seed(42), shuffle_seed(42 | 1 << 40));
        assert_ne!(shuffle_seed(42), shuffle_seed(43));
    }

    #[test]
    fn script_replies_become_places() {
        const GEN: u64 = 1_764_900_000_000;
        let read =
            |code, value, waited, order| read_place("test", (code, value, waited, GEN, order, 0));
        assert_eq!(
            read(0, 3, -1, GEN * 1024 + 5).unwrap(),
            Place::Waiting {
                position: 3,
                seat: Seat {
                    generation: GEN,
                    order: GEN * 1024 + 5
                }
            }
        );
        assert_eq!(
            read(1, 1_700_000_000_000, -1, 0).unwrap(),
            Place::Admitted {
                valid_until_ms: 1_700_000_000_000,
                waited: None,
                generation: GEN,
            }
        );
        assert_eq!(
            read(1, 1_700_000_000_000, 2_500, 0).unwrap(),
            Place::Admitted {
                valid_until_ms: 1_700_000_000_000,
                waited: Some(Duration::from_millis(2_500)),
                generation: GEN,
            }
        );
        assert_eq!(read(2, 0, -1, 0).unwrap(), Place::Expired);
        assert_eq!(read(3, 0, -1, 0).unwrap(), Place::Absent);
        assert!(read(0, -1, -1, 0).is_err());
        assert!(read(9, 0, -1, 0).is_err());
    }
}
