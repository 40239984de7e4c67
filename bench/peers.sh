#!/usr/bin/env bash
# accelverbs beside DPDK's software devices (issue 9), one table: DPDK 22.11's
# dpdk-test-compress-perf (ISA-L and zlib devices) and dpdk-test-crypto-perf (ipsec-mb's
# crypto_aesni_gcm and crypto_openssl), from Debian's dpdk-dev, without hugepages, one worker
# core; `accel perf` (QD 32, through one engine thread and run by the posting thread) with the
# library it calls run directly on the same buffers; the same sizes for all. Raw deflate on the
# demo's log text (DPDK reads the same text from a file), AES-256-GCM encryption. MB/s are 10^6
# bytes of input a second (plain bytes for decompression).
#   bash bench/peers.sh                 deflate level 1, 4 KiB and 64 KiB (about 2 minutes)
#   LEVEL=2 SIZES=4096 bash bench/peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
level=${LEVEL:-1}
sizes=${SIZES:-4096,65536}
for size in ${sizes//,/ }; do
    # DPDK's segments hold at most 64 KiB - 1: larger operations are chained 32 KiB segments.
    [[ $size =~ ^[0-9]+$ && $size -ge 1 && ($size -le 32768 || $((size % 32768)) -eq 0) ]] ||
        { echo "bench/peers.sh: SIZES: $size is not a byte count up to 32768 or a multiple of it" >&2; exit 2; }
done
command -v dpdk-test-compress-perf >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq dpdk-dev >/dev/null
}
cargo build --release --locked -q -p accelverbs --bin accel
accel=target/release/accel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$accel" demo --size 8m --format gzip --save "$work/sample" >/dev/null
dpdk_eal=(-l 0,1 --no-huge -m 1024 --no-pci --log-level=error)

# segment size and count for a DPDK operation of $1 bytes
segments() { if [ "$1" -le 32768 ]; then echo "$1 1"; else echo "32768 $(($1 / 32768))"; fi; }

# A DPDK tool's run failed: its last lines, kept in $work/$1.log, on stderr.
dpdk_failed() {
    echo "bench/peers.sh: $1 failed ($2); its last lines:" >&2
    tail -5 "$work/$1.log" >&2
}

# dpdk-test-compress-perf's last row: "lcore level comp_size ratio% comp_gbps decomp_gbps" ->
# "comp_MB/s decomp_MB/s ratio", or "failed(N)" in each field.
dpdk_compress() {
    local dev=$1 size=$2 seg segs status=0 out
    read -r seg segs < <(segments "$size")
    out=$(dpdk-test-compress-perf "${dpdk_eal[@]}" --vdev "$dev" -- \
        --driver-name "$dev" --input-file "$work/sample" --compress-level "$level" \
        --seg-sz "$seg" --max-num-sgl-segs "$segs" --num-iter 20 --huffman-enc dynamic --ptest throughput \
        2>"$work/$dev.log") || status=$?
    out=$(awk '/^ +[0-9]+ +[0-9]+ +[0-9]+ /{ printf "%.0f %.0f %.2f\n", $5 * 125, $6 * 125, 100 / $4 }' <<<"$out" | tail -1)
    if [ "$status" -ne 0 ] || [ -z "$out" ]; then
        dpdk_failed "$dev" "exit $status"
        out="failed($status) failed($status) -"
    fi
    echo "$out"
}

