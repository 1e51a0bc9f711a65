//! A small rush with every kind of issue answer, tallied the way the server's
//! `couponrush_issue_outcomes_total{result}` counts them, so metrics tests can compare.

use crate::client::{CouponSpec, Reply};
use crate::embedded::TestApp;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a [`TestApp::small_rush`] did.
#[derive(Debug, Clone)]
pub struct RushTally {
    pub coupon: Uuid,
    /// Answers by `result` label (`accepted`, `sold_out`, …, `not_found`, `not_active`).
    pub results: BTreeMap<&'static str, u64>,
    /// Issue requests sent, all answered.
    pub requests: u64,
}

impl RushTally {
    pub fn count(&self, result: &str) -> u64 {
        self.results.get(result).copied().unwrap_or(0)
    }
}

/// The `result` label of one issue answer.
fn result_label(r: &Reply) -> &'static str {
    match (r.status, r.str("result"), r.code()) {
        (StatusCode::ACCEPTED, "ACCEPTED", _) => "accepted",
        (StatusCode::OK, "SOLD_OUT", _) => "sold_out",
        (StatusCode::OK, "ALREADY_ISSUED", _) => "already_issued",
        (StatusCode::NOT_FOUND, _, "COUPON_NOT_FOUND") => "not_found",
        (StatusCode::CONFLICT, _, "COUPON_NOT_ACTIVE") => "not_active",
        (StatusCode::SERVICE_UNAVAILABLE, _, _) => "unavailable",
        _ => panic!("unexpected issue answer {:?} {:?}", r.status, r.body),
    }
}

impl TestApp {
    /// `users` users press "get coupon" twice at once for `quantity` coupons; then one
    /// request for a coupon that does not exist and one for a DISABLED coupon.
    pub async fn small_rush(&self, users: usize, quantity: u64) -> RushTally {
        let coupon = self.active_coupon(quantity).await;
        let users: Vec<_> = (0..users).map(|_| self.mint_user()).collect();
        let mut answers = futures::future::join_all(
            users
                .iter()
                .chain(users.iter())
                .map(|(_, token)| self.issue(token, coupon)),
        )
        .await;

        let (_, token) = self.mint_user();
        answers.push(self.issue(&token, Uuid::now_v7()).await);
        let disabled = CouponSpec {
            status: Some("DISABLED"),
            ..CouponSpec::active(1)
        };
        let created = self
            .create_coupon(&self.admin_token, &disabled.to_json())
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let disabled: Uuid = created.str("id").parse().expect("coupon id");
        answers.push(self.issue(&token, disabled).await);

        let mut results = BTreeMap::new();
        for r in &answers {
            *results.entry(result_label(r)).or_default() += 1;
        }
        RushTally {
            coupon,
            results,
            requests: answers.len() as u64,
        }
    }
}
