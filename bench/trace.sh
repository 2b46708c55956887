#!/usr/bin/env bash
# What `synack trace` costs a connect loop (pairs of rounds without and
# with it, in one run: the median of the pairs' ratios), and what it loses
# under a burst of connects. Needs root, and what the ebpf feature needs to build (clang,
# libelf-dev, zlib1g-dev, make, bpftool).
#
#   bench/trace.sh [CONNECTS_PER_ROUND] [BURST] [PAIRS]   (defaults: 10000 100000 80)
#   PIN=1 bench/trace.sh ...   the connecting thread pinned to CPU 0, the accepting one to CPU 1
#   TRACE_ARGS="--buffer-kib 1024" bench/trace.sh ...   options for synack trace
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p synack --features ebpf --bin synack --example trace_bench
./target/release/examples/trace_bench ./target/release/synack "${1:-10000}" "${2:-100000}" "${3:-80}"
