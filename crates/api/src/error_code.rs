//! The stable error codes: one enum that owns each code's string and HTTP status, so an
//! answer can only carry a code the OpenAPI document lists (`ErrorBody.code` is this
//! type, and its schema is generated from the same table).

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// Declares the enum, its wire strings and statuses, and `ALL`, from one table: a code
/// added here is in the document, in `ALL` and in the mapping at once.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $status:ident;)+) => {
        /// Stable, machine-readable error code of every non-2xx answer.
        // The variants' names spell the codes (utoipa does not see a `rename` that a
        // macro passes in; the tests pin that both spellings agree).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the table's order (grouped by status).
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The one status this code is answered with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    /// A field (named in `field`) breaks a rule of the domain.
    ValidationFailed = "VALIDATION_FAILED", BAD_REQUEST;
    /// The body is not JSON.
    MalformedJson = "MALFORMED_JSON", BAD_REQUEST;
    /// JSON of the wrong shape: a missing or unknown field, a wrong type or enum value.
    InvalidBody = "INVALID_BODY", BAD_REQUEST;
    /// A path parameter is malformed (e.g. not a UUID).
    InvalidPath = "INVALID_PATH", BAD_REQUEST;
    /// An unknown query parameter or a value of the wrong type.
    InvalidQuery = "INVALID_QUERY", BAD_REQUEST;
    /// No `Authorization: Bearer <token>` header, or one of another form.
    Unauthorized = "UNAUTHORIZED", UNAUTHORIZED;
    TokenInvalid = "TOKEN_INVALID", UNAUTHORIZED;
    TokenExpired = "TOKEN_EXPIRED", UNAUTHORIZED;
    InvalidCredentials = "INVALID_CREDENTIALS", UNAUTHORIZED;
    RefreshTokenInvalid = "REFRESH_TOKEN_INVALID", UNAUTHORIZED;
    /// The operation needs the ADMIN role.
    Forbidden = "FORBIDDEN", FORBIDDEN;
    /// No such route.
    NotFound = "NOT_FOUND", NOT_FOUND;
    CouponNotFound = "COUPON_NOT_FOUND", NOT_FOUND;
    NotIssued = "NOT_ISSUED", NOT_FOUND;
    FailedEventNotFound = "FAILED_EVENT_NOT_FOUND", NOT_FOUND;
    MethodNotAllowed = "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED;
    UsernameTaken = "USERNAME_TAKEN", CONFLICT;
    CouponExpired = "COUPON_EXPIRED", CONFLICT;
    CouponNotActive = "COUPON_NOT_ACTIVE", CONFLICT;
    CouponNotOpen = "COUPON_NOT_OPEN", CONFLICT;
    IdempotencyKeyInUse = "IDEMPOTENCY_KEY_IN_USE", CONFLICT;
    AlreadyUsed = "ALREADY_USED", CONFLICT;
    NotReplayable = "NOT_REPLAYABLE", CONFLICT;
    /// The body is larger than the server accepts (`BODY_LIMIT_BYTES`).
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE;
    /// A body without `Content-Type: application/json`.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED_MEDIA_TYPE;
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED", UNPROCESSABLE_ENTITY;
    TooManyAttempts = "TOO_MANY_ATTEMPTS", TOO_MANY_REQUESTS;
    /// A bug or stored data that breaks an invariant; the log has the detail.
    InternalError = "INTERNAL_ERROR", INTERNAL_SERVER_ERROR;
    AuthBusy = "AUTH_BUSY", SERVICE_UNAVAILABLE;
    IssueUnavailable = "ISSUE_UNAVAILABLE", SERVICE_UNAVAILABLE;
    IssueOutcomeUnknown = "ISSUE_OUTCOME_UNKNOWN", SERVICE_UNAVAILABLE;
    StoreUnavailable = "STORE_UNAVAILABLE", SERVICE_UNAVAILABLE;
    ServerBusy = "SERVER_BUSY", SERVICE_UNAVAILABLE;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn each_code_is_sent_as_its_string_and_no_two_codes_share_one() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{code}"
            );
        }
    }
}
