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
# Receive buffers (RCVBUF, issue 15 item 5): a lossless rate depends on how deep the kernel
# queue of the StatsD socket is, so both servers get the same one:
#   RCVBUF=default  the host's sysctls as they are; every StatsD UDP socket of both servers
#                   gets net.core.rmem_default (what a socket that does not ask gets: etsy's
#                   node dgram socket; on a stock kernel 208 KiB). lonsdaleite is given
#                   `[statsd] recv_buffer = rmem_default / 2` in its config (the kernel
#                   doubles a request), so it asks for no more than etsy has.
#   RCVBUF=tuned    tuning/sysctl.d/60-lonsdaleite.conf applied for the run (root; the old
#                   values are put back at exit), then as for default: both get the tuned
#                   net.core.rmem_default (8 MiB).
#   RCVBUF=own      lonsdaleite asks for its own default (recv_buffer = 32 MiB, as root
#                   SO_RCVBUFFORCE), etsy gets rmem_default: UNEQUAL, the method of the runs
#                   before issue 15; labelled so in the raw output.
# The sizes the kernel actually granted (ss -m: skmem rb) are read for every server's
# sockets and kept in machine.txt and runs.jsonl.
#
# Usage: bench/e2e/statsd-vs-etsy.sh [--help]     # full run (about 30 min)
#        QUICK=1 bench/e2e/statsd-vs-etsy.sh      # smoke test of the script (about 3 min), not a result
# Settings (environment): SERVERS="lonsdaleite etsy" SHARDS="1 2" NAMES="10000 1000000"
#   PROTOCOLS="statsd-udp statsd-tcp" DURATION=10s FLUSH=10s SEARCH_STEPS=7 SOCKETS=16
#   RCVBUF=default (default|tuned|own, above) SERVER_CPUS=0 LOADGEN_CPUS=1
#   PEER_DIR=../peers/statsd CARGO_TARGET_DIR (default: target/ in the repository)
#   RUNS_ROOT, ALLOW_DIRTY: see bench/e2e/run-record.sh (a tree with uncommitted changes is
#   refused; run from a clean worktree). OUT= another directory for the raw output.
# Raw output: bench/e2e/runs/<UTC stamp>-statsd-vs-etsy-<RCVBUF>/ (machine.txt, runs.jsonl with
#   the exact loadgen command of each run, summary.md, the servers' stdout/stderr).
# Needs: cargo, node + npm (etsy statsd is installed into $PEER_DIR when absent, never into the
# repository), jq, taskset. Talks only to 127.0.0.1.
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
PEER_DIR=${PEER_DIR:-$(cd "$REPO/.." && pwd)/peers/statsd}
ETSY_VERSION=0.9.0
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RCVBUF=${RCVBUF:-default}
case $RCVBUF in default | tuned | own) ;; *) echo "RCVBUF=$RCVBUF: use default, tuned or own (see --help)" >&2; exit 2 ;; esac
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
RUN_COMMAND="SERVERS=\"$SERVERS\" SHARDS=\"$SHARDS\" NAMES=\"$NAMES\" PROTOCOLS=\"$PROTOCOLS\" DURATION=$DURATION FLUSH=$FLUSH SEARCH_STEPS=$SEARCH_STEPS RCVBUF=$RCVBUF${QUICK:+ QUICK=1} bench/e2e/statsd-vs-etsy.sh"
# shellcheck source=bench/e2e/run-record.sh
source "$REPO/bench/e2e/run-record.sh"
run_record_init "statsd-vs-etsy-$RCVBUF${QUICK:+-smoke}"
OUT=${OUT:-$RUN_DIR}
[[ -n ${QUICK:-} ]] && echo "QUICK=1: a smoke test of the script, not a result" | tee -a "$RUN_DIR/machine.txt" >&2
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

# the servers' data directories (state files), outside the raw output
DATA_TMP=$(mktemp -d /tmp/statsd-vs-etsy.XXXXXX)

