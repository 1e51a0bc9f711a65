-- Embedded-mode schema. Ids are UUIDv7 stored as 16-byte BLOBs; times are Unix
-- milliseconds (INTEGER), compact and unambiguous.

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE coupons (
    id             BLOB    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL,
    coupon_type    TEXT    NOT NULL CHECK (coupon_type IN ('CHICKEN', 'HAMBURGER', 'PIZZA')),
    discount_type  TEXT    NOT NULL CHECK (discount_type IN ('FIXED', 'PERCENTAGE')),
    discount_value INTEGER NOT NULL CHECK (discount_value > 0),
    total_quantity INTEGER NOT NULL CHECK (total_quantity >= 1),
    -- Maintained by the batch writer in the same transaction as the rows; the CHECK is
    -- the last guard against over-issue.
    issued_count   INTEGER NOT NULL DEFAULT 0 CHECK (issued_count >= 0 AND issued_count <= total_quantity),
    expires_at     INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'EXPIRED', 'DISABLED')),
    created_at     INTEGER NOT NULL
);

-- One B-tree only: the primary key (user_id, coupon_id) is the uniqueness rule and the
-- index for "my coupons". Every extra index is another random page write per issued row,
-- and the insert rate of this table bounds the issue rate.
CREATE TABLE issued_coupons (
    user_id   BLOB    NOT NULL,
    coupon_id BLOB    NOT NULL REFERENCES coupons (id),
    id        BLOB    NOT NULL,
    issued_at INTEGER NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, coupon_id)
) WITHOUT ROWID;
