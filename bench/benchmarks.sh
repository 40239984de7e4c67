#!/usr/bin/env bash
# Regenerates the measured part of docs/BENCHMARKS.md (between its "generated" markers) from
# `accel perf`: each benchmark below runs once with --json and --plot, its rows and chart go
# to docs/benchmarks/NAME.{json,svg}; bench/peers.sh's table of DPDK's devices beside ours goes
# to docs/benchmarks/peers.md; bench/render_benchmarks.py writes the tables, each under the
# command that reproduces it, with the machine they came from. About 6 minutes on 2 vCPUs; run
# it on an otherwise idle machine (the spread column says when it was not).
#   bash bench/benchmarks.sh            all of them
#   bash bench/benchmarks.sh copy_      only the benchmarks whose name starts with copy_
#   bash bench/benchmarks.sh peers      only DPDK's devices beside ours
set -euo pipefail
cd "$(dirname "$0")/.."
only=${1:-}
cargo build --release --locked -q -p accelverbs --bin accel -p accelverbs-rxe-sim --bin accel-simd
out=docs/benchmarks
mkdir -p "$out"

# name | title | accel perf arguments (medians of 5 runs of 0.3 s per point: the tool's defaults)
benchmarks=(
    "nop_engine|NOP through one engine thread|nop --qd 1,32,128"
    "nop_inline|NOP run by the posting thread|nop --qd 1,32,128 --policy inline --engines 0"
    "copy_engine|COPY through one engine thread, against memcpy|copy --size 64,4k,64k,1m --qd 1,32"
    "copy_inline|COPY run by the posting thread, against memcpy|copy --size 64,4k,64k,1m --qd 1,32 --policy inline --engines 0"
    "copy_scaling|COPY 64 KiB through one and two engine threads|copy --size 64k --qd 32 --engines 1,2"
    "copy_threads|COPY by one and two application threads, each on its own QP, run inline|copy --size 4k,64k --qd 32 --threads 1,2 --policy inline --engines 0"
    "deflate_compress|Raw deflate level 1 compression, against ISA-L|compress --format deflate --level 1 --size 4k,64k --qd 1,32"
    "deflate_decompress|Raw deflate level 1 decompression (of ISA-L's output), against zlib-rs|decompress --format deflate --level 1 --size 4k,64k --qd 1,32"
    "deflate_inline|Raw deflate level 1, run by the posting thread|compress --format deflate --level 1 --size 4k,64k --qd 32 --policy inline --engines 0"
    "zstd_compress|zstd level 1 compression, against libzstd|compress --format zstd --level 1 --size 4k,64k --qd 32"
    "lz4_decompress|LZ4 block decompression, against liblz4|decompress --format lz4-block --level 1 --size 4k,64k --qd 32"
    "gcm_encrypt|AES-256-GCM encryption, against intel-ipsec-mb|encrypt --alg aes-256-gcm --size 16,4k,64k --qd 1,32"
    "gcm_inline|AES-256-GCM encryption, run by the posting thread|encrypt --alg aes-256-gcm --size 16,4k,64k --qd 32 --policy inline --engines 0"
    "gcm_decrypt|AES-256-GCM decryption, against intel-ipsec-mb|decrypt --alg aes-256-gcm --size 4k,64k --qd 32"
    "xts_encrypt|AES-256-XTS encryption (512-byte units), against aws-lc|encrypt --alg aes-256-xts --size 4k,64k --qd 32"
    "sha256|SHA-256, against aws-lc|digest --alg sha256 --size 4k,64k --qd 32"
    "crc32c|CRC32C, against crc-fast|digest --alg crc32c --size 4k,64k --qd 32"
    "copy_scaling_asleep|COPY 64 KiB by one and two engine threads while the application sleeps between batches|copy --size 64k --qd 2048 --threads 2 --engines 1,2 --wait event --spin-us 0"
    "daemon_copy|COPY through the accel-simd daemon and in-process, for memory shared with the daemon (owned) and memory it copies (caller)|copy --size 4k,64k,1m --qd 1,32 --channel embedded,daemon --memory owned,caller"
)

# The CPU as the tool names it: model name, family and model, vector extensions.
cpu=$(target/release/accel perf nop --qd 1 --repeat 1 --seconds 0.01 | sed -n 's/^# cpu: //p')
machine=$(printf '%s; %s vCPUs; Linux %s; %s; commit %s; %s' \
    "$cpu" "$(nproc)" "$(uname -r)" \
    "$(rustc --version | cut -d' ' -f1-2)" "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo ' (modified)')" \
    "$(date -u +%Y-%m-%d)")
list=()
for entry in "${benchmarks[@]}"; do
    IFS='|' read -r name title args <<<"$entry"
    list+=("$name|$title|$args")
    [[ -z $only || $name == "$only"* ]] || continue
    echo "== $name: accel perf $args" >&2
    # shellcheck disable=SC2086 # the arguments are words
    target/release/accel perf $args --json --plot "$out/$name.svg" >"$out/$name.json.new"
    mv "$out/$name.json.new" "$out/$name.json"
    # Each table keeps the machine and commit it was measured on: a partial run (a name
    # prefix) leaves the others as they were, measured elsewhere or earlier.
    printf '%s\n' "$machine" >"$out/$name.machine"
done

if [[ -z $only || peers == "$only"* ]]; then
    echo "== peers: bash bench/peers.sh" >&2
    bash bench/peers.sh >"$out/peers.md.new"
    mv "$out/peers.md.new" "$out/peers.md"
fi

printf '%s\n' "${list[@]}" | python3 bench/render_benchmarks.py "$out" "$machine" docs/BENCHMARKS.md
echo "docs/BENCHMARKS.md: regenerated" >&2
