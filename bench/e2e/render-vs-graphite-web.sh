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
#   bench/e2e/render-vs-graphite-web.sh
#   (ROUNDS=3 SERVERS=40 METRICS=25 INGEST_RATE=2000 INGEST_NAMES=200 GW_WORKERS=2 N_GW=20
#    N_LS=200 ONLY=both|graphite-web|lonsdaleite KEEP=1 keeps the data; CARGO_TARGET_DIR as usual)
# Needs: Debian 12 (python3, apt), the release binaries (built here), curl.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/bench/e2e"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-40}
METRICS=${METRICS:-25}
INGEST_RATE=${INGEST_RATE:-2000}
INGEST_NAMES=${INGEST_NAMES:-200}
GW_WORKERS=${GW_WORKERS:-2}
N_GW=${N_GW:-20}
N_LS=${N_LS:-200}
ONLY=${ONLY:-both}
GW_VENV=${GW_VENV:-$(dirname "$REPO")/venv-gwbench}
OUT=$(mktemp -d /tmp/render-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ -z ${KEEP:-} ]]; then rm -rf "$OUT"; else echo "kept $OUT"; fi
}
trap cleanup EXIT

# --- graphite-web 1.1.10 -------------------------------------------------------------------
if [[ $ONLY != lonsdaleite ]] && ! "$GW_VENV/bin/python" -c 'import graphite, whisper, gunicorn, django' 2>/dev/null; then
  # shellcheck source=tests/lib/need.sh
  source "$REPO/tests/lib/need.sh"
  need_package python3-django gunicorn python3-tz python3-six python3-urllib3 python3-pyparsing \
    python3-cairo python3-venv
  /usr/bin/python3 -m venv --system-site-packages "$GW_VENV"
  "$GW_VENV/bin/pip" install -q --no-deps graphite-web==1.1.10 whisper==1.1.10 django-tagging==0.4.3
fi
PY=/usr/bin/python3
[[ $ONLY != lonsdaleite ]] && PY="$GW_VENV/bin/python"
"$PY" -c 'import whisper' 2>/dev/null || { echo "python whisper missing (GW_VENV=$GW_VENV)" >&2; exit 1; }

# --- data ----------------------------------------------------------------------------------
mkdir -p "$OUT/data/whisper" "$OUT/conf" "$OUT/gw/storage/log"
"$PY" "$HERE/render_data.py" "$OUT/data/whisper" "$SERVERS" "$METRICS"
cat >"$OUT/conf/storage-schemas.conf" <<EOF
[all]
pattern = .*
retentions = 10s:1d
EOF
: >"$OUT/conf/lonsdaleite.toml"

BASES=()
if [[ $ONLY != graphite-web ]]; then
  (cd "$REPO" && cargo build --release --quiet -p lonsdaleite -p loadgen)
  "$TARGET/release/lonsdaleite" serve --config "$OUT/conf/lonsdaleite.toml" --shards 1 \
    --data-dir "$OUT/data" --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
    --carbon-addr 127.0.0.1:0 --pickle-addr off --http-addr 127.0.0.1:0 \
    >"$OUT/ls.stdout" 2>"$OUT/ls.stderr" &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs '^listening http tcp ' "$OUT/ls.stdout" && break; sleep 0.1; done
  HTTP=$(sed -n 's/^listening http tcp //p' "$OUT/ls.stdout")
  [[ -n $HTTP ]] || { echo "lonsdaleite did not start:" >&2; cat "$OUT/ls.stderr" >&2; exit 1; }
  CARBON=$(sed -n 's/^listening carbon tcp //p' "$OUT/ls.stdout")
  ADMIN=$(sed -n 's/^listening admin tcp //p' "$OUT/ls.stdout")
  "$TARGET/release/loadgen" --target "$CARBON" --protocol carbon-tcp --names "$INGEST_NAMES" \
    --prefix ingest. --rate "$INGEST_RATE" --duration 3600s -q >"$OUT/loadgen.txt" 2>&1 &
  PIDS+=($!)
fi
if [[ $ONLY != lonsdaleite ]]; then
  cat >"$OUT/gw/gwbench_settings.py" <<EOF
SECRET_KEY = "render-bench"
STORAGE_DIR = "$OUT/gw/storage"
LOG_DIR = "$OUT/gw/storage/log"
WHISPER_DIR = "$OUT/data/whisper"
CARBONLINK_HOSTS = []
REPLICATION_FACTOR = 0
EOF
  export PYTHONPATH="$OUT/gw" GRAPHITE_SETTINGS_MODULE=gwbench_settings DJANGO_SETTINGS_MODULE=graphite.settings
  (cd "$OUT/gw" && "$GW_VENV/bin/python" -m django migrate --noinput >"$OUT/gw/migrate.out" 2>&1)
  (cd "$OUT/gw" && exec "$GW_VENV/bin/python" -m gunicorn -w "$GW_WORKERS" -b 127.0.0.1:0 \
    graphite.wsgi:application >"$OUT/gw/gunicorn.out" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs 'Listening at' "$OUT/gw/gunicorn.out" && break; sleep 0.1; done
  GW=$(sed -n 's/.*Listening at: http:\/\/\([^ ]*\) .*/\1/p' "$OUT/gw/gunicorn.out")
  [[ -n $GW ]] || { echo "graphite-web did not start:" >&2; cat "$OUT/gw/gunicorn.out" >&2; exit 1; }
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
  "find=/metrics/find?query=bench.*.*" | tee "$OUT/results.jsonl"
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
/usr/bin/python3 "$HERE/render_client.py" table "$OUT/results.jsonl"
