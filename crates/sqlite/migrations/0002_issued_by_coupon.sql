-- A coupon's holders as a range read: what a gate is seeded from. Without it, seeding
-- one coupon scanned every issued row of every earlier event (measured before: the
-- rush on a new coupon got slower with each event the database had seen). In a
-- WITHOUT ROWID table a secondary index carries the primary key, so this index holds
-- (coupon_id, user_id) and answers the read alone. Its inserts land in the current
-- coupon's part of the tree (few, hot pages), unlike the primary key's, which land at
-- random user ids all over the table.
CREATE INDEX issued_coupons_by_coupon ON issued_coupons (coupon_id);
