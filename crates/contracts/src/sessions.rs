//! The [`SessionStore`] contract: refresh tokens rotate once, a used one presented again
//! kills its family, logout kills one family. Call [`run_all`] from an adapter's test
//! with a fresh store; each check makes its own families and passes its own `now`, so
//! the checks do not see each other's rows and need no waiting.

use chrono::{DateTime, Duration, Utc};
use couponrush_domain::ports::SessionStore;
use couponrush_domain::{
    RefreshToken, RefreshTokenHash, Role, RotateOutcome, SessionFamily, StoredRefreshToken, UserId,
};
use std::sync::Arc;

/// Runs every check on `store`.
pub async fn run_all<S: SessionStore + ?Sized + 'static>(store: Arc<S>) {
    let s = &*store;
    a_token_rotates_once_and_its_successor_rotates(s).await;
    a_used_token_presented_again_revokes_its_family(s).await;
    unknown_tokens_are_invalid_and_change_nothing(s).await;
    tokens_expire(s).await;
    logout_revokes_its_family_only(s).await;
    concurrent_rotations_of_one_token_have_one_winner(store.clone()).await;
    expired_tokens_are_purged_and_live_ones_kept(s).await;
}

/// Now, cut to whole milliseconds (what every store keeps).
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("time in range")
}

fn new_hash() -> RefreshTokenHash {
    RefreshToken::generate().hash()
}

/// A login at `at`: the first token of a new family, living an hour.
struct Login {
    token: RefreshTokenHash,
    family: SessionFamily,
    user_id: UserId,
    role: Role,
}

async fn login<S: SessionStore + ?Sized>(store: &S, role: Role, at: DateTime<Utc>) -> Login {
    let l = Login {
        token: new_hash(),
        family: SessionFamily::new(),
        user_id: UserId::new(),
        role,
    };
    store
        .insert_refresh_token(&StoredRefreshToken {
            hash: l.token.clone(),
            family: l.family,
            user_id: l.user_id,
            role,
            issued_at: at,
            expires_at: at + Duration::hours(1),
        })
        .await
        .expect("insert refresh token");
    l
}

impl Login {
    fn rotated(&self) -> RotateOutcome {
        RotateOutcome::Rotated {
            family: self.family,
            user_id: self.user_id,
            role: self.role,
        }
    }
    fn reused(&self) -> RotateOutcome {
        RotateOutcome::Reused {
            family: self.family,
        }
    }
}

/// Rotates `old` at `at` into a fresh hash living an hour; returns both.
async fn rotate<S: SessionStore + ?Sized>(
    store: &S,
    old: &RefreshTokenHash,
    at: DateTime<Utc>,
) -> (RotateOutcome, RefreshTokenHash) {
    let next = new_hash();
    let outcome = store
        .rotate_refresh_token(old, &next, at + Duration::hours(1), at)
        .await
        .expect("rotate refresh token");
    (outcome, next)
}

pub async fn a_token_rotates_once_and_its_successor_rotates<S: SessionStore + ?Sized>(store: &S) {
    let t = now();
    for role in [Role::User, Role::Admin] {
        let l = login(store, role, t).await;
        let (first, t1) = rotate(store, &l.token, t).await;
        assert_eq!(
            first,
            l.rotated(),
            "a stored token rotates, keeping user and role"
        );
        let (second, t2) = rotate(store, &t1, t + Duration::seconds(1)).await;
        assert_eq!(
            second,
            l.rotated(),
            "the successor rotates in the same family"
        );
        let (third, _) = rotate(store, &t2, t + Duration::seconds(2)).await;
        assert_eq!(third, l.rotated(), "and its successor");
    }
}

pub async fn a_used_token_presented_again_revokes_its_family<S: SessionStore + ?Sized>(store: &S) {
    let t = now();
    let l = login(store, Role::User, t).await;
    let bystander = login(store, Role::User, t).await;
    let (_, t1) = rotate(store, &l.token, t).await;
    let (_, t2) = rotate(store, &t1, t).await;

    let (replay, t3) = rotate(store, &l.token, t + Duration::seconds(1)).await;
    assert_eq!(
        replay,
        l.reused(),
        "a used token presented again is a reuse"
    );
    let (newest, _) = rotate(store, &t2, t + Duration::seconds(2)).await;
    assert_eq!(
        newest,
        RotateOutcome::Invalid,
        "the family's newest token is revoked by the reuse"
    );
    let (never_stored, _) = rotate(store, &t3, t + Duration::seconds(2)).await;
    assert_eq!(
        never_stored,
        RotateOutcome::Invalid,
        "a reuse stores no successor"
    );
    let (used_again, _) = rotate(store, &t1, t + Duration::seconds(3)).await;
    assert_eq!(
        used_again,
        l.reused(),
        "any used token of the family stays a reuse"
    );
    let (other, _) = rotate(store, &bystander.token, t + Duration::seconds(3)).await;
    assert_eq!(other, bystander.rotated(), "other families are untouched");
}

pub async fn unknown_tokens_are_invalid_and_change_nothing<S: SessionStore + ?Sized>(store: &S) {
    let t = now();
    let (outcome, next) = rotate(store, &new_hash(), t).await;
    assert_eq!(outcome, RotateOutcome::Invalid);
    let (successor, _) = rotate(store, &next, t).await;
    assert_eq!(
        successor,
        RotateOutcome::Invalid,
        "an invalid rotation stores no successor"
    );
    assert!(
        !store.revoke_family(&new_hash(), t).await.unwrap(),
        "logout with an unknown token"
    );
}

