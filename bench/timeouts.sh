#!/usr/bin/env bash
# Measures how common clients behave under each handshake fault, with
# their default settings and with a recommended one, through
# `synack lab matrix`, and writes the rows for docs/TIMEOUTS.md.
#
#   sudo bench/timeouts.sh [OUT_DIR]        (default /tmp/synack-timeouts)
#
# Needs root, curl, wget, python3 with requests and httpx, node, go
# (golang-go), psql (postgresql-client) and cargo (for the ureq client in
# bench/clients). A client whose tool is missing is left out. Every client
# runs all 16 faults in parallel labs (about 3 minutes each: the default
# settings wait for the kernel's SYN retries, 131-134 s on Linux 6.18 with
# tcp_syn_retries=6). One JSON file per client and setting; ONLY=name,...
# runs some of them. bench/timeouts_table.py makes the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/synack-timeouts}
mkdir -p "$out"
cargo build --release -q -p synack
synack=./target/release/synack
bin=$out/bin
mkdir -p "$bin"
if command -v go >/dev/null; then
    (cd bench/clients/go-get && GOFLAGS=-mod=mod go build -o "$bin/go-get" main.go)
fi
if [ ! -x "$bin/ureq-get" ]; then
    (cd bench/clients/ureq-get && CARGO_TARGET_DIR="$out/ureq-target" cargo build --release -q) &&
        cp "$out/ureq-target/release/ureq-get" "$bin/ureq-get"
fi

py_socket='import os, socket
socket.create_connection((os.environ["SYNACK_NAME"], int(os.environ["SYNACK_PORT"])){T}).close()'
py_urllib='import os, urllib.request
urllib.request.urlopen(os.environ["SYNACK_URL"]{T}).read()'
py_requests='import os, requests
requests.get(os.environ["SYNACK_URL"]{T}).raise_for_status()'
py_httpx='import os, httpx
httpx.get(os.environ["SYNACK_URL"]{T}).raise_for_status()'
node_fetch='fetch(process.env.SYNACK_URL{T}).then(r => r.arrayBuffer()).then(() => process.exit(0),
  e => { console.error(String(e.cause?.code || e.cause || e)); process.exit(1); })'

# name | command with the defaults | command with the recommended setting
clients=(
  "curl|curl -sS -o /dev/null \"\$SYNACK_URL\"|curl -sS --connect-timeout 5 -m 20 -o /dev/null \"\$SYNACK_URL\""
  "wget|wget -q -O /dev/null \"\$SYNACK_URL\"|wget -q -O /dev/null --timeout=5 --tries=2 \"\$SYNACK_URL\""
  "python-socket|python3 -c '${py_socket//\{T\}/}'|python3 -c '${py_socket//\{T\}/, timeout=5}'"
  "python-urllib|python3 -c '${py_urllib//\{T\}/}'|python3 -c '${py_urllib//\{T\}/, timeout=5}'"
  "python-requests|python3 -c '${py_requests//\{T\}/}'|python3 -c '${py_requests//\{T\}/, timeout=(5, 20)}'"
  "python-httpx|python3 -c '${py_httpx//\{T\}/}'|python3 -c '${py_httpx//\{T\}/, timeout=httpx.Timeout(20, connect=5)}'"
  "node-fetch|node -e '${node_fetch//\{T\}/}'|node -e '${node_fetch//\{T\}/, { signal: AbortSignal.timeout(20000) }}'"
  "go-net-http|$bin/go-get|$bin/go-get -recommended"
  "rust-ureq|$bin/ureq-get|$bin/ureq-get --recommended"
  "psql|psql -X -w -c 'select 1' \"host=\$SYNACK_NAME port=\$SYNACK_PORT user=x dbname=x\"|psql -X -w -c 'select 1' \"host=\$SYNACK_NAME port=\$SYNACK_PORT user=x dbname=x connect_timeout=5\""
)

for entry in "${clients[@]}"; do
    IFS='|' read -r name default recommended <<< "$entry"
    if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then
        continue
    fi
    tool=${default%% *}
    if ! command -v "$tool" >/dev/null && [ ! -x "$tool" ]; then
        echo "== $name: $tool is missing, left out" >&2
        continue
    fi
    for setting in default recommended; do
        cmd=$default
        [ "$setting" = recommended ] && cmd=$recommended
        echo "== $name ($setting): $cmd" >&2
        printf '%s\n' "$cmd" > "$out/$name.$setting.cmd"
        "$synack" lab matrix --jobs 16 --limit 180s --expect-timeout 30s --format json -- sh -c "$cmd" \
            > "$out/$name.$setting.json" || true
    done
done
echo "results in $out" >&2
