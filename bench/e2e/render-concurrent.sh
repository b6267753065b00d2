#!/usr/bin/env bash
# Concurrent dashboard renders (issue 15 item 2): batches of CONCURRENCY (20) mixed
# Grafana-like /render requests fired at once, against lonsdaleite and graphite-web 1.1.10
# under gunicorn with as many sync workers as the machine has cores, reading the same whisper
# files, in one run. Reports p50/p99 of the request times and of the batch times (what a
# dashboard waits for) per server, and the ratio graphite-web / lonsdaleite.
#
# - Data: SERVERS x METRICS (40 x 25 = 1000) series bench.srvNNN.mMMM made by whisper 1.1.10
#   (bench/e2e/render_data.py) with RETENTIONS (10s:1d,1m:7d), filled up to now: a point every
#   10 s over the last day and every minute over the week, so -7d reads the 1-minute archive.
# - Servers (bench/e2e/render-setup.sh, shared with render-vs-graphite-web.sh): graphite-web
#   1.1.10 from PyPI on Debian's django 3.2 and gunicorn (-w GW_WORKERS, default nproc), no
#   carbonlink, dummy cache; `lonsdaleite serve --shards 1` on the same tree with carbon ingest
#   running (loadgen, INGEST_RATE lines/s over INGEST_NAMES other series).
# - Requests (bench/e2e/render_concurrent.py plan, seeded with SEED so every run and both
#   servers get the same ones): from=-1h … -7d, 1 to 200 series each (one series, one server's
#   metrics, one metric on every server, 2–8 servers' metrics), raw, aliasByNode or
#   sumSeries/averageSeries/maxSeries, maxDataPoints 300–1900, format=json. One warm-up batch,
#   then BATCHES measured batches; each batch goes to both servers in turn (alternating which
#   goes first).
# - Before timing, the warm-up batch's requests are sent to both servers with absolute
#   from/until and the answers compared point by point (reported, not fatal).
#
#   bench/e2e/render-concurrent.sh [--help]
#   (BATCHES=20 CONCURRENCY=20 SEED=15 SERVERS=40 METRICS=25 RETENTIONS=10s:1d,1m:7d
#    GW_WORKERS=$(nproc) INGEST_RATE=2000 INGEST_NAMES=200 KEEP=1 keeps the data;
#    QUICK=1: a smoke test of the script (BATCHES=2 SERVERS=8), not a result;
#    GW_VENV (default ../venv-gwbench) CARGO_TARGET_DIR as usual; RUNS_ROOT, ALLOW_DIRTY:
#    see bench/e2e/run-record.sh (a tree with uncommitted changes is refused; run from a
#    clean worktree))
# Raw output: bench/e2e/runs/<UTC stamp>-render-concurrent/ (machine.txt, plan.json,
# compare.txt, results.jsonl with every request, table.md, the servers' logs).
# Needs: Debian 12 (python3, apt), the release binaries (built here), curl.
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/bench/e2e"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
if [[ -n ${QUICK:-} ]]; then : "${BATCHES:=2}" "${SERVERS:=8}"; fi
BATCHES=${BATCHES:-20}
CONCURRENCY=${CONCURRENCY:-20}
SEED=${SEED:-15}
SERVERS=${SERVERS:-40}
METRICS=${METRICS:-25}
RETENTIONS=${RETENTIONS:-10s:1d,1m:7d}
GW_WORKERS=${GW_WORKERS:-$(nproc)}
INGEST_RATE=${INGEST_RATE:-2000}
INGEST_NAMES=${INGEST_NAMES:-200}
RUN_COMMAND="BATCHES=$BATCHES CONCURRENCY=$CONCURRENCY SEED=$SEED SERVERS=$SERVERS METRICS=$METRICS RETENTIONS=$RETENTIONS GW_WORKERS=$GW_WORKERS INGEST_RATE=$INGEST_RATE INGEST_NAMES=$INGEST_NAMES${QUICK:+ QUICK=1} bench/e2e/render-concurrent.sh"
# shellcheck source=bench/e2e/run-record.sh
source "$HERE/run-record.sh"
run_record_init "render-concurrent${QUICK:+-smoke}"
exec > >(tee "$RUN_DIR/output.txt") 2>&1
[[ -n ${QUICK:-} ]] && echo "QUICK=1: a smoke test of the script, not a result"
OUT=$(mktemp -d /tmp/render-concurrent.XXXXXX)
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

render_gw_venv
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p lonsdaleite -p loadgen)
run_record_note "peer: $(render_versions), gunicorn -w $GW_WORKERS (sync workers) on $(nproc) cores"
run_record_note "lonsdaleite: $("$TARGET/release/lonsdaleite" --version), --shards 1, carbon ingest $INGEST_RATE lines/s over $INGEST_NAMES other series"
render_data "$SERVERS" "$METRICS" "$RETENTIONS" | tee -a "$RUN_DIR/machine.txt"
render_start_lonsdaleite
render_start_ingest "$INGEST_RATE" "$INGEST_NAMES"
render_start_graphite_web "$GW_WORKERS"

/usr/bin/python3 "$HERE/render_concurrent.py" plan "$SEED" "$BATCHES" "$CONCURRENCY" "$SERVERS" "$METRICS" >"$RUN_DIR/plan.json"
NOW=$(( $(date +%s) / 60 * 60 - 60 ))
/usr/bin/python3 "$HERE/render_concurrent.py" compare "$RUN_DIR/plan.json" "http://$GW" "http://$HTTP" "$NOW" |
  tee "$RUN_DIR/compare.txt"

run_record_note "start $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$HERE/render_concurrent.py" run "$RUN_DIR/plan.json" \
  "graphite-web=http://$GW" "lonsdaleite=http://$HTTP" >"$RUN_DIR/results.jsonl"
run_record_note "end $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
grep '"summary"' "$RUN_DIR/results.jsonl"
echo
{
  [[ -n ${QUICK:-} || -n ${RUN_DIRTY:-} ]] && echo "(${QUICK:+QUICK smoke test}${RUN_DIRTY:+ DIRTY tree}: not a result)" && echo
  /usr/bin/python3 "$HERE/render_concurrent.py" table "$RUN_DIR/results.jsonl"
} | tee "$RUN_DIR/table.md"
echo "raw output: $RUN_DIR"
