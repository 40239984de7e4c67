#!/usr/bin/env bash
# Runs the end-to-end suite under ThreadSanitizer: the provider, the driver and the engines,
# with the standard library rebuilt instrumented. Any data race fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    rustup component add --toolchain nightly rust-src
fi
RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" CARGO_TARGET_DIR=target/tsan \
    cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --locked -p accelverbs-tests --tests "$@"
