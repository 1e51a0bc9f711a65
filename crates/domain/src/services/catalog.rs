//! Creating coupons and switching them on and off (admin use cases), and reading them.

use crate::coupon::{Coupon, CouponRuleError, CouponStatus, NewCoupon};
use crate::error::{StoreError, ValidationError};
use crate::ids::CouponId;
use crate::listing::{CouponQuery, ListCursor, Phase, page_size};
use crate::ports::{Clock, CouponStore, WaitingLine};
use crate::services::CouponCache;
use crate::services::gate_seeding::GateSeeding;
use crate::user::Role;
use crate::waiting_room::RoomPolicy;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("coupon not found")]
    NotFound,
    #[error(transparent)]
    Rule(#[from] CouponRuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a caller asks the listing for; checked by [`Catalog::list`].
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub status: Option<CouponStatus>,
    pub phase: Option<Phase>,
    /// A page's `next_cursor`, to go on after it.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One page of the listing.
#[derive(Debug, Clone)]
pub struct CouponPage {
    pub coupons: Vec<Coupon>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Clone)]
pub struct Catalog {
    coupons: Arc<dyn CouponStore>,
    cache: Arc<CouponCache>,
    seeding: Arc<GateSeeding>,
    line: Arc<dyn WaitingLine>,
    clock: Arc<dyn Clock>,
}

impl Catalog {
    pub fn new(
        coupons: Arc<dyn CouponStore>,
        cache: Arc<CouponCache>,
        seeding: Arc<GateSeeding>,
        line: Arc<dyn WaitingLine>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            coupons,
            cache,
            seeding,
            line,
            clock,
        }
    }

    pub async fn create(&self, new: NewCoupon) -> Result<Coupon, CatalogError> {
        let now = self.clock.now();
        new.validate(now)?;
        let coupon = new.into_coupon(CouponId::new(), now);
        self.coupons.insert_coupon(&coupon).await?;
        // The rush that follows finds both the definition and the gate ready. Failing to
        // seed is not failing to create: the first request seeds it then.
        self.cache.put(coupon.clone());
        if let Err(e) = self.seeding.seed_new(&coupon).await {
            tracing::warn!(coupon_id = %coupon.id, error = %e, "could not seed the gate of a new coupon");
        }
        // Nobody can hold a place in this line yet: it starts without a re-seeding
        // window. Failing is not failing to create: the line is then found without a
        // generation at its first use, and waits one window before admitting.
        if let Err(e) = self.line.open(coupon.id).await {
            tracing::warn!(coupon_id = %coupon.id, error = %e, "could not open the waiting line of a new coupon");
        }
        Ok(coupon)
    }

    /// The stored coupon.
    pub async fn find(&self, id: CouponId) -> Result<Coupon, CatalogError> {
        self.coupons
            .find_coupon(id)
            .await?
            .ok_or(CatalogError::NotFound)
    }

    /// The coupon with its persisted issued count.
    pub async fn get(&self, id: CouponId) -> Result<(Coupon, u64), CatalogError> {
        let coupon = self.find(id).await?;
        let issued = self.coupons.issued_count(id).await?;
        Ok((coupon, issued))
    }

    pub async fn change_status(
        &self,
        id: CouponId,
        target: CouponStatus,
    ) -> Result<Coupon, CatalogError> {
        let mut coupon = self.find(id).await?;
        coupon.ensure_status_change(target, self.clock.now())?;
        if !self.coupons.set_coupon_status(id, target).await? {
            return Err(CatalogError::NotFound);
        }
        // This process's issue path sees the change at once; others within the cache TTL.
        coupon.status = target;
        self.cache.put(coupon.clone());
        if target == CouponStatus::Active {
            // Seeded now rather than by the first request (a no-op if the gate has it).
            if let Err(e) = self.seeding.ensure_seeded(&coupon, Instant::now()).await {
                tracing::warn!(coupon_id = %id, error = %e, "could not seed the gate of an activated coupon");
            }
        }
        Ok(coupon)
    }

    /// Sets the coupon's waiting-room policy: this process's issue path sees it at
    /// once, the others within the cache TTL.
    pub async fn set_room_policy(
        &self,
        id: CouponId,
        room: RoomPolicy,
    ) -> Result<Coupon, CatalogError> {
        let mut coupon = self.find(id).await?;
        if !self.coupons.set_room_policy(id, room).await? {
            return Err(CatalogError::NotFound);
        }
        coupon.room = room;
        self.cache.put(coupon.clone());
        Ok(coupon)
    }

    /// A page of coupons, newest first. A user sees ACTIVE coupons that have not ended
    /// (upcoming and open ones); asking for any other status or for ended ones gives an
    /// empty page rather than an error, as there is nothing of those to take part in.
    pub async fn list(&self, viewer: Role, req: ListRequest) -> Result<CouponPage, CatalogError> {
        let limit = page_size(req.limit)?;
        let after = req.cursor.as_deref().map(ListCursor::parse).transpose()?;
        let (status, phase) = match viewer {
            Role::Admin => (req.status, req.phase),
            Role::User => {
                let nothing_to_join = req.status.is_some_and(|s| s != CouponStatus::Active)
                    || req.phase == Some(Phase::Ended);
                if nothing_to_join {
                    return Ok(CouponPage {
                        coupons: Vec::new(),
                        next_cursor: None,
                    });
                }
                (Some(CouponStatus::Active), req.phase)
            }
        };
        let mut coupons = self
            .coupons
            .list_coupons(&CouponQuery {
                status,
                phase,
                after,
                // One more than asked: whether another page follows.
                limit: limit + 1,
                now: self.clock.now(),
            })
            .await?;
        let next_cursor = if coupons.len() > limit as usize {
            coupons.truncate(limit as usize);
            coupons.last().map(|last| ListCursor::after(last).encode())
        } else {
            None
        };
        Ok(CouponPage {
            coupons,
            next_cursor,
        })
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
