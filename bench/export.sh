#!/usr/bin/env bash
# synack export under hostile clients (idle connections, endless request
# lines) against prometheus-node-exporter, in one run, on 127.0.0.1:
# RSS, threads and /metrics latency. Installs node_exporter if missing.
#
#   bench/export.sh [IDLE] [OVERSIZED] [SECONDS]     (default 2000 100 10)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v prometheus-node-exporter >/dev/null; then
    apt-get install -y -qq prometheus-node-exporter >/dev/null
    # The package starts a service on :9100; the bench runs its own.
    systemctl stop prometheus-node-exporter 2>/dev/null || pkill -x prometheus-node-exporter || true
fi
cargo build --release -q -p synack --bins --example export_bench
./target/release/examples/export_bench "${1:-2000}" "${2:-100}" "${3:-10}"
