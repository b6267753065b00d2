#!/usr/bin/env bash
# Points persisted into whisper files per second: lonsdaleite (SHARDS shards, one by
# default) against Debian's graphite-carbon (carbon-cache, one process) in the same run
# (issue 3 item 13).
#
# Each server gets the same load from loadgen: NAMES carbon series × HISTORY points each,
# timestamps one STEP apart in the past (pass k over the names carries the k-th oldest),
# over CONNECTIONS plaintext TCP connections, as fast as the server reads. Both use the
# same storage-schemas.conf / storage-aggregation.conf (bench series: RETENTIONS;
# self-metrics `carbon.*`: 1s:1h) and write into a new file system per round (FS below)
# that is deleted afterwards.
#
# Measured per run, from the first line sent (after loadgen rendered its pool) to the last
# point persisted:
#   lonsdaleite  — admin `stats` polled every 0.1 s until the load is committed and the
#                  cache is empty; the end is the server's own storage.last_commit_unix_ms
#                  (the time of its last commit, so the poll interval adds nothing; a
#                  self-metric commit inside the last interval can move it later, by less
#                  than 0.1 s);
#   carbon-cache — its own self-metrics at CARBON_METRIC_INTERVAL = 1 (committedPoints,
#                  updateOperations per second, read from its whisper files): the end is
#                  the last second with committed points once their sum reached the load;
# the server's CPU seconds over the same window (/proc/PID/stat), points per update, and a
# check that SAMPLE random series hold all HISTORY points (`lonsdaleite whisper fetch`).
# carbon-cache runs unthrottled (MAX_UPDATES_PER_SECOND, MAX_CREATES_PER_MINUTE and
# MAX_CACHE_SIZE = inf, CACHE_WRITE_STRATEGY = max, fallocate like lonsdaleite).
#
#   bench/e2e/carbon-vs-carbon-cache.sh
#     NAMES=5000 HISTORY=720 STEP=60 RUNS=3 SERVERS="lonsdaleite carbon-cache"
#     RETENTIONS=60s:1d,15m:7d SAMPLE=20 TIMEOUT=1800 KEEP= (set: keep the data, with FS=fresh as images, print
#     where); SHARDS=1 (lonsdaleite's shards); SYNC_CREATES= (false: no fsync per create, as
#     carbon-cache; unset: the default, on); CONNECTIONS=1 (loadgen's TCP connections,
#     each a thread sending its share of the passes); FS=fresh (each round writes into a new
#     ext4 file system: a sparse image made with mkfs.ext4's defaults, loop-mounted; needs
#     root) or FS=tmp (a directory under /tmp). Why fresh: on an ext4 without a journal (as
#     this machine's root is) creating a file skips every inode deleted in the last 60-360 s,
#     one buffer lookup each, so a round's creates cost more the more files anything deleted
#     just before (earlier rounds, a build); a new file system per round starts every server
#     from the same state. DELETE_AT_END= (FS=tmp only; set: keep every round's files until
#     the end, so a round's creates do not follow the previous round's deletes).
#     MOUNT_OPTIONS= (FS=fresh: extra mount options for the round's file system, e.g.
#     lazytime).
#     LD= (another lonsdaleite binary, e.g. to compare two builds); CARGO_TARGET_DIR as usual.
# Prints one line per run and a summary (median and range per server, ratio of medians).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
NAMES=${NAMES:-5000}
HISTORY=${HISTORY:-720}
STEP=${STEP:-60}
RUNS=${RUNS:-3}
SERVERS=${SERVERS:-"lonsdaleite carbon-cache"}
RETENTIONS=${RETENTIONS:-60s:1d,15m:7d}
SAMPLE=${SAMPLE:-20}
TIMEOUT=${TIMEOUT:-1800}
SHARDS=${SHARDS:-1}
CONNECTIONS=${CONNECTIONS:-1}
FS=${FS:-fresh}
TOTAL=$((NAMES * HISTORY))

if [[ $FS == fresh ]] && { [[ $(id -u) != 0 ]] || ! command -v mkfs.ext4 >/dev/null; }; then
  echo "FS=fresh needs root and mkfs.ext4 (a new loop-mounted ext4 per round); run as root or set FS=tmp" >&2
  exit 2
