#!/usr/bin/env bash
# Benchmark `synack analyze` on compressed captures: the generated mixed
# capture gzip'ed (and zstd'ed when zstd is installed), read by synack
# directly and through `zcat |`, against `zcat | tshark` in the same run.
#
#   bench/compressed.sh [BYTES]      (default 300000000)
#
# Needs tshark, gzip and GNU time (zstd optional). Files go to $BENCH_DIR
# (default /tmp/synack-bench); each command runs once to warm the page
# cache, then $RUNS times (default 3), and the fastest run is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-300000000}
runs=${RUNS:-3}
dir=${BENCH_DIR:-/tmp/synack-bench}
mkdir -p "$dir"
for tool in tshark gzip /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install tshark gzip time)" >&2; exit 2; }
done
cargo build --release -q -p synack -p synack-gen
plain="$dir/bench-$bytes-1.pcap"
[ -s "$plain" ] || ./target/release/synack-gen bench --bytes "$bytes" --seed 1 "$plain" 2>/dev/null
[ -s "$plain.gz" ] || gzip -1 -c "$plain" > "$plain.gz"
if command -v zstd >/dev/null && [ ! -s "$plain.zst" ]; then zstd -q -1 -c "$plain" > "$plain.zst"; fi

# measure NAME CMD...: prints "NAME seconds" for the fastest of $runs.
measure() {
    local name=$1 best=""; shift
    "$@" > /dev/null 2>&1 || true
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e" -o "$dir/time.out" "$@" > /dev/null 2>&1 || true
        local s; s=$(cat "$dir/time.out")
        if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; fi
    done
    printf '%-28s %8.2f s %10.0f MB/s of capture\n' "$name" "$best" "$(awk -v b="$bytes" -v s="$best" 'BEGIN{print b/s/1e6}')"
}

echo "capture: $plain ($(stat -c %s "$plain") bytes; gzip -1: $(stat -c %s "$plain.gz") bytes)"
echo "host: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d); fastest of $runs runs"
measure "synack plain" ./target/release/synack analyze "$plain" --format json
measure "synack .gz" ./target/release/synack analyze "$plain.gz" --format json
measure "zcat | synack" sh -c "zcat '$plain.gz' | ./target/release/synack analyze - --format json"
measure "zcat | tshark" sh -c "zcat '$plain.gz' | tshark -r - -q -z conv,tcp"
if [ -s "$plain.zst" ]; then
    measure "synack .zst" ./target/release/synack analyze "$plain.zst" --format json
fi
