//! The waiting room: in front of the issue path when it is on, a fair place in line,
//! an honest ETA, and admissions at the rate the path can take.
//!
//! Every issue request passes [`WaitingRoom::issue`]. While a coupon's room is off the
//! request goes straight to [`Issuing`] (timed, so the room knows the path's latency).
//! While it is on, a request without a valid admission joins the line and is answered
//! QUEUED; the poll ([`WaitingRoom::poll`]) is the heartbeat and hands out the
//! admission token once the line lets the user through. [`WaitingRoom::tick`] runs on a
//! timer in every process: it switches AUTO rooms on and off from the measured latency,
//! moves the admission rate (AIMD), shuffles a pre-queue at the opening, and admits
//! what is due. The line (order, heartbeats, admissions, switch, rate) is shared by
//! every api node through the [`WaitingLine`] port; each node keeps a view of it,
//! refreshed every tick, so a request reads no store to learn whether the room is on.
//!
//! Every place told (QUEUED, WAITING) comes with a place ticket ([`PlaceSigner`]) that
//! the client sends back with its next poll or issue request: if the line was lost in
//! between, the ticket puts the waiter back where they stood.

use crate::coupon::{Coupon, CouponStatus};
use crate::error::StoreError;
use crate::idempotency::IdempotencyKey;
use crate::ids::{CouponId, UserId};
use crate::ports::{AdmissionSigner, Clock, IssueGate, LogDrain, PlaceSigner, WaitingLine};
use crate::services::Ports;
use crate::services::issuing::{Answered, IssueError, Issuing};
use crate::services::single_flight::SingleFlight;
use crate::waiting_room::{
    AdmissionClaim, AutoThresholds, ControlMemory, Controller, Pace, Place, PrequeueOrder,
    RateBounds, RateStep, RoomMode, RoomSwitch, Seat, SharedRoom, WaitEstimate, estimate,
};
use futures::FutureExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The waiting room's tunables (configuration, one place: `cli`'s `Config`).
#[derive(Debug, Clone, Copy)]
pub struct RoomSettings {
    /// How often each process admits what is due and refreshes its view.
    pub tick: Duration,
    /// The controller's and the AUTO switch's window.
    pub window: Duration,
    /// A waiter who has not polled for this long loses the place.
    pub abandon_after: Duration,
    /// How long an admission (and its token) stays valid.
    pub admission_ttl: Duration,
    /// The admission rate's bounds unless an admin set a room's own.
    pub bounds: RateBounds,
    pub auto: AutoThresholds,
    pub controller: Controller,
}

/// What an issue request got.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomAnswer {
    /// It went to the gate.
    Issued(Answered),
    /// It waits in line.
    Queued(Queued),
}

/// A place in line as told to the waiter.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// 1 is next; 0: already admitted, poll now for the token.
    pub position: u64,
    pub estimate: WaitEstimate,
    /// The place ticket to send back with the next poll or issue request (`None` with
    /// position 0: an admission is no place).
    pub ticket: Option<String>,
}

/// What a poll tells.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueStatus {
    Waiting(Queued),
    Admitted {
        token: String,
        valid_until_ms: i64,
        /// How long the holder waited, from joining the line to this poll; only on the
        /// poll that first tells the admission (each waiter is counted once).
        waited: Option<Duration>,
    },
    SoldOut,
    Expired,
    NotInQueue,
}

/// One room's figures after a tick, for metrics and the admin view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoomReport {
    pub coupon: CouponId,
    pub mode: RoomMode,
    pub switch: RoomSwitch,
    pub waiting: u64,
    pub admitted_total: u64,
    pub abandoned_total: u64,
    /// The controller's admission rate (per second).
    pub rate: f64,
    /// Admissions per second, as measured.
    pub admitted_per_sec: f64,
    pub bounds: RateBounds,
    /// The issue path's p95 over the last window (`None`: no request in it).
    pub p95: Option<Duration>,
    /// The p95 the controller steers to in this process: `room_target_p95_ms`, or a
    /// latency the room does not cause that it tolerates instead ([`ControlMemory`]).
    pub target_p95: Duration,
    /// Units left in the gate (`None`: not seeded here).
    pub remaining: Option<u64>,
}

