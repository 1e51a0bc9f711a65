//! Ports: what the use cases need from the outside world. Adapters (SQLite, MariaDB,
//! Redis, Kafka, in-memory) implement these; wiring picks one per port at start, so the
//! ports are object-safe (`async_trait`): one boxed future per call, negligible next
//! to an HTTP round trip.
//!
//! Each contract below is what a second adapter must honour.

use crate::coupon::{Coupon, CouponStatus, Quantity};
use crate::error::StoreError;
use crate::idempotency::{IdempotencyKey, KeyClaim};
use crate::ids::{CouponId, UserId};
use crate::issue::{IssueOutcome, IssueRequest, IssuedCoupon, OwnedCoupon};
use crate::listing::CouponQuery;
use crate::session::{RefreshTokenHash, RotateOutcome, StoredRefreshToken};
use crate::throttle::Admission;
use crate::user::{Password, PasswordHash, User, Username};
use crate::waiting_room::{
    AdmissionClaim, LineFigures, Pace, Place, RateBounds, RoomPolicy, RoomSwitch, Seat, SharedRoom,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

/// Where users live.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user. `Err(StoreError::Conflict)` if the username is taken.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// Whether at least one ADMIN exists (first-start bootstrap).
    async fn admin_exists(&self) -> Result<bool, StoreError>;
    /// Replaces a user's password hash (an upgrade to the current argon2 parameters).
    /// Returns whether a row changed.
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<bool, StoreError>;
}

/// Where coupon definitions live.
#[async_trait]
pub trait CouponStore: Send + Sync {
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;
    async fn find_coupon(&self, id: CouponId) -> Result<Option<Coupon>, StoreError>;
    /// Sets the stored status. Returns false if no such coupon exists.
    async fn set_coupon_status(
        &self,
        id: CouponId,
        status: CouponStatus,
    ) -> Result<bool, StoreError>;
    /// Sets the coupon's waiting-room policy; false if there is no such coupon.
    async fn set_room_policy(&self, id: CouponId, room: RoomPolicy) -> Result<bool, StoreError>;
    /// How many coupons of this definition are persisted as issued.
    async fn issued_count(&self, id: CouponId) -> Result<u64, StoreError>;
    /// Coupons whose stored status is `status` (e.g. the ACTIVE ones to warm a gate).
    async fn list_coupons_with_status(
        &self,
        status: CouponStatus,
    ) -> Result<Vec<Coupon>, StoreError>;
    /// Up to `query.limit` coupons matching `query`, newest first (creation time, then
    /// id, both descending), after `query.after` if given.
    async fn list_coupons(&self, query: &CouponQuery) -> Result<Vec<Coupon>, StoreError>;
}

/// Where issued coupons live once persisted.
#[async_trait]
pub trait IssuedCouponStore: Send + Sync {
    async fn find_issued(
        &self,
        user: UserId,
        coupon: CouponId,
    ) -> Result<Option<IssuedCoupon>, StoreError>;
    /// The user's coupons with their definitions, newest first.
    async fn list_owned(&self, user: UserId) -> Result<Vec<OwnedCoupon>, StoreError>;
    /// Every user holding each of `coupons`, in one read: what gates are rebuilt from.
    /// A coupon with no holders (or unknown) has no entry. Must be a range read per
    /// coupon (an index leading with the coupon), never a scan of the whole table: it
    /// runs when a coupon's gate is (re)built, and the table holds every earlier event.
    async fn holders_of(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, Vec<UserId>>, StoreError>;

    /// Every user holding this coupon.
    async fn holders(&self, coupon: CouponId) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .holders_of(&[coupon])
            .await?
            .remove(&coupon)
            .unwrap_or_default())
    }
    /// Marks the coupon used if it is owned and unused; returns whether a row changed,
    /// so two concurrent uses cannot both succeed.
    async fn mark_used(
        &self,
        user: UserId,
        coupon: CouponId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// The answer of one atomic gate step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// One unit of stock now belongs to the user.
    Reserved,
    /// The user already holds (or has reserved) this coupon; nothing changed.
    AlreadyIssued,
    /// No stock left; nothing changed.
    SoldOut,
    /// The gate knows nothing of this coupon yet: seed it, then ask again.
    NotSeeded,
}

/// Snapshot of one coupon's gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateStats {
    pub remaining: u64,
    pub holders: u64,
}

