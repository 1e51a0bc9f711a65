//! Admission tokens of the waiting room: HS256, bound to one user and one coupon,
//! valid for tens of seconds. Signed with a key derived from the server secret, so an
//! admission token is never a valid access token and the other way round.

use crate::labelled_key::LabelledKey;
use couponrush_domain::ports::AdmissionSigner;
use couponrush_domain::waiting_room::AdmissionClaim;
use couponrush_domain::{CouponId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct AdmissionClaims {
    sub: Uuid,
    /// The coupon the admission is for.
    cpn: Uuid,
    /// Valid until, in milliseconds since the epoch (the line's clock).
    until: i64,
    /// The generation of the line that gave it: the line honours a token of a line it
    /// has since lost (`WaitingLine::take_admission`). Required: a token without one
    /// (signed before generations existed) is refused, and its holder, still admitted
    /// in the line, is handed a new one at the next poll.
    generation: u64,
    /// `until` in seconds, rounded up, for the library's expiry check.
    exp: i64,
}

pub struct AdmissionCodec {
    key: LabelledKey,
}

impl AdmissionCodec {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: LabelledKey::new(b"couponrush admission token v1", secret),
        }
    }
}

impl AdmissionSigner for AdmissionCodec {
    fn sign(&self, coupon: CouponId, user: UserId, claim: AdmissionClaim) -> String {
        let claims = AdmissionClaims {
            sub: user.into_uuid(),
            cpn: coupon.into_uuid(),
            until: claim.valid_until_ms,
            generation: claim.generation,
            exp: claim.valid_until_ms.div_euclid(1000) + 1,
        };
        self.key.sign(&claims)
    }

    fn verify(&self, token: &str, coupon: CouponId, user: UserId) -> Option<AdmissionClaim> {
        let claims: AdmissionClaims = self.key.verify(token)?;
        (claims.sub == user.into_uuid() && claims.cpn == coupon.into_uuid()).then_some(
            AdmissionClaim {
                valid_until_ms: claims.until,
                generation: claims.generation,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Principal, TokenCodec};
    use couponrush_domain::Role;

    fn in_a_minute() -> AdmissionClaim {
        AdmissionClaim {
            valid_until_ms: chrono::Utc::now().timestamp_millis() + 60_000,
            generation: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_token_is_bound_to_its_user_and_coupon() {
        let codec = AdmissionCodec::new(b"server secret");
        let (coupon, user) = (CouponId::new(), UserId::new());
        let until = in_a_minute();
        let token = codec.sign(coupon, user, until);
        assert_eq!(codec.verify(&token, coupon, user), Some(until));
        assert_eq!(codec.verify(&token, CouponId::new(), user), None);
        assert_eq!(codec.verify(&token, coupon, UserId::new()), None);
        assert_eq!(
            AdmissionCodec::new(b"another secret").verify(&token, coupon, user),
            None
        );
        assert_eq!(codec.verify("garbage", coupon, user), None);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let codec = AdmissionCodec::new(b"server secret");
        let (coupon, user) = (CouponId::new(), UserId::new());
        let past = AdmissionClaim {
            valid_until_ms: chrono::Utc::now().timestamp_millis() - 5_000,
            generation: 1,
        };
        assert_eq!(
            codec.verify(&codec.sign(coupon, user, past), coupon, user),
            None
        );
    }

    #[test]
    fn access_and_admission_tokens_do_not_stand_in_for_each_other() {
        let secret = b"server secret";
        let (admission, access) = (
            AdmissionCodec::new(secret),
            TokenCodec::new(secret, std::time::Duration::from_secs(600)),
        );
        let user = UserId::new();
        let coupon = CouponId::new();
        let bearer = access.mint(
            Principal {
                user_id: user,
                role: Role::User,
            },
            chrono::Utc::now(),
        );
        assert_eq!(admission.verify(&bearer, coupon, user), None);
        assert!(
            access
                .verify(&admission.sign(coupon, user, in_a_minute()))
                .is_err()
        );
    }
}
