#!/usr/bin/env bash
# Installs the system packages Thaw needs on a fresh Debian machine (run as root), only when missing.
# Called by scripts/test and scripts/demo; safe to run again.
set -euo pipefail
need=()
for pkg in libzmq3-dev libopenblas-dev libsqlite3-dev zlib1g-dev protobuf-compiler pkg-config python3-zmq python3-protobuf; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
    for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$dir/swift" ] && export PATH="$dir:$PATH"
    done
fi
command -v swift >/dev/null 2>&1 || { echo "bootstrap: no Swift toolchain on PATH (Swift 6.1 or later is needed)" >&2; exit 1; }