/// The first-come-first-served gate: dedupe and stock in one atomic step per request.
///
/// Invariant every adapter keeps: for a seeded coupon, `holders + remaining == total`
/// at all times, and a user is a holder at most once.
#[async_trait]
pub trait IssueGate: Send + Sync {
    /// Atomically: holder → `AlreadyIssued`; no stock → `SoldOut`; else take one unit
    /// and record the user as holder → `Reserved`.
    async fn reserve(&self, coupon: CouponId, user: UserId) -> Result<Reservation, StoreError>;
    /// Gives back a reservation whose durable write failed. Idempotent: releasing a user
    /// who is not a holder changes nothing.
    async fn release(&self, coupon: CouponId, user: UserId) -> Result<(), StoreError>;
    /// Seeds a coupon with `total` units of which `holders` are taken, unless it is
    /// already seeded (then nothing changes, so concurrent seeders are harmless).
    async fn seed(
        &self,
        coupon: CouponId,
        total: Quantity,
        holders: &[UserId],
    ) -> Result<(), StoreError>;
    async fn is_holder(&self, coupon: CouponId, user: UserId) -> Result<bool, StoreError>;
    /// `None` if the coupon is not seeded.
    async fn stats(&self, coupon: CouponId) -> Result<Option<GateStats>, StoreError>;
    /// Every holder of the coupon (reconciliation compares them with the persisted
    /// rows); `None` if the coupon is not seeded. Not a snapshot of one instant while
    /// reservations go on: each holder listed was a holder during the call.
    async fn list_holders(&self, coupon: CouponId) -> Result<Option<Vec<UserId>>, StoreError>;
}

/// Error of an [`IssueLog`] append.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The record was not acknowledged as durable (write failed, timed out, or the log is
    /// shutting down). The caller releases its reservation and answers 503; the
    /// persistence side's own guard keeps a late write from over-issuing.
    #[error("issue log unavailable: {0}")]
    Unavailable(String),
    /// The append failed, but the record may be durable all the same (it timed out after
    /// it was sent). The caller keeps its reservation, so the unit cannot be promised to
    /// anyone else: if the record is in the log it will be persisted, and if it is not,
    /// one unit is under-sold, never over-sold.
    #[error("issue log outcome unknown: {0}")]
    Indeterminate(String),
}

/// The durable record of accepted issue requests: a group-committed table in embedded
/// mode, a Kafka topic in distributed mode.
#[async_trait]
pub trait IssueLog: Send + Sync {
    /// Returns `Ok` only once the request is durable: nothing answered ACCEPTED may be lost.
    async fn append(&self, request: IssueRequest) -> Result<(), LogError>;
}

/// The issue log seen from a gate being rebuilt: a gate that lost a coupon may be
/// seeded from the store's holders only once every record that can still reach the
/// store has reached it, or the units of reservations whose records are still in the
/// log would be promised a second time.
#[async_trait]
pub trait LogDrain: Send + Sync {
    /// Returns once every record that was appended, or was being appended, when the call
    /// began has been persisted (or dead-lettered). Waits as long as that takes; the
    /// caller bounds its own wait.
    async fn drained(&self) -> Result<(), StoreError>;

    /// Records appended to the log and not yet persisted or dead-lettered: the
    /// consumers' lag, over every partition. `None` where ACCEPTED already means
    /// persisted (embedded mode's log commits before it answers).
    async fn behind(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

/// Why a password could not be hashed or checked now.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is busy and the queue is full: refused at once rather than
    /// queued without bound, so a login storm cannot take the CPU from the issue path.
    #[error("password hashing is at capacity")]
    Busy { retry_after: Duration },
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash was made with other parameters than the hasher's current ones:
    /// worth re-hashing while the plain password is at hand.
    pub outdated: bool,
}

/// Turns passwords into hashes and checks them. Slow on purpose; adapters run it off
/// the async workers, with a bound on how much runs and waits at once.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;
    /// Constant-time check against a stored hash. `None` (no such user) does the same
    /// work against a decoy hash and never matches, so the time taken does not say
    /// whether a username exists.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<Verification, HashError>;
}

