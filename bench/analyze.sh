#!/usr/bin/env bash
# Benchmark `synack analyze` against tshark and tcpdump on one generated
# capture, in the same run, and print throughput, peak RSS and ratios.
#
#   bench/analyze.sh [BYTES] [SEED]      (defaults: 1200000000 bytes, seed 1)
#
# Needs tshark and tcpdump (apt-get install tshark tcpdump) and GNU time.
# The capture is written to $BENCH_DIR (default /tmp/synack-bench) and kept
# for reruns; each command runs once to warm the page cache, then
# $RUNS times (default 3), and the fastest run is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-1200000000}
seed=${2:-1}
runs=${RUNS:-3}
dir=${BENCH_DIR:-/tmp/synack-bench}
mkdir -p "$dir"
file="$dir/bench-$bytes-$seed.pcap"

for tool in tshark tcpdump /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install tshark tcpdump time)" >&2; exit 2; }
done
cargo build --release -q -p synack -p synack-gen
if [ ! -s "$file" ]; then
    ./target/release/synack-gen bench --bytes "$bytes" --seed "$seed" "$file"
fi
size=$(stat -c %s "$file")
packets=$(./target/release/synack analyze "$file" --format csv | wc -l)
cat "$file" > /dev/null

# measure NAME CMD...: prints "NAME seconds rss_kb" for the fastest of $runs.
measure() {
    local name=$1; shift
    "$@" > /dev/null 2>&1 || true
    local best="" rss=0
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$dir/time.out" "$@" > /dev/null 2>"$dir/err.out" || true
        read -r s kb < "$dir/time.out"
        if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$kb; fi
    done
    echo "$name $best $rss"
}

pkts=$(tcpdump -nn -r "$file" 2>/dev/null | wc -l)
{
    measure synack ./target/release/synack analyze "$file" --format json
    measure tshark tshark -r "$file" -q -z conv,tcp
    measure tcpdump sh -c "tcpdump -nn -r '$file' 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0' > /dev/null"
} > "$dir/results"

echo "capture: $file, $size bytes, $pkts packets, $((packets - 1)) handshake records"
echo "host: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
printf '%-8s %8s %10s %12s %10s\n' tool seconds MB/s kpackets/s "RSS MiB"
synack_s=$(awk '$1=="synack"{print $2}' "$dir/results")
while read -r name s kb; do
    awk -v n="$name" -v s="$s" -v kb="$kb" -v size="$size" -v p="$pkts" \
        'BEGIN{printf "%-8s %8.2f %10.0f %12.0f %10.1f\n", n, s, size/s/1e6, p/s/1e3, kb/1024}'
done < "$dir/results"
while read -r name s _; do
    [ "$name" = synack ] && continue
    awk -v n="$name" -v s="$s" -v me="$synack_s" 'BEGIN{printf "synack is %.1fx faster than %s\n", s/me, n}'
done < "$dir/results"
