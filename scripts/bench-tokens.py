#!/usr/bin/env python3
"""Mints HS256 user tokens for fresh random users, split into per-thread files.

scripts/bench uses it for the wrk cross-check only when `couponrush loadtest --scenario
mint` is not available. The claims are the server's (`sub` user id, `role`, `iat`,
`exp`; crates/auth/src/token.rs); user ids are random (UUIDv4).

    scripts/bench-tokens.py SECRET USERS PREFIX SPLIT   # writes PREFIX.0 .. PREFIX.{SPLIT-1}
"""

import base64
import hashlib
import hmac
import json
import sys
import time
import uuid


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    secret, users, prefix, split = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    now = int(time.time())
    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    files = [open(f"{prefix}.{i}", "w", encoding="ascii") for i in range(split)]
    for n in range(users):
        claims = {"sub": str(uuid.uuid4()), "role": "USER", "iat": now, "exp": now + 6 * 3600}
        signing = header + b"." + b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = b64(hmac.new(secret, signing, hashlib.sha256).digest())
        files[n % split].write((signing + b"." + sig).decode() + "\n")
    for f in files:
        f.close()


if __name__ == "__main__":
    main()
