#!/usr/bin/env bash
# `lonsdaleite cluster rebalance` rate (issue 14, "Done when"): series and points moved per
# second between two nodes on this machine.
#
#   bench/e2e/cluster-rebalance.sh [COMMIT]      (default HEAD)
#   (N=10000 FINE_HOURS=24 COARSE_DAYS=7 BATCH=200; CARGO_TARGET_DIR as usual; PY = a
#   python with whisper 1.1.10, default python3)
#
# - Builds `lonsdaleite` (release) from a clean worktree of COMMIT, so uncommitted edits in
#   the working tree do not leak in.
# - Data: node A's data directory gets N whisper files bench.rb.gGG.mNNNNN with the default
#   schema's retentions (60s:1d,5m:30d,1h:3y, average, xFilesFactor 0.5): a point every
#   60 s over the last FINE_HOURS hours, a point every 5 min over the COARSE_DAYS days
#   before that (one file made by whisper 1.1.10, its blocks copied into the N sparse files).
# - Nodes: A and B, `lonsdaleite serve --shards 1` on 127.0.0.1 (ports chosen by the
#   kernel), the same default schema; B starts empty.
# - The ring: carbon_ch, members 127.0.0.1:A=a and 127.0.0.1:B=b; about half the names
#   belong on B. `cluster rebalance --dry-run` on A counts them, then `cluster rebalance`
#   on A (serving meanwhile) moves them: read, send to B's carbon port, verify through B's
#   render API, remove, with --http for both nodes (A's cache read too) and --admin.
#   The rate is rebalance's own summary (series moved / its wall time, points likewise).
# - Checks: the exit status is 0, the number moved equals the dry run's, A has N - moved
#   files left, B has a file for every name moved.
#
# Raw output: bench/e2e/runs/<UTC time>-cluster-rebalance/ (machine.txt, dry-run.txt,
# rebalance.stdout, rebalance.stderr, result.txt, the nodes' stderr).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
COMMIT=$(git -C "$REPO" rev-parse "${1:-HEAD}")
N=${N:-10000}
FINE_HOURS=${FINE_HOURS:-24}
COARSE_DAYS=${COARSE_DAYS:-7}
BATCH=${BATCH:-200}
PY=${PY:-python3}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
"$PY" -c 'import whisper' 2>/dev/null ||
  { echo "$PY has no whisper module: $PY -m pip install whisper==1.1.10" >&2; exit 1; }
RUNS="$HERE/runs/$(date -u +%Y%m%dT%H%MZ)-cluster-rebalance"
mkdir -p "$RUNS"
OUT=$(mktemp -d /tmp/cluster-rebalance.XXXXXX)
WT=$OUT/src
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in a b; do
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
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(free -g | awk '/Mem:/ {print $2}') GiB, $(findmnt -n -o FSTYPE --target "$OUT") on $(findmnt -n -o SOURCE --target "$OUT")"
  echo "date: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: N=$N FINE_HOURS=$FINE_HOURS COARSE_DAYS=$COARSE_DAYS BATCH=$BATCH bench/e2e/cluster-rebalance.sh $COMMIT"
} | tee "$RUNS/machine.txt"

# --- data -----------------------------------------------------------------------------------
mkdir -p "$OUT/a/whisper" "$OUT/b" "$OUT/conf"
printf '[default]\npattern = .*\nretentions = 60s:1d,5m:30d,1h:3y\n' >"$OUT/conf/storage-schemas.conf"
: >"$OUT/conf/lonsdaleite.toml"
"$PY" - "$OUT/a/whisper" "$N" "$FINE_HOURS" "$COARSE_DAYS" <<'PY' | tee -a "$RUNS/machine.txt"
import os, sys, time
import whisper
root, n, fine_hours, coarse_days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
now = int(time.time())
last = now - now % 60
template = os.path.join(root, "..", "template.wsp")
whisper.create(template, [(60, 1440), (300, 8640), (3600, 26280)], xFilesFactor=0.5,
               aggregationMethod="average", sparse=True)
coarse = [(last - fine_hours * 3600 - 300 * (i + 1), 10.0 + (i % 97) * 0.25)
          for i in range(coarse_days * 288)]
