//! Who the virtual users are and how they get tokens.
//!
//! Default: HS256 tokens minted locally with the server's secret (the issue path trusts a
//! verified token and never reads the users table), for fresh random UUIDv4 user ids.
//! Random, never arrival-ordered: ids minted in arrival order (UUIDv7 made just before
//! the run) turn the unique index's random inserts into sequential ones and flatter the
//! durable path several-fold (FIELD-NOTES). `--signup` creates real accounts instead;
//! the server then assigns time-ordered ids, so the users are shuffled before the rush.

use crate::api::Api;
use crate::client::Target;
use anyhow::Context;
use couponrush_auth::{Principal, TokenCodec};
use couponrush_domain::{Role, UserId};
use http::HeaderValue;
use rand::seq::SliceRandom;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// Tokens outlive any bounded run.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// One virtual user: an id and a ready `Authorization` header value.
#[derive(Debug, Clone)]
pub struct VirtualUser {
    pub id: Uuid,
    pub auth: HeaderValue,
}

fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

/// The secret from the flag or the server's configuration, else `<data_dir>/jwt-secret`.
pub fn load_secret(secret: Option<&str>, data_dir: Option<&Path>) -> anyhow::Result<String> {
    if let Some(s) = secret {
        return Ok(s.to_owned());
    }
    let dir = data_dir.context("no token secret: pass --jwt-secret or --data-dir")?;
    let path = dir.join("jwt-secret");
    let s = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (pass --jwt-secret, --data-dir of the server, or --signup)",
            path.display()
        )
    })?;
    Ok(s.trim().to_owned())
}

/// Mints tokens with the server's secret.
pub struct Minter {
    codec: TokenCodec,
}

impl Minter {
    pub fn new(secret: &str) -> Self {
        Self {
            codec: TokenCodec::new(secret.as_bytes(), TOKEN_LIFETIME),
        }
    }

    fn mint(&self, id: Uuid, role: Role) -> anyhow::Result<HeaderValue> {
        bearer(&self.token(id, role, chrono::Utc::now()))
    }

    /// A bare token (no `Bearer `) for `id`, issued at `now`.
    pub fn token(&self, id: Uuid, role: Role, now: chrono::DateTime<chrono::Utc>) -> String {
        let principal = Principal {
            user_id: UserId::from_uuid(id),
            role,
        };
        self.codec.mint(principal, now)
    }

    pub fn admin(&self) -> anyhow::Result<HeaderValue> {
        self.mint(Uuid::new_v4(), Role::Admin)
    }

    /// `n` users with random (v4) ids.
    pub fn users(&self, n: u64) -> anyhow::Result<Vec<VirtualUser>> {
        (0..n)
            .map(|_| {
                let id = Uuid::new_v4();
                Ok(VirtualUser {
                    id,
                    auth: self.mint(id, Role::User)?,
                })
            })
            .collect()
    }
}

/// `n` real accounts (signup, then login), `concurrency` at a time, in shuffled order.
pub async fn sign_up(
    target: &Target,
    n: u64,
    concurrency: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<VirtualUser>> {
    let run = Uuid::new_v4().simple().to_string();
    let password = format!("lt-{}", &run[..16]);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, 64) {
        let (target, next, run, password) =
            (target.clone(), next.clone(), run.clone(), password.clone());
        tasks.spawn(async move {
            let mut api = Api::new(&target, timeout);
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(made);
                }
                let username = format!("lt-{}-{i}", &run[..8]);
                let id = api.signup(&username, &password).await.context(
                    "signup (a 429 TOO_MANY_ATTEMPTS means the server limits signups per \
                     address: for --signup runs start it with \
                     COUPONRUSH_SIGNUPS_PER_ADDRESS_PER_MIN=0)",
                )?;
                let token = api.login(&username, &password).await?;
                made.push(VirtualUser {
                    id,
                    auth: bearer(&token)?,
                });
            }
        });
    }
    let mut users = Vec::with_capacity(n as usize);
    while let Some(done) = tasks.join_next().await {
        users.extend(done??);
    }
    users.shuffle(&mut rand::thread_rng());
    Ok(users)
}

/// The admin's token from a real login.
pub async fn login_admin(
    target: &Target,
    username: &str,
    password: &str,
    timeout: Duration,
) -> anyhow::Result<HeaderValue> {
    let token = Api::new(target, timeout)
        .login(username, password)
        .await
        .context("admin login")?;
    bearer(&token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_users_are_random_and_verifiable() {
        let minter = Minter::new("a-secret-of-enough-length");
        let users = minter.users(3).unwrap();
        assert!(users.iter().all(|u| u.id.get_version_num() == 4));
        let token = users[0]
            .auth
            .to_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap();
        let p = TokenCodec::new(b"a-secret-of-enough-length", TOKEN_LIFETIME)
            .verify(token)
            .unwrap();
        assert_eq!((p.user_id.into_uuid(), p.role), (users[0].id, Role::User));
    }
}
