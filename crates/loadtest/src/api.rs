//! Typed calls to the couponrush API outside the measured path: accounts, creating the
//! coupon, reading its stats. One connection, one call at a time.

use crate::client::{Conn, Target};
use anyhow::Context;
use bytes::Bytes;
use http::{HeaderValue, Method, Uri};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

pub fn coupon_path(id: Uuid, suffix: &str) -> Uri {
    format!("/api/coupons/{id}{suffix}")
        .parse()
        .expect("a UUID path is a valid URI")
}

/// `GET /api/admin/coupons/{id}/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponStats {
    pub total: u64,
    pub reserved_in_gate: Option<u64>,
    pub remaining_in_gate: Option<u64>,
    pub persisted: u64,
}

/// `GET /api/admin/coupons/{id}/waiting-room`: the room as the answering node saw it at
/// its last tick.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomState {
    pub mode: String,
    pub prequeue: String,
    /// OFF, ON or DRAINING.
    pub state: String,
    pub waiting: u64,
    pub admitted_total: u64,
    pub abandoned_total: u64,
    /// The controller's admission rate (the limit), per second.
    pub admission_rate: f64,
    /// Admissions per second, as the server measured them.
    pub admitted_per_second: f64,
    pub min_rate: f64,
    pub max_rate: f64,
    pub p95_ms: Option<f64>,
    pub remaining: Option<u64>,
}

/// What a created coupon is like beyond its quantity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CouponOptions {
    /// `"waitingRoom"`: OFF, ALWAYS or AUTO (`None`: the server's default, AUTO).
    pub waiting_room: Option<&'static str>,
    /// `"prequeue"`: FIFO or SHUFFLED.
    pub prequeue: Option<&'static str>,
    /// `"opensAt"`.
    pub opens_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub struct Api {
    target: Target,
    conn: Conn,
    timeout: Duration,
}

impl Api {
    pub fn new(target: &Target, timeout: Duration) -> Self {
        Self {
            target: target.clone(),
            conn: Conn::new(target),
            timeout,
        }
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let uri: Uri = path.parse()?;
        let body = body.map(|b| Bytes::from(b.to_string()));
        let req = self.target.request(method.clone(), &uri, auth, body);
        let answer = self
            .conn
            .call(req, self.timeout)
            .await
            .with_context(|| format!("{method} {path}"))?;
        serde_json::from_slice(&answer)
            .with_context(|| format!("{method} {path}: answer is not JSON"))
    }

    pub async fn signup(&mut self, username: &str, password: &str) -> anyhow::Result<Uuid> {
        let v = self
            .call(
                Method::POST,
                "/api/users/signup",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await?;
        v["id"]
            .as_str()
            .context("signup answer without id")?
            .parse()
            .context("signup id")
    }

    pub async fn login(&mut self, username: &str, password: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await?;
        Ok(v["accessToken"]
            .as_str()
            .context("login answer without accessToken")?
            .to_owned())
    }

    /// Creates an ACTIVE coupon of `quantity`, valid for a day.
    pub async fn create_coupon(
        &mut self,
        admin: &HeaderValue,
        quantity: u64,
    ) -> anyhow::Result<Uuid> {
        self.create_coupon_with(admin, quantity, &CouponOptions::default())
            .await
    }

    /// `create_coupon`, with a waiting room and an opening time.
    pub async fn create_coupon_with(
        &mut self,
        admin: &HeaderValue,
        quantity: u64,
        options: &CouponOptions,
    ) -> anyhow::Result<Uuid> {
        let mut body = json!({
            "name": "loadtest rush",
            "couponType": "CHICKEN",
            "discountType": "FIXED",
            "discountValue": 3000,
            "totalQuantity": quantity,
            "expiresAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
        });
        if let Some(mode) = options.waiting_room {
            body["waitingRoom"] = mode.into();
        }
        if let Some(order) = options.prequeue {
            body["prequeue"] = order.into();
        }
        if let Some(at) = options.opens_at {
            body["opensAt"] = at.to_rfc3339().into();
        }
        let v = self
            .call(Method::POST, "/api/coupons", Some(admin), Some(body))
            .await
            .context("creating the coupon as admin")?;
        for (field, asked) in [
            ("waitingRoom", options.waiting_room),
            ("prequeue", options.prequeue),
        ] {
            if let Some(asked) = asked {
                anyhow::ensure!(
                    v[field].as_str() == Some(asked),
                    "the server answered {field} {} for a coupon created with {asked:?}: \
                     does it have the waiting room?",
                    v[field]
                );
            }
        }
        v["id"]
            .as_str()
            .context("coupon answer without id")?
            .parse()
            .context("coupon id")
    }

    pub async fn room_state(
        &mut self,
        admin: &HeaderValue,
        coupon: Uuid,
    ) -> anyhow::Result<RoomState> {
        let v = self
            .call(
                Method::GET,
                &format!("/api/admin/coupons/{coupon}/waiting-room"),
                Some(admin),
                None,
            )
            .await?;
        serde_json::from_value(v).context("waiting-room answer")
    }

    pub async fn stats(
        &mut self,
        admin: &HeaderValue,
        coupon: Uuid,
    ) -> anyhow::Result<CouponStats> {
        let v = self
            .call(
                Method::GET,
                &format!("/api/admin/coupons/{coupon}/stats"),
                Some(admin),
                None,
            )
            .await?;
        serde_json::from_value(v).context("stats answer")
    }
}