whisper.update_many(template, coarse, now=now)
fine = [(last - 60 * i, 50.0 + (i % 61) / 8.0) for i in range(fine_hours * 60)]
whisper.update_many(template, fine, now=now)
data = open(template, "rb").read()
blocks = [(o, data[o:o + 4096]) for o in range(0, len(data), 4096)
          if data[o:o + 4096].count(0) != len(data[o:o + 4096])]
for i in range(n):
    d = os.path.join(root, "bench", "rb", "g%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    fd = os.open(os.path.join(d, "m%05d.wsp" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.ftruncate(fd, len(data))
    for o, b in blocks:
        os.pwrite(fd, b, o)
    os.close(fd)
os.remove(template)
print("data: %d files of %d bytes (%d written), %d fine + %d coarse points each, last point at %d"
      % (n, len(data), 4096 * len(blocks), len(fine), len(coarse), last))
PY

# --- nodes ----------------------------------------------------------------------------------
start_node() { # name
  "$BIN" serve --config "$OUT/conf/lonsdaleite.toml" --shards 1 --data-dir "$OUT/$1" \
    --flush-interval 1000s --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
    --carbon-addr 127.0.0.1:0 --pickle-addr off --http-addr 127.0.0.1:0 \
    >"$OUT/$1.stdout" 2>"$OUT/$1.stderr" &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs '^listening http tcp ' "$OUT/$1.stdout" && return; sleep 0.1; done
  echo "node $1 did not start:" >&2; cat "$OUT/$1.stderr" >&2; exit 1
}
addr() { sed -n "s/^listening $2 tcp //p" "$OUT/$1.stdout"; }
start_node a
start_node b
A_CARBON=$(addr a carbon); B_CARBON=$(addr b carbon)
A_HTTP=$(addr a http); B_HTTP=$(addr b http); A_ADMIN=$(addr a admin)
# A's start-up scan must be done before its index can forget names.
for _ in $(seq 600); do
  [[ $(curl -fsS "http://$A_HTTP/metrics/index.json" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))') -ge $N ]] && break
  sleep 0.1
done

RING=(--ring carbon_ch --node "$A_CARBON=a" --node "$B_CARBON=b" --self "$A_CARBON=a"
  --data-dir "$OUT/a" --http "$A_CARBON=a=http://$A_HTTP" --http "$B_CARBON=b=http://$B_HTTP")
"$BIN" cluster rebalance "${RING[@]}" --dry-run >"$RUNS/dry-run.txt" 2>"$RUNS/dry-run.stderr"
WOULD=$(wc -l <"$RUNS/dry-run.txt")
echo "dry run: $WOULD of $N series would move" | tee "$RUNS/result.txt"

# --- the run --------------------------------------------------------------------------------
echo "command: lonsdaleite cluster rebalance ${RING[*]} --admin $A_ADMIN --batch $BATCH" >>"$RUNS/result.txt"
status=0
/usr/bin/time -f 'wall %e s, user %U s, sys %S s, max rss %M KiB' -o "$OUT/time.txt" \
  "$BIN" cluster rebalance "${RING[@]}" --admin "$A_ADMIN" --batch "$BATCH" \
  >"$RUNS/rebalance.stdout" 2>"$RUNS/rebalance.stderr" || status=$?
cat "$OUT/time.txt" >>"$RUNS/result.txt"
MOVED=$(wc -l <"$RUNS/rebalance.stdout")
LEFT=$(find "$OUT/a/whisper/bench" -name '*.wsp' | wc -l)
ON_B=$(find "$OUT/b/whisper/bench" -name '*.wsp' 2>/dev/null | wc -l)
{
  echo "exit status: $status"
  echo "moved: $MOVED (dry run: $WOULD); left on A: $LEFT; files on B: $ON_B"
  grep 'moved .* series' "$RUNS/rebalance.stderr" | tail -1
} | tee -a "$RUNS/result.txt"
[[ $status == 0 && $MOVED == "$WOULD" && $LEFT == $((N - MOVED)) && $ON_B == "$MOVED" ]] ||
  { echo "the run did not move what the dry run listed" >&2; exit 1; }
echo "raw output in $RUNS"
