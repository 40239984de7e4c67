"""Medians of `accel perf` rows, kept apart by the core-to-core round trip each point saw.

This host flips between a ~90 ns and a ~300 ns round trip between its two vCPUs, and every row
through an engine thread moves with it (docs/BENCHMARKS.md). This runs the same `accel perf`
arguments N times (plus --json) and prints, per row and per kind of round trip (fast under
180 ns, slow above), how many points it saw and their median ops/s, ratio and p50.

    python3 bench/fast_medians.py 8 nop --qd 1,32 --repeat 3 --seconds 0.2
    ACCEL=/tmp/other/accel python3 bench/fast_medians.py 6 copy --size 4k --qd 32
"""
import collections
import json
import os
import statistics
import subprocess
import sys

# A round trip under this is the host's fast placement (~90 ns); the slow one is ~300 ns.
FAST_BELOW_NS = 180


def round_trip_kind(trip_ns):
    """"fast" or "slow" for a row's `core_to_core_ns`, "unmeasured" for none."""
    if trip_ns is None:
        return "unmeasured"
    return "fast" if trip_ns < FAST_BELOW_NS else "slow"


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit("usage: fast_medians.py RUNS ACCEL_PERF_ARGS... (RUNS at least 1)")
    runs, args = int(sys.argv[1]), sys.argv[2:] + ["--json"]
    accel = os.environ.get("ACCEL", "target/release/accel")
    points = collections.defaultdict(list)
    for _ in range(runs):
        run = subprocess.run([accel, "perf"] + args, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{accel} perf {' '.join(args)}: exit {run.returncode}: {run.stderr.strip()}")
        for line in run.stdout.splitlines():
            row = json.loads(line)
            kind = round_trip_kind(row.get("core_to_core_ns"))
            points[(row["op"], row["size"], row["qd"], row["engines"], row["threads"], row["policy"], kind)].append(row)
    for (op, size, qd, engines, threads, policy, kind), rows in sorted(points.items()):
        ops = statistics.median(r["ops_per_s"] for r in rows)
        ratio = statistics.median(r["ratio"] for r in rows)
        p50 = statistics.median(r["p50_us"] for r in rows)
        print(f"{op:>10} {size:>8} B qd {qd:>4} eng {engines} thr {threads} {policy:>8} {kind:>10}: "
              f"{len(rows)} points, {ops / 1e6:7.2f} M/s, ratio {ratio:.2f}, p50 {p50:.3f} us")


if __name__ == "__main__":
    main()
