#!/usr/bin/env bash
# Points persisted into whisper files through the io_uring writer (issue 3 item 13, our side
# only, timestamps = now; carbon-cache side by side, with past timestamps so updates carry
# many points, is bench/e2e/carbon-vs-carbon-cache.sh). Starts the release server with one
# shard and storage on, sends NAMES carbon series over TCP with loadgen (timestamps = now, so
# all points of a series fall into few slots) for DURATION, then waits until the write-back
# cache is empty and reports from the admin `stats`: points received and committed, update
# operations, points per update, and points committed per second from the first point to
# the empty cache. The data directory is on the machine's disk (page cache), not tmpfs.
#
#   bench/e2e/carbon-write.sh     (NAMES=10000 DURATION=20s SHARDS=1; CARGO_TARGET_DIR as usual;
#                                  JOURNAL=off|process|power sets storage.journal, and the
#                                  journal's bytes per point are reported)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
NAMES=${NAMES:-10000}
DURATION=${DURATION:-20s}
SHARDS=${SHARDS:-1}
JOURNAL=${JOURNAL:-}
OUT=${OUT:-$(mktemp -d /tmp/carbon-write.XXXXXX)}
(cd "$REPO" && cargo build --release --quiet -p lonsdaleite -p loadgen)
mkdir -p "$OUT/data"
CONF=()
if [[ -n $JOURNAL ]]; then
  printf '[storage]\njournal = "%s"\n' "$JOURNAL" >"$OUT/journal.toml"
  CONF=(--config "$OUT/journal.toml")
fi
"$TARGET/release/lonsdaleite" serve "${CONF[@]}" --shards "$SHARDS" --statsd-addr 127.0.0.1:0 \
  --admin-addr 127.0.0.1:0 --carbon-addr 127.0.0.1:0 --pickle-addr off --http-addr off \
  --flush-interval 3600s --data-dir "$OUT/data" >"$OUT/stdout" 2>"$OUT/stderr" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "^listening admin" "$OUT/stdout" 2>/dev/null && break; sleep 0.1; done
CARBON=$(sed -n 's/^listening carbon tcp //p' "$OUT/stdout")
ADMIN=$(sed -n 's/^listening admin tcp //p' "$OUT/stdout")
stat() {
  exec 3<>"/dev/tcp/${ADMIN%:*}/${ADMIN##*:}"
  printf 'stats\nquit\n' >&3
  timeout 5 sed -n "s/^$1: //p" <&3
  exec 3<&-
}
START=$(date +%s.%N)
"$TARGET/release/loadgen" --target "$CARBON" --protocol carbon-tcp --names "$NAMES" \
  --duration "$DURATION" -q | tail -3
while :; do
  size=$(stat storage.cache_size); [[ ${size:-1} == 0 ]] && break; sleep 0.2
done
END=$(date +%s.%N)
recv=$(stat carbon.metrics_received); committed=$(stat storage.committed_points)
updates=$(stat storage.update_operations); creates=$(stat storage.creates); errors=$(stat storage.errors)
secs=$(echo "$END - $START" | bc -l)
printf 'received %s, committed %s points in %s updates (%.1f points/update), %s creates, %s errors\n' \
  "$recv" "$committed" "$updates" "$(echo "$committed / $updates" | bc -l)" "$creates" "$errors"
printf 'committed %.0f points/s from the first point sent to an empty cache (%.1f s), %s shard(s)\n' \
  "$(echo "$committed / $secs" | bc -l)" "$secs" "$SHARDS"
if [[ -n $JOURNAL && $JOURNAL != off ]]; then
  jpoints=$(stat journal.points); jbytes=$(stat journal.bytes_written)
  printf 'journal %s: %s points in %s bytes (%.1f bytes/point), %s bytes on disk at the end, %s write errors\n' \
    "$JOURNAL" "$jpoints" "$jbytes" "$(echo "$jbytes / $jpoints" | bc -l)" "$(stat journal.bytes_on_disk)" "$(stat journal.write_errors)"
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(findmnt -n -o FSTYPE --target "$OUT")"
