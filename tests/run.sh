#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what is missing (the C headers the ABI
# test compiles against: the kernel's rdma uapi and libibverbs' verbs.h; the stock compression
# tools the codec tests compare with: gzip, zstd, lz4, Python's lz4; a font for `accel perf`'s
# charts; rdma-core's tools and python suite, which run against the libibverbs plugin; what
# rust-ibverbs builds with), then
# format, lint, the tests (the end-to-end ones on both channels: embedded and the accel-simd
# daemon), and the checks of the unsafe core: loom models, Miri,
# ThreadSanitizer (nightly).
#   bash tests/run.sh          everything (what CI runs)
#   QUICK=1 bash tests/run.sh  format, lint and tests only
set -euo pipefail
cd "$(dirname "$0")/.."

# The C libraries the workspace links.
bash tests/build_deps.sh
need=()
[ -f /usr/include/rdma/ib_user_ioctl_cmds.h ] || need+=(linux-libc-dev)
[ -f /usr/include/infiniband/verbs.h ] || need+=(libibverbs-dev)
# Stock verbs tools and rdma-core's own python suite, run against the plugin (docs/RDMA_CORE.md).
command -v ibv_devinfo >/dev/null || need+=(ibverbs-utils)
[ -d /usr/share/doc/rdma-core/tests ] || need+=(rdma-core)
/usr/bin/python3 -c 'import pyverbs' 2>/dev/null || need+=(python3-pyverbs)
command -v setpriv >/dev/null || need+=(util-linux)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v objdump >/dev/null || need+=(binutils)
command -v cc >/dev/null || need+=(gcc)
for tool in gzip zstd lz4; do command -v $tool >/dev/null || need+=($tool); done
/usr/bin/python3 -c 'import lz4.block' 2>/dev/null || need+=(python3-lz4)
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
/usr/bin/python3 -c "import cryptography_vectors" 2>/dev/null || need+=(python3-cryptography-vectors)
# The font `accel perf --plot` lays its labels out with.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# rust-ibverbs (a dev-dependency of the plugin's examples): its -sys crate configures rdma-core
# with cmake (which wants pkg-config and libnl) and runs bindgen (libclang).
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -f /usr/include/libnl3/netlink/route/link.h ] || need+=(libnl-3-dev libnl-route-3-dev)
[ -f /usr/include/libudev.h ] || need+=(libudev-dev)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
stage() {
    local name=$1; shift
    echo "== $name"
    local start=$SECONDS
    "$@" 2>&1 | tee "$logs/$name.log"
    echo "== $name: $((SECONDS - start)) s"
}

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The libibverbs plugin is a cdylib, which `cargo test` does not build; its tests load it. The
# daemon tests run accel-simd and accel, binaries of other packages than theirs.
cargo build --locked -p accelverbs-rdma-core -p accelverbs-rxe-sim -p accelverbs
stage tests cargo test --workspace --locked
# The end-to-end suite once more, on the daemon channel (one suite, two channels).
stage tests-daemon bash tests/daemon_suite.sh
if [ -z "${QUICK:-}" ]; then
    # Compile-fail doc tests name the error they expect; only nightly rustdoc checks the code.
    stage doc-error-codes cargo +nightly test --locked -p accelverbs --doc
    stage loom bash tests/loom.sh
    stage miri bash tests/miri.sh
    stage tsan bash tests/tsan.sh
fi
# One closing line for everything (cargo prints one per test binary, the last of which is
# often an empty doc-test run).
cat "$logs"/*.log | awk '/^test result:/ { p += $4; f += $6 } END { printf "workspace: %d passed, %d failed\n", p, f }'
