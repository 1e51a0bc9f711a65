//! The waiting room's rules: when a coupon's room is on, how a waiter's place, ETA and
//! next poll are told, and how the admission rate follows measured capacity.
//!
//! Pure values and arithmetic; the line itself is the [`crate::ports::WaitingLine`]
//! port and the use case is `services::WaitingRoom`.

use crate::error::ValidationError;
use std::time::Duration;

/// How a coupon's waiting room decides whether it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RoomMode {
    /// Never on: everyone goes straight to the gate (a line left from before drains first).
    Off,
    /// Always on: every request waits its turn, and requests before the opening join
    /// the pre-queue.
    Always,
    /// On while the issue path is overloaded, off again (after draining) once it is calm.
    #[default]
    Auto,
}

impl RoomMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "OFF",
            Self::Always => "ALWAYS",
            Self::Auto => "AUTO",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "OFF" => Ok(Self::Off),
            "ALWAYS" => Ok(Self::Always),
            "AUTO" => Ok(Self::Auto),
            _ => Err(ValidationError::new(
                "waitingRoom",
                "must be OFF, ALWAYS or AUTO",
            )),
        }
    }
}

/// The order of those who joined before the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PrequeueOrder {
    /// In order of arrival, like everyone after the opening.
    #[default]
    Fifo,
    /// Drawn at random at the opening, so a script or a fast connection gains nothing
    /// by arriving first (Queue-it and Cloudflare do the same).
    Shuffled,
}

impl PrequeueOrder {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fifo => "FIFO",
            Self::Shuffled => "SHUFFLED",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "FIFO" => Ok(Self::Fifo),
            "SHUFFLED" => Ok(Self::Shuffled),
            _ => Err(ValidationError::new("prequeue", "must be FIFO or SHUFFLED")),
        }
    }
}

/// A coupon's waiting-room setting, stored with the coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RoomPolicy {
    pub mode: RoomMode,
    pub prequeue: PrequeueOrder,
}

/// Whether a room is letting people straight in, shared by every api node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RoomSwitch {
    #[default]
    Off,
    On,
    /// Switching off: newcomers still join the line (nobody overtakes those waiting)
    /// until it is empty, then the room is off.
    Draining,
}

impl RoomSwitch {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "OFF",
            Self::On => "ON",
            Self::Draining => "DRAINING",
        }
    }
    pub const fn code(self) -> u8 {
        match self {
            Self::Off => 0,
            Self::On => 1,
            Self::Draining => 2,
        }
    }
    pub const fn from_code(code: u8) -> Self {
        match code {
            1 => Self::On,
            2 => Self::Draining,
            _ => Self::Off,
        }
    }
}

/// A place's identity, which outlives the line that gave it: the line's generation and
/// the place's order number in it. Handed to the waiter inside a signed place ticket
/// and shown again after the line was lost (a Redis flush or failover, a restart of the
/// embedded process), it puts the waiter back where they stood.
///
/// A generation is the line's clock (ms since the epoch) when that line was started, so
/// a later generation is a larger number. An order number is the join time (ms) × 1024,
/// never less than the last one given plus one: later joins get larger numbers, also in
/// a later generation, and every order number fits a Lua number exactly (< 2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seat {
    pub generation: u64,
    pub order: u64,
}

/// How long after a line was found lost nobody is admitted, so that every waiter
/// still polling shows their place ticket first: the longest poll interval handed out
/// ([`MAX_POLL_AFTER`]) plus the clients' jitter and a margin.
pub const DEFAULT_RESEED_GRACE: Duration = Duration::from_secs(30);

/// What an admission token says besides whom it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionClaim {
    /// Valid until this instant (ms since the epoch, the line's clock).
    pub valid_until_ms: i64,
    /// The generation of the line that gave it: a token from before a loss of the line
    /// stays valid (single use then falls to the gate: one coupon per user).
    pub generation: u64,
}

