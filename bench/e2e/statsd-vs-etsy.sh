#!/usr/bin/env bash
# End-to-end StatsD benchmark: the release `lonsdaleite serve` (1 and 2 shards) against etsy
# statsd 0.9.0 (node), in one run, on this machine, with the bundled loadgen as the sender.
#
# What it reports is what each SERVER counted, not what loadgen sent:
#   - lonsdaleite: `messages.metrics_received` from its admin port (`stats`), read before and
#     after each run once it has stopped changing (loadgen --verify);
#   - etsy statsd: its own `stats_counts.statsd.metrics_received`, summed over the flushes its
#     graphite backend sends to loadgen's plaintext listener (loadgen --verify-carbon), from an
#     idle flush before the run to an idle flush after it.
# Both count non-empty lines. Per case (server x distinct names x protocol) it does:
#   1. warm-up: every name once, so series exist (not measured);
#   2. max:     loadgen unpaced for $DURATION; lines/s absorbed = lines counted / sending time;
#   3. lossless (UDP only): a search over loadgen --rate for the highest rate at which the server
#      counted every line sent (zero loss), in at most $SEARCH_STEPS runs of $DURATION each.
# loadgen --server-pid adds the server's CPU seconds per million lines (user+system, all
# threads, from the first packet until the count settled, flushes included), its RSS, and the
# kernel's receive-buffer drops on the StatsD port (/proc/net/udp).
#
# Usage: bench/e2e/statsd-vs-etsy.sh            # full run (about 30 min)
#        QUICK=1 bench/e2e/statsd-vs-etsy.sh    # smoke test of the script (about 3 min)
# Settings (environment): SERVERS="lonsdaleite etsy" SHARDS="1 2" NAMES="10000 1000000"
#   PROTOCOLS="statsd-udp statsd-tcp" DURATION=10s FLUSH=10s SEARCH_STEPS=6 SOCKETS=16
#   SERVER_CPUS=0 LOADGEN_CPUS=1 PEER_DIR=../peers/statsd OUT=/tmp/lonsdaleite-bench/<time>
#   CARGO_TARGET_DIR (default: target/ in the repository).
# Needs: cargo, node + npm (etsy statsd is installed into $PEER_DIR when absent, never into the
# repository), jq, taskset. Talks only to 127.0.0.1.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
PEER_DIR=${PEER_DIR:-$(cd "$REPO/.." && pwd)/peers/statsd}
ETSY_VERSION=0.9.0
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-/tmp/lonsdaleite-bench/$STAMP}
if [[ -n ${QUICK:-} ]]; then
    : "${NAMES:=10000}" "${DURATION:=3s}" "${FLUSH:=2s}" "${SEARCH_STEPS:=2}"
fi
SERVERS=${SERVERS:-"lonsdaleite etsy"}
SHARDS=${SHARDS:-"1 2"}
NAMES=${NAMES:-"10000 1000000"}
PROTOCOLS=${PROTOCOLS:-"statsd-udp statsd-tcp"}
DURATION=${DURATION:-10s}
FLUSH=${FLUSH:-10s}
SEARCH_STEPS=${SEARCH_STEPS:-6}
SOCKETS=${SOCKETS:-16}
SERVER_CPUS=${SERVER_CPUS:-0}
LOADGEN_CPUS=${LOADGEN_CPUS:-1}
MIX=${MIX:-c=60,ms=20,g=10,s=10}
PER_PACKET=${PER_PACKET:-25}

LONSDALEITE=$TARGET/release/lonsdaleite
LOADGEN=$TARGET/release/loadgen
RUNS=$OUT/runs.jsonl
SUMMARY=$OUT/summary.md

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

secs() { # 10s, 500ms, 2m -> seconds (float)
    awk -v d="$1" 'BEGIN { n = d + 0; u = d; sub(/^[0-9.]+/, "", u);
        if (u == "ms") n /= 1000; else if (u == "m") n *= 60; print n }'
}

for tool in cargo node npm jq taskset awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
mkdir -p "$OUT"
FLUSH_S=$(secs "$FLUSH")
FLUSH_MS=$(awk -v s="$FLUSH_S" 'BEGIN { printf "%d", s * 1000 }')
# a carbon count settles at an idle flush: up to two flush intervals after the last packet
SETTLE_MAX=$(awk -v s="$FLUSH_S" 'BEGIN { printf "%ds", s * 3 + 5 }')

# --- build and peer ---------------------------------------------------------------------
log "building release binaries into $TARGET"
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --bin lonsdaleite \
    && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p loadgen)
