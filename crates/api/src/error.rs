//! The one place where errors become HTTP: every failure leaves as
//! `{"code": "STABLE_CODE", "message": "..."}` with its status. Codes are part of the
//! API contract (`ErrorCode`, which owns each code's status); messages are for humans
//! and may change.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use couponrush_auth::TokenError;
use couponrush_domain::coupon::CouponRuleError;
use couponrush_domain::issue::UseRuleError;
use couponrush_domain::services::{
    CatalogError, IssueError, LoginError, SessionError, SignupError, UseError,
};
use couponrush_domain::{StoreError, ValidationError};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

pub use crate::error_code::ErrorCode;

/// Error body of every non-2xx answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// COUPON_NOT_OPEN only: when the coupon opens (RFC 3339), for the client's countdown.
    #[serde(rename = "opensAt", skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<DateTime<Utc>>,
}

/// A caught panic's message, kept on its 500 answer for error tracking.
#[derive(Debug, Clone)]
pub struct PanicMessage(pub String);

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<&'static str>,
    /// Carried into the body of COUPON_NOT_OPEN.
    pub opens_at: Option<DateTime<Utc>>,
    /// `Retry-After` when the wait is known (a lockout, a full hash queue); other
    /// 503s say one second.
    pub retry_after: Option<Duration>,
}

