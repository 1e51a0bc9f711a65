-- Issued coupons clustered by coupon: primary key (coupon_id, user_id) instead of
-- (user_id, coupon_id) plus an index on the coupon; the index by user is a table of its
-- own, filled behind the writer.
--
-- Why: under a sustained event every row landed on a random leaf of a user-keyed table
-- that spans every earlier event, so the WAL's frames were pages all over the file and
-- the disk wrote each one on its own when a checkpoint copied them back; the WAL
-- restart, which holds commits, held them 20-95 ms on a database with 1,000,000 earlier
-- rows against 2-9 ms on a fresh one (docs/ARCHITECTURE.md, "WAL checkpoints"). Keyed by
-- coupon first, an event's rows touch only its own coupon's part of the tree: pages the
-- event itself allocated, as on a fresh database. The key is still the uniqueness rule
-- (one per user per coupon), the holders read is a range of it, and a row written by
-- the writer costs one B-tree instead of two.
CREATE TABLE issued_coupons_clustered (
    coupon_id BLOB    NOT NULL REFERENCES coupons (id),
    user_id   BLOB    NOT NULL,
    id        BLOB    NOT NULL,
    issued_at INTEGER NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (coupon_id, user_id)
) WITHOUT ROWID;

INSERT INTO issued_coupons_clustered (coupon_id, user_id, id, issued_at, used_at)
SELECT coupon_id, user_id, id, issued_at, used_at
FROM issued_coupons
ORDER BY coupon_id, user_id;

DROP TABLE issued_coupons;
ALTER TABLE issued_coupons_clustered RENAME TO issued_coupons;

-- "My coupons" by user. An entry per issued row would put a random page of a
-- history-wide tree back on every row the writer commits, so this table is filled
-- behind it, a chunk at a time while no batch is waiting (by_user.rs).
-- `coupons.by_user_count` says how many of a coupon's rows are in it: a coupon whose
-- count is short of `issued_count` is looked up in `issued_coupons` itself, one
-- primary-key probe, so a list is never missing a row.
CREATE TABLE issued_by_user (
    user_id   BLOB NOT NULL,
    coupon_id BLOB NOT NULL,
    PRIMARY KEY (user_id, coupon_id)
) WITHOUT ROWID;

INSERT INTO issued_by_user (user_id, coupon_id)
SELECT user_id, coupon_id FROM issued_coupons ORDER BY user_id, coupon_id;

ALTER TABLE coupons ADD COLUMN by_user_count INTEGER NOT NULL DEFAULT 0;
UPDATE coupons SET by_user_count = issued_count;

-- The coupons a list probes and the by-user filler works through: few, and found
-- without reading the others.
CREATE INDEX coupons_not_by_user ON coupons (id) WHERE issued_count > by_user_count;