ETSY_DIR=$PEER_DIR/node_modules/statsd
if ! [[ -f $ETSY_DIR/stats.js ]] || [[ $(jq -r .version "$ETSY_DIR/package.json") != "$ETSY_VERSION" ]]; then
    log "installing etsy statsd $ETSY_VERSION into $PEER_DIR"
    mkdir -p "$PEER_DIR"
    [[ -f $PEER_DIR/package.json ]] || (cd "$PEER_DIR" && npm init -y >/dev/null)
    (cd "$PEER_DIR" && npm install --no-audit --no-fund "statsd@$ETSY_VERSION" >&2)
fi

# --- machine ----------------------------------------------------------------------------
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src loadgen Cargo.toml || echo ' (+ uncommitted changes)')"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc) (lscpu: $(lscpu | sed -n 's/^Hypervisor vendor: *//p' | sed 's/^/hypervisor /'))"
    echo "kernel: $(uname -sr)"
    echo "memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
    echo "node: $(node --version), etsy statsd $(jq -r .version "$ETSY_DIR/package.json")"
    echo "rustc: $(rustc --version)"
    echo "sysctl: net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max) net.core.rmem_default=$(cat /proc/sys/net/core/rmem_default) net.core.netdev_max_backlog=$(cat /proc/sys/net/core/netdev_max_backlog)"
    echo "memlock: $(ulimit -l), nofile: $(ulimit -n)"
    echo "placement: server on CPU(s) $SERVER_CPUS (lonsdaleite pins shard i to the i-th allowed CPU), loadgen on CPU(s) $LOADGEN_CPUS; both share the machine's $(nproc) cores"
    echo "settings: names={$NAMES} shards={$SHARDS} protocols={$PROTOCOLS} duration=$DURATION flush=$FLUSH search_steps=$SEARCH_STEPS mix=$MIX per_packet=$PER_PACKET sockets=$SOCKETS"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

