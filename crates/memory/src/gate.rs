//! The embedded issue gate: per coupon, the remaining stock and the set of holders.
//!
//! Coupons live in a map behind a read-mostly lock that is taken for writing only when
//! a coupon is seeded; each coupon has its own mutex, so a rush on one coupon never
//! blocks another. The critical section is a hash-set insert and a decrement.
//!
//! Memory: the gate of every issuable coupon is kept, so a process that has seen many
//! events holds their holders too (1,000,000 earlier holders are common). A holder in a
//! hash set costs ~36 B (16 B id, control byte, load factor, power-of-two growth); a
//! holder in a sorted array costs 16 B. So a coupon's holders are kept sorted once they
//! stop changing — those read at seeding, and all of them when the coupon sells out —
//! and only those reserved since sit in the hash set (see `Holders`).

use async_trait::async_trait;
use couponrush_domain::ports::{GateStats, IssueGate, Reservation};
use couponrush_domain::{CouponId, Quantity, StoreError, UserId};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

struct Slot {
    remaining: u64,
    holders: Holders,
}

/// One coupon's holders: `settled`, sorted and exactly sized (16 B a holder, found by
/// binary search), and `recent`, a hash set of those reserved since the last
/// settlement (inserted in O(1) during a rush). Disjoint: a user is in one or neither.
#[derive(Default)]
struct Holders {
    settled: Vec<UserId>,
    recent: HashSet<UserId>,
}

impl Holders {
    fn seeded(users: &[UserId]) -> Self {
        let mut settled = users.to_vec();
        settled.sort_unstable();
        settled.dedup();
        settled.shrink_to_fit();
        Self {
            settled,
            recent: HashSet::new(),
        }
    }

    fn len(&self) -> usize {
        self.settled.len() + self.recent.len()
    }

    fn contains(&self, user: &UserId) -> bool {
        self.recent.contains(user) || self.settled.binary_search(user).is_ok()
    }

    /// Adds a user the caller found absent.
    fn insert(&mut self, user: UserId) {
        self.recent.insert(user);
    }

    fn remove(&mut self, user: &UserId) -> bool {
        if self.recent.remove(user) {
            return true;
        }
        match self.settled.binary_search(user) {
            // Rare (a release after a failed commit), so the shift is affordable.
            Ok(at) => {
                self.settled.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Moves `recent` into `settled` (one linear merge) and frees the hash set: done
    /// when the coupon sells out, after which its holders rarely change.
    fn settle(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let mut recent: Vec<UserId> = std::mem::take(&mut self.recent).into_iter().collect();
        recent.sort_unstable();
        let mut merged = Vec::with_capacity(self.settled.len() + recent.len());
        let mut recent = recent.into_iter().peekable();
        for &held in &self.settled {
            while let Some(newer) = recent.next_if(|r| *r < held) {
                merged.push(newer);
            }
            merged.push(held);
        }
        merged.extend(recent);
        self.settled = merged;
    }
}

#[derive(Default)]
pub struct MemoryGate {
    coupons: RwLock<HashMap<CouponId, Arc<Mutex<Slot>>>>,
}

impl MemoryGate {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, coupon: CouponId) -> Option<Arc<Mutex<Slot>>> {
        self.coupons.read().get(&coupon).cloned()
    }
}

#[async_trait]
impl IssueGate for MemoryGate {
    async fn reserve(&self, coupon: CouponId, user: UserId) -> Result<Reservation, StoreError> {
        let Some(slot) = self.slot(coupon) else {
            return Ok(Reservation::NotSeeded);
        };
        let mut slot = slot.lock();
        if slot.holders.contains(&user) {
            return Ok(Reservation::AlreadyIssued);
        }
        if slot.remaining == 0 {
            return Ok(Reservation::SoldOut);
        }
        slot.remaining -= 1;
        slot.holders.insert(user);
        if slot.remaining == 0 {
            slot.holders.settle();
        }
        Ok(Reservation::Reserved)
    }

    async fn release(&self, coupon: CouponId, user: UserId) -> Result<(), StoreError> {
        if let Some(slot) = self.slot(coupon) {
            let mut slot = slot.lock();
            if slot.holders.remove(&user) {
                slot.remaining += 1;
            }
        }
        Ok(())
    }

    async fn seed(
        &self,
        coupon: CouponId,
        total: Quantity,
        holders: &[UserId],
    ) -> Result<(), StoreError> {
        let mut coupons = self.coupons.write();
        coupons.entry(coupon).or_insert_with(|| {
            let holders = Holders::seeded(holders);
            let remaining = u64::from(total.get()).saturating_sub(holders.len() as u64);
            Arc::new(Mutex::new(Slot { remaining, holders }))
        });
        Ok(())
    }

    async fn is_holder(&self, coupon: CouponId, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .slot(coupon)
            .is_some_and(|s| s.lock().holders.contains(&user)))
    }

    async fn list_holders(&self, coupon: CouponId) -> Result<Option<Vec<UserId>>, StoreError> {
        Ok(self.slot(coupon).map(|s| {
            let s = s.lock();
            let mut all = s.holders.settled.clone();
            all.extend(s.holders.recent.iter().copied());
            all
        }))
    }

    async fn stats(&self, coupon: CouponId) -> Result<Option<GateStats>, StoreError> {
        Ok(self.slot(coupon).map(|s| {
            let s = s.lock();
            GateStats {
                remaining: s.remaining,
                holders: s.holders.len() as u64,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: u128) -> Vec<UserId> {
        // Spread over the id space so merges interleave.
        (0..n)
            .map(|i| {
                UserId::from_uuid(uuid::Uuid::from_u128(
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
                ))
            })
            .collect()
    }

    #[test]
    fn settling_keeps_every_holder_sorted_and_empties_the_hash_set() {
        let all = users(1_000);
        let mut holders = Holders::seeded(&all[..400]);
        for u in &all[400..] {
            assert!(!holders.contains(u));
            holders.insert(*u);
        }
        holders.settle();
        assert!(holders.recent.is_empty());
        assert_eq!(holders.len(), 1_000);
        assert!(holders.settled.windows(2).all(|w| w[0] < w[1]));
        assert!(all.iter().all(|u| holders.contains(u)));
    }

    #[test]
    fn a_holder_is_removed_wherever_it_is_kept() {
        let all = users(10);
        let mut holders = Holders::seeded(&all[..5]);
        holders.insert(all[7]);
        assert!(holders.remove(&all[2]), "settled");
        assert!(holders.remove(&all[7]), "recent");
        assert!(!holders.remove(&all[2]), "only once");
        assert!(!holders.contains(&all[2]) && !holders.contains(&all[7]));
        assert_eq!(holders.len(), 4);
    }

    #[test]
    fn seeding_with_repeated_users_counts_each_once() {
        let all = users(3);
        let holders = Holders::seeded(&[all[0], all[1], all[0], all[2], all[1]]);
        assert_eq!(holders.len(), 3);
    }
}
