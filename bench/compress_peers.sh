#!/usr/bin/env bash
# accelverbs beside DPDK's software compression devices (issue 9): dpdk-test-compress-perf
# (Debian's dpdk-dev 22.11) with the ISA-L and zlib devices, without hugepages, one worker core,
# against `accel perf` (one engine thread), raw deflate, on the same sample (the demo's log
# text), 4 KiB and 64 KiB operations. MB/s of plain bytes; "ratio" is the compression ratio.
#   bash bench/compress_peers.sh [LEVEL...]      (default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
levels=("${@:-1}")
[ $# -gt 0 ] || levels=(1 2)
command -v dpdk-test-compress-perf >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq dpdk-dev >/dev/null
}
cargo build --release -q -p accelverbs --bin accel
accel=target/release/accel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$accel" demo --size 8m --format gzip --save "$work/sample" >/dev/null

# dpdk-test-compress-perf prints "lcore level comp_size ratio% comp_gbps decomp_gbps"; a 64 KiB
# operation is two 32 KiB segments (a segment holds at most 64 KiB - 1).
dpdk() {
    local dev=$1 level=$2 seg=$3 segs=$4
    dpdk-test-compress-perf -l 0,1 --no-huge -m 1024 --no-pci --vdev "$dev" --log-level=error -- \
        --driver-name "$dev" --input-file "$work/sample" --compress-level "$level" \
        --seg-sz "$seg" --max-num-sgl-segs "$segs" --num-iter 20 --huffman-enc dynamic --ptest throughput 2>&1 |
        awk '/^ +[0-9]+ +[0-9]+ +[0-9]+ /{ printf "%.0f %.0f %.2f\n", $5 * 125, $6 * 125, 100 / $4 }' | tail -1
}

printf "# %s; sample: 8 MiB of accel demo's log text\n" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf "%-26s %5s %6s %12s %12s %7s\n" "who" "level" "size" "comp MB/s" "decomp MB/s" "ratio"
for level in "${levels[@]}"; do
    for size in 4k 64k; do
        if [ $size = 4k ]; then seg=4096 segs=1; else seg=32768 segs=2; fi
        for dev in compress_isal compress_zlib; do
            read -r comp decomp ratio < <(dpdk $dev "$level" $seg $segs)
            printf "%-26s %5s %6s %12s %12s %7s\n" "dpdk $dev" "$level" $size "$comp" "$decomp" "$ratio"
        done
        for policy in threads inline; do
            c=$("$accel" perf compress --format deflate --level "$level" --size $size --qd 32 --repeat 5 --policy $policy --json)
            d=$("$accel" perf decompress --format deflate --level "$level" --size $size --qd 32 --repeat 5 --policy $policy --json)
            field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }
            ratio=$("$accel" perf compress --format deflate --level "$level" --size $size --qd 1 --repeat 1 --seconds 0.01 |
                sed -nE 's/# .*compresses ([0-9.]+):1/\1/p')
            printf "%-26s %5s %6s %12.0f %12.0f %7s\n" "accelverbs ($policy)" "$level" $size \
                "$(echo "$c" | field mb_per_s)" "$(echo "$d" | field mb_per_s)" "$ratio"
        done
    done
done
