#!/usr/bin/env python3
"""Samples the CPU of the processes a bench run puts to work, second by second.

On this two-core box every process of a run (the load generator, the server, the
consumer, Redis, MariaDB, the Kafka broker) shares the same cores, so a latency that
drifts over a run is read here first: which process took more CPU as the run went on.
scripts/bench starts it beside each load run and stops it with SIGTERM.

    scripts/bench-cpu.py OUT NAME=PID|tree:PID|comm:NAME ...

Each argument names a column: `api=1234` follows that pid, `client=tree:1234` that pid
and its descendants, `redis=comm:redis-server` every process whose command is
`redis-server`. OUT gets a tab-separated line per
second: the second since start, then each column's CPU in cores over that second
(user + system time from /proc, children not included), and a last line with the
mean of every column over the whole run.
"""

import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
PERIOD = 1.0


def processes():
    """pid -> (command, parent pid) of every process."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        found[int(entry)] = (head.split("(", 1)[1], int(tail.split()[1]))
    return found


def pids_of(target, table):
    kind, _, value = target.rpartition(":")
    if kind == "comm":
        return [pid for pid, (comm, _) in table.items() if comm == value]
    root = int(value)
    if kind != "tree":
        return [root]
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, (_, parent) in table.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    return int(fields[11]) + int(fields[12])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    columns = []
    for arg in sys.argv[2:]:
        name, _, target = arg.partition("=")
        columns.append((name, target))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    def read_all():
        # pid -> ticks per column; pids found anew each time (a process may start late).
        table = processes()
        return [{pid: cpu_ticks(pid) for pid in pids_of(target, table)} for _, target in columns]

    rows = []
    last = read_all()
    last_at = time.monotonic()
    started = last_at
    while not stop:
        time.sleep(PERIOD)
        now = read_all()
        at = time.monotonic()
        span = at - last_at
        row = []
        for before, after in zip(last, now):
            used = 0
            for pid, ticks in after.items():
                if ticks is not None and before.get(pid) is not None:
                    used += ticks - before[pid]
            row.append(used / TICK / span)
        rows.append((at - started, row))
        last, last_at = now, at
    with open(out, "w", encoding="utf-8") as f:
        f.write("second\t" + "\t".join(name for name, _ in columns) + "\n")
        for second, row in rows:
            f.write(f"{second:.0f}\t" + "\t".join(f"{v:.2f}" for v in row) + "\n")
        if rows:
            means = [sum(r[i] for _, r in rows) / len(rows) for i in range(len(columns))]
            f.write("mean\t" + "\t".join(f"{v:.2f}" for v in means) + "\n")


if __name__ == "__main__":
    main()