#[derive(Clone)]
pub struct WaitingRoom {
    inner: Arc<Inner>,
}

struct Inner {
    issuing: Issuing,
    line: Arc<dyn WaitingLine>,
    signer: Arc<dyn AdmissionSigner>,
    places: Arc<dyn PlaceSigner>,
    gate: Arc<dyn IssueGate>,
    clock: Arc<dyn Clock>,
    /// Where the consumers' lag is read (distributed mode), for the AUTO switch.
    drain: Arc<dyn LogDrain>,
    /// The consumers' lag as last read (`refresh_consumer_lag`); UNKNOWN when it could
    /// not be read (no signal: an outage is not overload).
    consumer_lag: AtomicU64,
    settings: RoomSettings,
    views: Mutex<HashMap<CouponId, Arc<View>>>,
    loads: Arc<SingleFlight<CouponId, Result<SharedRoom, String>>>,
}

const UNKNOWN: u64 = u64::MAX;

/// This process's view of one room: what the last tick saw, and the latency of the
/// requests this process let through.
struct View {
    coupon: CouponId,
    loaded: std::sync::atomic::AtomicBool,
    switch: AtomicU8,
    rate: AtomicU64,
    measured: AtomicU64,
    remaining: AtomicU64,
    in_flight: AtomicU64,
    latency: LatencyWindow,
    last_used_ms: AtomicI64,
    control: Mutex<Control>,
}

struct Control {
    window_started: Instant,
    admitted_total: u64,
    calm_since: Option<Instant>,
    shuffled: bool,
    last: Option<RoomReport>,
    memory: ControlMemory,
}

impl View {
    fn new(coupon: CouponId) -> Self {
        Self {
            coupon,
            loaded: false.into(),
            switch: AtomicU8::new(RoomSwitch::Off.code()),
            rate: AtomicU64::new(0f64.to_bits()),
            measured: AtomicU64::new(0f64.to_bits()),
            remaining: AtomicU64::new(UNKNOWN),
            in_flight: AtomicU64::new(0),
            latency: LatencyWindow::default(),
            last_used_ms: AtomicI64::new(0),
            control: Mutex::new(Control {
                window_started: Instant::now(),
                admitted_total: 0,
                calm_since: None,
                shuffled: false,
                last: None,
                memory: ControlMemory::default(),
            }),
        }
    }
    fn switch(&self) -> RoomSwitch {
        RoomSwitch::from_code(self.switch.load(Ordering::Acquire))
    }
    fn remaining(&self) -> Option<u64> {
        match self.remaining.load(Ordering::Acquire) {
            UNKNOWN => None,
            n => Some(n),
        }
    }
    fn sold_out(&self) -> bool {
        self.remaining() == Some(0)
    }
    fn load_f64(cell: &AtomicU64) -> f64 {
        f64::from_bits(cell.load(Ordering::Acquire))
    }
}

/// A request let through to the gate: counted in flight while it runs; when it is
/// answered, its latency is recorded, or its failure counted (a request dropped by its
/// client is neither).
struct Through {
    view: Arc<View>,
    started: Instant,
    answered: Option<bool>,
}

impl Through {
    fn new(view: Arc<View>) -> Self {
        view.in_flight.fetch_add(1, Ordering::AcqRel);
        Self {
            view,
            started: Instant::now(),
            answered: None,
        }
    }
}

impl Drop for Through {
    fn drop(&mut self) {
        self.view.in_flight.fetch_sub(1, Ordering::AcqRel);
        match self.answered {
            Some(true) => self.view.latency.record(self.started.elapsed()),
            Some(false) => self.view.latency.fail(),
            None => {}
        }
    }
}

/// Whether an answer says the issue path worked (however slowly), as opposed to a
/// dependency failing: the room reacts to overload, not to an outage.
fn path_worked(answer: &Result<Answered, IssueError>) -> bool {
    !matches!(
        answer,
        Err(IssueError::Unavailable(_) | IssueError::Indeterminate(_) | IssueError::Store(_))
    )
}

