#!/usr/bin/env bash
# What etsy statsd's cluster proxy (proxy.js, npm statsd@0.9.0) carries: the highest rate
# of StatsD lines it passes on without loss to lonsdaleite nodes behind it, on this
# machine. It is the StatsD figure of docs/cluster.md's capacity model: every StatsD line
# of a cluster behind one proxy crosses it.
#
# Usage: bench/e2e/statsd-proxy.sh [COMMIT]        (default HEAD; built in a clean worktree)
# Settings (environment): NODES=2 NAMES=10000 PER_PACKET="25 1" DURATION=10s
#   RATES="20000 40000 80000 160000 320000" (lines/s sent to the proxy, tried in order per
#   PER_PACKET until one loses lines), CARGO_TARGET_DIR.
#
# Setup: NODES lonsdaleite nodes (`serve --no-storage --shards 1`) on 127.0.0.2, .3, …;
# proxy.js from tests/cluster_proxy (npm ci there when missing) with its defaults
# (forkCount 0: one process; checkInterval 10 s) in front, on 127.0.0.1; the bundled
# loadgen sends counters (--mix c=100, so every line is counted as one received line)
# at a fixed --rate for DURATION. Counted: lines sent (loadgen) against lines the nodes
# received (the sum of their admin `messages.metrics_received`, read before and after,
# once unchanged for 1 s). proxy.js splits each datagram into lines and sends one
# datagram per line, so PER_PACKET=25 (batched clients) and 1 (one line a datagram) differ.
# Raw output: bench/e2e/runs/<UTC stamp>-statsd-proxy/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
COMMIT=$(git -C "$REPO" rev-parse "${1:-HEAD}")
NODES=${NODES:-2}
NAMES=${NAMES:-10000}
PER_PACKET=${PER_PACKET:-"25 1"}
DURATION=${DURATION:-10s}
RATES=${RATES:-"20000 40000 80000 160000 320000"}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
RUNS="$HERE/runs/$(date -u +%Y%m%dT%H%MZ)-statsd-proxy"
mkdir -p "$RUNS"
OUT=$(mktemp -d /tmp/statsd-proxy.XXXXXX)
WT=$OUT/src
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for f in "$OUT"/*.stderr "$OUT"/proxy.log; do [[ -f $f ]] && cp "$f" "$RUNS/"; done
  git -C "$REPO" worktree remove --force "$WT" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT

PROXY_DIR=$REPO/tests/cluster_proxy
if [[ ! -f $PROXY_DIR/node_modules/statsd/proxy.js ]]; then
  (cd "$PROXY_DIR" && npm ci --no-audit --no-fund --silent --omit=optional)
fi
git -C "$REPO" worktree add --detach "$WT" "$COMMIT" >/dev/null
(cd "$WT" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p lonsdaleite -p loadgen)
cp "$TARGET/release/lonsdaleite" "$TARGET/release/loadgen" "$OUT/"
{
  echo "commit: $COMMIT ($(git -C "$REPO" log -1 --format=%s "$COMMIT"))"
  echo "binary: $("$OUT/lonsdaleite" --version)"
  echo "proxy: etsy statsd $(node -p "require('$PROXY_DIR/node_modules/statsd/package.json').version") proxy.js, node $(node --version), forkCount 0"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r)"
  echo "command: NODES=$NODES NAMES=$NAMES PER_PACKET=\"$PER_PACKET\" DURATION=$DURATION RATES=\"$RATES\" bench/e2e/statsd-proxy.sh $COMMIT"
  echo "start: $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RUNS/machine.txt"

ADMINS=()
NODE_JS=""
for ((i = 0; i < NODES; i++)); do
  ip=127.0.0.$((i + 2))
  "$OUT/lonsdaleite" serve --no-storage --shards 1 --data-dir "$OUT/n$i" \
    --statsd-addr "$ip:0" --admin-addr "$ip:0" --carbon-addr off --pickle-addr off \
    --http-addr off >"$OUT/n$i.stdout" 2>"$OUT/n$i.stderr" &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs '^listening admin' "$OUT/n$i.stdout" && break; sleep 0.1; done
  statsd=$(sed -n 's/^listening statsd udp //p' "$OUT/n$i.stdout")
  admin=$(sed -n 's/^listening admin tcp //p' "$OUT/n$i.stdout")
  [[ -n $statsd && -n $admin ]] || { echo "node $i did not start:" >&2; cat "$OUT/n$i.stdout" "$OUT/n$i.stderr" >&2; exit 1; }
  ADMINS+=("$admin")
  NODE_JS+="{host: '$ip', port: ${statsd##*:}, adminport: ${admin##*:}},"
done
PROXY_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$OUT/proxy.conf.js" <<CONF
{ nodes: [$NODE_JS], host: '127.0.0.1', port: $PROXY_PORT, mgmt_address: '127.0.0.1', mgmt_port: 0, forkCount: 0 }
CONF
(cd "$PROXY_DIR/node_modules/statsd" && exec node proxy.js "$OUT/proxy.conf.js") >"$OUT/proxy.log" 2>&1 &
PIDS+=($!)
PROXY_PID=$!
sleep 2
echo "nodes: ${ADMINS[*]} (admin); proxy 127.0.0.1:$PROXY_PORT pid $PROXY_PID" | tee -a "$RUNS/machine.txt"

received() { # the nodes' messages.metrics_received, summed, once unchanged for 1 s
  python3 - "${ADMINS[@]}" <<'PY'
import socket, sys, time
def total():
    n = 0
    for a in sys.argv[1:]:
        host, port = a.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"stats\n")
            buf = b""
            while b"END" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        for line in buf.decode().splitlines():
            if line.startswith("messages.metrics_received:"):
                n += int(line.split(":")[1])
    return n
last, since = total(), time.time()
while time.time() - since < 1.0:
    time.sleep(0.2)
    now = total()
    if now != last:
        last, since = now, time.time()
print(last)
PY
}

cpu() { awk '{print $14 + $15}' "/proc/$PROXY_PID/stat"; }
TCK=$(getconf CLK_TCK)
printf '| lines per datagram | rate asked | lines sent | lines received by the nodes | lost %% | proxy CPU s / s |\n|---|---|---|---|---|---|\n' >"$RUNS/table.txt"
for per in $PER_PACKET; do
  # warm-up: every name once, so the proxy's cache and the nodes' series exist
  "$OUT/loadgen" --target "127.0.0.1:$PROXY_PORT" --protocol statsd-udp --names "$NAMES" --mix c=100 \
    --per-packet "$per" --count "$NAMES" --rate 20000 -q --json >/dev/null
  for rate in $RATES; do
    before=$(received)
    c0=$(cpu)
    json=$("$OUT/loadgen" --target "127.0.0.1:$PROXY_PORT" --protocol statsd-udp --names "$NAMES" \
      --mix c=100 --per-packet "$per" --rate "$rate" --duration "$DURATION" -q --json)
    after=$(received)
    c1=$(cpu)
    sent=$(jq .lines_sent <<<"$json")
    secs=$(jq '.elapsed_s // .duration_s // 0' <<<"$json")
    got=$((after - before))
    lost=$(python3 -c "print(round(100 * (1 - $got / $sent), 3) if $sent else 0)")
    load=$(python3 -c "print(round(($c1 - $c0) / $TCK / max(float('$secs' or 0), 1e-9), 2))")
    echo "$json" | jq -c --argjson per "$per" --argjson rate "$rate" --argjson got "$got" \
      '{per_packet: $per, rate: $rate, received_by_nodes: $got} + .' >>"$RUNS/results.jsonl"
    echo "| $per | $rate | $sent | $got | $lost | $load |" | tee -a "$RUNS/table.txt"
    [[ $got -lt $sent ]] && break
  done
done
echo "end: $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUNS/machine.txt"
cat "$RUNS/table.txt"
echo "raw output in $RUNS"
