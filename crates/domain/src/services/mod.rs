//! Use cases. Each service holds the ports it needs and nothing else; [`CouponRush`]
//! bundles them so the HTTP layer gets one value per process.

pub mod accounts;
pub mod catalog;
mod coupon_cache;
pub mod issuing;
pub mod wallet;

pub use accounts::{Accounts, LoginError, SignupError};
pub use catalog::{Catalog, CatalogError};
pub use coupon_cache::CouponCache;
pub use issuing::{CouponStats, IssueError, Issuing};
pub use wallet::{UseError, Wallet};

use crate::ports::{
    Clock, CouponStore, IssueGate, IssueLog, IssuedCouponStore, PasswordHasher, UserStore,
};
use std::sync::Arc;
use std::time::Duration;

/// Every port a couponrush process needs, chosen by the wiring for its mode.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub coupons: Arc<dyn CouponStore>,
    pub issued: Arc<dyn IssuedCouponStore>,
    pub gate: Arc<dyn IssueGate>,
    pub log: Arc<dyn IssueLog>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
}

/// All use cases of one process.
#[derive(Clone)]
pub struct CouponRush {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub issuing: Issuing,
    pub wallet: Wallet,
}

impl CouponRush {
    /// `coupon_cache_ttl` bounds how long a status change made by another process takes
    /// to reach this one's issue path; changes made here are seen at once.
    pub fn new(ports: Ports, coupon_cache_ttl: Duration) -> Self {
        let cache = Arc::new(CouponCache::new(coupon_cache_ttl));
        Self {
            accounts: Accounts::new(
                ports.users.clone(),
                ports.hasher.clone(),
                ports.clock.clone(),
            ),
            catalog: Catalog::new(ports.coupons.clone(), cache.clone(), ports.clock.clone()),
            issuing: Issuing::new(&ports, cache),
            wallet: Wallet::new(ports.coupons, ports.issued, ports.clock),
        }
    }
}
