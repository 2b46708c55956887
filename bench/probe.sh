#!/usr/bin/env bash
# Benchmark `synack probe`'s connect engine against a minimal mio connect
# loop (the ceiling) and nping --tcp-connect, in one run, against one
# accepting listener inside a synack lab. Needs root; nping from the Debian
# package nmap (apt-get install nmap) is optional.
#
#   bench/probe.sh [HANDSHAKES] [CONCURRENCY]   (defaults: 100000 16)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p synack --example probe_bench
./target/release/examples/probe_bench "${1:-100000}" "${2:-16}"
