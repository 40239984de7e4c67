"""A/B of two `accel` builds on one noisy machine: runs them alternately with the same `accel
perf` arguments (plus --json, which both builds must have) and prints each row's median ops/s
and the ratio new/old, with the core-to-core round trips the runs saw (engine rows hinge on
them; see docs/BENCHMARKS.md). Each old run is also paired with the new run after it, and the
pairs are grouped by the round trip both saw (fast under 180 ns, slow above, mixed when they
differ): this host flips between ~90 and ~340 ns, and a row's ratio means little across a flip.

    python3 bench/ab_perf.py OLD_ACCEL NEW_ACCEL perf nop --qd 1,32 --repeat 1 --seconds 0.2
    ROUNDS=9 python3 bench/ab_perf.py ...      (default 7 alternations)
"""
import collections
import json
import os
import statistics
import subprocess
import sys

from fast_medians import round_trip_kind


def main():
    old, new, args = sys.argv[1], sys.argv[2], sys.argv[3:] + ["--json"]
    rounds = int(os.environ.get("ROUNDS", "7"))
    ops = collections.defaultdict(list)
    trips = collections.defaultdict(list)
    pairs = collections.defaultdict(list)
    for _ in range(rounds):
        seen = {}
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
                seen[key + (tag,)] = (row["ops_per_s"], row.get("core_to_core_ns") or 0, row.get("ratio"))
        for key in {k[:-1] for k in seen}:
            (o, o_trip, o_ratio), (n, n_trip, n_ratio) = seen[key + ("old",)], seen[key + ("new",)]
            kinds = {round_trip_kind(o_trip), round_trip_kind(n_trip)}
            mode = kinds.pop() if len(kinds) == 1 else "mixed"
            pairs[key, mode].append((n / o, o_ratio, n_ratio))
    for key in sorted({k[:-1] for k in ops}):
        o, n = statistics.median(ops[key + ("old",)]), statistics.median(ops[key + ("new",)])
        op, size, qd, engines, threads = key
        print(f"{op:>10} {size:>8} B qd {qd:>4} eng {engines} thr {threads}  old {o / 1e6:8.2f} M/s  "
              f"new {n / 1e6:8.2f} M/s  new/old {n / o:5.2f}  ({rounds} alternating runs each)")
    for (key, mode), runs in sorted(pairs.items()):
        op, size, qd, engines, threads = key
        line = f"{op:>10} {size:>8} B qd {qd:>4} eng {engines} thr {threads}  {mode:>5} pairs {len(runs)}: " \
               f"new/old {statistics.median(r[0] for r in runs):5.2f}"
        if runs[0][1]:
            line += f"  ratio to the library old {statistics.median(r[1] for r in runs):.2f} new {statistics.median(r[2] for r in runs):.2f}"
        print(line)
    for tag, seen in sorted(trips.items()):
        print(f"core-to-core round trip seen by {tag}: {min(seen):.0f}-{max(seen):.0f} ns")


if __name__ == "__main__":
    main()