fi
# shellcheck source=tests/lib/need.sh
source "$REPO/tests/lib/need.sh"
need_command carbon-cache graphite-carbon
(cd "$REPO" && cargo build --release --quiet -p lonsdaleite -p loadgen)
LD=${LD:-$TARGET/release/lonsdaleite}
LG="$TARGET/release/loadgen"

WORK=$(mktemp -d /tmp/carbon-vs.XXXXXX)
SERVER=
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [[ -n ${RUN:-} ]] && mountpoint -q "$RUN" && umount "$RUN"
  [[ -n ${KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

CONF=$WORK/conf
mkdir -p "$CONF"
cat >"$CONF/storage-schemas.conf" <<EOF
[carbon]
pattern = ^carbon\.
retentions = 1s:1h

[bench]
pattern = .*
retentions = $RETENTIONS
EOF
cat >"$CONF/storage-aggregation.conf" <<EOF
[default]
pattern = .*
xFilesFactor = 0.5
aggregationMethod = average
EOF
cat >"$CONF/lonsdaleite.toml" <<EOF
[carbon]
hostname = "bench"
metric_interval = "1s"
EOF
# SYNC_CREATES=false: lonsdaleite's creates without their two fsyncs, as carbon-cache
# makes files (whisper's AUTOFLUSH is off); unset: the server's default (on).
if [[ -n ${SYNC_CREATES:-} ]]; then
  printf '[storage]\nsync_creates = %s\n' "$SYNC_CREATES" >>"$CONF/lonsdaleite.toml"
fi

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
user_s() { awk '{printf "%.2f", $14 / 100}' "/proc/$1/stat"; }
now() { date +%s.%N; }

# Sum of a self-metric (1 s resolution) from FROM on, and the last second in which it was
# above 100 (carbon's own self-metrics add about 15 committed points every second).
series_sum() { # FILE FROM
  "$LD" whisper fetch --from "$2" --drop nulls "$1" 2>/dev/null |
    awk '{ s += $2; if ($2 > 100) last = $1 } END { printf "%.0f %d\n", s, last }'
}

# Series out of SAMPLE random ones that hold all HISTORY points.
check_sample() { # WHISPER_DIR
  local ok=0 i f n
  for i in $(shuf -i 0-$((NAMES - 1)) -n "$SAMPLE" --random-source=<(yes)); do
    f=$(printf '%s/bench/g%02d/metric%07d.wsp' "$1" $((i % 100)) "$i")
    n=$("$LD" whisper fetch --from $(( $(date +%s) - HISTORY * STEP - 120 )) --drop nulls "$f" 2>/dev/null | wc -l || true)
    [[ $n -ge $HISTORY ]] && ok=$((ok + 1))
  done
  echo "$ok/$SAMPLE"
}

send() { # PORT
  "$LG" --protocol carbon-tcp --target "127.0.0.1:$1" --names "$NAMES" --history "$HISTORY" \
    --step "$STEP" --count "$TOTAL" --prefix bench --per-packet 100 --threads "$CONNECTIONS" -q --json >"$RUN/loadgen.json"
}

# Seconds loadgen spent rendering its pool before the first line was sent (the window
# starts after it).
pool_build_s() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pool_build_s"])' "$RUN/loadgen.json"; }

run_lonsdaleite() {
  "$LD" serve --config "$CONF/lonsdaleite.toml" --shards "$SHARDS" --statsd-addr 127.0.0.1:0 \
    --admin-addr 127.0.0.1:0 --carbon-addr 127.0.0.1:0 --pickle-addr off --http-addr off \
    --flush-interval 3600s --data-dir "$RUN/data" >"$RUN/stdout" 2>"$RUN/stderr" &
  SERVER=$!
  for _ in $(seq 1 100); do grep -q "^listening admin" "$RUN/stdout" 2>/dev/null && break; sleep 0.1; done
  local carbon admin
  carbon=$(sed -n 's/^listening carbon tcp //p' "$RUN/stdout")
  admin=$(sed -n 's/^listening admin tcp //p' "$RUN/stdout")
  stat() {
    exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}"
    printf 'stats\nquit\n' >&3
    timeout 5 cat <&3
    exec 3<&-
  }
  val() { sed -n "s/^$1: //p" <<<"$2"; }
  local cpu0 user0 t0 t1 s committed size deadline
  cpu0=$(cpu_s "$SERVER")
  user0=$(user_s "$SERVER")
  t0=$(now)
  send "${carbon##*:}"
  deadline=$(($(date +%s) + TIMEOUT))
  while :; do
    s=$(stat)
    committed=$(val storage.committed_points "$s")
    size=$(val storage.cache_size "$s")
    [[ ${size:-1} == 0 && ${committed:-0} -ge $TOTAL ]] && break
    (($(date +%s) > deadline)) && { echo "timeout" >&2; break; }
    sleep 0.1
  done
  t1=$(echo "$(val storage.last_commit_unix_ms "$s") / 1000" | bc -l)
  t0=$(echo "$t0 + $(pool_build_s)" | bc -l)
  local cpu1 updates
  cpu1=$(cpu_s "$SERVER")
  local user1
  user1=$(user_s "$SERVER")
  updates=$(val storage.update_operations "$s")
  report lonsdaleite "$committed" "$updates" "$(echo "$t1 - $t0" | bc -l)" \
    "$(echo "$cpu1 - $cpu0" | bc -l)" "$(check_sample "$RUN/data/whisper")"
  printf '  of which user %.2f s, system %.2f s\n' "$(echo "$user1 - $user0" | bc -l)" \
    "$(echo "$cpu1 - $cpu0 - ($user1 - $user0)" | bc -l)"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
}

run_carbon_cache() {
  local port pport qport
  port=$(free_port); pport=$(free_port); qport=$(free_port)
  mkdir -p "$RUN/storage/whisper" "$RUN/log"
  cat >"$RUN/carbon.conf" <<EOF
[cache]
STORAGE_DIR = $RUN/storage/
LOCAL_DATA_DIR = $RUN/storage/whisper/
WHITELISTS_DIR = $RUN/storage/lists/
CONF_DIR = $CONF/
LOG_DIR = $RUN/log/
PID_DIR = $RUN/
USER =
ENABLE_LOGROTATION = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
CACHE_WRITE_STRATEGY = max
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = $port
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = $pport
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = $qport
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = False
LOG_LISTENER_CONNECTIONS = False
LOG_CACHE_HITS = False
LOG_CACHE_QUEUE_SORTS = False
WHISPER_AUTOFLUSH = False
WHISPER_FALLOCATE_CREATE = True
CARBON_METRIC_INTERVAL = 1
EOF
  carbon-cache --config="$RUN/carbon.conf" --nodaemon --pidfile="$RUN/carbon.pid" \
    --logdir="$RUN/log" start >"$RUN/stdout" 2>"$RUN/stderr" &
  SERVER=$!
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
  local pid cpu0 t0 t0s deadline sum last agent
  pid=$(cat "$RUN/carbon.pid" 2>/dev/null || echo "$SERVER")
  cpu0=$(cpu_s "$pid")
  t0=$(now); t0s=${t0%.*}
  send "$port"
  deadline=$(($(date +%s) + TIMEOUT))
  agent=
  while :; do
    sleep 2
    [[ -z $agent ]] && agent=$(ls -d "$RUN"/storage/whisper/carbon/agents/* 2>/dev/null | head -1 || true)
    if [[ -n $agent ]]; then
      read -r sum last < <(series_sum "$agent/committedPoints.wsp" "$t0s")
      # Done once the load is in and a further second committed nothing.
      if ((sum >= TOTAL)) && (($(date +%s) > last + 2)); then break; fi
      # Nothing committed for 30 s short of the load: report what it committed.
      if ((last > 0 && $(date +%s) > last + 30)); then
        echo "carbon-cache committed $sum of $TOTAL points and then nothing for 30 s" >&2
        break
      fi
    fi
    (($(date +%s) > deadline)) && { echo "timeout" >&2; break; }
  done
  local cpu1 updates
  cpu1=$(cpu_s "$pid")
  t0=$(echo "$t0 + $(pool_build_s)" | bc -l)
  read -r updates _ < <(series_sum "$agent/updateOperations.wsp" "$t0s")
  # The window ends with the last second that committed points (its metric is stamped at
  # the end of that second).
  report carbon-cache "$sum" "$updates" "$(echo "$last + 0.5 - $t0" | bc -l)" \
    "$(echo "$cpu1 - $cpu0" | bc -l)" "$(check_sample "$RUN/storage/whisper")"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
}

report() { # SERVER COMMITTED UPDATES SECONDS CPU_S SAMPLE_OK
  local rate
  rate=$(echo "$2 / $4" | bc -l)
  printf '%s run %d: %s points in %.2f s = %.0f points/s; %s updates (%.1f points/update); server CPU %.2f s (%.0f points per CPU second); sample complete %s; load average %s\n' \
    "$1" "$r" "$2" "$4" "$rate" "$3" "$(echo "$2 / $3" | bc -l)" "$5" "$(echo "$2 / $5" | bc -l)" "$6" \
    "$(cut -d' ' -f1 /proc/loadavg)"
  echo "$1 $rate $(echo "$2 / $5" | bc -l) $(echo "$2 / $3" | bc -l)" >>"$WORK/results"
}

[[ -n ${KEEP:-} ]] && echo "data kept in $WORK"
echo "load: $NAMES series x $HISTORY points ($TOTAL points, step ${STEP}s), retentions $RETENTIONS, $RUNS run(s) each; lonsdaleite with $SHARDS shard(s), storage.sync_creates ${SYNC_CREATES:-default (true)}, loadgen over $CONNECTIONS connection(s)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r); files on: $([[ $FS == fresh ]] && echo "a new loop-mounted ext4 (mkfs.ext4 defaults${MOUNT_OPTIONS:+, mounted with $MOUNT_OPTIONS}) per round" || echo "$(findmnt -n -o FSTYPE --target "$WORK") under /tmp"); $(date -u +%FT%TZ)"
echo "carbon-cache: graphite-carbon $(dpkg-query -W -f '${Version}' graphite-carbon), python3-whisper $(dpkg-query -W -f '${Version}' python3-whisper); lonsdaleite $(git -C "$REPO" rev-parse --short HEAD)"
for r in $(seq 1 "$RUNS"); do
  for server in $SERVERS; do
    RUN=$WORK/$server-$r
    mkdir -p "$RUN"
    if [[ $FS == fresh ]]; then
      truncate -s 4G "$RUN.img"
      mkfs.ext4 -q -F "$RUN.img"
      mount -o "loop${MOUNT_OPTIONS:+,$MOUNT_OPTIONS}" "$RUN.img" "$RUN"
    fi
    case $server in
      lonsdaleite) run_lonsdaleite ;;
      carbon-cache) run_carbon_cache ;;
      *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    if [[ $FS == fresh ]]; then
      umount "$RUN"
      [[ -n ${KEEP:-} ]] || rm -f "$RUN.img"
    else
      [[ -n ${KEEP:-} || -n ${DELETE_AT_END:-} ]] || rm -rf "$RUN"
    fi
  done
done
echo "summary (median [min - max] over $RUNS run(s), each column on its own):"
col() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$WORK/results" | sort -g |
  awk '{ v[NR] = $1 } END { printf "%.1f %.1f %.1f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
for server in $SERVERS; do
  read -r rm rl rh < <(col "$server" 2); read -r cm cl ch < <(col "$server" 3); read -r pm pl ph < <(col "$server" 4)
  printf '  %s: %.0f points/s [%.0f - %.0f], %.0f points per CPU second [%.0f - %.0f], %.1f points/update [%.1f - %.1f]\n' \
    "$server" "$rm" "$rl" "$rh" "$cm" "$cl" "$ch" "$pm" "$pl" "$ph"
done
if [[ $SERVERS == *lonsdaleite* && $SERVERS == *carbon-cache* ]]; then
  printf '  ratio of medians: %.1fx in points/s, %.1fx in points per CPU second\n' \
    "$(echo "$(col lonsdaleite 2 | cut -d' ' -f1) / $(col carbon-cache 2 | cut -d' ' -f1)" | bc -l)" \
    "$(echo "$(col lonsdaleite 3 | cut -d' ' -f1) / $(col carbon-cache 3 | cut -d' ' -f1)" | bc -l)"
fi