/// Counts sign-in attempts and says when to refuse them (rules in [`crate::throttle`]).
/// Shared by every api node in distributed mode, so a client cannot spread its guesses
/// over nodes. Asked before any password is hashed.
#[async_trait]
pub trait AttemptLimiter: Send + Sync {
    /// Whether a login for `username` from `client` may be tried at `now_ms`. Reads
    /// only: a refused or successful attempt is not a failure.
    async fn login_admission(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<Admission, StoreError>;
    /// Counts a failed login against the username and the address.
    async fn login_failed(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Forgets the username's failures (the address's bucket drains on its own).
    async fn login_succeeded(&self, username: &Username) -> Result<(), StoreError>;
    /// Counts a signup attempt from `client` if it fits; a refused one is not counted.
    async fn signup_attempt(&self, client: IpAddr, now_ms: i64) -> Result<Admission, StoreError>;
}

/// The time, so rules about expiry can be tested at any instant, and waiting for it,
/// so a use case can bound how long a caller waits without naming a runtime.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves after `duration` (the runtime's timer).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Idempotency keys of issue requests, per user: claimed by a request, completed with
/// its answer, kept for `ttl`.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `(user, key)` for a request on `coupon`, unless it is taken: then says
    /// what it holds. A claim or an answer lasts `ttl`, then the key is free again.
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        coupon: CouponId,
        ttl: Duration,
    ) -> Result<KeyClaim, StoreError>;
    /// Keeps the answer of the request that claimed the key, for `ttl` from now.
    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        coupon: CouponId,
        outcome: IssueOutcome,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Frees a claimed key whose request ended without a definite answer, so that a
    /// retry with it runs again.
    async fn release(&self, user: UserId, key: &IdempotencyKey) -> Result<(), StoreError>;
}

/// Runs work to its end on a task of its own: a step that must finish whether or not
/// the request that began it is still waiting (an HTTP handler's future is dropped
/// when its client disconnects).
pub trait Spawner: Send + Sync {
    fn spawn(&self, work: BoxFuture<'static, ()>);
}

/// What persisting one batch of accepted requests did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistOutcome {
    /// Rows written by this call.
    pub inserted: u64,
    /// Requests whose (user, coupon) row already existed: redelivery, skipped.
    pub duplicates: u64,
}

/// The write side of distributed mode: consumers persist batches of accepted requests.
#[async_trait]
pub trait IssuePersister: Send + Sync {
    /// Persists the whole batch in one transaction: a request whose (user, coupon) row
    /// exists is skipped (so redelivery is harmless), each coupon's issued count moves by
    /// the rows inserted, and the batch is refused whole with `StoreError::Conflict` if a
    /// coupon would pass its total quantity or does not exist. `Unavailable` errors are
    /// transient: retrying the same batch later is safe.
    async fn persist(&self, batch: &[IssueRequest]) -> Result<PersistOutcome, StoreError>;
}

/// A record that could not be persisted even after retries and the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    pub id: uuid::Uuid,
    /// The message as received (JSON text, or lossy UTF-8 for garbage).
    pub payload: String,
    pub error: String,
    pub trace_id: Option<String>,
    /// `FAILED` until replayed successfully, then `REPLAYED`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The failed-events table: the end of the dead-letter path, and what admins replay.
#[async_trait]
pub trait FailedEventStore: Send + Sync {
    async fn record_failed(
        &self,
        payload: &str,
        error: &str,
        trace_id: Option<&str>,
    ) -> Result<uuid::Uuid, StoreError>;
    /// Newest first, at most `limit`.
    async fn list_failed(&self, limit: u32) -> Result<Vec<FailedEvent>, StoreError>;
    /// Every event still `FAILED` (not replayed), oldest first. Unbounded on purpose:
    /// each one is a user answered ACCEPTED whose unit the gate keeps until the replay
    /// (see [`ParkedHolders`]), and leaving one out would let reconciliation sell it.
    async fn pending_failed(&self) -> Result<Vec<FailedEvent>, StoreError>;
    async fn find_failed(&self, id: uuid::Uuid) -> Result<Option<FailedEvent>, StoreError>;
    /// Sets status REPLAYED; false if no such event.
    async fn mark_replayed(&self, id: uuid::Uuid) -> Result<bool, StoreError>;
}

/// Holders whose accepted record was dead-lettered and is not replayed yet (the
/// failed events of distributed mode). They were answered ACCEPTED and the gate keeps
/// their unit *parked* until an admin replays the record: given back, the unit would be
/// sold to someone else and the database guard would refuse the replay.
#[async_trait]
pub trait ParkedHolders: Send + Sync {
    /// The parked users of each of `coupons` (a coupon with none has no entry). Called
    /// once the issue log is drained ([`LogDrain::drained`]), the answer includes every
    /// record appended before that drain that is neither persisted nor replayed: an
    /// adapter whose dead letters reach its table late waits for them. A record replayed
    /// during the call may be reported or not; its row is written before it stops being
    /// `FAILED`, so a caller that reads the rows after this call sees it either way.
    async fn parked(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, HashSet<UserId>>, StoreError>;
}

/// A rate limiter shared by every consumer instance.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Tries to take `permits` now. `Ok(None)` when granted; `Ok(Some(wait))` when the
    /// caller must wait that long before asking again (nothing was taken).
    async fn try_acquire(&self, permits: u32) -> Result<Option<std::time::Duration>, StoreError>;
}

