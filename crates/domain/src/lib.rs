//! The couponrush domain: what a coupon, a user and an issued coupon are, the rules
//! that govern them, the use cases, and the ports (traits) adapters implement.
//!
//! This crate does no I/O. Time comes in through the [`ports::Clock`] port and every
//! store, gate and log is a trait, so the same rules run in embedded and distributed mode.

pub mod coupon;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod issue;
pub mod listing;
pub mod ports;
pub mod services;
pub mod session;
pub mod stored;
pub mod throttle;
pub mod user;
pub mod waiting_room;

pub use coupon::{Coupon, CouponName, CouponStatus, CouponType, Discount, NewCoupon, Quantity};
pub use error::{StoreError, ValidationError};
pub use idempotency::{IdempotencyKey, KeyClaim};
pub use ids::{CouponId, RequestId, SessionFamily, UserId};
pub use issue::{IssueOutcome, IssueRequest, IssueState, IssuedCoupon, OwnedCoupon};
pub use session::{RefreshToken, RefreshTokenHash, RotateOutcome, StoredRefreshToken};
pub use user::{Password, PasswordHash, Role, User, Username};
