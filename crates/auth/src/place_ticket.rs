//! Place tickets of the waiting room: a waiter's place (line generation and order
//! number) carried by the waiter, so a line lost with its store is rebuilt from those
//! still polling. HS256 with a key derived from the server secret under a label of its
//! own, so a place ticket never passes as an admission or access token, nor the other
//! way round.

use crate::labelled_key::LabelledKey;
use couponrush_domain::ports::PlaceSigner;
use couponrush_domain::waiting_room::Seat;
use couponrush_domain::{CouponId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct PlaceClaims {
    sub: Uuid,
    /// The coupon whose line the place is in.
    cpn: Uuid,
    /// The line's generation.
    #[serde(rename = "gen")]
    generation: u64,
    /// The place's order number in it.
    ord: u64,
    /// Expiry in seconds, rounded up (the library checks it).
    exp: i64,
}

pub struct PlaceTicketCodec {
    key: LabelledKey,
}

impl PlaceTicketCodec {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: LabelledKey::new(b"couponrush place ticket v1", secret),
        }
    }
}

impl PlaceSigner for PlaceTicketCodec {
    fn sign(&self, coupon: CouponId, user: UserId, seat: Seat, expires_at_ms: i64) -> String {
        let claims = PlaceClaims {
            sub: user.into_uuid(),
            cpn: coupon.into_uuid(),
            generation: seat.generation,
            ord: seat.order,
            exp: expires_at_ms.div_euclid(1000) + 1,
        };
        self.key.sign(&claims)
    }

    fn verify(&self, ticket: &str, coupon: CouponId, user: UserId) -> Option<Seat> {
        let claims: PlaceClaims = self.key.verify(ticket)?;
        (claims.sub == user.into_uuid() && claims.cpn == coupon.into_uuid()).then_some(Seat {
            generation: claims.generation,
            order: claims.ord,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdmissionCodec, Principal, TokenCodec};
    use couponrush_domain::Role;
    use couponrush_domain::ports::AdmissionSigner;
    use couponrush_domain::waiting_room::AdmissionClaim;

    fn in_a_minute() -> i64 {
        chrono::Utc::now().timestamp_millis() + 60_000
    }

    /// A seat as the lines make them: a generation in ms, an order of ms × 1024.
    fn seat() -> Seat {
        Seat {
            generation: 1_764_900_000_000,
            order: 1_764_900_000_123 * 1024 + 7,
        }
    }

    #[test]
    fn a_ticket_holds_its_seat_for_its_user_and_coupon_only() {
        let codec = PlaceTicketCodec::new(b"server secret");
        let (coupon, user) = (CouponId::new(), UserId::new());
        let ticket = codec.sign(coupon, user, seat(), in_a_minute());
        assert_eq!(codec.verify(&ticket, coupon, user), Some(seat()));
        assert_eq!(codec.verify(&ticket, CouponId::new(), user), None);
        assert_eq!(codec.verify(&ticket, coupon, UserId::new()), None);
        assert_eq!(
            PlaceTicketCodec::new(b"another secret").verify(&ticket, coupon, user),
            None
        );
        assert_eq!(codec.verify("garbage", coupon, user), None);
        let mut forged = ticket.clone();
        forged.insert(forged.len() - 3, 'x');
        assert_eq!(codec.verify(&forged, coupon, user), None);
    }

    #[test]
    fn an_expired_ticket_is_refused() {
        let codec = PlaceTicketCodec::new(b"server secret");
        let (coupon, user) = (CouponId::new(), UserId::new());
        let past = chrono::Utc::now().timestamp_millis() - 5_000;
        assert_eq!(
            codec.verify(&codec.sign(coupon, user, seat(), past), coupon, user),
            None
        );
    }

    #[test]
    fn tickets_admissions_and_access_tokens_never_stand_in_for_each_other() {
        let secret = b"server secret";
        let places = PlaceTicketCodec::new(secret);
        let admissions = AdmissionCodec::new(secret);
        let access = TokenCodec::new(secret, std::time::Duration::from_secs(600));
        let (coupon, user) = (CouponId::new(), UserId::new());
        let ticket = places.sign(coupon, user, seat(), in_a_minute());
        let admission = admissions.sign(
            coupon,
            user,
            AdmissionClaim {
                valid_until_ms: in_a_minute(),
                generation: seat().generation,
            },
        );
        let bearer = access.mint(
            Principal {
                user_id: user,
                role: Role::User,
            },
            chrono::Utc::now(),
        );
        assert_eq!(places.verify(&admission, coupon, user), None);
        assert_eq!(places.verify(&bearer, coupon, user), None);
        assert_eq!(admissions.verify(&ticket, coupon, user), None);
        assert!(access.verify(&ticket).is_err());
    }
}
