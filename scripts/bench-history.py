#!/usr/bin/env python3
"""Fills an embedded couponrush database with the history of earlier events.

Used by scripts/bench: the server is started once so that it migrates
<data>/couponrush.db, stopped, then this adds COUPONS earlier coupons with ROWS issued
coupons each, and the server is started again (it warms its gate from the database).

Every history coupon is ACTIVE, expires a year from now and is sold out
(issued_count = total_quantity): an event's coupons stay valid for use after it sells
out, and that is the hardest case for gate warm-up (every such coupon is seeded, with all
its holders). User ids are 16 random bytes (UUIDv4-like), never ordered by arrival.

Rows go into the tables as they are after the server's own migrations (read from the
database, not assumed): columns it does not know get their defaults, and SQLite keeps
whatever indexes the migrations created. Only the standard library is used.

    scripts/bench-history.py DB_PATH COUPONS ROWS_PER_COUPON
"""

import os
import sqlite3
import sys
import time

COUPON_VALUES = {
    "name": None,  # per coupon
    "coupon_type": "CHICKEN",
    "discount_type": "FIXED",
    "discount_value": 1000,
    "status": "ACTIVE",
}


def columns(con, table):
    """(name, notnull, default, pk) of each column of TABLE."""
    rows = con.execute(f"PRAGMA table_info({table})").fetchall()
    if not rows:
        sys.exit(f"bench-history: table {table} does not exist (was the database migrated?)")
    return [(r[1], bool(r[3]), r[4], bool(r[5])) for r in rows]


def check_known(table, cols, known):
    missing = [n for (n, notnull, default, _pk) in cols if notnull and default is None and n not in known]
    if missing:
        sys.exit(
            f"bench-history: {table} has NOT NULL columns without default that this script does "
            f"not fill: {', '.join(missing)} (update scripts/bench-history.py for the new migration)"
        )
    return [n for (n, _nn, _d, _pk) in cols if n in known]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    db, coupons, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    started = time.monotonic()
    con = sqlite3.connect(db, isolation_level=None)
    # A bulk load: the final file is what matters, not crash safety while loading.
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-524288")  # 512 MiB
    con.execute("PRAGMA temp_store=MEMORY")

    now_ms = int(time.time() * 1000)
    expires_ms = now_ms + 365 * 24 * 3600 * 1000
    # Earlier events: created over the last 100 days, issued within an hour of creation.
    day_ms = 24 * 3600 * 1000

    coupon_cols = check_known(
        "coupons",
        columns(con, "coupons"),
        set(COUPON_VALUES)
        | {"id", "total_quantity", "issued_count", "by_user_count", "expires_at", "created_at"},
    )
    issued_cols = check_known(
        "issued_coupons",
        columns(con, "issued_coupons"),
        {"user_id", "coupon_id", "id", "issued_at", "used_at"},
    )
    coupon_sql = "INSERT INTO coupons ({}) VALUES ({})".format(
        ", ".join(coupon_cols), ", ".join("?" for _ in coupon_cols)
    )
    issued_sql = "INSERT INTO issued_coupons ({}) VALUES ({})".format(
        ", ".join(issued_cols), ", ".join("?" for _ in issued_cols)
    )
    indexes = [r[1] for r in con.execute("PRAGMA index_list(issued_coupons)").fetchall()]

    urandom = os.urandom
    con.execute("BEGIN")
    for c in range(coupons):
        coupon_id = urandom(16)
        created = now_ms - (coupons - c) * day_ms
        values = dict(COUPON_VALUES)
        values.update(
            name=f"history event {c + 1}",
            id=coupon_id,
            total_quantity=per,
            issued_count=per,
            # Migration 0008 on: every history row is in the by-user table (below).
            by_user_count=per,
            expires_at=expires_ms,
            created_at=created,
        )
        con.execute(coupon_sql, [values[n] for n in coupon_cols])

        def rows(coupon_id=coupon_id, created=created):
            for i in range(per):
                row = {
                    "user_id": urandom(16),
                    "coupon_id": coupon_id,
                    "id": urandom(16),
                    "issued_at": created + (i * 3_600_000) // per,
                    "used_at": None,
                }
                yield [row[n] for n in issued_cols]

        con.executemany(issued_sql, rows())
    by_user = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'issued_by_user'"
    ).fetchone()
    if by_user:
        # As the server's writer copies them (crates/sqlite/src/by_user.rs): coupon by
        # coupon, each in user order.
        con.execute(
            "INSERT INTO issued_by_user (user_id, coupon_id) "
            "SELECT user_id, coupon_id FROM issued_coupons ORDER BY coupon_id, user_id"
        )
    con.execute("COMMIT")
    # Leave one plain database file behind for the server (and for copies of it).
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (count,) = con.execute("SELECT COUNT(*) FROM issued_coupons").fetchone()
    con.close()
    size_mb = sum(
        os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p)
    ) / 1e6
    print(
        f"{coupons} coupons x {per} rows inserted in {time.monotonic() - started:.1f} s; "
        f"issued_coupons now holds {count} rows; indexes on it: {', '.join(indexes) or 'none'}; "
        f"by-user table: {'filled' if by_user else 'none'}; "
        f"database {size_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