/// Where one user stands in one coupon's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In line; `position` 1 is next. Before a shuffled opening the order is not drawn
    /// yet and the position is provisional; during a re-seeding window it is too (those
    /// who re-seat may land ahead).
    Waiting { position: u64, seat: Seat },
    /// Let through: the admission is valid until this instant (milliseconds since the
    /// epoch on the line's clock) and may be used once. `waited` is set on the one poll
    /// that tells the holder (`WaitingLine::place`): how long they waited, from joining
    /// the line to that poll, on the line's clock; `None` on every other answer.
    /// `generation` is the line's, for the token.
    Admitted {
        valid_until_ms: i64,
        waited: Option<Duration>,
        generation: u64,
    },
    /// Let through, but the admission passed unused.
    Expired,
    /// Not in this line (never joined, dropped for not polling, or admission used).
    Absent,
}

/// How a step of admission is paced: the line admits what is due at `rate` per second
/// since its last admission, never more than `burst` at once, and skips (drops) waiters
/// not seen for `abandon_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub rate_per_sec: f64,
    pub burst: u32,
    pub abandon_after: Duration,
    pub admission_ttl: Duration,
    /// At most this many valid, unused admissions after the step (the units left):
    /// an admission beyond the stock would only lead to SOLD_OUT. `None`: no cap.
    pub outstanding_cap: Option<u64>,
}

/// A line's figures after an admission step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineFigures {
    pub waiting: u64,
    /// Admissions ever given in this line (a counter: the rate is its slope).
    pub admitted_total: u64,
    /// Waiters ever dropped for not polling.
    pub abandoned_total: u64,
    /// Admitted in this step.
    pub admitted_now: u64,
}

/// The state every api node shares for one room.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SharedRoom {
    pub switch: RoomSwitch,
    /// The controller's admission rate (per second); 0 when never set.
    pub rate: f64,
    /// Rate bounds an admin set for this room; `None` uses the configured ones.
    pub bounds: Option<RateBounds>,
    /// The line was found lost and is being re-seeded from its waiters' place tickets:
    /// nobody is admitted until the window closes.
    pub reseeding: bool,
    /// The line's generation (0 before anything started one).
    pub generation: u64,
}

/// The admission rate's floor and ceiling, in admissions per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBounds {
    pub min: f64,
    pub max: f64,
}

impl RateBounds {
    /// The lowest floor and the highest ceiling an admin may set.
    pub const LOWEST: f64 = 1.0;
    pub const HIGHEST: f64 = 1_000_000.0;

    pub fn new(min: f64, max: f64) -> Result<Self, ValidationError> {
        if !(min.is_finite() && max.is_finite())
            || min < Self::LOWEST
            || max < min
            || max > Self::HIGHEST
        {
            return Err(ValidationError::new(
                "minRate",
                "rates must satisfy 1 <= minRate <= maxRate <= 1000000",
            ));
        }
        Ok(Self { min, max })
    }
    pub fn clamp(self, rate: f64) -> f64 {
        rate.clamp(self.min, self.max)
    }
}

/// What a waiter is told: place, ETA and when to ask again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitEstimate {
    /// `None` when the people ahead already exceed the stock left: no honest ETA exists.
    pub eta_seconds: Option<u64>,
    pub poll_after: Duration,
    /// More people are ahead than units are left.
    pub beyond_stock: bool,
}

/// The longest a waiter is told to wait before polling again: well inside the
/// abandonment window, so a waiter who does as told is never dropped.
pub const MAX_POLL_AFTER: Duration = Duration::from_secs(20);
const MIN_POLL_AFTER: Duration = Duration::from_secs(1);

/// The ETA from the measured admission rate, and a poll interval that grows with the
/// wait (a third of it, within 1–20 s): those near the front ask often, those far back
/// rarely, so the poll load stays near `waiting / 7 s` whatever the line's length.
pub fn estimate(position: u64, admission_rate: f64, remaining_stock: Option<u64>) -> WaitEstimate {
    let beyond_stock = remaining_stock.is_some_and(|left| position > left);
    let eta = if admission_rate > 0.0 {
        Some((position as f64 / admission_rate).ceil() as u64)
    } else {
        None
    };
    let poll_after = match eta {
        Some(secs) => Duration::from_millis(secs.saturating_mul(1000) / 3)
            .clamp(MIN_POLL_AFTER, MAX_POLL_AFTER),
        None => MIN_POLL_AFTER * 2,
    };
    WaitEstimate {
        eta_seconds: if beyond_stock { None } else { eta },
        poll_after,
        beyond_stock,
    }
}

