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
# lonsdaleite runs as etsy does here: aggregate and forward to Graphite (a null sink), no
# whisper files (--no-storage), no carbon receivers.
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
SEARCH_STEPS=${SEARCH_STEPS:-7}
SOCKETS=${SOCKETS:-16}
# TCP: connections (loadgen threads); the kernel spreads them over the shards' listeners.
TCP_CONNECTIONS=${TCP_CONNECTIONS:-4}
SERVER_CPUS=${SERVER_CPUS:-0}
LOADGEN_CPUS=${LOADGEN_CPUS:-1}
MIX=${MIX:-c=60,ms=20,g=10,s=10}
# Other work on the machine (builds, tests) skews figures: before each run, wait up to
# QUIET_WAIT seconds until processes other than ours use under QUIET_BUSY of one CPU; after
# it, a run is marked noisy when, while loadgen was sending, other processes used more than
# NOISE_MAX CPU-seconds per second AND the server's threads waited for a CPU more than
# RUNQ_MAX seconds per second (schedstat); a noisy run that lost lines is repeated up to
# RETRIES times. The summary prefers max runs not marked noisy.
QUIET_BUSY=${QUIET_BUSY:-0.10}
QUIET_WAIT=${QUIET_WAIT:-5}
NOISE_MAX=${NOISE_MAX:-0.10}
RUNQ_MAX=${RUNQ_MAX:-0.05}
RETRIES=${RETRIES:-1}
# The machine may be shared (other builds). With autogroup scheduling (kernel.sched_autogroup_
# enabled=1) every session gets an equal share whatever its processes' nice values, so the
# script re-runs itself in a new session and gives that session's autogroup this nice value
# (root only): servers, graphite sink and loadgen, the same for both servers, then take the
# CPUs they need. NICE=0 turns this off.
NICE=${NICE:--20}
if [[ $NICE != 0 && -z ${BENCH_E2E_SESSION:-} && -w /proc/self/autogroup ]]; then
    export BENCH_E2E_SESSION=1
    exec setsid --wait "$0" "$@"
fi
if [[ -n ${BENCH_E2E_SESSION:-} ]] && ! echo "$NICE" >/proc/self/autogroup 2>/dev/null; then
    NICE=0
fi
AUTOGROUP=$(cat /proc/self/autogroup 2>/dev/null || echo "no autogroup")
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

# shellcheck source=tests/lib/need.sh
source "$REPO/tests/lib/need.sh"
need_command node nodejs && need_command npm npm && need_command jq jq || die "see above"
for tool in cargo taskset awk; do
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
    echo "priority: servers, graphite sink and loadgen in their own session, $AUTOGROUP; runs wait up to ${QUIET_WAIT}s for other processes to use < $QUIET_BUSY CPU, and are repeated up to $RETRIES times when others used > $NOISE_MAX CPU during the run"
    echo "placement: servers may use CPUs $SERVER_CPUS,$LOADGEN_CPUS (lonsdaleite pins shard i to the i-th of them; etsy's node threads and lonsdaleite's side thread float), loadgen is pinned to CPU(s) $LOADGEN_CPUS; server and sender share the machine's $(nproc) cores"
    echo "settings: names={$NAMES} shards={$SHARDS} protocols={$PROTOCOLS} duration=$DURATION flush=$FLUSH search_steps=$SEARCH_STEPS mix=$MIX per_packet=$PER_PACKET udp_sockets=$SOCKETS tcp_connections=$TCP_CONNECTIONS"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

