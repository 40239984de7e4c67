#!/usr/bin/env bash
# AES-256-GCM encryption through the device (`accel perf encrypt`, inline and through an engine
# thread) beside intel-ipsec-mb called directly (accel perf's own baseline, the same calls on the same
# buffers) and DPDK 22.11's software crypto devices (dpdk-test-crypto-perf: ipsec-mb's
# crypto_aesni_gcm and crypto_openssl, no hugepages, one worker core), at the same sizes, in one
# table of MB/s (10^6 bytes per second).
#   bash bench/crypto_peers.sh [SIZES]      e.g. bash bench/crypto_peers.sh 4096,65536
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-4096,65536}
command -v dpdk-test-crypto-perf >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq dpdk-dev >/dev/null
}
cargo build --release --locked -q -p accelverbs --bin accel
accel=target/release/accel

declare -A rate
for policy in inline threads; do
    while IFS= read -r line; do
        size=$(sed -E 's/.*"size":([0-9]+).*/\1/' <<<"$line")
        rate[$policy,$size]=$(sed -E 's/.*"mb_per_s":([0-9.]+).*/\1/' <<<"$line")
        rate[direct,$size]=$(sed -E 's/.*"direct_mb_per_s":([0-9.]+).*/\1/' <<<"$line")
    done < <($accel perf encrypt --alg aes-256-gcm --size "$sizes" --qd 32 --policy "$policy" --seconds 1 --repeat 3 --json)
done

# DPDK: a 64 KiB buffer does not fit one mbuf (16-bit lengths): segments of 32 KiB. DPDK 22.11's
# openssl device never completes AES-GCM over chained mbufs (the tool spins until killed): a run
# that does not finish in 60 s is reported as "hangs".
for dev in crypto_aesni_gcm crypto_openssl; do
    for size in ${sizes//,/ }; do
        status=0
        out=$(timeout 60 dpdk-test-crypto-perf -l 0,1 --no-huge -m 1024 --no-pci --vdev "${dev}0" --log-level 1 -- \
            --ptest throughput --devtype "$dev" --optype aead --aead-algo aes-gcm --aead-op encrypt \
            --aead-key-sz 32 --aead-iv-sz 12 --digest-sz 16 --total-ops 200000 --pool-sz 1024 \
            --buffer-sz "$size" --segment-sz 32768 --burst-sz 32 --csv-friendly 2>/dev/null) || status=$?
        out=$(grep -E "^1,$size," <<<"$out" || true)
        # Ops (millions) is the 8th field.
        if [ -n "$out" ]; then
            rate[$dev,$size]=$(awk -F, -v s="$size" '{ printf "%.1f", $8 * s }' <<<"$out")
        elif [ "$status" -eq 124 ]; then
            rate[$dev,$size]=hangs
        else
            rate[$dev,$size]="failed($status)"
        fi
    done
done

printf "AES-256-GCM encryption, MB/s (cpu: %s)\n" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf "%10s %12s %14s %12s %18s %16s\n" size "device inline" "device engine" "ipsec-mb direct" "dpdk aesni_gcm" "dpdk openssl"
for size in ${sizes//,/ }; do
    printf "%10s %12s %14s %12s %18s %16s\n" "$size" "${rate[inline,$size]:--}" "${rate[threads,$size]:--}" \
        "${rate[direct,$size]:--}" "${rate[crypto_aesni_gcm,$size]:--}" "${rate[crypto_openssl,$size]:--}"
done
echo "(device: accel perf encrypt --qd 32, median of 3 s; ipsec-mb direct: accel perf's direct runs on the same buffers;"
echo " DPDK: dpdk-test-crypto-perf throughput, burst 32, one worker core, --no-huge)"
