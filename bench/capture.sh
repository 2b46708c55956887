#!/usr/bin/env bash
# `synack capture` vs `tcpdump -w /dev/null` on the same lab link under the
# same spoofed-SYN load, in turn: frames, kernel drops, CPU per handshake.
# Needs root and tcpdump (apt-get install tcpdump).
#
#   bench/capture.sh [SYNS]     (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p synack -p synack --example capture_bench
./target/release/examples/capture_bench "${1:-200000}"
