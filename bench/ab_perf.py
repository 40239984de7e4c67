"""A/B of two `accel` builds on one noisy machine: runs them alternately with the same `accel
perf` arguments (plus --json, which both builds must have) and prints each row's median ops/s
and the ratio new/old, with the core-to-core round trips the runs saw (engine rows hinge on
them; see docs/BENCHMARKS.md).

    python3 bench/ab_perf.py OLD_ACCEL NEW_ACCEL perf nop --qd 1,32 --repeat 1 --seconds 0.2
    ROUNDS=9 python3 bench/ab_perf.py ...      (default 7 alternations)
"""
import collections
import json
import os
import statistics
import subprocess
import sys


def main():
    old, new, args = sys.argv[1], sys.argv[2], sys.argv[3:] + ["--json"]
    rounds = int(os.environ.get("ROUNDS", "7"))
    ops = collections.defaultdict(list)
    trips = collections.defaultdict(list)
    for _ in range(rounds):
        for tag, binary in (("old", old), ("new", new)):
            run = subprocess.run([binary] + args, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"{binary} {' '.join(args)}: exit {run.returncode}: {run.stderr.strip()}")
            for line in run.stdout.splitlines():
                row = json.loads(line)
                key = (row["op"], row["size"], row["qd"], row["engines"], row["threads"])
                ops[key + (tag,)].append(row["ops_per_s"])
                if row.get("core_to_core_ns") is not None:
                    trips[tag].append(row["core_to_core_ns"])
    for key in sorted({k[:-1] for k in ops}):
        o, n = statistics.median(ops[key + ("old",)]), statistics.median(ops[key + ("new",)])
        op, size, qd, engines, threads = key
        print(f"{op:>10} {size:>8} B qd {qd:>4} eng {engines} thr {threads}  old {o / 1e6:8.2f} M/s  "
              f"new {n / 1e6:8.2f} M/s  new/old {n / o:5.2f}  ({rounds} alternating runs each)")
    for tag, seen in sorted(trips.items()):
        print(f"core-to-core round trip seen by {tag}: {min(seen):.0f}-{max(seen):.0f} ns")


if __name__ == "__main__":
    main()
