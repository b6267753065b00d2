#!/usr/bin/env bash
# Federation latency (issue 14, "Done when"): find and sumSeries through a lonsdaleite
# frontend over three lonsdaleite members, against a single node holding all the data, in
# one run on this machine.
#
#   bench/e2e/cluster-latency.sh [COMMIT]      (default HEAD)
#   (ROUNDS=3 N=100 SERVERS=120 METRICS=25; CARGO_TARGET_DIR as usual; PY = a python with
#   whisper 1.1.10, default python3, which tests/run-all gives it)
#
# - Builds `lonsdaleite` (release) from a clean worktree of COMMIT, so uncommitted edits in
#   the working tree do not leak in.
# - Data: SERVERS x METRICS (3000) whisper files bench.srvNNN.mMMM made by whisper 1.1.10
#   (render_data.py: one archive 10s:1d, a point every 10 s over the last day). The
#   single node (127.0.0.1) reads all of them. The three members (127.0.0.2, .3, .4) each
#   hold a third, split round-robin: file k = srv * METRICS + m goes to member k mod 3
#   (hard links into each member's tree). The frontend (127.0.0.1, another port) has
#   `[cluster] servers` = the three members and no data of its own.
# - Every node: `lonsdaleite serve --shards 1`, no ingest.
# - Before timing, the frontend's and the single node's answers are compared (the find as
#   a set of nodes, sumSeries over a fixed 6 h window point by point); a difference stops
#   the run.
# - Client: bench/e2e/cluster_latency_client.py (Python http.client, one kept-open
#   connection per server). Each round, for each query: a warm-up request on each, then N
#   requests alternating frontend, single, frontend, single, …
#     find    /metrics/find?query=bench.srv00*.*            (treejson, 250 leaves)
#     sum6h   /render?target=sumSeries(bench.srv0[0-3]*.*)&from=-6h&format=json  (1000 series)
#     sum24h  the same from=-24h
#
# Raw output: bench/e2e/runs/<UTC time>-cluster-latency/ (machine.txt, compare.txt,
# results.jsonl, table.txt, the nodes' stderr).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
COMMIT=$(git -C "$REPO" rev-parse "${1:-HEAD}")
ROUNDS=${ROUNDS:-3}
N=${N:-100}
SERVERS=${SERVERS:-120}
METRICS=${METRICS:-25}
PY=${PY:-python3}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
"$PY" -c 'import whisper' 2>/dev/null ||
  { echo "$PY has no whisper module: $PY -m pip install whisper==1.1.10" >&2; exit 1; }
RUNS="$HERE/runs/$(date -u +%Y%m%dT%H%MZ)-cluster-latency"
mkdir -p "$RUNS"
OUT=$(mktemp -d /tmp/cluster-latency.XXXXXX)
WT=$OUT/src
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in single frontend m1 m2 m3; do
    [[ -f $OUT/$n.stderr ]] && cp "$OUT/$n.stderr" "$RUNS/$n.stderr"
  done
  git -C "$REPO" worktree remove --force "$WT" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT

# --- build ----------------------------------------------------------------------------------
git -C "$REPO" worktree add --detach "$WT" "$COMMIT" >/dev/null
(cd "$WT" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p lonsdaleite)
BIN=$OUT/lonsdaleite
cp "$TARGET/release/lonsdaleite" "$BIN"
{
  echo "commit: $COMMIT ($(git -C "$REPO" log -1 --format=%s "$COMMIT"))"
  echo "binary: $("$BIN" --version)"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(findmnt -n -o FSTYPE --target "$OUT")"
  echo "command: ROUNDS=$ROUNDS N=$N SERVERS=$SERVERS METRICS=$METRICS bench/e2e/cluster-latency.sh $COMMIT"
} | tee "$RUNS/machine.txt"