fn room_error(e: StoreError) -> IssueError {
    IssueError::Unavailable(format!("waiting room: {e}"))
}

impl WaitingRoom {
    pub fn new(issuing: Issuing, ports: &Ports, settings: RoomSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuing,
                line: ports.line.clone(),
                signer: ports.admissions.clone(),
                places: ports.places.clone(),
                gate: ports.gate.clone(),
                clock: ports.clock.clone(),
                drain: ports.drain.clone(),
                consumer_lag: AtomicU64::new(UNKNOWN),
                settings,
                views: Mutex::new(HashMap::new()),
                loads: SingleFlight::new(),
            }),
        }
    }

    pub fn settings(&self) -> &RoomSettings {
        &self.inner.settings
    }

    /// Reads the consumers' lag for the AUTO switch (when `on_consumer_lag` is set).
    /// The caller bounds the call and says so with [`Self::consumer_lag_unknown`]; a lag
    /// that cannot be read gives no signal.
    pub async fn refresh_consumer_lag(&self) {
        if self.inner.settings.auto.on_consumer_lag == 0 {
            return;
        }
        let lag = match self.inner.drain.behind().await {
            Ok(Some(lag)) => lag.min(UNKNOWN - 1),
            Ok(None) => UNKNOWN, // no consumers in this mode
            Err(e) => {
                tracing::debug!(error = %e, "consumer lag unreadable: no lag signal");
                UNKNOWN
            }
        };
        self.inner.consumer_lag.store(lag, Ordering::Release);
    }

    pub fn consumer_lag_unknown(&self) {
        self.inner.consumer_lag.store(UNKNOWN, Ordering::Release);
    }

    /// Whether the consumers are behind by the AUTO threshold, and whether they are
    /// under half of it (settled enough to let a room drain).
    fn lag_signal(&self) -> (bool, bool) {
        let threshold = self.inner.settings.auto.on_consumer_lag;
        let lag = self.inner.consumer_lag.load(Ordering::Acquire);
        if threshold == 0 || lag == UNKNOWN {
            return (false, true);
        }
        (lag >= threshold, lag < threshold / 2)
    }

    /// This process's view of a room, read from the line once (in single flight) the
    /// first time this process sees the coupon: a node must not let anyone in past a
    /// line another node has turned on.
    async fn view(&self, coupon: CouponId) -> Result<Arc<View>, IssueError> {
        let inner = &self.inner;
        let view = inner
            .views
            .lock()
            .entry(coupon)
            .or_insert_with(|| Arc::new(View::new(coupon)))
            .clone();
        view.last_used_ms
            .store(inner.clock.now().timestamp_millis(), Ordering::Relaxed);
        if !view.loaded.load(Ordering::Acquire) {
            let line = inner.line.clone();
            let shared = inner
                .loads
                .join(coupon, move || {
                    async move { line.shared(coupon).await.map_err(|e| e.to_string()) }.boxed()
                })
                .await
                .map_err(|e| IssueError::Unavailable(format!("waiting room: {e}")))?;
            if !view.loaded.swap(true, Ordering::AcqRel) {
                view.switch.store(shared.switch.code(), Ordering::Release);
                view.rate.store(shared.rate.to_bits(), Ordering::Release);
            }
        }
        Ok(view)
    }

    /// One issue request: straight to the gate while the room is off (or with a valid
    /// admission), else a place in line. `admission` is the token a poll handed out;
    /// `ticket` the place ticket of the caller's last QUEUED or WAITING answer, which
    /// puts them back where they stood if the line was lost since.
    pub async fn issue(
        &self,
        coupon_id: CouponId,
        user: UserId,
        admission: Option<&str>,
        ticket: Option<&str>,
        key: Option<IdempotencyKey>,
    ) -> Result<RoomAnswer, IssueError> {
        let inner = &self.inner;
        let coupon = inner.issuing.coupon(coupon_id).await?;
        let now = inner.clock.now();
        if coupon.effective_status(now) != CouponStatus::Active {
            // Not issuable at all: the issue path says why.
            return self.through(None, coupon_id, user, key).await;
        }
        let view = self.view(coupon_id).await?;
        if view.sold_out() {
            // Nothing to wait for: the gate answers SOLD_OUT at once.
            return self.through(Some(view), coupon_id, user, key).await;
        }
        if !self.room_is_on(&coupon, &view).await {
            return self.through(Some(view), coupon_id, user, key).await;
        }
        if let Some(claim) = admission
            .and_then(|token| inner.signer.verify(token, coupon_id, user))
            .filter(|claim| claim.valid_until_ms > now.timestamp_millis())
            && inner
                .line
                .take_admission(coupon_id, user, claim.generation)
                .await
                .map_err(room_error)?
        {
            let answer = self.through(Some(view), coupon_id, user, key).await;
            if matches!(answer, Err(IssueError::Unavailable(_))) {
                // Nothing was reserved: the user keeps the turn for a retry.
                let ttl = inner.settings.admission_ttl;
                if let Err(e) = inner.line.return_admission(coupon_id, user, ttl).await {
                    tracing::warn!(%coupon_id, %user, error = %e, "could not give an admission back");
                }
            }
            return answer;
        }
        let seat = self.seat(ticket, coupon_id, user);
        let place = inner
            .line
            .join(coupon_id, user, seat)
            .await
            .map_err(room_error)?;
        Ok(RoomAnswer::Queued(self.queued(&coupon, &view, user, place)))
    }

    /// The seat a place ticket holds, if it was signed here for this user and coupon
    /// and has not expired; anything else is no ticket (the caller joins at the back).
    fn seat(&self, ticket: Option<&str>, coupon: CouponId, user: UserId) -> Option<Seat> {
        ticket.and_then(|t| self.inner.places.verify(t, coupon, user))
    }

    /// Whether requests for this coupon wait in line now. ALWAYS rooms are on; AUTO
    /// rooms are on while the shared switch says so, and turn it on from the request
    /// path when too many requests run at once (the opening second cannot wait for a
    /// window's p95); OFF rooms only while a line left from before drains.
    async fn room_is_on(&self, coupon: &Coupon, view: &Arc<View>) -> bool {
        let auto = self.inner.settings.auto;
        match coupon.room.mode {
            RoomMode::Always => true,
            RoomMode::Off => view.switch() != RoomSwitch::Off,
            RoomMode::Auto => {
                if view.switch() != RoomSwitch::Off {
                    return true;
                }
                let crowded = auto.on_in_flight > 0
                    && view.in_flight.load(Ordering::Acquire) >= auto.on_in_flight;
                if crowded
                    && view
                        .switch
                        .compare_exchange(
                            RoomSwitch::Off.code(),
                            RoomSwitch::On.code(),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                {
                    tracing::info!(coupon_id = %coupon.id, in_flight = view.in_flight.load(Ordering::Relaxed), "waiting room on: too many issue requests at once");
                    if let Err(e) = self.inner.line.set_switch(coupon.id, RoomSwitch::On).await {
                        tracing::warn!(coupon_id = %coupon.id, error = %e, "could not share the waiting room's switch");
                    }
                }
                crowded
            }
        }
    }

    async fn through(
        &self,
        view: Option<Arc<View>>,
        coupon: CouponId,
        user: UserId,
        key: Option<IdempotencyKey>,
    ) -> Result<RoomAnswer, IssueError> {
        let mut timed = view.map(Through::new);
        let answered = match key {
            None => self
                .inner
                .issuing
                .issue(coupon, user)
                .await
                .map(|outcome| Answered {
                    outcome,
                    replayed: false,
                }),
            Some(key) => self.inner.issuing.issue_with_key(coupon, user, key).await,
        };
        if let Some(timed) = timed.as_mut() {
            timed.answered = Some(path_worked(&answered));
        }
        Ok(RoomAnswer::Issued(answered?))
    }

    fn queued(&self, coupon: &Coupon, view: &View, user: UserId, place: Place) -> Queued {
        let (position, seat) = match place {
            Place::Waiting { position, seat } => (position, seat),
            // Admitted but came without the token: the poll hands it out now.
            _ => {
                return Queued {
                    position: 0,
                    estimate: WaitEstimate {
                        eta_seconds: Some(0),
                        poll_after: Duration::ZERO,
                        beyond_stock: false,
                    },
                    ticket: None,
                };
            }
        };
        let measured = View::load_f64(&view.measured);
        let rate = if measured > 0.0 {
            measured
        } else {
            let set = View::load_f64(&view.rate);
            if set > 0.0 {
                set
            } else {
                self.inner.settings.bounds.min
            }
        };
        let mut estimate = estimate(position, rate, view.remaining());
        if let Some(left) = view.remaining().filter(|_| estimate.beyond_stock) {
            // Likely to end SOLD_OUT: ask again about when the stock should be gone,
            // not after a wait for a turn that will not come.
            estimate.poll_after = Duration::from_secs_f64(left as f64 / rate)
                .clamp(Duration::from_secs(1), crate::waiting_room::MAX_POLL_AFTER);
        }
        let now = self.inner.clock.now();
        if let Some(opens_at) = coupon.opens_at.filter(|at| *at > now) {
            // In the pre-queue: nothing moves before the opening.
            let until_open = (opens_at - now).to_std().unwrap_or_default();
            estimate.poll_after = until_open.clamp(
                Duration::from_millis(200),
                crate::waiting_room::MAX_POLL_AFTER,
            );
            estimate.eta_seconds = estimate.eta_seconds.map(|eta| eta + until_open.as_secs());
        }
        // Valid as long as the place would be kept without a poll: a waiter silent for
        // longer has been dropped, and their ticket must not bring them back.
        let expires_at_ms = now.timestamp_millis().saturating_add(
            i64::try_from(self.inner.settings.abandon_after.as_millis()).unwrap_or(i64::MAX),
        );
        let ticket = self.inner.places.sign(coupon.id, user, seat, expires_at_ms);
        Queued {
            position,
            estimate,
            ticket: Some(ticket),
        }
    }

    /// Where `user` stands in `coupon_id`'s line; the poll is the heartbeat. `ticket`
    /// is the place ticket of the caller's last answer (see [`Self::issue`]).
    pub async fn poll(
        &self,
        coupon_id: CouponId,
        user: UserId,
        ticket: Option<&str>,
    ) -> Result<QueueStatus, IssueError> {
        let coupon = self.inner.issuing.coupon(coupon_id).await?;
        let view = self.view(coupon_id).await?;
        let seat = self.seat(ticket, coupon_id, user);
        let place = self
            .inner
            .line
            .place(coupon_id, user, seat)
            .await
            .map_err(room_error)?;
        Ok(match place {
            Place::Waiting { .. } if view.sold_out() => QueueStatus::SoldOut,
            Place::Waiting { .. } => QueueStatus::Waiting(self.queued(&coupon, &view, user, place)),
            Place::Admitted {
                valid_until_ms,
                waited,
                generation,
            } => QueueStatus::Admitted {
                token: self.inner.signer.sign(
                    coupon_id,
                    user,
                    AdmissionClaim {
                        valid_until_ms,
                        generation,
                    },
                ),
                valid_until_ms,
                waited,
            },
            Place::Expired => QueueStatus::Expired,
            Place::Absent if view.sold_out() => QueueStatus::SoldOut,
            Place::Absent => QueueStatus::NotInQueue,
        })
    }

    /// The room's latest figures as this process saw them at its last tick (read
    /// fresh from the line when this process has not ticked it yet).
    pub async fn report(&self, coupon_id: CouponId) -> Result<RoomReport, IssueError> {
        let coupon = self.inner.issuing.coupon(coupon_id).await?;
        let view = self.view(coupon_id).await?;
        if let Some(report) = view.control.lock().last {
            return Ok(report);
        }
        self.tick_one(&coupon, &view).await.map_err(room_error)
    }

    /// Sets a room's own rate bounds (`None`: the configured ones), shared by every node.
    pub async fn set_bounds(
        &self,
        coupon_id: CouponId,
        bounds: Option<RateBounds>,
    ) -> Result<(), IssueError> {
        self.inner.issuing.coupon(coupon_id).await?;
        self.inner
            .line
            .set_bounds(coupon_id, bounds)
            .await
            .map_err(room_error)
    }

    /// One round over every room this process has seen lately: switch, rate,
    /// shuffle, admissions, figures. Call every `settings.tick`.
    pub async fn tick(&self) -> Vec<RoomReport> {
        let now_ms = self.inner.clock.now().timestamp_millis();
        let views: Vec<Arc<View>> = {
            let mut views = self.inner.views.lock();
            // A room nobody asked about for ten minutes is forgotten here (its line
            // lives on in the store; the next request reads it again).
            views.retain(|_, v| now_ms - v.last_used_ms.load(Ordering::Relaxed) < 600_000);
            views.values().cloned().collect()
        };
        let mut reports = Vec::with_capacity(views.len());
        for view in views {
            let coupon = match self.inner.issuing.coupon(view.coupon).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(coupon_id = %view.coupon, error = %e, "waiting room tick skipped");
                    continue;
                }
            };
            match self.tick_one(&coupon, &view).await {
                Ok(report) => reports.push(report),
                Err(e) => {
                    tracing::warn!(coupon_id = %coupon.id, error = %e, "waiting room tick failed")
                }
            }
        }
        reports
    }

    async fn tick_one(&self, coupon: &Coupon, view: &View) -> Result<RoomReport, StoreError> {
        let inner = &self.inner;
        let s = &inner.settings;
        let line = &inner.line;
        let c = coupon.id;
        let now = inner.clock.now();
        let open = coupon.ensure_open(now).is_ok();
        let mut shared = line.shared(c).await?;
        if shared.reseeding && shared.switch == RoomSwitch::Off && view.switch() != RoomSwitch::Off
        {
            // The line was lost (its switch with it) while this node saw the room on:
            // newcomers must queue behind those about to re-seat, until the window
            // closes and the line drains.
            tracing::info!(coupon_id = %c, "waiting line lost: draining behind the waiters re-seating");
            line.set_switch(c, RoomSwitch::Draining).await?;
            shared.switch = RoomSwitch::Draining;
        }
        let bounds = shared.bounds.unwrap_or(s.bounds);
        // The window's measurements, taken outside the lock.
        let window_due = view.control.lock().window_started.elapsed() >= s.window;
        let p95 = if window_due {
            view.latency.take_p95()
        } else {
            None
        };
        let in_flight = view.in_flight.load(Ordering::Acquire);
        // ALWAYS and OFF follow the mode at once; AUTO decides once per window.
        if window_due || coupon.room.mode != RoomMode::Auto {
            let wanted = self.wanted_switch(coupon.room.mode, shared.switch, p95, in_flight, view);
            if wanted != shared.switch {
                tracing::info!(coupon_id = %c, from = shared.switch.as_str(), to = wanted.as_str(), p95_ms = p95.map(|p| p.as_millis() as u64), "waiting room switch");
                line.set_switch(c, wanted).await?;
                shared.switch = wanted;
            }
        }
        if window_due && shared.switch != RoomSwitch::Off && open {
            let lagging = coupon.room.mode == RoomMode::Auto && self.lag_signal().0;
            // Consumers behind: admit fewer, whatever the latency says (a fast api node
            // over a slow pipeline would otherwise grow the rate while the lag grows).
            let mut step = if lagging {
                RateStep::Cut
            } else {
                let mut control = view.control.lock();
                let was = control.memory.tolerated();
                let step = s.controller.decide(p95, &mut control.memory);
                let now_tolerated = control.memory.tolerated();
                drop(control);
                if now_tolerated != was {
                    tracing::info!(coupon_id = %c, tolerated_p95_ms = now_tolerated.map(|t| t.as_millis() as u64), p95_ms = p95.map(|p| p.as_millis() as u64), "admission controller: latency the room does not cause (cuts did not lower it) is tolerated as the target; none: the configured target again");
                }
                step
            };
            let line_was_empty = view.control.lock().last.is_none_or(|r| r.waiting == 0);
            if line_was_empty && matches!(step, RateStep::Grow | RateStep::Probe) {
                // Nobody waited, so the rate limited nothing and says nothing about
                // capacity: growing it now would let the next flood straight through.
                step = RateStep::Keep;
            }
            let next = s.controller.next(shared.rate, step, bounds);
            shared.rate = line.propose_rate(c, next, s.window.mul_f64(0.8)).await?;
        }
        if open && coupon.room.prequeue == PrequeueOrder::Shuffled {
            let first = {
                let mut control = view.control.lock();
                !std::mem::replace(&mut control.shuffled, true)
            };
            if first {
                let mut seed = [0u8; 8];
                let _ = getrandom::fill(&mut seed);
                if line.shuffle_once(c, u64::from_le_bytes(seed)).await? {
                    tracing::info!(coupon_id = %c, "pre-queue order drawn at the opening");
                }
            }
        }
        let rate = if shared.rate > 0.0 {
            bounds.clamp(shared.rate)
        } else {
            bounds.min
        };
        // Nobody is let through before the opening, nor once the stock is gone (an
        // admission then buys nothing: those waiting hear SOLD_OUT at their next poll).
        let burst = if open && !view.sold_out() {
            ((rate * s.tick.as_secs_f64() * 2.0).ceil() as u32).max(1)
        } else {
            0
        };
        let figures = line
            .admit(
                c,
                Pace {
                    rate_per_sec: rate,
                    burst,
                    abandon_after: s.abandon_after,
                    admission_ttl: s.admission_ttl,
                    outstanding_cap: view.remaining(),
                },
            )
            .await?;
        if shared.switch == RoomSwitch::Draining && figures.waiting == 0 && !shared.reseeding {
            shared.switch = RoomSwitch::Off; // the step turned it off (never while re-seeding)
        }
        let remaining = inner.gate.stats(c).await?.map(|g| g.remaining);
        view.remaining
            .store(remaining.unwrap_or(UNKNOWN), Ordering::Release);
        // Another node (or this one's request path) may have turned the room on since
        // this tick read the switch: never turn the local view off behind its back.
        if !(shared.switch == RoomSwitch::Off && view.switch() == RoomSwitch::On && !window_due) {
            view.switch.store(shared.switch.code(), Ordering::Release);
        }
        view.rate.store(rate.to_bits(), Ordering::Release);
        let mut control = view.control.lock();
        if window_due {
            let elapsed = control.window_started.elapsed().as_secs_f64();
            let admitted = figures
                .admitted_total
                .saturating_sub(control.admitted_total);
            let per_sec = if elapsed > 0.0 {
                admitted as f64 / elapsed
            } else {
                0.0
            };
            let old = View::load_f64(&view.measured);
            // Smoothed, so one uneven window does not make every waiter's ETA jump.
            let smoothed = if old > 0.0 {
                0.5 * old + 0.5 * per_sec
            } else {
                per_sec
            };
            view.measured.store(smoothed.to_bits(), Ordering::Release);
            control.admitted_total = figures.admitted_total;
            control.window_started = Instant::now();
        }
        let report = RoomReport {
            coupon: c,
            mode: coupon.room.mode,
            switch: shared.switch,
            waiting: figures.waiting,
            admitted_total: figures.admitted_total,
            abandoned_total: figures.abandoned_total,
            rate,
            admitted_per_sec: View::load_f64(&view.measured),
            bounds,
            p95: p95.or(control.last.and_then(|r| r.p95)),
            target_p95: s.controller.target(&control.memory),
            remaining,
        };
        control.last = Some(report);
        Ok(report)
    }

    /// The switch a room should have after a window: ALWAYS on; OFF drains; AUTO on
    /// when the window's p95 or the requests at once pass the thresholds, draining
    /// once the p95 has stayed under the lower threshold for `calm_for` (hysteresis).
    fn wanted_switch(
        &self,
        mode: RoomMode,
        current: RoomSwitch,
        p95: Option<Duration>,
        in_flight: u64,
        view: &View,
    ) -> RoomSwitch {
        let auto = self.inner.settings.auto;
        match mode {
            RoomMode::Always => RoomSwitch::On,
            RoomMode::Off => match current {
                RoomSwitch::On => RoomSwitch::Draining,
                other => other,
            },
            RoomMode::Auto => {
                let (lagging, lag_settled) = self.lag_signal();
                let overloaded = p95.is_some_and(|p| p > auto.on_p95)
                    || (auto.on_in_flight > 0 && in_flight >= auto.on_in_flight)
                    || lagging;
                let mut control = view.control.lock();
                if overloaded {
                    control.calm_since = None;
                    return RoomSwitch::On;
                }
                if current != RoomSwitch::On {
                    return current;
                }
                if p95.is_some_and(|p| p >= auto.off_p95) || !lag_settled {
                    control.calm_since = None;
                    return current;
                }
                let since = *control.calm_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= auto.calm_for {
                    control.calm_since = None;
                    RoomSwitch::Draining
                } else {
                    current
                }
            }
        }
    }
}

