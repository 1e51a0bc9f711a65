//! The flash-sale rush: 1,000 users each press "get coupon" twice at once for 100
//! coupons. Exactly 100 are issued, to 100 different users, and every ACCEPTED user
//! finds theirs.

use couponrush_testkit::TestApp;
use reqwest::StatusCode;
use std::collections::{HashMap, HashSet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rush_issues_exactly_the_quantity_once_per_user() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(100).await;
    let users: Vec<_> = (0..1000).map(|_| app.mint_user()).collect();

    let requests = users.iter().chain(users.iter()).map(|(id, token)| {
        let app = &app;
        async move { (*id, token.clone(), app.issue(token, coupon).await) }
    });
    let answers = futures::future::join_all(requests).await;

    let mut accepted: HashMap<_, String> = HashMap::new();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for (user, token, reply) in answers {
        let result = reply.str("result").to_owned();
        match result.as_str() {
            "ACCEPTED" => {
                assert_eq!(reply.status, StatusCode::ACCEPTED);
                assert!(
                    accepted.insert(user, token).is_none(),
                    "user {user} was ACCEPTED twice"
                );
            }
            "SOLD_OUT" | "ALREADY_ISSUED" => assert_eq!(reply.status, StatusCode::OK),
            other => panic!(
                "unexpected answer {other:?}: {:?} {:?}",
                reply.status, reply.body
            ),
        }
        *outcomes.entry(result).or_default() += 1;
    }
    assert_eq!(accepted.len(), 100, "outcomes: {outcomes:?}");
    assert_eq!(
        outcomes.values().sum::<usize>(),
        2000,
        "every request got an answer"
    );

    let rows = app.persisted_holders(coupon).await;
    assert_eq!(rows.len(), 100, "exactly the quantity is persisted");
    let distinct: HashSet<_> = rows.iter().collect();
    assert_eq!(distinct.len(), 100, "no user holds two rows");
    let accepted_ids: HashSet<_> = accepted.keys().map(|u| *u.as_uuid()).collect();
    assert_eq!(
        distinct,
        accepted_ids.iter().collect(),
        "the persisted users are exactly the ACCEPTED ones"
    );

    for token in accepted.values() {
        let mine = app.my_coupons(token).await;
        let list = mine.body.as_array().expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["coupon"]["id"], coupon.to_string());
    }
    let stats = app.coupon_stats(coupon).await.body;
    assert_eq!(
        (
            stats["persisted"].as_u64(),
            stats["reservedInGate"].as_u64()
        ),
        (Some(100), Some(100))
    );
    assert_eq!(stats["remainingInGate"].as_u64(), Some(0));
    app.stop().await;
}
