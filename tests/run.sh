#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the C headers the ABI test compiles
# against (the kernel's rdma uapi and libibverbs' verbs.h) if missing, then format, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/include/rdma/ib_user_ioctl_cmds.h ] || need+=(linux-libc-dev)
[ -f /usr/include/infiniband/verbs.h ] || need+=(libibverbs-dev)
command -v cc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole workspace (cargo prints one per test binary, the last of which
# is often an empty doc-test run).
awk '/^test result:/ { p += $4; f += $6 } END { printf "workspace: %d passed, %d failed\n", p, f }' "$log"
