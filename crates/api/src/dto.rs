//! Request and response bodies: the API's JSON shapes (camelCase), kept apart from the
//! domain types so the wire format can stay stable while the domain evolves.

use crate::constraints;
use chrono::{DateTime, Utc};
use couponrush_domain::waiting_room::{PrequeueOrder, RoomMode};
use couponrush_domain::{Coupon, CouponStatus, CouponType, OwnedCoupon};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[schema(schema_with = constraints::username)]
    pub username: String,
    #[schema(schema_with = constraints::password)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub username: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: `POST /api/auth/refresh` trades it for a new access token and a new
    /// refresh token. Presenting one a second time revokes the whole session.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(schema_with = constraints::refresh_token)]
    pub refresh_token: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CouponTypeDto {
    Chicken,
    Hamburger,
    Pizza,
}

impl From<CouponTypeDto> for CouponType {
    fn from(t: CouponTypeDto) -> Self {
        match t {
            CouponTypeDto::Chicken => CouponType::Chicken,
            CouponTypeDto::Hamburger => CouponType::Hamburger,
            CouponTypeDto::Pizza => CouponType::Pizza,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountTypeDto {
    Fixed,
    Percentage,
}

impl DiscountTypeDto {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "FIXED",
            Self::Percentage => "PERCENTAGE",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CouponStatusDto {
    Pending,
    Active,
    Expired,
    Disabled,
}

impl From<CouponStatusDto> for CouponStatus {
    fn from(s: CouponStatusDto) -> Self {
        match s {
            CouponStatusDto::Pending => CouponStatus::Pending,
            CouponStatusDto::Active => CouponStatus::Active,
            CouponStatusDto::Expired => CouponStatus::Expired,
            CouponStatusDto::Disabled => CouponStatus::Disabled,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCouponRequest {
    #[schema(schema_with = constraints::coupon_name)]
    pub name: String,
    pub coupon_type: CouponTypeDto,
    pub discount_type: DiscountTypeDto,
    #[schema(schema_with = constraints::discount_value)]
    pub discount_value: u64,
    #[schema(schema_with = constraints::total_quantity)]
    pub total_quantity: u64,
    /// RFC 3339, in the future.
    pub expires_at: DateTime<Utc>,
    /// RFC 3339, before `expiresAt`: until then, issue requests answer 409
    /// COUPON_NOT_OPEN. Omitted: open as soon as ACTIVE.
    #[serde(default)]
    pub opens_at: Option<DateTime<Utc>>,
    #[schema(schema_with = constraints::initial_status)]
    pub status: Option<CouponStatusDto>,
    /// The waiting room: AUTO (default) turns it on under load, ALWAYS keeps it on
    /// (requests before `opensAt` join the pre-queue), OFF never.
    #[serde(default)]
    pub waiting_room: Option<RoomModeDto>,
    /// The order of those who arrive before `opensAt`: FIFO (default) or SHUFFLED
    /// (drawn at random at the opening).
    #[serde(default)]
    pub prequeue: Option<PrequeueDto>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomModeDto {
    Off,
    Always,
    Auto,
}

impl From<RoomModeDto> for RoomMode {
    fn from(m: RoomModeDto) -> Self {
        match m {
            RoomModeDto::Off => RoomMode::Off,
            RoomModeDto::Always => RoomMode::Always,
            RoomModeDto::Auto => RoomMode::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrequeueDto {
    Fifo,
    Shuffled,
}

impl From<PrequeueDto> for PrequeueOrder {
    fn from(p: PrequeueDto) -> Self {
        match p {
            PrequeueDto::Fifo => PrequeueOrder::Fifo,
            PrequeueDto::Shuffled => PrequeueOrder::Shuffled,
        }
    }
}

/// Changes a coupon's waiting room; every field is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigureRoomRequest {
    pub mode: Option<RoomModeDto>,
    pub prequeue: Option<PrequeueDto>,
    /// The admission rate's floor and ceiling (`maxRate`), per second, set together.
    /// Both `null` or omitted with `resetRates: true`: back to the configured bounds.
    #[schema(schema_with = constraints::admission_rate)]
    pub min_rate: Option<f64>,
    #[schema(schema_with = constraints::admission_rate)]
    pub max_rate: Option<f64>,
    /// Drop this room's own rate bounds and use the configured ones.
    #[serde(default)]
    pub reset_rates: bool,
}

/// A room as the node that answers sees it (figures from its last tick).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomStateResponse {
    pub coupon_id: Uuid,
    /// OFF, ALWAYS or AUTO.
    pub mode: &'static str,
    /// FIFO or SHUFFLED.
    pub prequeue: &'static str,
    /// OFF, ON or DRAINING.
    pub state: &'static str,
    pub waiting: u64,
    pub admitted_total: u64,
    pub abandoned_total: u64,
    /// The controller's admission rate (per second).
    pub admission_rate: f64,
    /// Admissions per second, measured.
    pub admitted_per_second: f64,
    pub min_rate: f64,
    pub max_rate: f64,
    /// The issue path's p95 over the last window, in milliseconds.
    pub p95_ms: Option<f64>,
    /// The p95 the controller steers to on this node, in milliseconds: the configured
    /// `room_target_p95_ms`, or a higher latency the room does not cause, which it
    /// tolerates until the p95 falls back to the configured target.
    pub target_p95_ms: f64,
    /// Units left in the gate; null if not seeded on this node.
    pub remaining: Option<u64>,
}

/// Where the caller stands in a coupon's line.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatusResponse {
    /// WAITING, ADMITTED, SOLD_OUT, EXPIRED (admitted, but the admission passed
    /// unused: issue again to rejoin at the back) or NOT_IN_QUEUE.
    pub status: &'static str,
    /// WAITING: 1 is next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// WAITING: seconds until admission at the measured rate; null when more people
    /// are ahead than units are left (`beyondStock`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<Option<u64>>,
    /// WAITING: more people are ahead than units are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_stock: Option<bool>,
    /// WAITING: poll again after this many milliseconds (add a little jitter); a waiter
    /// who stops polling for `abandon_after_secs` (60 s) loses the place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_after_ms: Option<u64>,
    /// WAITING: the caller's place, signed; send it as the `Place-Ticket` header of the
    /// next poll and issue request (each answer hands out a fresh one; keep the latest).
    /// If the server lost its line meanwhile (a Redis data loss, a restart), it puts
    /// the caller back where they stood instead of at the back. Bound to the caller and
    /// the coupon; valid for `room_abandon_after_secs` (60 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place_ticket: Option<String>,
    /// ADMITTED: send it as the `Admission-Token` header of the issue request; single
    /// use, bound to the caller and the coupon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_token: Option<String>,
    /// ADMITTED: the token's end of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatusRequest {
    #[schema(schema_with = constraints::target_status)]
    pub status: CouponStatusDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponResponse {
    pub id: Uuid,
    pub name: String,
    pub coupon_type: &'static str,
    pub discount_type: &'static str,
    pub discount_value: u64,
    pub total_quantity: u32,
    /// Persisted issued coupons (omitted where not looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_quantity: Option<u64>,
    pub expires_at: DateTime<Utc>,
    /// The scheduled opening; `null` when the coupon opens as soon as it is ACTIVE.
    pub opens_at: Option<DateTime<Utc>>,
    /// The effective status: EXPIRED once past `expiresAt`, whatever was stored.
    pub status: &'static str,
    /// The waiting room's mode: OFF, ALWAYS or AUTO.
    pub waiting_room: &'static str,
    /// FIFO or SHUFFLED.
    pub prequeue: &'static str,
    pub created_at: DateTime<Utc>,
}

impl CouponResponse {
    pub fn new(c: &Coupon, issued_quantity: Option<u64>, now: DateTime<Utc>) -> Self {
        Self {
            id: c.id.into_uuid(),
            name: c.name.as_str().to_owned(),
            coupon_type: c.coupon_type.as_str(),
            discount_type: c.discount.kind_str(),
            discount_value: c.discount.value(),
            total_quantity: c.total_quantity.get(),
            issued_quantity,
            expires_at: c.expires_at,
            opens_at: c.opens_at,
            status: c.effective_status(now).as_str(),
            waiting_room: c.room.mode.as_str(),
            prequeue: c.room.prequeue.as_str(),
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueResponse {
    /// ACCEPTED (202), SOLD_OUT or ALREADY_ISSUED (200), or QUEUED (200): the waiting
    /// room is on and the caller now holds a place in line (calling again keeps it);
    /// poll `GET /api/coupons/{id}/queue` after `pollAfterMs`.
    pub result: &'static str,
    /// QUEUED: 1 is next; 0: already admitted, poll now for the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// QUEUED: seconds until admission at the measured rate; null when more people
    /// are ahead than units are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<Option<u64>>,
    /// QUEUED: more people are ahead than units are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_stock: Option<bool>,
    /// QUEUED: poll the line after this many milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_after_ms: Option<u64>,
    /// QUEUED (position 1 or more): the caller's place, signed; send it as the
    /// `Place-Ticket` header of the next poll and issue request. If the server lost
    /// its line meanwhile (a Redis data loss, a restart), it puts the caller back where
    /// they stood instead of at the back. Bound to the caller and the coupon; valid
    /// for `room_abandon_after_secs` (60 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place_ticket: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssueStateResponse {
    /// NONE, ACCEPTED (not yet persisted), ISSUED or USED.
    pub state: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnedCouponResponse {
    pub issued_coupon_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub coupon: CouponResponse,
}

impl OwnedCouponResponse {
    pub fn new(o: &OwnedCoupon, now: DateTime<Utc>) -> Self {
        Self {
            issued_coupon_id: o.issued.id.into_uuid(),
            issued_at: o.issued.issued_at,
            used_at: o.issued.used_at,
            coupon: CouponResponse::new(&o.coupon, None, now),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsedCouponResponse {
    pub issued_coupon_id: Uuid,
    pub coupon_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponStatsResponse {
    pub coupon_id: Uuid,
    pub total: u64,
    /// Users holding a reservation in the gate (persisted or not); null if the gate has
    /// not seen the coupon yet.
    pub reserved_in_gate: Option<u64>,
    pub remaining_in_gate: Option<u64>,
    /// Issued coupons persisted in the database.
    pub persisted: u64,
}

/// The issue pipeline, for operators.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineResponse {
    /// Records answered ACCEPTED and not yet persisted or dead-lettered, over every
    /// partition of the issue topic (distributed mode); `null` in embedded mode, where
    /// ACCEPTED is only answered once the row is committed.
    pub consumer_lag: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready`, `degraded` (only dependencies the process can work without are down;
    /// still 200) or `not_ready` (503).
    pub status: &'static str,
    /// Each dependency: `up` or `down`.
    pub checks: std::collections::BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedEventResponse {
    pub id: Uuid,
    /// The record as it was on the topic.
    pub payload: String,
    pub error: String,
    pub trace_id: Option<String>,
    /// FAILED or REPLAYED.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<couponrush_domain::ports::FailedEvent> for FailedEventResponse {
    fn from(e: couponrush_domain::ports::FailedEvent) -> Self {
        Self {
            id: e.id,
            payload: e.payload,
            error: e.error,
            trace_id: e.trace_id,
            status: e.status,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// At most this many, newest first (default 100, max 1000).
    pub limit: Option<u32>,
}

/// Where an event stands in time.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PhaseDto {
    /// Not expired, opening later (`opensAt` in the future).
    Upcoming,
    /// Not expired and open.
    Open,
    /// Past `expiresAt`.
    Ended,
}

impl From<PhaseDto> for couponrush_domain::listing::Phase {
    fn from(p: PhaseDto) -> Self {
        match p {
            PhaseDto::Upcoming => Self::Upcoming,
            PhaseDto::Open => Self::Open,
            PhaseDto::Ended => Self::Ended,
        }
    }
}

/// `GET /api/coupons` query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCouponsParams {
    /// The effective status (EXPIRED: past `expiresAt`). Users only ever see ACTIVE ones.
    pub status: Option<CouponStatusDto>,
    /// `upcoming`, `open` or `ended`.
    pub phase: Option<PhaseDto>,
    /// The `nextCursor` of the page before.
    pub cursor: Option<String>,
    #[param(schema_with = constraints::page_limit, required = false)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponPageResponse {
    /// Newest first.
    pub coupons: Vec<CouponResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The optional headers of `POST /api/coupons/{id}/issue` (documentation only: the
/// handler reads them from the header map, so an unreadable admission token or place
/// ticket puts the caller in line instead of refusing the request).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IssueHeaders {
    /// While the coupon's waiting room is on: the token `GET /api/coupons/{id}/queue`
    /// handed out when the caller was admitted (single use, bound to caller and coupon,
    /// valid for `admission_ttl_secs`). Without a valid one the caller is put in line
    /// (QUEUED), not served.
    #[param(rename = "Admission-Token", value_type = String, required = false)]
    pub admission_token: Option<String>,
    /// While the coupon's waiting room is on: the `placeTicket` of the caller's last
    /// QUEUED or WAITING answer. If the server lost its line since (a Redis data loss,
    /// a restart), the caller is put back at that place rather than at the back. A
    /// ticket that is not the caller's, is for another coupon, or has expired is
    /// ignored (the caller joins at the back), as is an unreadable one.
    #[param(rename = "Place-Ticket", value_type = String, required = false)]
    pub place_ticket: Option<String>,
    /// Chosen by the client per attempt to get a coupon. A retry with the same key (same
    /// user, same coupon) within `idempotency_key_ttl_secs` (1 h) gets the first answer
    /// again, marked `Idempotent-Replayed: true`, without a second attempt. Only
    /// ACCEPTED, SOLD_OUT and ALREADY_ISSUED are kept; an error frees the key, so its
    /// retry runs again.
    #[param(rename = "Idempotency-Key", schema_with = constraints::idempotency_key, required = false)]
    pub idempotency_key: Option<String>,
}

/// The optional header of `GET /api/coupons/{id}/queue` (documentation only, read from
/// the header map like the issue request's).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct QueueHeaders {
    /// The `placeTicket` of the caller's last QUEUED or WAITING answer. If the server
    /// lost its line since (a Redis data loss, a restart), the poll puts the caller
    /// back at that place (WAITING) rather than answering NOT_IN_QUEUE. A ticket that
    /// is not the caller's, is for another coupon, or has expired is ignored, as is an
    /// unreadable one.
    #[param(rename = "Place-Ticket", value_type = String, required = false)]
    pub place_ticket: Option<String>,
}