free_port() {
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# --- servers ----------------------------------------------------------------------------
PIDS=()
stop_pid() { # SIGTERM (a server flushes, then exits), SIGKILL after 20 s
    local p=$1 i
    kill "$p" 2>/dev/null || return 0
    for i in $(seq 200); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then
        log "pid $p ignored SIGTERM for 20 s; killing it"
        kill -9 "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
}
cleanup() { # newest first: servers before the graphite sink they flush to
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
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
        --flush-interval "$FLUSH" --forward "$NULL_SINK" --no-storage \
        --carbon-addr off --pickle-addr off --http-addr off >"$dir/stdout" 2>"$dir/stderr" &
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
    (cd "$ETSY_DIR" && exec taskset -c "$SERVER_CPUS,$LOADGEN_CPUS" node stats.js "$dir/config.js") \
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
    stop_pid "$SERVER_PID"
}

# --- a quiet machine ----------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
ticks_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
ticks_of() { # pids... -> their utime + stime
    local p sum=0 t
    for p in "$@"; do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + t))
    done
    echo "$sum"
}
others_busy() { # CPU use of everything but our processes over 1 s, in CPUs (0.25 = a quarter of one)
    local b0 o0 b1 o1
    b0=$(ticks_busy) o0=$(ticks_of "${PIDS[@]}")
    sleep 1
    b1=$(ticks_busy) o1=$(ticks_of "${PIDS[@]}")
    awk -v b=$((b1 - b0)) -v o=$((o1 - o0)) -v t="$TCK" 'BEGIN { x = (b - o) / t; printf "%.2f", x < 0 ? 0 : x }'
}
wait_quiet() {
    local t0=$SECONDS f
    while f=$(others_busy); awk -v f="$f" -v m="$QUIET_BUSY" 'BEGIN { exit !(f > m) }'; do
        if ((SECONDS - t0 >= QUIET_WAIT)); then
            log "    other processes still use $f CPU after ${QUIET_WAIT}s; running anyway"
            return
        fi
    done
}

# --- runs -------------------------------------------------------------------------------
# run_loadgen LABEL SHARDS NAMES PROTO PHASE [loadgen args...]: one run, appended to runs.jsonl;
# prints the JSON report.
run_loadgen() {
    local label=$1 shards=$2 names=$3 proto=$4 phase=$5 json cmd
    shift 5
    local threads=1
    [[ $proto == statsd-tcp ]] && threads=$TCP_CONNECTIONS
    cmd=(taskset -c "$LOADGEN_CPUS" "$LOADGEN" --target "$STATSD_ADDR" --protocol "$proto" --threads "$threads"
        --names "$names" --mix "$MIX" --per-packet "$PER_PACKET" --sockets "$SOCKETS"
        --server-pid "$SERVER_PID" "${VERIFY_ARGS[@]}" --json -q "$@")
    local attempt noisy
    for attempt in $(seq $((RETRIES + 1))); do
        [[ $phase == warmup ]] || wait_quiet
        json=$("${cmd[@]}") || die "loadgen failed: ${cmd[*]}"
        json=$(jq -c --arg server "$label" --arg shards "$shards" --arg phase "$phase" \
            --arg cmd "${cmd[*]}" --argjson attempt "$attempt" --argjson max "$NOISE_MAX" --argjson rq "$RUNQ_MAX" \
            '{impl: $server, shards: $shards, phase: $phase, attempt: $attempt} + .
             + {noisy: ((.host.others_cpu_s // 0) > $max * .host.window_s
                        and (.host.server_runq_wait_s // 0) > $rq * .host.window_s),
                command: $cmd}' <<<"$json")
        echo "$json" >>"$RUNS"
        jq -r '"    \(.phase): sent \(.lines_sent) at \(.lines_per_s | floor)/s, counted \(.verify.received // "?"), loss \(.verify.loss_pct // "?")%, drops \(.server.kernel_drops // "-"), server cpu/M \(.server.cpu_s_per_m_lines // "-" | tostring | .[:5]), others \(.host.others_cpu_s // "-") CPU s, server waited \(.host.server_runq_wait_s // "-" | tostring | .[:4]) s\(if .noisy then " NOISY" else "" end)"' <<<"$json" >&2
        noisy=$(jq -r .noisy <<<"$json")
        # noise can only cost the server lines: a lossless run stands, a lossy noisy one is redone
        [[ $noisy == true && $phase != warmup ]] && ! lossless "$json" || break
    done
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
            rate=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 0.4 }')
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
