#!/usr/bin/env bash
# What `storage.sync_creates` costs: new whisper files per second through the real server,
# with the fsync of each new file before its rename on and off.
# Each round starts the release binary on a new ext4 (mkfs defaults, loop-mounted: needs
# root), sends FILES new carbon names over one connection, one point each, and times from
# the first line sent until the admin port's `storage.creates` reaches FILES. The two
# settings alternate within each round, so both see the same machine state.
#
#   bench/e2e/create-sync.sh BINARY          FILES=5000 ROUNDS=3 SHARDS=1
#
# Raw output: bench/e2e/runs/<UTC time>-create-sync/ (machine.txt, results.csv).
set -euo pipefail
BIN=${1:?usage: bench/e2e/create-sync.sh BINARY (a release build of lonsdaleite)}
FILES=${FILES:-5000}
ROUNDS=${ROUNDS:-3}
SHARDS=${SHARDS:-1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $(id -u) == 0 ]] || { echo "needs root (loop mounts a new ext4 per run)" >&2; exit 2; }
RUNS="$HERE/runs/$(date -u +%Y%m%dT%H%MZ)-create-sync"
mkdir -p "$RUNS"
WORK=$(mktemp -d /tmp/create-sync.XXXXXX)
PID=
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  mountpoint -q "$WORK/mnt" && umount "$WORK/mnt"
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/mnt"
{
  echo "binary: $BIN ($("$BIN" --version))"
  echo "commit: $(git -C "$HERE" rev-parse --short HEAD)$(git -C "$HERE" diff --quiet || echo ' (uncommitted changes)')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "date: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: FILES=$FILES ROUNDS=$ROUNDS SHARDS=$SHARDS bench/e2e/create-sync.sh $BIN"
} | tee "$RUNS/machine.txt"
echo "round,sync_creates,files,seconds,files_per_second" | tee "$RUNS/results.csv"

for round in $(seq 1 "$ROUNDS"); do
  for sync in true false; do
    truncate -s 2G "$WORK/img"
    mkfs.ext4 -q -F "$WORK/img"
    mount -o loop "$WORK/img" "$WORK/mnt"
    printf '[storage]\nsync_creates = %s\n' "$sync" >"$WORK/conf.toml"
    printf '[all]\npattern = .*\nretentions = 60s:1d,15m:7d\n' >"$WORK/storage-schemas.conf"
    "$BIN" serve --config "$WORK/conf.toml" --shards "$SHARDS" --data-dir "$WORK/mnt" \
      --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --carbon-addr 127.0.0.1:0 \
      --pickle-addr off --http-addr off >"$WORK/stdout" 2>"$WORK/stderr" &
    PID=$!
    for _ in $(seq 300); do grep -qs '^listening admin tcp ' "$WORK/stdout" && break; sleep 0.1; done
    CARBON=$(sed -n 's/^listening carbon tcp //p' "$WORK/stdout")
    ADMIN=$(sed -n 's/^listening admin tcp //p' "$WORK/stdout")
    [[ -n $CARBON && -n $ADMIN ]] || { echo "the server did not start:" >&2; cat "$WORK/stderr" >&2; exit 1; }
    secs=$(/usr/bin/python3 - "$CARBON" "$ADMIN" "$FILES" <<'PY'
import socket, sys, time
carbon, admin, files = sys.argv[1], sys.argv[2], int(sys.argv[3])
def addr(a):
    host, port = a.rsplit(":", 1)
    return host.strip("[]"), int(port)
def creates():
    with socket.create_connection(addr(admin), timeout=10) as s:
        s.sendall(b"stats\n")
        buf = b""
        while not buf.endswith(b"END\n\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    for line in buf.decode().splitlines():
        if line.startswith("storage.creates:"):
            return int(line.split(":", 1)[1])
    raise SystemExit("storage.creates missing from the admin stats")
now = int(time.time())
body = "".join(f"bench.create.g{i % 100:02d}.m{i:07d} 1 {now}\n" for i in range(files)).encode()
start = time.monotonic()
with socket.create_connection(addr(carbon)) as s:
    s.sendall(body)
deadline = start + 600
while creates() < files:
    if time.monotonic() > deadline:
        raise SystemExit(f"only {creates()} of {files} files after 600 s")
    time.sleep(0.01)
print(f"{time.monotonic() - start:.3f}")
PY
)
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    umount "$WORK/mnt"; rm -f "$WORK/img"
    echo "$round,$sync,$FILES,$secs,$(python3 -c "print(round($FILES / $secs))")" | tee -a "$RUNS/results.csv"
  done
done
echo "raw output in $RUNS"