/// Why a failed event could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no failed event with this id")]
    NotFound,
    /// The payload cannot be persisted as it is (malformed, unknown coupon, sold out);
    /// the event stays FAILED.
    #[error("the event cannot be replayed: {0}")]
    NotReplayable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replays a failed event: decodes its payload and persists it.
#[async_trait]
pub trait FailedEventReplayer: Send + Sync {
    /// On success the event is marked REPLAYED and returned.
    async fn replay(&self, id: uuid::Uuid) -> Result<FailedEvent, ReplayError>;
}

/// Refresh tokens of login sessions, by hash. Shared by every api node in distributed
/// mode, so a token used or revoked on one node is refused on all of them.
///
/// A token is *live* while it is unused, not revoked and `now < expires_at`. Rotation
/// replaces a live token with its successor in the same family; presenting a used token
/// again means a copy exists, and kills the family.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores the first token of a new family (a login). `Err(StoreError::Conflict)` if
    /// the hash is taken (a 256-bit collision: never in practice).
    async fn insert_refresh_token(&self, token: &StoredRefreshToken) -> Result<(), StoreError>;
    /// In one atomic step:
    /// - `old` live: marks it used at `now` and stores `new_hash` in its family, with its
    ///   user and role, issued at `now`, expiring at `new_expires_at` → `Rotated`;
    /// - `old` used already (whatever its family's state or its expiry since): revokes
    ///   every token of its family, the successors included → `Reused`;
    /// - `old` unknown, expired unused, or revoked unused (logged out, or a family killed
    ///   by a reuse) → `Invalid`, and nothing changes.
    ///
    /// Of concurrent rotations of one token exactly one is `Rotated`; the others are
    /// `Reused`, so the winner's successor is revoked too. An error changes nothing.
    async fn rotate_refresh_token(
        &self,
        old: &RefreshTokenHash,
        new_hash: &RefreshTokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError>;
    /// Logout: revokes at `now` every token of `token`'s family (those revoked already
    /// keep their time). Returns whether `token` was known, revoked or not, so a repeated
    /// logout is still true. A rotation racing it either fails or has its successor revoked.
    async fn revoke_family(
        &self,
        token: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes up to `limit` tokens that expired before `before` (an expired token is
    /// refused whatever its row says, so nothing is lost). Returns how many went; the
    /// caller repeats while it gets `limit`, so no statement holds locks for long.
    async fn purge_expired(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
}

/// One coupon's waiting line: arrival order, heartbeats, admissions, and the room's
/// shared switch and rate. In process for embedded mode; in Redis for distributed mode,
/// where every api node shares it. Times are the adapter's own clock (Redis `TIME`),
/// so the nodes' clocks do not matter.
///
/// Contract: a user holds at most one place per line; admission follows line order
/// (no one is admitted before someone ahead who is still polling); every call that
/// names a user counts as that user's heartbeat.
///
/// Losing the line. A line has a generation ([`Seat`]), started by [`Self::open`] when
/// its coupon is created. A call that finds a line without one knows the line was lost
/// (a Redis flush or failover, a restart of the embedded process, an expiry): it starts
/// a new generation and a re-seeding window (the adapter's `reseed_grace`) during which
/// nobody is admitted, so every waiter still polling can show their place first. A
/// `join` or `place` that finds the user absent but holding a seat of an *older*
/// generation puts them back at that seat's order number (ahead of everyone who joined
/// since, who got larger numbers), and turns an OFF switch to DRAINING (there is a line
/// again: newcomers must queue behind it). A seat of the current generation never puts
/// anyone back: whoever is absent from the line that gave it was dropped or served.
#[async_trait]
pub trait WaitingLine: Send + Sync {
    /// Starts the line of a coupon nobody can be waiting for yet (at its creation): a
    /// generation with no re-seeding window. Changes nothing if the line has one.
    async fn open(&self, coupon: CouponId) -> Result<(), StoreError>;
    /// Puts `user` at the back, once: a user already waiting keeps the first place,
    /// and one already admitted keeps the admission; one absent with a `seat` of an
    /// older generation is put back at it. Returns where the user stands.
    async fn join(
        &self,
        coupon: CouponId,
        user: UserId,
        seat: Option<Seat>,
    ) -> Result<Place, StoreError>;
    /// Where `user` stands, marking them alive: the poll is the heartbeat. O(log n).
    /// The first poll that finds a valid admission tells it: from then on it lasts
    /// `admission_ttl`, and that answer alone carries how long its holder waited. A user
    /// absent with a `seat` of an older generation is put back at it, as by `join`.
    async fn place(
        &self,
        coupon: CouponId,
        user: UserId,
        seat: Option<Seat>,
    ) -> Result<Place, StoreError>;
    /// Admits, in line order, as many as are due at `pace` since the last admission,
    /// dropping waiters not seen for `pace.abandon_after` instead of admitting them;
    /// drops admissions past their validity; turns a DRAINING room OFF once its line is
    /// empty. Safe to call from every node at once: what is due is computed from the
    /// line's own last admission time. Admits nobody, and keeps a DRAINING room
    /// DRAINING, while the line is being re-seeded.
    async fn admit(&self, coupon: CouponId, pace: Pace) -> Result<LineFigures, StoreError>;
    /// Uses `user`'s admission, given in line generation `generation`: true once per
    /// valid admission. Also true, without any entry, when `generation` is older than
    /// the line's: the admission was lost with the line, its token is still valid, and
    /// single use falls to the gate (one coupon per user); the user's place in the new
    /// line, if any, is given up (they are served).
    async fn take_admission(
        &self,
        coupon: CouponId,
        user: UserId,
        generation: u64,
    ) -> Result<bool, StoreError>;
    /// Gives back an admission taken by an attempt that failed and may be retried.
    async fn return_admission(
        &self,
        coupon: CouponId,
        user: UserId,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Draws a random order for everyone in line now, with `seed` (called once, at the
    /// opening of a coupon whose pre-queue is shuffled). Returns false if it was drawn
    /// before: a second call changes nothing. A line found lost counts as drawn: those
    /// who re-seat keep the order their tickets carry.
    async fn shuffle_once(&self, coupon: CouponId, seed: u64) -> Result<bool, StoreError>;
    /// The switch, rate and bounds every node shares, and whether the line is being
    /// re-seeded.
    async fn shared(&self, coupon: CouponId) -> Result<SharedRoom, StoreError>;
    async fn set_switch(&self, coupon: CouponId, switch: RoomSwitch) -> Result<(), StoreError>;
    /// Sets the admission rate unless another node set it less than `min_interval`
    /// ago. Returns the rate in force.
    async fn propose_rate(
        &self,
        coupon: CouponId,
        rate: f64,
        min_interval: Duration,
    ) -> Result<f64, StoreError>;
    async fn set_bounds(
        &self,
        coupon: CouponId,
        bounds: Option<RateBounds>,
    ) -> Result<(), StoreError>;
}

/// Signs and checks admission tokens: short-lived, bound to one user and one coupon,
/// signed with the server's secret. Single use is the line's part
/// ([`WaitingLine::take_admission`]).
pub trait AdmissionSigner: Send + Sync {
    fn sign(&self, coupon: CouponId, user: UserId, claim: AdmissionClaim) -> String;
    /// What a token for `coupon` and `user` says; `None` if the token was not signed
    /// here for exactly them, or has expired.
    fn verify(&self, token: &str, coupon: CouponId, user: UserId) -> Option<AdmissionClaim>;
}

/// Signs and checks place tickets: a waiter's place carried by the waiter, so a line
/// lost with its store can be rebuilt from those still waiting (Cloudflare's waiting
/// room keeps the place in its cookie the same way). Bound to one user and one coupon,
/// signed with a key of its own derived from the server's secret (never an admission or
/// access token), valid until `expires_at_ms`: the heartbeat bound from the answer that
/// handed it out, since a waiter silent for longer would have been dropped anyway.
pub trait PlaceSigner: Send + Sync {
    fn sign(&self, coupon: CouponId, user: UserId, seat: Seat, expires_at_ms: i64) -> String;
    /// The seat of a ticket for `coupon` and `user`; `None` if the ticket was not signed
    /// here for exactly them, or has expired.
    fn verify(&self, ticket: &str, coupon: CouponId, user: UserId) -> Option<Seat>;
}
