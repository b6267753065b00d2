#!/usr/bin/env bash
# How fast a shard replays its journal at start (issue 16). Starts the release server with
# storage.journal = "process" and new files limited to one a minute (so the points stay in
# the cache and the journal), sends POINTS carbon lines over NAMES series with loadgen,
# waits until all are counted as received (= journaled), SIGKILLs the server, starts it
# again on the same data directory and reports from admin `stats` the points replayed, the
# time the replay took (journal.replay_ms) and the journal's size. The data directory is
# removed at the end (the second server is killed too: writing the cache out is not
# measured here).
#
#   bench/e2e/journal-replay.sh   (POINTS=10000000 NAMES=1000 SHARDS=1; CARGO_TARGET_DIR as usual)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
POINTS=${POINTS:-10000000}
NAMES=${NAMES:-1000}
SHARDS=${SHARDS:-1}
OUT=$(mktemp -d /tmp/journal-replay.XXXXXX)
trap 'kill -9 $SERVER 2>/dev/null || true; rm -rf "$OUT"' EXIT
(cd "$REPO" && cargo build --release --quiet -p lonsdaleite -p loadgen)
mkdir -p "$OUT/data"
cat >"$OUT/conf.toml" <<EOF
[storage]
journal = "process"
journal_max_bytes = 0
max_creates_per_minute = 1
cache_bytes = 2147483648
[carbon]
metric_interval = "3600s"
EOF
start() {
  : >"$OUT/stdout"
  "$TARGET/release/lonsdaleite" serve --config "$OUT/conf.toml" --shards "$SHARDS" \
    --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --carbon-addr 127.0.0.1:0 \
    --pickle-addr off --http-addr off --flush-interval 3600s --data-dir "$OUT/data" \
    >"$OUT/stdout" 2>>"$OUT/stderr" &
  SERVER=$!
  for _ in $(seq 1 100); do grep -q "^listening admin" "$OUT/stdout" 2>/dev/null && break; sleep 0.1; done
  CARBON=$(sed -n 's/^listening carbon tcp //p' "$OUT/stdout")
  ADMIN=$(sed -n 's/^listening admin tcp //p' "$OUT/stdout")
}
stat() {
  exec 3<>"/dev/tcp/${ADMIN%:*}/${ADMIN##*:}"
  printf 'stats\nquit\n' >&3
  timeout 5 sed -n "s/^$1: //p" <&3
  exec 3<&-
}
start
"$TARGET/release/loadgen" --target "$CARBON" --protocol carbon-tcp --names "$NAMES" \
  --count "$POINTS" -q | tail -2
while (( $(stat carbon.metrics_received) < POINTS )); do sleep 0.2; done
echo "journaled: $(stat journal.points) points, $(stat journal.bytes_on_disk) bytes on disk in $(stat journal.segments) segments"
kill -9 $SERVER; wait $SERVER 2>/dev/null || true
echo "journal after the kill: $(du -sb "$OUT/data/journal" | cut -f1) bytes"
start
while (( $(stat journal.replays_done) < SHARDS )); do sleep 0.1; done
replayed=$(stat journal.replayed_points); ms=$(stat journal.replay_ms)
printf 'replayed %s points in %s ms (%.2f M points/s per shard, replay_ms summed over %s shard(s)), %s damaged segments\n' \
  "$replayed" "$ms" "$(echo "$replayed / ($ms / $SHARDS) / 1000" | bc -l)" "$SHARDS" "$(stat journal.damaged_segments)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(findmnt -n -o FSTYPE --target "$OUT"), load average $(cut -d' ' -f1-3 /proc/loadavg)"
