//! The users of a fault run: fresh users (random v4 ids, tokens minted with the
//! server's secret) arriving at a steady rate, one press each, spread over the serving
//! nodes; every answer goes into the history.
//!
//! Like a load balancer, a user whose node refuses the connection tries the next node:
//! that request never reached a server, so it cannot have taken a unit. Anything that
//! did reach a server and got no answer in time is `Unknown`.

use crate::history::{Answer, Kind, classify};
use couponrush_auth::{Principal, TokenCodec};
use couponrush_domain::{Role, UserId};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

pub struct Crowd {
    client: reqwest::Client,
    tokens: TokenCodec,
    nodes: Vec<String>,
    coupon: Uuid,
    /// When the run started: every answer's times count from it.
    pub started: Instant,
}

/// How a wave of users behaves.
#[derive(Debug, Clone, Copy)]
pub struct Wave {
    pub users: u64,
    pub per_sec: u64,
    /// Presses per user: a user whose answer was not definite presses again (after
    /// `retry_after`), up to this many times in all.
    pub presses: u32,
    pub retry_after: Duration,
}

impl Crowd {
    pub fn new(secret: &[u8], nodes: Vec<String>, coupon: Uuid, timeout: Duration) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .tcp_nodelay(true)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            tokens: TokenCodec::new(secret, Duration::from_secs(3600)),
            nodes,
            coupon,
            started: Instant::now(),
        }
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Sends the wave and returns every answer (when the last user is done).
    pub async fn send(self: &Arc<Self>, wave: Wave) -> Vec<Answer> {
        let gap = Duration::from_secs_f64(1.0 / wave.per_sec.max(1) as f64);
        let begun = Instant::now();
        let mut users = Vec::with_capacity(wave.users as usize);
        for i in 0..wave.users {
            tokio::time::sleep_until(begun + gap * i as u32).await;
            let me = self.clone();
            users.push(tokio::spawn(async move { me.user(i as usize, wave).await }));
        }
        let mut history = Vec::new();
        for u in users {
            history.extend(u.await.expect("a user task"));
        }
        history
    }

    async fn user(&self, index: usize, wave: Wave) -> Vec<Answer> {
        let id = UserId::new();
        let token = self.tokens.mint(
            Principal {
                user_id: id,
                role: Role::User,
            },
            chrono::Utc::now(),
        );
        let mut answers = Vec::new();
        for press in 0..wave.presses.max(1) {
            if press > 0 {
                tokio::time::sleep(wave.retry_after).await;
            }
            let a = self.press(id.into_uuid(), &token, index).await;
            let definite = a.kind.is_definite();
            answers.push(a);
            if definite {
                break;
            }
        }
        answers
    }

    /// One press: the user's node first, the others if it refuses the connection.
    async fn press(&self, user: Uuid, token: &str, index: usize) -> Answer {
        let sent_ms = self.now_ms();
        let mut last = (0, Kind::NotDelivered, String::new());
        for k in 0..self.nodes.len() {
            let node = &self.nodes[(index + k) % self.nodes.len()];
            let sent = self
                .client
                .post(format!("{node}/api/coupons/{}/issue", self.coupon))
                .bearer_auth(token)
                .send()
                .await;
            last = match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    match r.bytes().await {
                        Ok(body) => {
                            let (kind, detail) = classify(status, &body);
                            (status, kind, detail)
                        }
                        Err(e) => (status, Kind::Unknown, format!("body: {e}")),
                    }
                }
                Err(e) if e.is_connect() => (0, Kind::NotDelivered, format!("connect: {e}")),
                Err(e) => (0, Kind::Unknown, transport_error(&e)),
            };
            if last.1 != Kind::NotDelivered {
                break;
            }
        }
        Answer {
            user,
            sent_ms,
            done_ms: self.now_ms(),
            status: last.0,
            kind: last.1,
            detail: last.2,
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else {
        format!("transport: {e}")
    }
}
