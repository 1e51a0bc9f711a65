-- A coupon's scheduled opening (Unix milliseconds, like the other times); NULL opens
-- as soon as the coupon is ACTIVE. Nullable, so existing rows need no rewrite. The
-- issue path compares it with the clock on the cached definition: never read per
-- request, so no index.
ALTER TABLE coupons ADD COLUMN opens_at INTEGER;
