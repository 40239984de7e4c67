#!/usr/bin/env bash
# The opt-in heavy test (not in CI; docs/TESTING.md has its time): a stream of SIZE bytes
# (default 1.1 GiB, past every 32-bit counter) through `accel gzip` and stock `gunzip`, and
# through stock `gzip` and `accel gunzip`, compared by SHA-256 with the input. The input mixes
# text-like data with incompressible stretches, so both kinds of deflate blocks occur.
#   bash tests/heavy.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1126}
cargo build --release -q -p accelverbs --bin accel
accel=target/release/accel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Input: 64 MiB blocks, each 56 MiB of text-like lines and 8 MiB from /dev/urandom.
python3 - "$work/input" "$size_mib" <<'PY'
import os, random, sys
path, mib = sys.argv[1], int(sys.argv[2])
words = b"the device queue pair completion region memory compress stream engine of and a to in".split()
rng = random.Random(7)
line_pool = [b" ".join(rng.choice(words) for _ in range(12)) + b"\n" for _ in range(4096)]
text = b"".join(rng.choice(line_pool) for _ in range(200_000))
with open(path, "wb") as f:
    left = mib << 20
    while left > 0:
        for chunk in (text * (56 * 2**20 // len(text) + 1))[: 56 << 20], os.urandom(8 << 20):
            f.write(chunk[:left])
            left -= min(left, len(chunk))
PY
want=$(sha256sum < "$work/input" | cut -d' ' -f1)
echo "input: $(stat -c %s "$work/input") bytes, sha256 $want"

start=$SECONDS
got=$("$accel" gzip -c "$work/input" | gunzip -c | sha256sum | cut -d' ' -f1)
echo "accel gzip | gunzip: $((SECONDS - start)) s"
[ "$got" = "$want" ] || { echo "FAIL: accel gzip | gunzip changed the data ($got)"; exit 1; }

start=$SECONDS
got=$(gzip -c -1 "$work/input" | "$accel" gunzip -c | sha256sum | cut -d' ' -f1)
echo "gzip | accel gunzip: $((SECONDS - start)) s"
[ "$got" = "$want" ] || { echo "FAIL: gzip | accel gunzip changed the data ($got)"; exit 1; }
echo "heavy: 2 passed, 0 failed"
