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

names=() defaults=() recommendeds=() servers=()
# client NAME COMMAND-WITH-DEFAULTS COMMAND-WITH-THE-RECOMMENDED-SETTING [SERVER-COMMAND]
client() { names+=("$1"); defaults+=("$2"); recommendeds+=("$3"); servers+=("${4:-}"); }

py() { printf 'python3 -c %q' "$1"; }
client curl 'curl -sS -o /dev/null "$SYNACK_URL"' \
    'curl -sS --connect-timeout 5 -m 20 -o /dev/null "$SYNACK_URL"'
client wget 'wget -q -O /dev/null "$SYNACK_URL"' \
    'wget -q -O /dev/null --timeout=5 --tries=2 "$SYNACK_URL"'
client python-socket \
    "$(py 'import os, socket; socket.create_connection((os.environ["SYNACK_NAME"], int(os.environ["SYNACK_PORT"]))).close()')" \
    "$(py 'import os, socket; socket.create_connection((os.environ["SYNACK_NAME"], int(os.environ["SYNACK_PORT"])), timeout=5).close()')"
client python-urllib \
    "$(py 'import os, urllib.request; urllib.request.urlopen(os.environ["SYNACK_URL"]).read()')" \
    "$(py 'import os, urllib.request; urllib.request.urlopen(os.environ["SYNACK_URL"], timeout=5).read()')"
client python-requests \
    "$(py 'import os, requests; requests.get(os.environ["SYNACK_URL"]).raise_for_status()')" \
    "$(py 'import os, requests; requests.get(os.environ["SYNACK_URL"], timeout=(5, 20)).raise_for_status()')"
client python-httpx \
    "$(py 'import os, httpx; httpx.get(os.environ["SYNACK_URL"]).raise_for_status()')" \
    "$(py 'import os, httpx; httpx.get(os.environ["SYNACK_URL"], timeout=httpx.Timeout(20, connect=5)).raise_for_status()')"
node_tail='.then(r => r.arrayBuffer()).then(() => process.exit(0), e => { console.error(String(e.cause ? (e.cause.code || e.cause) : e)); process.exit(1); })'
client node-fetch \
    "node -e $(printf %q "fetch(process.env.SYNACK_URL)$node_tail")" \
    "node -e $(printf %q "fetch(process.env.SYNACK_URL, { signal: AbortSignal.timeout(20000) })$node_tail")"
client go-net-http "$bin/go-get" "$bin/go-get -recommended"
client rust-ureq "$bin/ureq-get" "$bin/ureq-get --recommended"
# psql against a real PostgreSQL server in the lab (apt-get install
# postgresql): a data directory made once, copied for each row.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pg_server=""
if [ -n "$pg_bin" ]; then
    template=$out/pg-template
    if [ ! -d "$template" ]; then
        mkdir -p "$template" && chown postgres "$template"
        runuser -u postgres -- "$pg_bin/initdb" -D "$template" -A trust -U x >/dev/null
        printf 'host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n' >> "$template/pg_hba.conf"
    fi
    mkdir -p "$out/pg-rows"
    pg_server="d=\$(mktemp -d -p $out/pg-rows) && cp -a $template/. \$d && chown -R postgres \$d && chmod 700 \$d && exec runuser -u postgres -- $pg_bin/postgres -D \$d -p \$SYNACK_PORT -c listen_addresses='*' -k \$d"
fi
client psql 'psql -X -w -c "select 1" "host=$SYNACK_NAME port=$SYNACK_PORT user=x dbname=postgres"' \
    'psql -X -w -c "select 1" "host=$SYNACK_NAME port=$SYNACK_PORT user=x dbname=postgres connect_timeout=5"' \
    "$pg_server"

for i in "${!names[@]}"; do
    name=${names[$i]} default=${defaults[$i]} recommended=${recommendeds[$i]} server=${servers[$i]}
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
        serve=()
        [ -n "$server" ] && serve=(--server "$server")
        "$synack" lab matrix --jobs 16 --limit 180s --expect-timeout 30s "${serve[@]}" --format json \
            -- sh -c "$cmd" > "$out/$name.$setting.json" || true
    done
done
rm -rf "$out/pg-rows"
echo "results in $out" >&2
