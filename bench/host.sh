#!/usr/bin/env bash
# synack's host snapshots (full, LISTEN-only, per-listener SYN-RECV, an
# exporter scrape) vs ss and netstat, in one run, on a lab namespace holding
# 100k+ TCP sockets (helper processes each hold 9,000: the open-file limit
# here is 20,000). Needs root, iproute2, net-tools and curl.
#
#   bench/host.sh [CONNECTIONS] [RUNS]     (default 50000 connections = 100k sockets, 11 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p synack --bins --example host_bench
./target/release/examples/host_bench "${1:-50000}" "${2:-11}"