# dpdk-test-crypto-perf's MB/s for AES-256-GCM encryption, "failed(N)" if it fails, "hangs" past
# 60 s. Segments of 32 KiB: the digest goes after the data, so a segment of just the operation's
# size would chain. DPDK 22.11's openssl device never completes GCM over chained mbufs (a 64 KiB
# operation is two segments): measured once (docs/BENCHMARKS.md), then no longer run.
dpdk_gcm() {
    local dev=$1 size=$2 status=0 out
    if [ "$dev" = crypto_openssl ] && [ "$size" -gt 32768 ]; then
        echo "hangs (chained mbufs; not run)"
        return
    fi
    out=$(timeout 60 dpdk-test-crypto-perf "${dpdk_eal[@]}" --vdev "${dev}0" -- \
        --ptest throughput --devtype "$dev" --optype aead --aead-algo aes-gcm --aead-op encrypt \
        --aead-key-sz 32 --aead-iv-sz 12 --digest-sz 16 --total-ops 200000 --pool-sz 1024 \
        --buffer-sz "$size" --segment-sz 32768 --burst-sz 32 --csv-friendly 2>"$work/$dev.log") || status=$?
    out=$(grep -E "^1,$size," <<<"$out" || true)
    if [ -n "$out" ]; then
        awk -F, -v s="$size" '{ printf "%.0f", $8 * s }' <<<"$out" # the 8th field: millions of ops a second
    elif [ "$status" -eq 124 ]; then
        echo hangs
    else
        dpdk_failed "$dev" "exit $status"
        echo "failed($status)"
    fi
}

# `accel perf ARGS` at QD 32 through an engine and on the posting thread (--json, medians of
# 5) -> "engine_MB/s inline_MB/s direct_MB/s" (the library's, from the engine run)
accel_perf() {
    local policy mb lib engine direct inline
    for policy in threads inline; do
        read -r mb lib < <("$accel" perf "$@" --qd 32 --policy "$policy" --repeat 5 --json |
            sed -E 's/.*"mb_per_s":([0-9.]+).*"direct_mb_per_s":([0-9.]+).*/\1 \2/' |
            awk '{ printf "%.0f %.0f\n", $1, $2 }')
        if [ $policy = threads ]; then engine=$mb direct=$lib; else inline=$mb; fi
    done
    echo "$engine $inline $direct"
}

row() { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n" "$@"; }

# As bench/benchmarks.sh says which commit (and whether the tree differed from it).
printf "cpu: %s; commit %s; %s\n\n" "$("$accel" perf nop --qd 1 --repeat 1 --seconds 0.01 | sed -n 's/^# cpu: //p')" \
    "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo ' (modified)')" "$(date -u +%Y-%m-%d)"
row "operation" "size" "accelverbs, engine" "accelverbs, inline" "library, direct" "DPDK ISA-L / aesni_gcm" \
    "DPDK zlib / openssl" "ratio x:1 (ours, ISA-L, zlib)"
row "---" "---:" "---:" "---:" "---:" "---:" "---:" "---:"
for size in ${sizes//,/ }; do
    read -r isal_c isal_d isal_ratio < <(dpdk_compress compress_isal "$size")
    read -r zlib_c zlib_d zlib_ratio < <(dpdk_compress compress_zlib "$size")
    ours=$("$accel" perf compress --format deflate --level "$level" --size "$size" --qd 1 --repeat 1 --seconds 0.01 |
        sed -nE 's/# .*compresses ([0-9.]+):1/\1/p')
    ratios="$ours, $isal_ratio, $zlib_ratio"
    for direction in compress decompress; do
        read -r engine inline direct < <(accel_perf "$direction" --format deflate --level "$level" --size "$size")
        if [ $direction = compress ]; then isal=$isal_c zlib=$zlib_c; else isal=$isal_d zlib=$zlib_d; fi
        row "deflate $level $direction" "$size" "$engine" "$inline" "$direct" "$isal" "$zlib" "$ratios"
    done
    read -r engine inline direct < <(accel_perf encrypt --alg aes-256-gcm --size "$size")
    row "AES-256-GCM encrypt" "$size" "$engine" "$inline" "$direct" "$(dpdk_gcm crypto_aesni_gcm "$size")" \
        "$(dpdk_gcm crypto_openssl "$size")" ""
done
printf "\naccelverbs: accel perf --qd 32 --repeat 5, medians; library, direct: what the device runs, called by\n"
printf "accel perf on the same registered buffers in the engine run: ISA-L (deflate compression at levels 1 and\n"
printf "2), zlib-rs (the other levels, inflate), intel-ipsec-mb. DPDK: one worker core, --no-huge, burst 32\n"
printf "(crypto) or 20 iterations over the 8 MiB sample (compression), dynamic Huffman. Read the speeds with the\n"
printf "ratio column: devices on different libraries do not compress alike at one level.\n"
