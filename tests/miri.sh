#!/usr/bin/env bash
# Runs the unit tests of the ABI, the driver, the device's MR table and lock-free protocols,
# and the provider's slot ring under Miri (undefined behaviour, data races, leaks). Tests that
# need system calls Miri cannot run (eventfd, poll) say so and are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add --toolchain nightly miri rust-src
fi
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --locked \
    -p accelverbs-uapi -p accelverbs-kernel-abi -p accelverbs-rxe-sim -p accelverbs --lib