/// Latencies of one window in logarithmic buckets (about 19 % apart, from 50 µs to
/// ~2 min): recording is one atomic add, and the p95 is read once per window. Failed
/// answers are only counted: a window where more than one request in twenty failed
/// measures an outage (a dependency down, requests held until they time out), which
/// admitting fewer people would not cure, so it gives no p95.
struct LatencyWindow {
    buckets: [AtomicU64; BUCKETS],
    failures: AtomicU64,
}

const BUCKETS: usize = 96;
const BUCKET_BASE_US: f64 = 50.0;
const BUCKET_GROWTH: f64 = 1.19;

impl Default for LatencyWindow {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            failures: AtomicU64::new(0),
        }
    }
}

impl LatencyWindow {
    fn bucket(latency: Duration) -> usize {
        let us = latency.as_secs_f64() * 1e6;
        if us <= BUCKET_BASE_US {
            return 0;
        }
        (((us / BUCKET_BASE_US).ln() / BUCKET_GROWTH.ln()).ceil() as usize).min(BUCKETS - 1)
    }

    fn upper(bucket: usize) -> Duration {
        Duration::from_secs_f64(BUCKET_BASE_US * BUCKET_GROWTH.powi(bucket as i32) / 1e6)
    }

    fn record(&self, latency: Duration) {
        self.buckets[Self::bucket(latency)].fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The window's p95 (an upper bound, within a bucket), and a new window; `None`
    /// when nothing was answered, or when failures were more than one in twenty.
    fn take_p95(&self) -> Option<Duration> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.swap(0, Ordering::AcqRel))
            .collect();
        let failures = self.failures.swap(0, Ordering::AcqRel);
        let total: u64 = counts.iter().sum();
        if total == 0 || failures * 20 > total + failures {
            return None;
        }
        let rank = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::upper(i));
            }
        }
        Some(Self::upper(BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_reports_its_p95_and_starts_again() {
        let w = LatencyWindow::default();
        assert_eq!(w.take_p95(), None);
        for _ in 0..95 {
            w.record(Duration::from_millis(2));
        }
        for _ in 0..5 {
            w.record(Duration::from_secs(1));
        }
        let p95 = w.take_p95().unwrap();
        assert!(
            p95 >= Duration::from_millis(2) && p95 < Duration::from_millis(3),
            "{p95:?}"
        );
        w.record(Duration::from_millis(400));
        let p = w.take_p95().unwrap();
        assert!(
            p >= Duration::from_millis(400) && p < Duration::from_millis(480),
            "{p:?}"
        );
        assert_eq!(w.take_p95(), None, "a new window");
        // An outage is not overload: many failures, no p95.
        for _ in 0..10 {
            w.record(Duration::from_secs(2));
        }
        w.fail();
        w.fail();
        assert_eq!(w.take_p95(), None, "2 of 12 failed");
        for _ in 0..40 {
            w.record(Duration::from_secs(2));
        }
        w.fail();
        assert!(w.take_p95().is_some(), "1 of 41 failed");
    }
}
