#!/usr/bin/env python3
"""The server's own view of a bench run, second by second, from its /metrics.

The load generator measures a request from send to answer; the server's histograms
measure its stages. Read side by side per second, a bad second says where its time
went: the durable append (group commit, Kafka ack), the batch commit, the wait for a
turn, the router's whole request, or none of them (then: before the server read the
request, or in the client). scripts/bench starts it beside each load run and stops it
with SIGTERM.

    scripts/bench-metrics.py OUT URL

OUT gets a tab-separated line per second: the second since start, then for each
histogram the samples that second and the upper bound of the bucket holding their p99
(`-` when none), then the gauges as read. Bucket bounds are the exporter's (docs/
METRICS.md), so a p99 reads as "at most". Only the standard library is used.
"""

import re
import signal
import sys
import time
import urllib.request

PERIOD = 1.0
ISSUE = {"method": "POST", "route": "/api/coupons/{id}/issue"}

# (column, family, labels every counted series must carry)
HISTOGRAMS = [
    ("request", "couponrush_http_request_duration_seconds", ISSUE),
    ("turn_wait", "couponrush_http_turn_wait_seconds", {}),
    ("append", "couponrush_log_append_duration_seconds", {}),
    ("commit", "couponrush_group_commit_duration_seconds", {}),
    ("wal_restart", "couponrush_sqlite_wal_restart_pause_seconds", {}),
]
GAUGES = [
    ("waiting", "couponrush_http_requests_waiting"),
    ("in_flight", "couponrush_http_requests_in_flight"),
    ("active_conns", "couponrush_http_connections_active"),
]

LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """name -> list of (labels, value) of every sample."""
    with urllib.request.urlopen(url, timeout=2) as answer:
        text = answer.read().decode("utf-8", "replace")
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        samples.setdefault(m.group(1), []).append((labels, value))
    return samples


def buckets(samples, family, want):
    """le -> cumulative count, summed over the series carrying every label of `want`."""
    out = {}
    for labels, value in samples.get(family + "_bucket", []):
        if all(labels.get(k) == v for k, v in want.items()):
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            out[le] = out.get(le, 0.0) + value
    return out


def p99_bound(now, before):
    """(samples, upper bound of the p99's bucket) of what arrived between two scrapes."""
    bounds = sorted(now)
    delta = [(le, now[le] - before.get(le, 0.0)) for le in bounds]
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return 0, None
    for le, cumulative in delta:
        if cumulative >= 0.99 * total:
            return int(total), le
    return int(total), float("inf")


def fmt(bound):
    if bound is None:
        return "-"
    if bound == float("inf"):
        return "inf"
    return f"{bound * 1000:g}ms"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out_path, url = sys.argv[1], sys.argv[2]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    header = ["second"]
    for column, _, _ in HISTOGRAMS:
        header += [f"{column}_n", f"{column}_p99<="]
    header += [column for column, _ in GAUGES]
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("\t".join(header) + "\n")
        before, second, next_at = None, 0, time.monotonic()
        while not stop:
            try:
                now = scrape(url)
            except OSError:
                now = None
            if now is not None and before is not None:
                row = [str(second)]
                for _, family, want in HISTOGRAMS:
                    n, bound = p99_bound(buckets(now, family, want), buckets(before, family, want))
                    row += [str(n), fmt(bound)]
                for _, family in GAUGES:
                    values = [v for _, v in now.get(family, [])]
                    row.append(f"{sum(values):g}" if values else "-")
                out.write("\t".join(row) + "\n")
                out.flush()
            if now is not None:
                before = now
            second += 1
            next_at += PERIOD
            time.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    main()
