//! Sign-up and log-in.

use crate::dto::{Credentials, TokenResponse, UserResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use couponrush_auth::Principal;
use couponrush_domain::services::LoginError;
use couponrush_domain::{Password, Username};

#[utoipa::path(post, path = "/api/users/signup", tag = "accounts", request_body = Credentials,
    responses((status = 201, body = UserResponse), (status = 400, body = ErrorBody),
              (status = 409, description = "USERNAME_TAKEN", body = ErrorBody)))]
pub async fn signup(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let username = Username::parse(&body.username)?;
    let password = Password::parse(&body.password)?;
    let user = s.app.accounts.signup(username, &password).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            id: user.id.into_uuid(),
            username: user.username.to_string(),
        }),
    ))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = Credentials,
    responses((status = 200, body = TokenResponse),
              (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody)))]
pub async fn login(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<TokenResponse>, ApiError> {
    // Input that could never have signed up is just a failed login: no hints.
    let (Ok(username), Ok(password)) = (
        Username::parse(&body.username),
        Password::parse(&body.password),
    ) else {
        return Err(LoginError::InvalidCredentials.into());
    };
    let user = s.app.accounts.login(&username, &password).await?;
    let token = s.tokens.mint(
        Principal {
            user_id: user.id,
            role: user.role,
        },
        chrono::Utc::now(),
    );
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: s.tokens.lifetime_secs(),
    }))
}