/// The load signals that turn an AUTO room on and off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoThresholds {
    /// Turn on when the issue path's p95 over the last window passes this…
    pub on_p95: Duration,
    /// …or when this many issue requests for the coupon run at once…
    pub on_in_flight: u64,
    /// …or when the consumers are this many records behind the issue log (distributed
    /// mode; 0: this signal off). While they are, the admission rate is cut each window,
    /// and the room drains only once they are under half of it.
    pub on_consumer_lag: u64,
    /// Turn off (drain) only after the p95 stayed under this for `calm_for`.
    pub off_p95: Duration,
    pub calm_for: Duration,
}

/// What the admission controller does with one window's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateStep {
    Keep,
    /// Admitted requests were answered in under half the target: far from the limit,
    /// grow by half (slow start), so the rate finds the path's capacity in a few
    /// windows rather than a minute of small steps.
    Probe,
    /// Admitted requests were answered under the target: admit a little more.
    Grow,
    /// Latency rose: admit fewer, at once.
    Cut,
}

/// AIMD in the spirit of TCP congestion control and Netflix's concurrency limits:
/// grow by half while the admitted requests' p95 stays under half the target (slow
/// start), additively while it stays under the target, cut multiplicatively when it
/// passes it. [`Controller::decide`] adds what AIMD alone lacks: latency the room does
/// not cause (another event on the same nodes, a slow disk) is not cut down to the
/// floor, see [`ControlMemory`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controller {
    pub target_p95: Duration,
    /// Added per window while growing, as a share of the ceiling.
    pub grow_share: f64,
    /// Kept on a cut.
    pub cut_factor: f64,
}

impl Controller {
    pub fn step(&self, p95: Option<Duration>) -> RateStep {
        match p95 {
            None => RateStep::Keep,
            Some(p) if p > self.target_p95 => RateStep::Cut,
            Some(p) if p * 2 < self.target_p95 => RateStep::Probe,
            Some(_) => RateStep::Grow,
        }
    }

    /// The step for one window's p95, remembering the cuts that came before it. Once
    /// [`CUTS_BEFORE_JUDGING`] cuts in a row have not brought the p95 under
    /// [`HELPED_BELOW`] of what it was before them, the latency is not the room's doing:
    /// the rate is held, and that latency (with [`TOLERANCE_MARGIN`]) becomes the
    /// target until the p95 is back under the configured one. Around it the rate grows
    /// and is cut as usual, so it settles where the admitted requests add no more
    /// latency of their own, instead of at the floor for as long as the other load
    /// lasts.
    pub fn decide(&self, p95: Option<Duration>, memory: &mut ControlMemory) -> RateStep {
        let Some(p) = p95 else {
            return RateStep::Keep;
        };
        if p <= self.target_p95 {
            // The latency went: the configured target rules again.
            memory.tolerated = None;
        }
        let target = self.target(memory);
        if p > target {
            let cuts_did_not_help = memory.cuts >= CUTS_BEFORE_JUDGING
                && memory
                    .before_cuts
                    .is_some_and(|before| p.as_secs_f64() >= before.as_secs_f64() * HELPED_BELOW);
            if cuts_did_not_help {
                memory.tolerated = Some(p.mul_f64(TOLERANCE_MARGIN));
                memory.cuts = 0;
                memory.before_cuts = None;
                return RateStep::Keep;
            }
            if memory.cuts == 0 {
                memory.before_cuts = Some(p);
            }
            memory.cuts += 1;
            return RateStep::Cut;
        }
        memory.cuts = 0;
        memory.before_cuts = None;
        if p * 2 < target {
            RateStep::Probe
        } else {
            RateStep::Grow
        }
    }

