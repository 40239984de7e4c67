#!/usr/bin/env bash
# The end-to-end suite (the tests crate) again, on the daemon channel: an accel-simd serves the
# device and ACCELVERBS_SOCKET points every test's device at it. Tests that need the embedded
# device say why and return (accelverbs_tests::embedded_only).
#   bash tests/daemon_suite.sh   (after `cargo build -p accelverbs-rxe-sim`)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
target=${CARGO_TARGET_DIR:-target}
"$target/debug/accel-simd" --foreground --socket "$dir/sock" --mode 600 --engines 2 2>"$dir/log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true; rm -rf "$dir"' EXIT
# Wait for the socket itself (the daemon creates it listening).
for _ in $(seq 1 2000); do [ -S "$dir/sock" ] && break; sleep 0.01; done
[ -S "$dir/sock" ] || { cat "$dir/log"; echo "accel-simd did not listen"; exit 1; }
ACCELVERBS_SOCKET="$dir/sock" cargo test --locked -p accelverbs-tests
if ! kill -0 $daemon 2>/dev/null; then
    echo "accel-simd died during the suite:"; cat "$dir/log"; exit 1
fi