# --- receive buffers (RCVBUF) -------------------------------------------------------------
SYSCTL_SAVED=()
restore_sysctls() {
    local kv
    for kv in "${SYSCTL_SAVED[@]}"; do
        echo "${kv#*=}" >"/proc/sys/${kv%%=*}" 2>/dev/null || log "could not restore ${kv%%=*}"
    done
    SYSCTL_SAVED=()
}
trap 'restore_sysctls; rm -rf "$DATA_TMP"' EXIT
if [[ $RCVBUF == tuned ]]; then
    while IFS='=' read -r key value; do
        key=$(echo "$key" | tr -d ' ') value=$(echo "$value" | tr -d ' ')
        [[ -z $key || $key == \#* ]] && continue
        path=/proc/sys/${key//.//}
        [[ -e $path ]] || { log "sysctl $key does not exist on this kernel; skipped"; continue; }
        old=$(cat "$path")
        [[ $old == "$value" ]] && continue
        [[ -w $path ]] || die "RCVBUF=tuned needs root to set $key = $value (now $old)"
        SYSCTL_SAVED+=("${key//.//}=$old")
        echo "$value" >"$path" || die "could not set $key = $value"
    done < <(grep -v '^[[:space:]]*#' "$REPO/tuning/sysctl.d/60-lonsdaleite.conf")
fi
RMEM_DEFAULT=$(cat /proc/sys/net/core/rmem_default)
# lonsdaleite's config: with default/tuned it asks for half of rmem_default (the kernel
# doubles the request), so its sockets get exactly what etsy's get.
LS_CONFIG=$OUT/lonsdaleite.toml
if [[ $RCVBUF == own ]]; then
    : >"$LS_CONFIG"
else
    printf '[statsd]\nrecv_buffer = %d\n' $((RMEM_DEFAULT / 2)) >"$LS_CONFIG"
fi
# rb of the UDP sockets bound to PORT (ss -m), unique values joined by ","
granted_rb() {
    ss -uamn "sport = :$1" 2>/dev/null | grep -o 'rb[0-9]*' | sed 's/rb//' | sort -u | paste -sd, -
}

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
    echo "commit: $(git -C "$REPO" rev-parse --short HEAD)${RUN_DIRTY:+ (DIRTY tree: not a result)}"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc) (lscpu: $(lscpu | sed -n 's/^Hypervisor vendor: *//p' | sed 's/^/hypervisor /'))"
    echo "kernel: $(uname -sr)"
    echo "memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
    echo "node: $(node --version), etsy statsd $(jq -r .version "$ETSY_DIR/package.json")"
    echo "rustc: $(rustc --version)"
    echo "RCVBUF=$RCVBUF: $(case $RCVBUF in default) echo "host sysctls unchanged; both servers' StatsD sockets get rmem_default (lonsdaleite: recv_buffer = $((RMEM_DEFAULT / 2)))" ;; tuned) echo "tuning/sysctl.d/60-lonsdaleite.conf applied for the run; both servers' StatsD sockets get rmem_default (lonsdaleite: recv_buffer = $((RMEM_DEFAULT / 2)))" ;; own) echo "UNEQUAL: lonsdaleite asks for its default recv_buffer (32 MiB, SO_RCVBUFFORCE as root), etsy gets rmem_default" ;; esac)"
    echo "sysctl during the runs: net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max) net.core.rmem_default=$(cat /proc/sys/net/core/rmem_default) net.core.netdev_max_backlog=$(cat /proc/sys/net/core/netdev_max_backlog) net.core.netdev_budget=$(cat /proc/sys/net/core/netdev_budget)"
    echo "memlock: $(ulimit -l), nofile: $(ulimit -n)"
    echo "priority: servers, graphite sink and loadgen in their own session, $AUTOGROUP; runs wait up to ${QUIET_WAIT}s for other processes to use < $QUIET_BUSY CPU, and are repeated up to $RETRIES times when others used > $NOISE_MAX CPU during the run"
    echo "placement: servers may use CPUs $SERVER_CPUS,$LOADGEN_CPUS (lonsdaleite pins shard i to the i-th of them; etsy's node threads and lonsdaleite's side thread float), loadgen is pinned to CPU(s) $LOADGEN_CPUS; server and sender share the machine's $(nproc) cores"
    echo "settings: names={$NAMES} shards={$SHARDS} protocols={$PROTOCOLS} duration=$DURATION flush=$FLUSH search_steps=$SEARCH_STEPS mix=$MIX per_packet=$PER_PACKET udp_sockets=$SOCKETS tcp_connections=$TCP_CONNECTIONS"
} >>"$OUT/machine.txt"
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
    restore_sysctls
    rm -rf "$DATA_TMP"
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
    rm -rf "$dir" "$DATA_TMP/$shards" && mkdir -p "$dir" "$DATA_TMP/$shards"
    taskset -c "$SERVER_CPUS,$LOADGEN_CPUS" "$LONSDALEITE" serve --config "$LS_CONFIG" --shards "$shards" \
        --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --data-dir "$DATA_TMP/$shards" \
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
    note_rb "lonsdaleite shards=$shards"
}

# Records the receive buffer the kernel granted the server's StatsD UDP sockets.
GRANTED=
note_rb() { # LABEL
    GRANTED=$(granted_rb "${STATSD_ADDR##*:}")
    echo "granted receive buffer (ss -m skmem rb, bytes) of $1's StatsD UDP sockets: ${GRANTED:-unknown}" | tee -a "$OUT/machine.txt" >&2
    if [[ $RCVBUF != own && -n $GRANTED && $GRANTED != "$RMEM_DEFAULT" ]]; then
        die "$1 got receive buffer $GRANTED, not rmem_default $RMEM_DEFAULT: the comparison would not be equal"
    fi
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
    note_rb etsy
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
            --arg rcvbuf "$RCVBUF" --arg granted "$GRANTED" \
            '{impl: $server, shards: $shards, phase: $phase, attempt: $attempt, rcvbuf: $rcvbuf, granted_rcvbuf: $granted} + .
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
    echo "## Run $STAMP (RCVBUF=$RCVBUF)${RUN_DIRTY:+ — DIRTY tree, not a result}${QUICK:+ — QUICK smoke test, not a result}"
    echo
    sed 's/^/    /' "$OUT/machine.txt"
    echo
    cat "$SUMMARY.table"
} >"$SUMMARY"
rm -f "$SUMMARY.table"
cat "$SUMMARY"
log "raw runs (with the exact loadgen command of each): $RUNS"