    /// The p95 steered to: the configured target, or a latency above it that `memory`
    /// tolerates.
    pub fn target(&self, memory: &ControlMemory) -> Duration {
        memory
            .tolerated
            .map_or(self.target_p95, |t| t.max(self.target_p95))
    }

    /// The next rate for `step`, within `bounds`; a room with no rate yet starts at the
    /// floor (the controller finds the rest).
    pub fn next(&self, rate: f64, step: RateStep, bounds: RateBounds) -> f64 {
        let rate = if rate <= 0.0 { bounds.min } else { rate };
        bounds.clamp(match step {
            RateStep::Keep => rate,
            RateStep::Probe => (rate * 1.5).max(rate + bounds.max * self.grow_share),
            RateStep::Grow => rate + bounds.max * self.grow_share,
            RateStep::Cut => rate * self.cut_factor,
        })
    }
}

/// Cuts in a row before the controller asks whether they helped: three cuts of 0.7
/// leave a third of the rate, which lowers any latency the room causes.
pub const CUTS_BEFORE_JUDGING: u32 = 3;
/// Cuts helped when the p95 fell under this share of what it was before them.
pub const HELPED_BELOW: f64 = 0.8;
/// Latency the room does not cause is tolerated up to this much above it.
pub const TOLERANCE_MARGIN: f64 = 1.25;

/// What the controller remembers of one room between windows (per process, like the
/// p95 it is told).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ControlMemory {
    /// Cuts in a row, and the p95 before the first of them.
    cuts: u32,
    before_cuts: Option<Duration>,
    /// Latency found not to be the room's doing, tolerated as the target.
    tolerated: Option<Duration>,
}