free_port() {
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# --- servers ----------------------------------------------------------------------------
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

SERVER_PID='' STATSD_ADDR='' VERIFY_ARGS=()

# A graphite receiver that reads and discards (lonsdaleite's --forward target, so its flushes
# do the same formatting and socket work as etsy's).
start_null_sink() {
    local port
    port=$(free_port)
    node -e 'require("net").createServer(s => { s.on("error", () => {}); s.resume(); }).listen(+process.argv[1], "127.0.0.1");' "$port" &
    PIDS+=($!)
    NULL_SINK=127.0.0.1:$port
}

start_lonsdaleite() { # shards
    local shards=$1 dir=$OUT/lonsdaleite-$1 admin
    rm -rf "$dir" && mkdir -p "$dir/data"
    taskset -c "$SERVER_CPUS,$LOADGEN_CPUS" "$LONSDALEITE" serve --shards "$shards" \
        --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --data-dir "$dir/data" \
        --flush-interval "$FLUSH" --forward "$NULL_SINK" >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        grep -qs '^listening admin tcp ' "$dir/stdout" && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/stderr" >&2; die "lonsdaleite exited"; }
        sleep 0.1
    done
    STATSD_ADDR=$(sed -n 's/^listening statsd udp //p' "$dir/stdout")
    admin=$(sed -n 's/^listening admin tcp //p' "$dir/stdout")
    [[ -n $STATSD_ADDR && -n $admin ]] || die "lonsdaleite did not print its listeners"
    VERIFY_ARGS=(--verify "$admin" --settle-max "$SETTLE_MAX")
}

start_etsy() {
    local dir=$OUT/etsy port mgmt carbon
    rm -rf "$dir" && mkdir -p "$dir"
    port=$(free_port) mgmt=$(free_port) carbon=$(free_port)
    cat >"$dir/config.js" <<EOF
{
  servers: [
    { server: "./servers/udp", address: "127.0.0.1", port: $port },
    { server: "./servers/tcp", address: "127.0.0.1", port: $port }
  ],
  mgmt_address: "127.0.0.1", mgmt_port: $mgmt,
  flushInterval: $FLUSH_MS,
  graphiteHost: "127.0.0.1", graphitePort: $carbon,
  backends: ["./backends/graphite"]
}
EOF
    (cd "$ETSY_DIR" && exec taskset -c "$SERVER_CPUS" node stats.js "$dir/config.js") \
        >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        grep -qs 'server is up' "$dir/stdout" && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/stdout" "$dir/stderr" >&2; die "etsy statsd exited"; }
        sleep 0.1
    done
    STATSD_ADDR=127.0.0.1:$port
    VERIFY_ARGS=(--verify-carbon "127.0.0.1:$carbon" --settle-max "$SETTLE_MAX")
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# --- runs -------------------------------------------------------------------------------
# run_loadgen LABEL SHARDS NAMES PROTO PHASE [loadgen args...]: one run, appended to runs.jsonl;
# prints the JSON report.
run_loadgen() {
    local label=$1 shards=$2 names=$3 proto=$4 phase=$5 json cmd
    shift 5
    cmd=(taskset -c "$LOADGEN_CPUS" "$LOADGEN" --target "$STATSD_ADDR" --protocol "$proto"
        --names "$names" --mix "$MIX" --per-packet "$PER_PACKET" --sockets "$SOCKETS"
        --server-pid "$SERVER_PID" "${VERIFY_ARGS[@]}" --json -q "$@")
    json=$("${cmd[@]}") || die "loadgen failed: ${cmd[*]}"
    json=$(jq -c --arg server "$label" --arg shards "$shards" --arg phase "$phase" \
        --arg cmd "${cmd[*]}" \
        '{impl: $server, shards: $shards, phase: $phase} + . + {command: $cmd}' <<<"$json")
    echo "$json" >>"$RUNS"
    jq -r '"    \(.phase): sent \(.lines_sent) at \(.lines_per_s | floor)/s, counted \(.verify.received // "?"), loss \(.verify.loss_pct // "?")%, drops \(.server.kernel_drops // "-"), cpu/M \(.server.cpu_s_per_m_lines // "-")"' <<<"$json" >&2
    echo "$json"
}

lossless() { # JSON -> exit 0 when the server counted every line sent and the count settled
    jq -e '.verify.received == .lines_sent and .verify.settled and .lines_sent > 0' <<<"$1" >/dev/null
}

bench_case() { # LABEL SHARDS NAMES PROTO
    local label=$1 shards=$2 names=$3 proto=$4 json rate lo=0 hi=0 step
    log "$label shards=$shards names=$names $proto"
    run_loadgen "$label" "$shards" "$names" "$proto" warmup --count "$names" \
        --rate "$([[ $label == etsy ]] && echo 50000 || echo 1000000)" >/dev/null
    json=$(run_loadgen "$label" "$shards" "$names" "$proto" max --duration "$DURATION")
    [[ $proto == statsd-udp ]] || return 0
    if lossless "$json"; then
        log "    the server counted every line loadgen could send: the lossless rate is at least the sender's"
        return 0
    fi
    rate=$(jq '.server.absorbed_lines_per_s // 0 | floor' <<<"$json")
    [[ $rate -gt 0 ]] || rate=10000
    for step in $(seq "$SEARCH_STEPS"); do
        json=$(run_loadgen "$label" "$shards" "$names" "$proto" "search$step" \
            --duration "$DURATION" --rate "$rate")
        if lossless "$json"; then lo=$rate; else hi=$rate; fi
        if [[ $lo -gt 0 && $hi -gt 0 ]]; then
            awk -v l="$lo" -v h="$hi" 'BEGIN { exit !(h / l < 1.06) }' && break
            rate=$(awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%d", sqrt(l * h) }')
        elif [[ $lo -gt 0 ]]; then
            rate=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 1.4 }')
        else
            rate=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 0.6 }')
        fi
    done
}

log "results in $OUT"
start_null_sink
for server in $SERVERS; do
    case $server in
    lonsdaleite) shard_list=$SHARDS ;;
    etsy) shard_list=1 ;;
    *) die "unknown server $server" ;;
    esac
    for shards in $shard_list; do
        for names in $NAMES; do
            # a fresh server per name count: etsy keeps (and flushes) every name it has seen
            if [[ $server == etsy ]]; then start_etsy; else start_lonsdaleite "$shards"; fi
            for proto in $PROTOCOLS; do
                bench_case "$server" "$( [[ $server == etsy ]] && echo - || echo "$shards")" "$names" "$proto"
            done
            stop_server
        done
    done
done

# --- summary ----------------------------------------------------------------------------
# Per case: the max run, and the highest-rate lossless run among max and search runs.
jq -rs -f "$REPO/bench/e2e/summary.jq" "$RUNS" >"$SUMMARY.table"
{
    echo "## Run $STAMP"
    echo
    sed 's/^/    /' "$OUT/machine.txt"
    echo
    cat "$SUMMARY.table"
} >"$SUMMARY"
rm -f "$SUMMARY.table"
cat "$SUMMARY"
log "raw runs (with the exact loadgen command of each): $RUNS"
