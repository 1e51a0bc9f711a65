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
        let body = json!({
            "name": "loadtest rush",
            "couponType": "CHICKEN",
            "discountType": "FIXED",
            "discountValue": 3000,
            "totalQuantity": quantity,
            "expiresAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
        });
        let v = self
            .call(Method::POST, "/api/coupons", Some(admin), Some(body))
            .await
            .context("creating the coupon as admin")?;
        v["id"]
            .as_str()
            .context("coupon answer without id")?
            .parse()
            .context("coupon id")
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
