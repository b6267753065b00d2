#!/usr/bin/env bash
# Measures the start-up scan of an existing whisper tree (issue 3 item 10): makes N empty
# .wsp files in carbon's layout (1000 per directory, 4 levels deep), starts the release
# `lonsdaleite serve` on it, and reports the scan time the server logs and its RSS.
#
#   bench/e2e/index-scan.sh [N=1000000] [scratch dir=/tmp/lonsdaleite-index-scan]
#
# Empty files are enough: the scan reads directory entries, not file contents. The page
# cache is dropped before the run when possible (root), so the figure is a cold scan;
# the second run of the same tree is reported as the warm scan.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
DIR=${2:-/tmp/lonsdaleite-index-scan}
BIN=target/release/lonsdaleite
cargo build --release --quiet --bin lonsdaleite

if [ ! -f "$DIR/.made-$N" ]; then
  rm -rf "$DIR"; mkdir -p "$DIR/whisper"
  echo "making $N files under $DIR/whisper ..." >&2
  python3 - "$DIR/whisper" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "servers", "host%04d" % (i // 1000 // 10), "group%d" % (i // 1000 % 10))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
        print("  %d files" % i, file=sys.stderr) if i % 100000 == 0 else None
    open(os.path.join(d, "metric%03d.wsp" % (i % 1000)), "wb").close()
PY
  touch "$DIR/.made-$N"
fi

run() {
  local log="$DIR/serve.log"
  "$BIN" serve --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --carbon-addr off \
    --pickle-addr off --http-addr off --no-storage --data-dir "$DIR" >/dev/null 2>"$log" &
  local pid=$!
  for _ in $(seq 1 600); do
    grep -q "indexed the whisper files" "$log" && break
    sleep 0.1
  done
  local line rss
  line=$(grep "indexed the whisper files" "$log" | sed 's/\x1b\[[0-9;]*m//g')
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  echo "$1: ${line#*INFO } peak_rss_kib=$rss"
}

sync
if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
run cold
run warm
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(findmnt -n -o FSTYPE --target "$DIR")"