/// What a 503 asks the client to wait before retrying (`Retry-After`, seconds): a
/// dependency blip or a gate being seeded is over within about a second.
const RETRY_AFTER_SECS: &str = "1";

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            opens_at: None,
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn retry_after(self, wait: Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..self
        }
    }

    /// 429: too many failed logins or signups; nothing was checked.
    fn throttled(wait: Duration) -> Self {
        Self::new(
            ErrorCode::TooManyAttempts,
            "too many attempts; try again later",
        )
        .retry_after(wait)
    }

    /// 503: the password-hash pool is full.
    fn auth_busy(wait: Duration) -> Self {
        Self::new(
            ErrorCode::AuthBusy,
            "too many sign-ins at once; try again shortly",
        )
        .retry_after(wait)
    }

    /// 503: the process is at its limit of requests in flight and this one waited
    /// too long for its turn; nothing of it ran.
    pub fn server_busy() -> Self {
        Self::new(
            ErrorCode::ServerBusy,
            "the server is at its limit of requests in flight and nothing was done; retry",
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "this action needs the ADMIN role")
    }

    pub fn coupon_not_found() -> Self {
        Self::new(ErrorCode::CouponNotFound, "no coupon with this id")
    }

    /// 409: ACTIVE but not open yet; the body says when it opens. No `Retry-After`:
    /// the wait may be hours, and the client counts down to `opensAt` instead.
    fn not_open(opens_at: DateTime<Utc>) -> Self {
        Self {
            opens_at: Some(opens_at),
            ..Self::new(
                ErrorCode::CouponNotOpen,
                format!("the coupon opens at {}", opens_at.to_rfc3339()),
            )
        }
    }

    /// A dependency failed: logged here with its detail, answered without it.
    fn unavailable(code: ErrorCode, detail: &dyn std::fmt::Display) -> Self {
        Self::dependency_failed(code, "temporarily unavailable, please retry", detail)
    }

    /// 503 with `message` for the caller; the detail goes to the log only.
    fn dependency_failed(
        code: ErrorCode,
        message: &'static str,
        detail: &dyn std::fmt::Display,
    ) -> Self {
        tracing::warn!(code = code.as_str(), error = %detail, "dependency unavailable");
        Self::new(code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            field: self.field,
            opens_at: self.opens_at,
        };
        let mut response = (self.code.status(), Json(body)).into_response();
        // For the edge middleware (error tracking names the code of a 5xx).
        response.extensions_mut().insert(self.code);
        let retry_after = match self.retry_after {
            // Whole seconds, rounded up: never ask a client back before the wait is over.
            Some(wait) => Some(HeaderValue::from(
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            )),
            // 409 IDEMPOTENCY_KEY_IN_USE: the first request is still running, ask again soon.
            None if self.code.status() == StatusCode::SERVICE_UNAVAILABLE
                || self.code == ErrorCode::IdempotencyKeyInUse =>
            {
                Some(HeaderValue::from_static(RETRY_AFTER_SECS))
            }
            None => None,
        };
        if let Some(value) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self {
            field: Some(e.field),
            ..Self::new(ErrorCode::ValidationFailed, e.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "stored data violates an invariant");
                Self::new(ErrorCode::InternalError, "internal error")
            }
            other => Self::unavailable(ErrorCode::StoreUnavailable, &other),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let code = match e {
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::Invalid => ErrorCode::TokenInvalid,
        };
        Self::new(code, e.to_string())
    }
}

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::UsernameTaken => Self::new(ErrorCode::UsernameTaken, e.to_string()),
            SignupError::Throttled { retry_after } => Self::throttled(retry_after),
            SignupError::Busy { retry_after } => Self::auth_busy(retry_after),
            SignupError::Store(s) => s.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => {
                Self::new(ErrorCode::InvalidCredentials, e.to_string())
            }
            LoginError::Throttled { retry_after } => Self::throttled(retry_after),
            LoginError::Busy { retry_after } => Self::auth_busy(retry_after),
            LoginError::Store(s) => s.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            // One answer for both: a thief holding a used token learns nothing more.
            SessionError::Invalid | SessionError::Reused => Self::new(
                ErrorCode::RefreshTokenInvalid,
                "the refresh token is invalid, expired or revoked; log in again",
            ),
            SessionError::Store(s) => s.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(v) => v.into(),
            CatalogError::NotFound => Self::coupon_not_found(),
            CatalogError::Rule(CouponRuleError::Expired) => {
                Self::new(ErrorCode::CouponExpired, "the coupon has expired")
            }
            CatalogError::Rule(r @ CouponRuleError::InvalidTargetStatus(_)) => Self {
                field: Some("status"),
                ..Self::new(ErrorCode::ValidationFailed, r.to_string())
            },
            CatalogError::Rule(r @ CouponRuleError::NotActive(_)) => {
                Self::new(ErrorCode::CouponNotActive, r.to_string())
            }
            CatalogError::Rule(CouponRuleError::NotOpen(opens_at)) => Self::not_open(opens_at),
            CatalogError::Store(s) => s.into(),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::CouponNotFound => Self::coupon_not_found(),
            IssueError::CouponNotActive(_) => Self::new(ErrorCode::CouponNotActive, e.to_string()),
            IssueError::CouponNotOpen(opens_at) => Self::not_open(opens_at),
            IssueError::Unavailable(detail) => {
                Self::unavailable(ErrorCode::IssueUnavailable, &detail)
            }
            IssueError::Indeterminate(detail) => Self::dependency_failed(
                ErrorCode::IssueOutcomeUnknown,
                "the request may have been recorded; GET the issue state instead of retrying",
                &detail,
            ),
            IssueError::KeyInUse => Self::new(ErrorCode::IdempotencyKeyInUse, e.to_string()),
            IssueError::KeyReused(_) => Self::new(ErrorCode::IdempotencyKeyReused, e.to_string()),
            IssueError::Store(s) => s.into(),
        }
    }
}

impl From<UseError> for ApiError {
    fn from(e: UseError) -> Self {
        match e {
            UseError::NotIssued => Self::new(ErrorCode::NotIssued, e.to_string()),
            UseError::Rule(UseRuleError::AlreadyUsed) => {
                Self::new(ErrorCode::AlreadyUsed, e.to_string())
            }
            UseError::Rule(UseRuleError::Expired) => {
                Self::new(ErrorCode::CouponExpired, e.to_string())
            }
            UseError::Store(s) => s.into(),
        }
    }
}