impl ControlMemory {
    /// The latency the controller tolerates as its target, when it found one the
    /// room does not cause.
    pub fn tolerated(&self) -> Option<Duration> {
        self.tolerated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_orders_round_trip_and_reject_others() {
        for mode in [RoomMode::Off, RoomMode::Always, RoomMode::Auto] {
            assert_eq!(RoomMode::parse(mode.as_str()), Ok(mode));
        }
        assert_eq!(RoomMode::parse("on").unwrap_err().field, "waitingRoom");
        for order in [PrequeueOrder::Fifo, PrequeueOrder::Shuffled] {
            assert_eq!(PrequeueOrder::parse(order.as_str()), Ok(order));
        }
        assert!(PrequeueOrder::parse("RANDOM").is_err());
        for switch in [RoomSwitch::Off, RoomSwitch::On, RoomSwitch::Draining] {
            assert_eq!(RoomSwitch::from_code(switch.code()), switch);
        }
    }

    #[test]
    fn the_eta_follows_the_rate_and_the_poll_interval_the_wait() {
        let near = estimate(10, 100.0, Some(1000));
        assert_eq!(near.eta_seconds, Some(1));
        assert_eq!(near.poll_after, Duration::from_secs(1));
        let far = estimate(90_000, 1000.0, None);
        assert_eq!(far.eta_seconds, Some(90));
        assert_eq!(far.poll_after, MAX_POLL_AFTER);
        let middle = estimate(6_000, 1000.0, None);
        assert_eq!(middle.poll_after, Duration::from_secs(2));
        // Under a steady rate the ETA only goes down as the position does.
        let mut last = u64::MAX;
        for position in (1..=5_000).rev().step_by(97) {
            let eta = estimate(position, 250.0, None).eta_seconds.unwrap();
            assert!(eta <= last);
            last = eta;
        }
    }

    #[test]
    fn no_eta_is_promised_past_the_stock() {
        let e = estimate(101, 50.0, Some(100));
        assert!(e.beyond_stock);
        assert_eq!(e.eta_seconds, None);
        assert!(!estimate(100, 50.0, Some(100)).beyond_stock);
        assert_eq!(estimate(5, 0.0, None).eta_seconds, None, "no rate, no ETA");
    }

    /// The controller as configured by default, with a target of `target_ms`.
    fn controller(target_ms: u64) -> Controller {
        Controller {
            target_p95: Duration::from_millis(target_ms),
            grow_share: 0.05,
            cut_factor: 0.7,
        }
    }

    #[test]
    fn latency_that_cuts_do_not_lower_is_tolerated_instead_of_cut_to_the_floor() {
        let c = controller(50);
        let ms = |n| Some(Duration::from_millis(n));
        let mut m = ControlMemory::default();
        // Another load drives the p95 to 150 ms whatever the room admits.
        for _ in 0..CUTS_BEFORE_JUDGING {
            assert_eq!(c.decide(ms(150), &mut m), RateStep::Cut);
        }
        assert_eq!(
            c.decide(ms(145), &mut m),
            RateStep::Keep,
            "three cuts did not help"
        );
        assert_eq!(
            m.tolerated(),
            Some(Duration::from_millis(145).mul_f64(TOLERANCE_MARGIN))
        );
        // Around the tolerated latency the rate grows and is cut as usual.
        assert_eq!(c.decide(ms(150), &mut m), RateStep::Grow);
        assert_eq!(
            c.decide(ms(190), &mut m),
            RateStep::Cut,
            "the room's own latency"
        );
        assert_eq!(c.decide(ms(120), &mut m), RateStep::Grow);
        // The other load goes: the configured target rules again.
        assert_eq!(c.decide(ms(20), &mut m), RateStep::Probe);
        assert_eq!(m.tolerated(), None);
        assert_eq!(c.decide(ms(80), &mut m), RateStep::Cut);
    }

    #[test]
    fn latency_that_cuts_lower_is_cut_as_long_as_it_stays_above_the_target() {
        let c = controller(50);
        let ms = |n| Some(Duration::from_millis(n));
        let mut m = ControlMemory::default();
        for p in [300, 200, 150, 110, 90, 70] {
            assert_eq!(c.decide(ms(p), &mut m), RateStep::Cut, "p95 {p} ms");
        }
        assert_eq!(m.tolerated(), None);
        assert_eq!(c.decide(ms(40), &mut m), RateStep::Grow);
        assert_eq!(c.decide(None, &mut m), RateStep::Keep);
    }

    #[test]
    fn the_controller_grows_additively_and_cuts_multiplicatively_within_bounds() {
        let c = controller(100);
        let bounds = RateBounds::new(10.0, 1000.0).unwrap();
        assert_eq!(c.step(Some(Duration::from_millis(20))), RateStep::Probe);
        assert_eq!(c.step(Some(Duration::from_millis(70))), RateStep::Grow);
        assert_eq!(c.step(Some(Duration::from_millis(150))), RateStep::Cut);
        assert_eq!(c.step(None), RateStep::Keep);
        assert_eq!(
            c.next(0.0, RateStep::Keep, bounds),
            10.0,
            "starts at the floor"
        );
        assert_eq!(c.next(100.0, RateStep::Grow, bounds), 150.0);
        assert_eq!(c.next(400.0, RateStep::Probe, bounds), 600.0, "by half");
        assert_eq!(
            c.next(20.0, RateStep::Probe, bounds),
            70.0,
            "at least a step"
        );
        // From the floor to the ceiling in a handful of windows.
        let (mut rate, mut windows) = (10.0, 0);
        while rate < 1000.0 {
            rate = c.next(rate, RateStep::Probe, bounds);
            windows += 1;
        }
        assert!(windows <= 10, "{windows} windows");
        assert_eq!(c.next(100.0, RateStep::Cut, bounds), 70.0);
        assert_eq!(c.next(990.0, RateStep::Grow, bounds), 1000.0);
        assert_eq!(c.next(11.0, RateStep::Cut, bounds), 10.0);
    }

    #[test]
    fn rate_bounds_must_be_ordered_and_finite() {
        assert!(RateBounds::new(0.0, 10.0).is_err());
        assert!(RateBounds::new(20.0, 10.0).is_err());
        assert!(RateBounds::new(1.0, f64::INFINITY).is_err());
        assert!(RateBounds::new(1.0, 1.0).is_ok());
    }
}
