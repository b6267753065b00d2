#!/usr/bin/env bash
# Render latency, lonsdaleite against graphite-web 1.1.10 reading the same whisper files, in
# one run (issue 4 item 9). Creates SERVERS x METRICS (1000) whisper files of 10 s points
# over the last day (whisper 1.1.10, schema 10s:1d), starts graphite-web 1.1.10 under
# gunicorn (WHISPER_DIR = that tree) and `lonsdaleite serve` (--data-dir = the same tree),
# keeps carbon ingest running into lonsdaleite (loadgen, INGEST_RATE lines/s over
# INGEST_NAMES other series), then times, for both servers, interleaved, one request at a time:
#   single   /render of one series, from=-1h, json
#   sum6h    /render sumSeries over the 1000 series, from=-6h, json
#   sum24h   the same from=-24h
#   find     /metrics/find?query=bench.*.* (treejson, Grafana's shape: globs 1000 files)
# ROUNDS rounds; each (round, server, query) has a warm-up request and up to N timed ones
# (fewer for slow queries: about 40 s per cell). Prints p50/p99 per server and query, the
# per-round p50s (spread) and the ratio graphite-web / lonsdaleite, as a Markdown table.
#
# graphite-web 1.1.10 runs as the reference says: PyPI graphite-web==1.1.10 (and whisper
# 1.1.10) on Debian's python3-django 3.2 under Debian's gunicorn, in a venv made with
# --system-site-packages at GW_VENV (made here if missing; apt-get needs root). Its request
# cache is off (Django's dummy cache, graphite's default) and it has no carbon-cache to ask
# (CARBONLINK_HOSTS empty, REPLICATION_FACTOR 0: no per-series cache query, its fastest
# configuration); lonsdaleite does ask its shard's cache for each series.
#
# The setup (graphite-web's venv, the data, both servers) is bench/e2e/render-setup.sh,
# shared with render-concurrent.sh.
#
#   bench/e2e/render-vs-graphite-web.sh [--help]
#   (ROUNDS=3 SERVERS=40 METRICS=25 INGEST_RATE=2000 INGEST_NAMES=200 GW_WORKERS=2 N_GW=20
#    N_LS=200 ONLY=both|graphite-web|lonsdaleite KEEP=1 keeps the data; QUICK=1: a smoke test
#    of the script (ROUNDS=1 SERVERS=4, N_GW=3 N_LS=10), not a result; CARGO_TARGET_DIR as
#    usual; RUNS_ROOT, ALLOW_DIRTY: see bench/e2e/run-record.sh (a tree with uncommitted
#    changes is refused; run from a clean worktree))
# Raw output: bench/e2e/runs/<UTC stamp>-render-vs-graphite-web/ (machine.txt, output.txt,
# results.jsonl with every (round, server, query) cell, table.md, the servers' logs).
# Needs: Debian 12 (python3, apt), the release binaries (built here), curl.
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/bench/e2e"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
if [[ -n ${QUICK:-} ]]; then : "${ROUNDS:=1}" "${SERVERS:=4}" "${N_GW:=3}" "${N_LS:=10}"; fi
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-40}
METRICS=${METRICS:-25}
INGEST_RATE=${INGEST_RATE:-2000}
INGEST_NAMES=${INGEST_NAMES:-200}
GW_WORKERS=${GW_WORKERS:-2}
N_GW=${N_GW:-20}
N_LS=${N_LS:-200}
ONLY=${ONLY:-both}
RUN_COMMAND="ROUNDS=$ROUNDS SERVERS=$SERVERS METRICS=$METRICS INGEST_RATE=$INGEST_RATE INGEST_NAMES=$INGEST_NAMES GW_WORKERS=$GW_WORKERS N_GW=$N_GW N_LS=$N_LS ONLY=$ONLY${QUICK:+ QUICK=1} bench/e2e/render-vs-graphite-web.sh"
# shellcheck source=bench/e2e/run-record.sh
source "$HERE/run-record.sh"
run_record_init "render-vs-graphite-web${QUICK:+-smoke}"
exec > >(tee "$RUN_DIR/output.txt") 2>&1
[[ -n ${QUICK:-} ]] && echo "QUICK=1: a smoke test of the script, not a result"
OUT=$(mktemp -d /tmp/render-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  # (a bare `wait` would also wait for the tee of this script's own output)
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  cp "$OUT/ls.stderr" "$RUN_DIR/lonsdaleite.stderr" 2>/dev/null || true
  cp "$OUT/gw/gunicorn.out" "$RUN_DIR/gunicorn.out" 2>/dev/null || true
  if [[ -z ${KEEP:-} ]]; then rm -rf "$OUT"; else echo "kept $OUT"; fi
}
trap cleanup EXIT
# shellcheck source=bench/e2e/render-setup.sh
source "$HERE/render-setup.sh"

# --- graphite-web 1.1.10 and the data -----------------------------------------------------
[[ $ONLY != lonsdaleite ]] && render_gw_venv
render_data "$SERVERS" "$METRICS" | tee -a "$RUN_DIR/machine.txt"
[[ $ONLY != lonsdaleite ]] && run_record_note "peer: $(render_versions), gunicorn -w $GW_WORKERS"

BASES=()
if [[ $ONLY != graphite-web ]]; then
  (cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p lonsdaleite -p loadgen)
  render_start_lonsdaleite
  render_start_ingest "$INGEST_RATE" "$INGEST_NAMES"
fi
if [[ $ONLY != lonsdaleite ]]; then
  render_start_graphite_web "$GW_WORKERS"
  BASES+=("graphite-web=http://$GW,$N_GW")
fi
[[ $ONLY != graphite-web ]] && BASES+=("lonsdaleite=http://$HTTP,$N_LS")

# --- same answers? (absolute times, so both see the same window) -----------------------------
LAST=$(( $(date +%s) / 10 * 10 - 60 ))
if [[ $ONLY == both ]]; then
  echo "sumSeries over the last 6 h up to $LAST, both servers:"
  /usr/bin/python3 "$HERE/render_client.py" compare "http://$GW" "http://$HTTP" \
    "/render?target=sumSeries(bench.*.*)&from=$((LAST - 21600))&until=$LAST&format=json"
fi

# --- measure ---------------------------------------------------------------------------------
echo "start $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$HERE/render_client.py" "$ROUNDS" "${BASES[@]}" -- \
  "single=/render?target=bench.srv000.m000&from=-1h&format=json" \
  "sum6h=/render?target=sumSeries(bench.*.*)&from=-6h&format=json" \
  "sum24h=/render?target=sumSeries(bench.*.*)&from=-24h&format=json" \
  "find=/metrics/find?query=bench.*.*" | tee "$RUN_DIR/results.jsonl"
echo "end $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $ONLY != graphite-web ]]; then
  stat() {
    exec 3<>"/dev/tcp/${ADMIN%:*}/${ADMIN##*:}"
    printf 'stats\nquit\n' >&3
    timeout 5 sed -n "s/^$1: //p" <&3
    exec 3<&-
  }
  echo "ingest during the run: carbon.metrics_received $(stat carbon.metrics_received)," \
    "storage.committed_points $(stat storage.committed_points), storage.errors $(stat storage.errors)"
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(findmnt -n -o FSTYPE --target "$OUT")"
echo
/usr/bin/python3 "$HERE/render_client.py" table "$RUN_DIR/results.jsonl" | tee "$RUN_DIR/table.md"
echo "raw output: $RUN_DIR"
