#!/usr/bin/env bash
# Render latency of two lonsdaleite binaries (A, B: e.g. release builds of two commits) on
# copies of the same whisper tree, interleaved by round (our side only; see
# render-vs-graphite-web.sh for the tree and the client). No carbon ingest.
#
#   bench/e2e/render-ab.sh BINARY_A BINARY_B
#   (ROUNDS=3 SERVERS=40 METRICS=25 N=200; PY = a python with whisper 1.1.10, default
#   python3, which tests/run-all gives it)
#
# Raw output: bench/e2e/runs/<UTC time>-render-ab/ (machine.txt naming both binaries'
# commits, results.jsonl, table.txt).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN_A=${1:?usage: bench/e2e/render-ab.sh BINARY_A BINARY_B}
BIN_B=${2:?usage: bench/e2e/render-ab.sh BINARY_A BINARY_B}
PY=${PY:-python3}
"$PY" -c 'import whisper' 2>/dev/null ||
  { echo "$PY has no whisper module: $PY -m pip install whisper==1.1.10" >&2; exit 1; }
RUNS="$HERE/runs/$(date -u +%Y%m%dT%H%MZ)-render-ab"
mkdir -p "$RUNS"
OUT=$(mktemp -d /tmp/render-ab.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
{
  echo "A: $BIN_A ($("$BIN_A" --version))"
  echo "B: $BIN_B ($("$BIN_B" --version))"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r)"
  echo "command: ROUNDS=${ROUNDS:-3} SERVERS=${SERVERS:-40} METRICS=${METRICS:-25} N=${N:-200} bench/e2e/render-ab.sh $BIN_A $BIN_B"
} | tee "$RUNS/machine.txt"
mkdir -p "$OUT/A/whisper" "$OUT/conf"
"$PY" "$HERE/render_data.py" "$OUT/A/whisper" "${SERVERS:-40}" "${METRICS:-25}"
cp -a "$OUT/A" "$OUT/B"
printf '[all]\npattern = .*\nretentions = 10s:1d\n' >"$OUT/conf/storage-schemas.conf"
: >"$OUT/conf/lonsdaleite.toml"
BASES=()
for v in A B; do
  bin=$BIN_A
  [[ $v == B ]] && bin=$BIN_B
  "$bin" serve --config "$OUT/conf/lonsdaleite.toml" --shards 1 --data-dir "$OUT/$v" \
    --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --carbon-addr 127.0.0.1:0 \
    --pickle-addr off --http-addr 127.0.0.1:0 >"$OUT/$v.stdout" 2>"$OUT/$v.stderr" &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs '^listening http tcp ' "$OUT/$v.stdout" && break; sleep 0.1; done
  HTTP=$(sed -n 's/^listening http tcp //p' "$OUT/$v.stdout")
  [[ -n $HTTP ]] || { echo "$v did not start:" >&2; cat "$OUT/$v.stderr" >&2; exit 1; }
  BASES+=("$v=http://$HTTP,${N:-200}")
done
echo "start $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUNS/machine.txt"
/usr/bin/python3 "$HERE/render_client.py" "${ROUNDS:-3}" "${BASES[@]}" -- \
  "sum6h=/render?target=sumSeries(bench.*.*)&from=-6h&format=json" \
  "sum24h=/render?target=sumSeries(bench.*.*)&from=-24h&format=json" >"$RUNS/results.jsonl"
echo "end $(date -u +'%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUNS/machine.txt"
/usr/bin/python3 "$HERE/render_client.py" table "$RUNS/results.jsonl" | tee "$RUNS/table.txt"
echo "raw output in $RUNS"