pub async fn tokens_expire<S: SessionStore + ?Sized>(store: &S) {
    let t = now();
    let l = login(store, Role::User, t).await;
    let expiry = t + Duration::hours(1);
    let (at_expiry, _) = rotate(store, &l.token, expiry).await;
    assert_eq!(
        at_expiry,
        RotateOutcome::Invalid,
        "a token is refused from its expires_at on"
    );
    let just_before = expiry - Duration::milliseconds(1);
    let (before, t1) = rotate(store, &l.token, just_before).await;
    assert_eq!(
        before,
        l.rotated(),
        "an expired attempt spent nothing: the token was still live a moment before"
    );
    // The successor lives from its own rotation, an hour after `just_before`.
    let (late, _) = rotate(store, &t1, just_before + Duration::hours(1)).await;
    assert_eq!(
        late,
        RotateOutcome::Invalid,
        "the successor expires at new_expires_at"
    );
    let (in_time, _) = rotate(store, &t1, expiry + Duration::minutes(30)).await;
    assert_eq!(in_time, l.rotated(), "and not before");
}

pub async fn logout_revokes_its_family_only<S: SessionStore + ?Sized>(store: &S) {
    let t = now();
    let l = login(store, Role::User, t).await;
    let other = login(store, Role::User, t).await;
    let (_, t1) = rotate(store, &l.token, t).await;
    let (_, t2) = rotate(store, &t1, t).await;

    assert!(store.revoke_family(&t2, t).await.unwrap(), "logout");
    assert_eq!(rotate(store, &t2, t).await.0, RotateOutcome::Invalid);
    assert!(
        store.revoke_family(&t2, t).await.unwrap(),
        "a second logout still knows the token"
    );
    // Its used tokens are refused too; presented, they are replays (see the port).
    assert_eq!(rotate(store, &t1, t).await.0, l.reused());
    assert_eq!(rotate(store, &other.token, t).await.0, other.rotated());

    // Logging out with an older, used token ends the live one too.
    let m = login(store, Role::Admin, t).await;
    let (_, m1) = rotate(store, &m.token, t).await;
    assert!(store.revoke_family(&m.token, t).await.unwrap());
    assert_eq!(rotate(store, &m1, t).await.0, RotateOutcome::Invalid);
}

/// 16 tasks present the same token at once (a double-clicked refresh, or a thief racing
/// the client): one rotates, the rest are reuses, and the winner's successor is revoked.
/// Transient errors are retried: the port says an error changes nothing.
pub async fn concurrent_rotations_of_one_token_have_one_winner<
    S: SessionStore + ?Sized + 'static,
>(
    store: Arc<S>,
) {
    let t = now();
    let l = login(&*store, Role::User, t).await;
    let tasks = (0..16).map(|_| {
        let (store, old) = (store.clone(), l.token.clone());
        tokio::spawn(async move {
            let next = new_hash();
            for _ in 0..100 {
                match store
                    .rotate_refresh_token(&old, &next, t + Duration::hours(1), t)
                    .await
                {
                    Ok(outcome) => return (outcome, next),
                    Err(e) if e.is_transient() => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    Err(e) => panic!("rotate: {e}"),
                }
            }
            panic!("rotation stayed unavailable");
        })
    });
    let results: Vec<(RotateOutcome, RefreshTokenHash)> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners: Vec<&RefreshTokenHash> = results
        .iter()
        .filter(|(o, _)| *o == l.rotated())
        .map(|(_, next)| next)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins: {results:?}");
    assert!(
        results
            .iter()
            .all(|(o, _)| *o == l.rotated() || *o == l.reused()),
        "every other one is a reuse: {results:?}"
    );
    assert_eq!(
        rotate(&*store, winners[0], t).await.0,
        RotateOutcome::Invalid,
        "the winner's successor is revoked with its family"
    );
}

/// Last: it deletes every row that expired before now, the other checks' included.
pub async fn expired_tokens_are_purged_and_live_ones_kept<S: SessionStore + ?Sized>(store: &S) {
    let t = now();
    let expired: Vec<Login> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(login(store, Role::User, t - Duration::hours(2)).await);
        }
        v
    };
    let live = login(store, Role::User, t).await;
    // In batches of two: the caller's loop, as Sessions::purge_expired runs it.
    let mut purged = 0;
    loop {
        let n = store.purge_expired(t, 2).await.expect("purge");
        assert!(n <= 2, "a batch is at most its limit");
        purged += n;
        if n < 2 {
            break;
        }
    }
    assert!(
        purged >= 5,
        "the five expired tokens (and older ones) went: {purged}"
    );
    for l in &expired {
        assert!(
            !store.revoke_family(&l.token, t).await.unwrap(),
            "a purged token is unknown"
        );
    }
    let (outcome, _) = rotate(store, &live.token, t).await;
    assert_eq!(outcome, live.rotated(), "a live token is kept");
    assert_eq!(
        store.purge_expired(t, 100).await.unwrap(),
        0,
        "nothing more to purge"
    );
}
