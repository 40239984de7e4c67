"""A/B of two `accel` builds on one noisy machine: runs them alternately 7 times with the same
arguments and prints each row's median ops/s and the ratio new/old.

    python3 tests/ab_perf.py OLD_ACCEL NEW_ACCEL perf nop --qd 1,32 --repeat 1 --seconds 0.2
"""
import collections
import statistics
import subprocess
import sys

OLD, NEW = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
rows=collections.defaultdict(list)
for i in range(7):
    for tag,b in (('old',OLD),('new',NEW)):
        out=subprocess.run([b]+args,capture_output=True,text=True).stdout
        for line in out.splitlines():
            f=line.split()
            if len(f)>=3 and not line.startswith('#') and f[0]!='size' and f[0]!='op':
                rows[(f[0],f[1],tag)].append(float(f[2]))
for (a,q) in sorted({(k[0],k[1]) for k in rows}):
    o=statistics.median(rows[(a,q,'old')]); n=statistics.median(rows[(a,q,'new')])
    print(f"{a:>8} qd{q:>4}  old {o/1e6:8.2f} M/s  new {n/1e6:8.2f} M/s  new/old {n/o:5.2f}  (7 alternating runs each)")
