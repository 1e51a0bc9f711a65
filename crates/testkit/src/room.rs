//! Waiting-room helpers shared by the tests that check what a wait leaves behind.

use crate::client::CouponSpec;
use crate::embedded::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One waiter's wait in an ALWAYS room, as the client saw it: the server's measure of
/// the same wait must lie within `at_least ..= at_most` seconds.
#[derive(Debug, Clone, Copy)]
pub struct AdmittedWait {
    pub coupon: Uuid,
    /// From the QUEUED answer to the opening: admission cannot come sooner.
    pub at_least: f64,
    /// From sending the request that joined to the ADMITTED answer.
    pub at_most: f64,
}

impl TestApp {
    /// A coupon whose room is ALWAYS on, opening `opens_in` from now; one fresh user
    /// joins at once and polls every 50 ms until told ADMITTED (within 30 s).
    pub async fn one_admitted_wait(&self, opens_in: Duration) -> AdmittedWait {
        let mut body = CouponSpec::active(5).to_json();
        body["waitingRoom"] = json!("ALWAYS");
        let opens_at =
            chrono::Utc::now() + chrono::Duration::from_std(opens_in).expect("a short delay");
        body["opensAt"] = json!(opens_at.to_rfc3339());
        let created = self.create_coupon(&self.admin_token.clone(), &body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let coupon: Uuid = created.str("id").parse().expect("coupon id");
        // The opening as the server keeps it (it may store less precision than sent).
        let opens_at: chrono::DateTime<chrono::Utc> =
            created.str("opensAt").parse().expect("opensAt");
        let token = self.mint_user().1;
        let sent = Instant::now();
        let joined = self.issue(&token, coupon).await;
        assert_eq!(joined.str("result"), "QUEUED", "{:?}", joined.body);
        let until_open = (opens_at - chrono::Utc::now()).to_std().unwrap_or_default();
        loop {
            let r = self.queue(&token, coupon).await;
            match r.str("status") {
                "ADMITTED" => break,
                "WAITING" => {}
                other => panic!("waiting or admitted, got {other}: {:?}", r.body),
            }
            assert!(sent.elapsed() < Duration::from_secs(30), "never admitted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        AdmittedWait {
            coupon,
            at_least: until_open.as_secs_f64(),
            at_most: sent.elapsed().as_secs_f64(),
        }
    }
}
