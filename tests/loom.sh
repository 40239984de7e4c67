#!/usr/bin/env bash
# Model-checks the lock-free protocols with loom: CQ arming (rxe-sim/src/hw/notify.rs), the
# destroy gate for doorbell looks (rxe-sim/src/hw/gate.rs) and the provider's slot ring
# (provider/src/slot_ring.rs). Release build in its own target directory (`--cfg loom` changes
# every crate's flags), without the release profile's LTO, which the models do not need and
# which would only lengthen their build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom CARGO_PROFILE_RELEASE_LTO=false \
    cargo test --release --locked -p accelverbs-uapi -p accelverbs-rxe-sim -p accelverbs --lib loom
