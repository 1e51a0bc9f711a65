//! The operator's side of a run, through the public API: create the coupon, read its
//! figures, list and replay failed events.

use anyhow::{Context, bail};
use couponrush_auth::{Principal, TokenCodec};
use couponrush_domain::{Role, UserId};
use serde::Deserialize;
use std::time::Duration;
use uuid::Uuid;

pub struct Admin {
    client: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total: u64,
    pub reserved_in_gate: Option<u64>,
    pub persisted: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FailedEvent {
    pub id: Uuid,
    pub status: String,
}

impl Admin {
    /// An admin token minted with the server's secret (any user id: the admin API
    /// checks the role, not the account).
    pub fn new(secret: &[u8], base: String) -> Self {
        let token = TokenCodec::new(secret, Duration::from_secs(3600)).mint(
            Principal {
                user_id: UserId::new(),
                role: Role::Admin,
            },
            chrono::Utc::now(),
        );
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            base,
            token,
        }
    }

    /// Points at another node (e.g. when the first one is down).
    pub fn at(&mut self, base: String) {
        self.base = base;
    }

    pub async fn create_coupon(&self, quantity: u64) -> anyhow::Result<Uuid> {
        let body = serde_json::json!({
            "name": "fault matrix",
            "couponType": "CHICKEN",
            "discountType": "FIXED",
            "discountValue": 1000,
            "totalQuantity": quantity,
            "expiresAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
        });
        let r = self
            .client
            .post(format!("{}/api/coupons", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("creating the coupon: {} {}", r.status(), r.text().await?);
        }
        let v: serde_json::Value = r.json().await?;
        v["id"]
            .as_str()
            .context("coupon id")?
            .parse()
            .context("coupon id")
    }

    pub async fn stats(&self, coupon: Uuid) -> anyhow::Result<Stats> {
        let r = self
            .client
            .get(format!("{}/api/admin/coupons/{coupon}/stats", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("coupon stats: {}", r.status());
        }
        Ok(r.json().await?)
    }

    /// Polls the stats until persisted equals the gate's reservations and stays put for
    /// two reads, or `within` passes; returns the last stats and whether they settled.
    pub async fn settled(&self, coupon: Uuid, within: Duration) -> (Option<Stats>, bool) {
        let deadline = tokio::time::Instant::now() + within;
        let mut previous: Option<Stats> = None;
        loop {
            let now = self.stats(coupon).await.ok();
            if let Some(s) = now {
                let agrees = s.reserved_in_gate.is_none_or(|r| r == s.persisted);
                if agrees && previous == Some(s) {
                    return (Some(s), true);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return (now.or(previous), false);
            }
            previous = now;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn failed_events(&self) -> anyhow::Result<Vec<FailedEvent>> {
        let r = self
            .client
            .get(format!("{}/api/admin/failed-events?limit=1000", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("failed events: {}", r.status());
        }
        Ok(r.json().await?)
    }

    /// Replays one failed event; the answer's status code and body.
    pub async fn replay(&self, id: Uuid) -> anyhow::Result<(u16, String)> {
        let r = self
            .client
            .post(format!("{}/api/admin/failed-events/{id}/replay", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.text().await?))
    }
}
