#!/usr/bin/env bash
# Benchmark `synack analyze` at the flow table's limits, against normal
# traffic in the same run: a spoofed SYN flood (2,000,000 lone SYNs from
# random sources) and 2,000,000 handshakes that complete and stay open,
# next to the mixed benchmark capture. Prints packets/s, the ratio to the
# normal capture's rate, and peak RSS (the default table's budget is 256 MB).
#
#   bench/flood.sh [FLOWS]      (default 2000000)
#
# Needs GNU time. Captures go to $BENCH_DIR (default /tmp/synack-bench);
# each command runs once to warm the page cache, then $RUNS times (default
# 5), and the fastest run is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=${1:-2000000}
runs=${RUNS:-5}
dir=${BENCH_DIR:-/tmp/synack-bench}
mkdir -p "$dir"
command -v /usr/bin/time >/dev/null || { echo "bench: GNU time is missing (apt-get install time)" >&2; exit 2; }
cargo build --release -q -p synack -p synack-gen
gen=./target/release/synack-gen
normal="$dir/bench-300000000-1.pcap"
[ -s "$normal" ] || "$gen" bench --bytes 300000000 --seed 1 "$normal" 2>/dev/null
[ -s "$dir/flood-syn-$flows.pcap" ] || "$gen" flood --flows "$flows" "$dir/flood-syn-$flows.pcap"
[ -s "$dir/flood-est-$flows.pcap" ] || "$gen" flood --flows "$flows" --established "$dir/flood-est-$flows.pcap"

# measure FILE: prints "seconds rss_kb packets" for the fastest of $runs.
measure() {
    local file=$1 best="" rss=0
    cat "$file" > /dev/null
    ./target/release/synack analyze "$file" --no-progress > /dev/null 2>&1 || true
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$dir/time.out" ./target/release/synack analyze "$file" --no-progress > "$dir/out.txt" 2>&1 || true
        read -r s kb < "$dir/time.out"
        if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$kb; fi
    done
    local packets
    packets=$(awk '/packets read/{print $2; exit}' "$dir/out.txt")
    echo "$best $rss $packets"
}

echo "host: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d); fastest of $runs runs"
printf '%-26s %10s %8s %12s %10s %9s\n' capture packets seconds kpackets/s "RSS MiB" "x normal"
read -r ns nkb np < <(measure "$normal")
for name in normal flood-syn flood-est; do
    case $name in
        normal) s=$ns kb=$nkb p=$np ;;
        *) read -r s kb p < <(measure "$dir/$name-$flows.pcap") ;;
    esac
    awk -v n="$name" -v s="$s" -v kb="$kb" -v p="$p" -v ns="$ns" -v np="$np" \
        'BEGIN{printf "%-26s %10d %8.2f %12.0f %10.1f %9.2f\n", n, p, s, p/s/1e3, kb/1024, (p/s)/(np/ns)}'
done
