#!/usr/bin/env bash
# Installs, where missing, the C libraries the workspace links (Debian packages): OpenSSL 3's
# libcrypto (AES-128-XTS, through openssl-sys, found with pkg-config), intel-ipsec-mb (AES-GCM)
# and ISA-L (deflate-family compression at levels 1 and 2). Enough to build and run `accel`; tests/run.sh installs what the tests need besides.
#   bash tests/build_deps.sh && cargo run --release -p accelverbs --bin accel -- demo
set -euo pipefail
need=()
[ -f /usr/include/openssl/evp.h ] || need+=(libssl-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -f /usr/include/intel-ipsec-mb.h ] || need+=(libipsec-mb-dev)
[ -f /usr/include/isa-l/igzip_lib.h ] || need+=(libisal-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
