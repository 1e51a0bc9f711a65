-- A coupon's holders in the order they were issued. The holders read (what a gate is
-- seeded from) stays a range read on the coupon, covering as before: the index still
-- carries the primary key. What changes is where a new row's entry lands. Keyed on
-- (coupon_id) alone, the entries of an open coupon were ordered by user id, so a
-- sustained event put every row on a random leaf of its coupon's part of the index, on
-- top of the random leaf of the user-keyed table: two random pages per row for the WAL
-- and for each checkpoint to write back. Keyed on (coupon_id, issued_at), rows arrive
-- in time order, so their entries fill the last leaves of the coupon's part: one random
-- page per row (the table's), and the index's few hot pages written once per batch.
CREATE INDEX issued_coupons_by_coupon_in_time ON issued_coupons (coupon_id, issued_at);
DROP INDEX issued_coupons_by_coupon;