# --- data -----------------------------------------------------------------------------------
mkdir -p "$OUT/single/whisper"
"$PY" "$HERE/render_data.py" "$OUT/single/whisper" "$SERVERS" "$METRICS" | tee -a "$RUNS/machine.txt"
for i in 1 2 3; do mkdir -p "$OUT/m$i/whisper/bench"; done
for ((s = 0; s < SERVERS; s++)); do
  srv=$(printf 'srv%03d' "$s")
  for i in 1 2 3; do mkdir -p "$OUT/m$i/whisper/bench/$srv"; done
  for ((m = 0; m < METRICS; m++)); do
    f=$(printf 'm%03d.wsp' "$m")
    i=$(((s * METRICS + m) % 3 + 1))
    ln "$OUT/single/whisper/bench/$srv/$f" "$OUT/m$i/whisper/bench/$srv/$f"
  done
done
mkdir -p "$OUT/frontend"

# --- nodes ----------------------------------------------------------------------------------
# start NAME IP CONFIG_TEXT: a node on IP (every listener on port 0) reading $OUT/NAME.
start() {
  local name=$1 ip=$2
  mkdir -p "$OUT/$name.conf"
  printf '[all]\npattern = .*\nretentions = 10s:1d\n' >"$OUT/$name.conf/storage-schemas.conf"
  printf '%s' "$3" >"$OUT/$name.conf/lonsdaleite.toml"
  "$BIN" serve --config "$OUT/$name.conf/lonsdaleite.toml" --shards 1 --data-dir "$OUT/$name" \
    --statsd-addr "$ip:0" --admin-addr "$ip:0" --carbon-addr "$ip:0" --pickle-addr off \
    --http-addr "$ip:0" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs '^listening http tcp ' "$OUT/$name.stdout" && break; sleep 0.1; done
  local http
  http=$(sed -n 's/^listening http tcp //p' "$OUT/$name.stdout")
  [[ -n $http ]] || { echo "$name did not start:" >&2; cat "$OUT/$name.stderr" >&2; exit 1; }
  eval "HTTP_$name=$http"
}
start single 127.0.0.1 ""
start m1 127.0.0.2 ""
start m2 127.0.0.3 ""
start m3 127.0.0.4 ""
# shellcheck disable=SC2154
start frontend 127.0.0.1 "[cluster]
servers = [\"$HTTP_m1\", \"$HTTP_m2\", \"$HTTP_m3\"]
"
# shellcheck disable=SC2154
echo "single $HTTP_single, frontend $HTTP_frontend, members $HTTP_m1 $HTTP_m2 $HTTP_m3" | tee -a "$RUNS/machine.txt"

# --- same answers ---------------------------------------------------------------------------
LAST=$(($(date +%s) / 10 * 10 - 60))
CLIENT=("$HERE/cluster_latency_client.py")
{
  /usr/bin/python3 "${CLIENT[@]}" compare "$HTTP_frontend" "$HTTP_single" "/metrics/find?query=bench.srv00*.*"
  /usr/bin/python3 "${CLIENT[@]}" compare "$HTTP_frontend" "$HTTP_single" \
    "/render?target=sumSeries(bench.srv0%5B0-3%5D*.*)&from=$((LAST - 21600))&until=$LAST&format=json"
} | tee "$RUNS/compare.txt"

# --- measure --------------------------------------------------------------------------------
echo "start $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUNS/machine.txt"
/usr/bin/python3 "${CLIENT[@]}" "$ROUNDS" "$N" frontend="$HTTP_frontend" single="$HTTP_single" -- \
  "find=/metrics/find?query=bench.srv00*.*" \
  "sum6h=/render?target=sumSeries(bench.srv0%5B0-3%5D*.*)&from=-6h&format=json" \
  "sum24h=/render?target=sumSeries(bench.srv0%5B0-3%5D*.*)&from=-24h&format=json" \
  >"$RUNS/results.jsonl"
echo "end $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUNS/machine.txt"
/usr/bin/python3 "${CLIENT[@]}" table "$RUNS/results.jsonl" | tee "$RUNS/table.txt"
grep -h 'cluster member' "$OUT/frontend.stderr" | head -5 || true
echo "raw output in $RUNS"
