#!/usr/bin/env bash
# Runs the race tests long, in release: ROUNDS times (default 200), each with the tests' own
# round counts multiplied by ACCELVERBS_STRESS (default 4). Any failure stops the loop and
# prints which round failed.
#   bash tests/soak.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
export ACCELVERBS_STRESS=${ACCELVERBS_STRESS:-4}
cargo test --release --locked -p accelverbs-tests --test races --test soundness --test copy --test send_recv --test async_events --no-run
cargo test --release --locked -p accelverbs-rxe-sim --lib --no-run
for i in $(seq 1 "$rounds"); do
    if ! cargo test --release --locked -q -p accelverbs-tests --test races --test soundness --test copy --test send_recv --test async_events >/tmp/accelverbs-soak.log 2>&1 ||
        ! cargo test --release --locked -q -p accelverbs-rxe-sim --lib event_queue >>/tmp/accelverbs-soak.log 2>&1; then
        echo "soak: round $i of $rounds failed"; cat /tmp/accelverbs-soak.log; exit 1
    fi
done
echo "soak: $rounds rounds passed (ACCELVERBS_STRESS=$ACCELVERBS_STRESS)"
