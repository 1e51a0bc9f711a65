#!/usr/bin/env python3
"""Which slow commit fsyncs overlapped a checkpointer fsync, from a trace-stalls.bt log.

    python3 scripts/fsync-overlap.py TRACE_LOG [SLOW_MS]

The embedded server's commits fsync the WAL on its batch thread (`sqlite-batches`); the
checkpointer syncs the WAL and the database file on its sqlx connection's worker thread
(`sqlx-sqlite-wor…`, a name shared with the other sqlx connections, which under load
write nothing: the by-user copy waits for an idle writer).
Prints how many commit fsyncs took over SLOW_MS (8), how many of those overlapped a
checkpointer fsync, and the share of the traced span the checkpointer's fsyncs covered:
what the overlap would be by chance.
"""

import re
import sys

LINE = re.compile(r"FSYNC (\S+) tid \d+ (\d+) us start_ms (\d+)")


def main() -> None:
    path = sys.argv[1]
    slow_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
    commits, checkpoints = [], []
    with open(path, encoding="utf-8") as log:
        for line in log:
            m = LINE.search(line)
            if not m:
                continue
            start, took = int(m.group(3)), int(m.group(2)) / 1000
            if m.group(1) == "sqlite-batches":
                commits.append((start, took))
            elif m.group(1).startswith("sqlx-sqlite"):
                checkpoints.append((start, took))
    if not commits:
        sys.exit(f"{path}: no FSYNC lines with start_ms from sqlite-batches")
    starts = [s for s, _ in commits + checkpoints]
    span = max(starts) - min(starts)
    slow = [(s, d) for s, d in commits if d > slow_ms]
    overlapped = [
        (s, d)
        for s, d in slow
        if any(c < s + d and c + cd > s for c, cd in checkpoints)
    ]
    covered = sum(d for _, d in checkpoints)
    print(
        f"commit fsyncs over {slow_ms:g} ms: {len(slow)}, "
        f"overlapping a checkpointer fsync: {len(overlapped)}; "
        f"checkpointer fsyncs over 2 ms: {len(checkpoints)}, "
        f"{covered:.0f} ms of {span / 1000:.1f} s traced "
        f"({100 * covered / span if span else 0:.1f} %)"
    )


if __name__ == "__main__":
    main()
