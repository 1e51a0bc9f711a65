//! Typed helpers over the HTTP API, so tests read as the walk-through they check.

use crate::embedded::TestApp;
use crate::prometheus::Exposition;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// Status and JSON body of one answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The stable error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    pub fn str(&self, key: &str) -> &str {
        self.body[key].as_str().unwrap_or("")
    }
}

/// `GET url` of a Prometheus endpoint: checks status and content type, then parses
/// the text strictly (see [`Exposition`]).
pub async fn scrape(client: &reqwest::Client, url: &str) -> Exposition {
    let resp = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ctype, "text/plain; version=0.0.4", "GET {url}");
    let text = resp.text().await.expect("metrics body");
    Exposition::parse(&text).unwrap_or_else(|e| {
        panic!(
            "GET {url}: {e}
{text}"
        )
    })
}

/// A coupon to create; `to_json` gives the request body.
#[derive(Debug, Clone)]
pub struct CouponSpec {
    pub name: String,
    pub quantity: u64,
    pub expires_in: chrono::Duration,
    pub status: Option<&'static str>,
}

impl CouponSpec {
    pub fn active(quantity: u64) -> Self {
        Self {
            name: "Friday chicken".into(),
            quantity,
            expires_in: chrono::Duration::days(1),
            status: None,
        }
    }
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "couponType": "CHICKEN",
            "discountType": "FIXED",
            "discountValue": 3000,
            "totalQuantity": self.quantity,
            "expiresAt": (chrono::Utc::now() + self.expires_in).to_rfc3339(),
        });
        if let Some(s) = self.status {
            v["status"] = json!(s);
        }
        v
    }
}

impl TestApp {
    /// Any request; `token` adds a bearer header, `body` a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await.0
    }

    /// [`TestApp::call`] with extra request headers; also returns the response headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (Reply, HeaderMap) {
        let mut req = self.client.request(method, self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (Reply { status, body }, headers)
    }

    pub async fn signup(&self, username: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/users/signup",
            None,
            Some(&json!({"username": username, "password": password})),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(&json!({"username": username, "password": password})),
        )
        .await
    }

    pub async fn login_ok(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "login of {username}: {:?}",
            r.body
        );
        r.str("accessToken").to_owned()
    }

    pub async fn create_coupon(&self, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, "/api/coupons", Some(token), Some(body))
            .await
    }

    /// Creates an ACTIVE coupon as admin and returns its id.
    pub async fn active_coupon(&self, quantity: u64) -> Uuid {
        let r = self
            .create_coupon(
                &self.admin_token.clone(),
                &CouponSpec::active(quantity).to_json(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.str("id").parse().expect("coupon id")
    }

    pub async fn issue(&self, token: &str, coupon: Uuid) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/coupons/{coupon}/issue"),
            Some(token),
            None,
        )
        .await
    }

    /// An issue request carrying the waiting room's admission token.
    pub async fn issue_admitted(&self, token: &str, coupon: Uuid, admission: &str) -> Reply {
        self.call_with(
            Method::POST,
            &format!("/api/coupons/{coupon}/issue"),
            Some(token),
            None,
            &[("Admission-Token", admission)],
        )
        .await
        .0
    }

    /// `GET /api/coupons/{id}/queue`: where the caller stands in the line.
    pub async fn queue(&self, token: &str, coupon: Uuid) -> Reply {
        self.call(
            Method::GET,
            &format!("/api/coupons/{coupon}/queue"),
            Some(token),
            None,
        )
        .await
    }

    /// A poll carrying a place ticket (`Place-Ticket`), as a client that kept the one
    /// of its last QUEUED or WAITING answer sends it.
    pub async fn queue_with_ticket(&self, token: &str, coupon: Uuid, ticket: &str) -> Reply {
        self.call_with(
            Method::GET,
            &format!("/api/coupons/{coupon}/queue"),
            Some(token),
            None,
            &[("Place-Ticket", ticket)],
        )
        .await
        .0
    }

    /// An issue request carrying a place ticket (`Place-Ticket`).
    pub async fn issue_with_ticket(&self, token: &str, coupon: Uuid, ticket: &str) -> Reply {
        self.call_with(
            Method::POST,
            &format!("/api/coupons/{coupon}/issue"),
            Some(token),
            None,
            &[("Place-Ticket", ticket)],
        )
        .await
        .0
    }

    /// The admin view of a coupon's waiting room.
    pub async fn room_state(&self, coupon: Uuid) -> Reply {
        self.call(
            Method::GET,
            &format!("/api/admin/coupons/{coupon}/waiting-room"),
            Some(&self.admin_token),
            None,
        )
        .await
    }

    /// Sets a coupon's waiting room (mode, pre-queue order, rate bounds) as admin.
    pub async fn configure_room(&self, coupon: Uuid, body: &Value) -> Reply {
        self.call(
            Method::PUT,
            &format!("/api/admin/coupons/{coupon}/waiting-room"),
            Some(&self.admin_token),
            Some(body),
        )
        .await
    }

    pub async fn issue_state(&self, token: &str, coupon: Uuid) -> Reply {
        self.call(
            Method::GET,
            &format!("/api/coupons/{coupon}/issue"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn my_coupons(&self, token: &str) -> Reply {
        self.call(Method::GET, "/api/me/coupons", Some(token), None)
            .await
    }

    pub async fn use_coupon(&self, token: &str, coupon: Uuid) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/coupons/{coupon}/use"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn set_status(&self, token: &str, coupon: Uuid, status: &str) -> Reply {
        self.call(
            Method::PATCH,
            &format!("/api/coupons/{coupon}/status"),
            Some(token),
            Some(&json!({"status": status})),
        )
        .await
    }

    /// This server's `/metrics`, parsed strictly.
    pub async fn metrics(&self) -> Exposition {
        scrape(&self.client, &self.url("/metrics")).await
    }

    /// `/metrics` once the waiting room's ticker has published the rooms of the
    /// coupons asked about (their families carry a `coupon` label, so they appear with
    /// the first tick after a coupon's first request: at most `room_tick_ms` later).
    pub async fn metrics_after_a_room_tick(&self) -> Exposition {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let m = self.metrics().await;
            if m.family("couponrush_room_waiting").is_some()
                || tokio::time::Instant::now() >= deadline
            {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn coupon_stats(&self, coupon: Uuid) -> Reply {
        let token = self.admin_token.clone();
        self.call(
            Method::GET,
            &format!("/api/admin/coupons/{coupon}/stats"),
            Some(&token),
            None,
        )
        .await
    }

    /// The failed events (dead letters awaiting replay), as the admin sees them.
    pub async fn failed_events(&self) -> Reply {
        let token = self.admin_token.clone();
        self.call(Method::GET, "/api/admin/failed-events", Some(&token), None)
            .await
    }

    /// The gate's side of the coupon's stats: (reserved, remaining), `None` if unseeded.
    pub async fn gate_stock(&self, coupon: Uuid) -> (Option<u64>, Option<u64>) {
        let stats = self.coupon_stats(coupon).await.body;
        (
            stats["reservedInGate"].as_u64(),
            stats["remainingInGate"].as_u64(),
        )
    }
}
