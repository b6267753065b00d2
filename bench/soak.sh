#!/usr/bin/env bash
# Ten minutes of mixed load with faults injected (issue 13 item 6): StatsD counters, carbon
# plaintext, pickle and renders all the time; a hostile find, a pickle bomb, names no file
# can hold, the forward target down and up, some whisper files unwritable, SIGHUP, SIGKILL
# + restart and SIGTERM + restart along the way. Reports points sent against points found
# (nothing may be missing but what the SIGKILL held in memory, which it reports), renders,
# and the server's RSS and CPU over time.
#
#   bench/soak.sh                      DURATION=600 STATSD_RATE=20000 CARBON_RATE=5000
#
# Raw output: bench/e2e/runs/<UTC time>-soak/ (summary.json, timeline.csv, server.log,
# machine.txt). Needs root (chattr) and the Python whisper package (tests/run-all installs
# it).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
DURATION=${DURATION:-600}
OUT="$REPO/bench/e2e/runs/$(date -u +%Y%m%dT%H%MZ)-soak"
mkdir -p "$OUT"
(cd "$REPO" && cargo build --release --quiet -p lonsdaleite)
python3 -c 'import whisper' 2>/dev/null || python3 -m pip install --quiet 'whisper==1.1.10'
{
  echo "commit: $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet || echo ' (uncommitted changes)')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "date: $(date -u +%FT%TZ)"
  echo "command: DURATION=$DURATION STATSD_RATE=${STATSD_RATE:-20000} CARBON_RATE=${CARBON_RATE:-5000} bench/soak.sh"
} | tee "$OUT/machine.txt"
python3 "$REPO/bench/e2e/soak.py" "$TARGET/release/lonsdaleite" "$OUT" \
  --duration "$DURATION" --statsd-rate "${STATSD_RATE:-20000}" --carbon-rate "${CARBON_RATE:-5000}"
echo "raw output in $OUT"
