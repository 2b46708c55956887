#!/usr/bin/env bash
# `synack capture` vs tcpdump (writing, and printing) on the same lab link
# under the same loads (a spoofed-SYN flood, a connect loop), in turn:
# frames, kernel drops, CPU per handshake.
# Needs root and tcpdump (apt-get install tcpdump).
#
#   bench/capture.sh [SYNS]     (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p synack --bins --example capture_bench
./target/release/examples/capture_bench "${1:-200000}"
