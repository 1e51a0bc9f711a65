//! The line's order: entries sorted by order number, with the rank (position) of any
//! entry. A place can come back at an order number anywhere ahead of those who joined
//! since (a place ticket after a restart), so positions are not slots of an array.
//!
//! A sorted list cut in blocks of at most `2 × BLOCK` entries: finding an entry is a
//! binary search over the blocks' last entries, then within the block; its rank adds
//! the lengths of the blocks before it. For 100,000 waiters that is ~200 additions per
//! poll (a few hundred nanoseconds); inserting or removing moves at most one block's
//! entries. A balanced tree with counts would make the rank O(log n) too, at the cost
//! of much more code for a line that rarely passes a million.

use couponrush_domain::UserId;

/// Entries per block, halved on growing past twice this.
const BLOCK: usize = 512;

/// An entry: the order number, then the user (which breaks a tie between two tickets
/// of different generations that carried the same number).
pub(crate) type Entry = (u64, UserId);

#[derive(Default)]
pub(crate) struct Ranked {
    blocks: Vec<Vec<Entry>>,
}

impl Ranked {
    /// The block that holds `entry` or would: the first whose last entry is not less.
    fn block_of(&self, entry: &Entry) -> usize {
        self.blocks
            .partition_point(|b| b.last().is_some_and(|last| last < entry))
    }

    pub fn insert(&mut self, entry: Entry) {
        if self.blocks.is_empty() {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        // Past every block's end: the last block takes it (a join, the usual case).
        let b = self.block_of(&entry).min(self.blocks.len() - 1);
        let block = &mut self.blocks[b];
        let at = block.partition_point(|e| e < &entry);
        if block.get(at) == Some(&entry) {
            return;
        }
        block.insert(at, entry);
        if block.len() > 2 * BLOCK {
            let tail = block.split_off(BLOCK);
            self.blocks.insert(b + 1, tail);
        }
    }

    /// Removes `entry`; false if it was not there.
    pub fn remove(&mut self, entry: &Entry) -> bool {
        let b = self.block_of(entry);
        let Some(block) = self.blocks.get_mut(b) else {
            return false;
        };
        let Ok(at) = block.binary_search(entry) else {
            return false;
        };
        block.remove(at);
        self.tidy(b);
        true
    }

    /// Drops an emptied block, and merges a small one into its successor, so the
    /// number of blocks (what a rank walks) follows the entries left.
    fn tidy(&mut self, b: usize) {
        if self.blocks[b].is_empty() {
            self.blocks.remove(b);
        } else if b + 1 < self.blocks.len()
            && self.blocks[b].len() + self.blocks[b + 1].len() <= BLOCK
        {
            let next = self.blocks.remove(b + 1);
            self.blocks[b].extend(next);
        }
    }

    /// 1-based position of `entry`; `None` if it is not there.
    pub fn rank(&self, entry: &Entry) -> Option<u64> {
        let b = self.block_of(entry);
        let at = self.blocks.get(b)?.binary_search(entry).ok()?;
        let before: usize = self.blocks[..b].iter().map(Vec::len).sum();
        Some((before + at + 1) as u64)
    }

    /// Removes and returns the first entry.
    pub fn pop_first(&mut self) -> Option<Entry> {
        let first = self.blocks.first_mut()?.remove(0);
        self.tidy(0);
        Some(first)
    }

    /// Every entry, in order, with its user replaceable (a shuffle deals the users out
    /// again over the same order numbers, which keeps the blocks sorted only because
    /// every order number is distinct within one generation's joins).
    pub fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.blocks.iter_mut().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Ranked {
        fn len(&mut self) -> usize {
            self.entries_mut().count()
        }
    }

    fn users(n: usize) -> Vec<UserId> {
        (0..n).map(|_| UserId::new()).collect()
    }

    #[test]
    fn ranks_follow_order_numbers_whatever_the_insertion_order() {
        let mut r = Ranked::default();
        let u = users(5_000);
        // Joins at the back, then places put back ahead of them in any order.
        for (i, user) in u.iter().enumerate().skip(2_500) {
            r.insert((10_000 + i as u64, *user));
        }
        for (i, user) in u.iter().enumerate().take(2_500).rev() {
            r.insert((10_000 + i as u64, *user));
        }
        assert_eq!(r.len(), 5_000);
        for (i, user) in u.iter().enumerate().step_by(97) {
            assert_eq!(r.rank(&(10_000 + i as u64, *user)), Some(i as u64 + 1));
        }
        assert_eq!(r.rank(&(1, u[0])), None);
        r.insert((10_003, u[3]));
        assert_eq!(r.len(), 5_000, "an entry is held once");
    }

    #[test]
    fn removals_and_pops_keep_ranks_exact() {
        let mut r = Ranked::default();
        let u = users(3_000);
        for (i, user) in u.iter().enumerate() {
            r.insert((i as u64, *user));
        }
        // Abandoned waiters leave holes anywhere; admission pops from the head.
        for i in (0..3_000).step_by(3) {
            assert!(r.remove(&(i as u64, u[i])));
        }
        assert!(!r.remove(&(0, u[0])), "removed once");
        assert_eq!(r.pop_first(), Some((1, u[1])));
        assert_eq!(r.pop_first(), Some((2, u[2])));
        assert_eq!(r.len(), 1_998);
        assert_eq!(r.rank(&(4, u[4])), Some(1));
        assert_eq!(r.rank(&(2_999, u[2_999])), Some(1_998));
        while r.pop_first().is_some() {}
        assert_eq!(r.len(), 0);
        assert_eq!(r.pop_first(), None);
        r.insert((7, u[7]));
        assert_eq!(r.rank(&(7, u[7])), Some(1));
    }

    #[test]
    fn users_can_be_dealt_out_again_over_the_same_numbers() {
        let mut r = Ranked::default();
        let u = users(3);
        for (i, user) in u.iter().enumerate() {
            r.insert((i as u64, *user));
        }
        let reversed: Vec<UserId> = u.iter().rev().copied().collect();
        for (entry, user) in r.entries_mut().zip(&reversed) {
            entry.1 = *user;
        }
        assert_eq!(r.rank(&(0, u[2])), Some(1));
        assert_eq!(r.rank(&(2, u[0])), Some(3));
    }
}
