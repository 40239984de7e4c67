#!/usr/bin/env bash
# The end-to-end suite (the accelverbs-tests crate) again, on the daemon channel: with
# ACCELVERBS_SOCKET set, each test's device is an accel-simd of its own (tests/src/daemon.rs),
# and devices() finds the one started here. Tests that need the embedded device say why and
# return (accelverbs_tests::embedded_only).
#
# It runs the test executables `cargo test --workspace` built (listed by cargo itself), so
# nothing is rebuilt: `cargo test -p accelverbs-tests` would unify features differently.
#   bash tests/daemon_suite.sh   (after `cargo build -p accelverbs-rxe-sim` and the tests stage)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
target=${CARGO_TARGET_DIR:-target}
mapfile -t tests < <(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and "#accelverbs-tests@" in m["package_id"] and m["target"]["kind"] == ["test"]:
        print(m["executable"])
' | sort -u)
[ ${#tests[@]} -gt 0 ] || { echo "no test executables of accelverbs-tests found"; exit 1; }
"$target/debug/accel-simd" --foreground --socket "$dir/sock" --mode 600 --engines 2 >/dev/null 2>"$dir/log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true; rm -rf "$dir"' EXIT
# Wait for the socket itself (the daemon creates it listening).
for _ in $(seq 1 2000); do [ -S "$dir/sock" ] && break; sleep 0.01; done
[ -S "$dir/sock" ] || { cat "$dir/log"; echo "accel-simd did not listen"; exit 1; }
failed=0
for t in "${tests[@]}"; do
    echo "     Running $(basename "$t") on the daemon"
    ACCELVERBS_SOCKET="$dir/sock" "$t" || failed=1
done
if ! kill -0 $daemon 2>/dev/null; then
    echo "accel-simd died during the suite:"; cat "$dir/log"; exit 1
fi
exit $failed
