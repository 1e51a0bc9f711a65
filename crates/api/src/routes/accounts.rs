//! Sign-up and log-in.

use crate::client_addr::ClientAddr;
use crate::dto::{Credentials, RefreshRequest, TokenResponse, UserResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use couponrush_auth::Principal;
use couponrush_domain::services::{LoginError, SessionError, SignupError};
use couponrush_domain::session::RefreshToken;
use couponrush_domain::{Password, Role, UserId, Username};

#[utoipa::path(post, path = "/api/users/signup", operation_id = "signup", tag = "accounts", request_body = Credentials,
    responses((status = 201, body = UserResponse),
              (status = 400, description = "VALIDATION_FAILED: `username` or `password` (field says which) breaks its rule", body = ErrorBody),
              (status = 409, description = "USERNAME_TAKEN", body = ErrorBody),
              (status = 429, description = "TOO_MANY_ATTEMPTS: this address's signups per minute are used up; `Retry-After` says when to try again", body = ErrorBody),
              (status = 503, description = "AUTH_BUSY: the password-hash pool is full, retry after `Retry-After`; STORE_UNAVAILABLE", body = ErrorBody)))]
pub async fn signup(
    State(s): State<ApiState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let username = Username::parse(&body.username)?;
    let password = Password::parse(&body.password)?;
    let user = match s.app.accounts.signup(username, &password, client).await {
        Ok(user) => user,
        Err(e @ SignupError::Throttled { .. }) => return Err(tarpit(&s, e).await),
        Err(e) => return Err(e.into()),
    };
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            id: user.id.into_uuid(),
            username: user.username.to_string(),
        }),
    ))
}

#[utoipa::path(post, path = "/api/auth/login", operation_id = "login", tag = "accounts", request_body = Credentials,
    description = "Returns a short-lived access token and a single-use refresh token. \
Failed logins are counted per username (a few are free, then each locks the username for a doubling time) and per client address.",
    responses((status = 200, body = TokenResponse),
              (status = 401, description = "INVALID_CREDENTIALS (the same answer, and the same work, whether or not the username exists)", body = ErrorBody),
              (status = 429, description = "TOO_MANY_ATTEMPTS: too many failed logins for this username or from this address; nothing was checked; `Retry-After` says when to try again", body = ErrorBody),
              (status = 503, description = "AUTH_BUSY: the password-hash pool is full, retry after `Retry-After`; STORE_UNAVAILABLE", body = ErrorBody)))]
pub async fn login(
    State(s): State<ApiState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<TokenResponse>, ApiError> {
    // Input that could never have signed up is just a failed login: no hints.
    let (Ok(username), Ok(password)) = (
        Username::parse(&body.username),
        Password::parse(&body.password),
    ) else {
        return Err(LoginError::InvalidCredentials.into());
    };
    let user = match s.app.accounts.login(&username, &password, client).await {
        Ok(user) => user,
        Err(e @ LoginError::Throttled { .. }) => return Err(tarpit(&s, e).await),
        Err(e) => return Err(e.into()),
    };
    let refresh = s.app.sessions.start(user.id, user.role).await?;
    Ok(Json(tokens(
        &s,
        user.id,
        user.role,
        refresh.token,
        refresh.expires_at,
    )))
}

/// Holds a 429 for `throttled_answer_delay` before it goes out: the attempt was refused
/// before any hashing, and a client that sends its next guess as soon as it hears back
/// now waits too. Costs a timer, no CPU.
async fn tarpit(s: &ApiState, refused: impl Into<ApiError>) -> ApiError {
    tokio::time::sleep(s.throttled_answer_delay).await;
    refused.into()
}

fn tokens(
    s: &ApiState,
    user_id: UserId,
    role: Role,
    refresh: RefreshToken,
    refresh_expires_at: DateTime<Utc>,
) -> TokenResponse {
    let now = Utc::now();
    TokenResponse {
        access_token: s.tokens.mint(Principal { user_id, role }, now),
        token_type: "Bearer",
        expires_in: s.tokens.lifetime_secs(),
        refresh_token: refresh.expose().to_owned(),
        refresh_expires_in: (refresh_expires_at - now).num_seconds().max(0),
    }
}

#[utoipa::path(post, path = "/api/auth/refresh", operation_id = "refresh", tag = "accounts", request_body = RefreshRequest,
    description = "Trades a refresh token for a new access token and a new refresh token. No password is checked. \
A refresh token works once: presenting it again (a copy in other hands) revokes the whole session.",
    responses((status = 200, body = TokenResponse),
              (status = 401, description = "REFRESH_TOKEN_INVALID: unknown, expired, used before or logged out", body = ErrorBody),
              (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody)))]
pub async fn refresh(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let presented = RefreshToken::parse(&body.refresh_token).map_err(|_| SessionError::Invalid)?;
    let refreshed = s.app.sessions.refresh(&presented).await?;
    Ok(Json(tokens(
        &s,
        refreshed.user_id,
        refreshed.role,
        refreshed.token,
        refreshed.expires_at,
    )))
}

#[utoipa::path(post, path = "/api/auth/logout", operation_id = "logout", tag = "accounts", request_body = RefreshRequest,
    description = "Ends the session the refresh token belongs to: it and every token rotated from the same login stop working, on every api node. \
Access tokens already handed out stay valid until they expire (minutes). Idempotent.",
    responses((status = 204, description = "logged out (also for a token that was unknown or already revoked)"),
              (status = 503, description = "STORE_UNAVAILABLE", body = ErrorBody)))]
pub async fn logout(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    // A token of the wrong shape was never ours: nothing to end.
    if let Ok(token) = RefreshToken::parse(&body.refresh_token) {
        s.app.sessions.logout(&token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
