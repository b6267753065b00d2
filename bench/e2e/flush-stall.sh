#!/usr/bin/env bash
# Does a flush stop a shard from reading its socket? Runs one release lonsdaleite shard
# (flush every 10 s, forwarding to a discarding listener, no storage), creates NAMES series,
# sends RATE lines/s for DURATION with loadgen, and prints the admin `stats` counters
# (lines counted, kernel drops, last flush, flush time and length) every 0.5 s. Drops that
# rise only around flushes mean the flush holds up the receive loop.
#
# Usage: bench/e2e/flush-stall.sh     (NAMES=1000000 RATE=200000 DURATION=25s by default;
#        SERVER_ARGS="--config f.toml" adds arguments to the server's command line)
# Needs: the release binaries (cargo build --release -p lonsdaleite -p loadgen), node, taskset.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
NAMES=${NAMES:-1000000}
RATE=${RATE:-200000}
DURATION=${DURATION:-25s}
OUT=${OUT:-$(mktemp -d /tmp/flush-stall.XXXXXX)}
# own scheduler autogroup at nice -20 on a shared machine (root only), as statsd-vs-etsy.sh
if [[ -z ${BENCH_E2E_SESSION:-} && -w /proc/self/autogroup ]]; then
    export BENCH_E2E_SESSION=1
    exec setsid --wait "$0" "$@"
fi
echo -20 >/proc/self/autogroup 2>/dev/null || true

SINK_PORT=$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
node -e 'require("net").createServer(s => { s.on("error", () => {}); s.resume(); }).listen(+process.argv[1], "127.0.0.1");' "$SINK_PORT" &
SINK=$!
mkdir -p "$OUT/data"
taskset -c 0,1 "$TARGET/release/lonsdaleite" serve --shards 1 --statsd-addr 127.0.0.1:0 \
    --admin-addr 127.0.0.1:0 --data-dir "$OUT/data" --flush-interval 10s \
    --forward "127.0.0.1:$SINK_PORT" --no-storage --carbon-addr off --pickle-addr off --http-addr off \
    ${SERVER_ARGS:-} >"$OUT/stdout" 2>"$OUT/stderr" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; sleep 3; kill -9 $SERVER 2>/dev/null || true; kill $SINK 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -qs '^listening admin tcp ' "$OUT/stdout" && break; sleep 0.1; done
STATSD=$(sed -n 's/^listening statsd udp //p' "$OUT/stdout")
ADMIN=$(sed -n 's/^listening admin tcp //p' "$OUT/stdout")

LOADGEN=(taskset -c 1 "$TARGET/release/loadgen" --target "$STATSD" --names "$NAMES" -q)
"${LOADGEN[@]}" --count "$NAMES" --rate 1000000 >/dev/null
"${LOADGEN[@]}" --duration "$DURATION" --rate "$RATE" --verify "$ADMIN" --server-pid "$SERVER" \
    >"$OUT/loadgen.txt" &
SENDER=$!
while kill -0 "$SENDER" 2>/dev/null; do
    stats=$(exec 3<>"/dev/tcp/${ADMIN%:*}/${ADMIN##*:}"; printf 'stats\n' >&3
        timeout 1 cat <&3 | grep -E 'metrics_received|kernel_drops|last_flush|flush_time|flush_length' || true)
    echo "$(date -u +%T.%N | cut -c1-12) $(echo "$stats" | tr '\n' ' ')"
    sleep 0.5
done
wait "$SENDER" || true
cat "$OUT/loadgen.txt"
