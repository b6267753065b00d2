#!/usr/bin/env bash
# Points persisted into whisper files per second: lonsdaleite (SHARDS shards, one by
# default) against Debian's graphite-carbon (carbon-cache, one process) in the same run
# (issue 3 item 13; method of issue 15 item 5).
#
# Each server gets the same load from loadgen: NAMES carbon series x HISTORY points each,
# timestamps one STEP apart in the past (pass k over the names carries the k-th oldest),
# over CONNECTIONS plaintext TCP connections, as fast as the server reads. Both use the
# same storage-schemas.conf / storage-aggregation.conf (bench series: RETENTIONS;
# self-metrics `carbon.*`: 1s:1h) and write into a new file system per round (FS below)
# that is deleted afterwards.
#
# The window, the same rule for every server (bench/e2e/carbon_readback.py): it starts when
# loadgen starts sending (its start plus the time it spent rendering its pool) and ends at
# the first moment every point sent can be read back from the whisper files: once loadgen
# has exited, one reader process reads the files of ALL NAMES series every POLL seconds
# (after each pass, 0.02 s by default) with the same code for both servers, and a series
# counts when archive 0 of its file holds all HISTORY timestamps. The end is the read that
# found the last series complete; the raw output gives the bound on how much earlier it
# could have been (end_uncertainty_s). Neither server's own counters or self-metrics decide
# the window. Afterwards an untimed pass checks every series again ("read back N/N").
#
# carbon-cache runs with Debian's /etc/carbon/carbon.conf (what `apt install graphite-carbon`
# gives a new user) except: paths and ports (this run's, on 127.0.0.1), USER empty, the
# limits MAX_CACHE_SIZE, MAX_UPDATES_PER_SECOND and MAX_CREATES_PER_MINUTE = inf,
# CACHE_WRITE_STRATEGY = each of STRATEGIES (sorted is carbon's default; max is tried too:
# each is reported and the ratio is taken against carbon-cache's better median), and
# CARBON_METRIC_INTERVAL = 1 (its updateOperations self-metric gives the update count; it
# plays no part in the window; lonsdaleite writes its self-metrics every second too). The
# exact carbon.conf of each run is kept with the raw output.
#
# Also per run: the server's CPU seconds over the window (/proc/PID/stat), points per
# update (lonsdaleite: admin `stats` storage.update_operations; carbon-cache: the sum of its
# updateOperations self-metric), the load average.
#
#   bench/e2e/carbon-vs-carbon-cache.sh [--help]
#     NAMES=5000 HISTORY=720 STEP=60 RUNS=3 SERVERS="lonsdaleite carbon-cache"
#     STRATEGIES="sorted max" (carbon-cache's CACHE_WRITE_STRATEGY values, each a server)
#     POLL=0.02 (seconds between the reader's passes)
#     RETENTIONS=60s:1d,15m:7d TIMEOUT=1800 KEEP= (set: keep the data, with FS=fresh as
#     images, print where); SHARDS=1 (lonsdaleite's shards); SYNC_CREATES= (false: no fsync
#     per create, as carbon-cache; unset: the default, on); CONNECTIONS=1 (loadgen's TCP
#     connections, each a thread sending its share of the passes); FS=fresh (each round
#     writes into a new ext4 file system: a sparse image made with mkfs.ext4's defaults,
#     loop-mounted; needs root) or FS=tmp (a directory under /tmp). Why fresh: on an ext4
#     without a journal (as this machine's root is) creating a file skips every inode
#     deleted in the last 60-360 s, one buffer lookup each, so a round's creates cost more
#     the more files anything deleted just before (earlier rounds, a build); a new file
#     system per round starts every server from the same state. DELETE_AT_END= (FS=tmp only;
#     set: keep every round's files until the end). MOUNT_OPTIONS= (FS=fresh: extra mount
#     options, e.g. lazytime).
#     QUICK=1: a smoke test of the script (NAMES=300 HISTORY=60 RUNS=1), not a result.
#     LD= (another lonsdaleite binary: labelled in the raw output); CARGO_TARGET_DIR as usual;
#     RUNS_ROOT, ALLOW_DIRTY: see bench/e2e/run-record.sh (a tree with uncommitted changes is
#     refused; run from a clean worktree).
# Raw output: bench/e2e/runs/<UTC stamp>-carbon-vs-carbon-cache/ (machine.txt, output.txt
# with every run line and the summary, per run: readback.json, loadgen.json, carbon.conf).
# Prints one line per run and a summary (median and range per server, ratio of medians).
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; fi
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/bench/e2e
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
if [[ -n ${QUICK:-} ]]; then : "${NAMES:=300}" "${HISTORY:=60}" "${RUNS:=1}"; fi
NAMES=${NAMES:-5000}
HISTORY=${HISTORY:-720}
STEP=${STEP:-60}
RUNS=${RUNS:-3}
SERVERS=${SERVERS:-"lonsdaleite carbon-cache"}
STRATEGIES=${STRATEGIES:-"sorted max"}
POLL=${POLL:-0.02}
RETENTIONS=${RETENTIONS:-60s:1d,15m:7d}
TIMEOUT=${TIMEOUT:-1800}
SHARDS=${SHARDS:-1}
CONNECTIONS=${CONNECTIONS:-1}
FS=${FS:-fresh}
TOTAL=$((NAMES * HISTORY))

if [[ $FS == fresh ]] && { [[ $(id -u) != 0 ]] || ! command -v mkfs.ext4 >/dev/null; }; then
  echo "FS=fresh needs root and mkfs.ext4 (a new loop-mounted ext4 per round); run as root or set FS=tmp" >&2
  exit 2
fi
RUN_COMMAND="NAMES=$NAMES HISTORY=$HISTORY STEP=$STEP RUNS=$RUNS SERVERS=\"$SERVERS\" STRATEGIES=\"$STRATEGIES\" POLL=$POLL RETENTIONS=$RETENTIONS SHARDS=$SHARDS CONNECTIONS=$CONNECTIONS FS=$FS${SYNC_CREATES:+ SYNC_CREATES=$SYNC_CREATES}${MOUNT_OPTIONS:+ MOUNT_OPTIONS=$MOUNT_OPTIONS}${LD:+ LD=$LD}${QUICK:+ QUICK=1} bench/e2e/carbon-vs-carbon-cache.sh"
# shellcheck source=bench/e2e/run-record.sh
source "$HERE/run-record.sh"
run_record_init carbon-vs-carbon-cache${QUICK:+-smoke}
exec > >(tee "$RUN_DIR/output.txt") 2>&1
[[ -n ${QUICK:-} ]] && echo "QUICK=1: a smoke test of the script, not a result"
# shellcheck source=tests/lib/need.sh
source "$REPO/tests/lib/need.sh"
need_command carbon-cache graphite-carbon
[[ -f /etc/carbon/carbon.conf ]] || { echo "/etc/carbon/carbon.conf missing (graphite-carbon's packaged configuration)" >&2; exit 1; }
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p lonsdaleite -p loadgen)
[[ -n ${LD:-} ]] && run_record_note "lonsdaleite binary: $LD (given by LD, not built from this commit)"
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
cp "$CONF"/* "$RUN_DIR/"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
user_s() { awk '{printf "%.2f", $14 / 100}' "/proc/$1/stat"; }

# Archive 0's seconds per point for the bench series (the first retention).
RES=$(/usr/bin/python3 -c '
import re, sys
n, u = re.match(r"(\d+)([smhdwy]?)", sys.argv[1].split(",")[0].split(":")[0]).groups()
print(int(n) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[u])' "$RETENTIONS")

# Sum of a self-metric (1 s resolution) from FROM on.
series_sum() { # FILE FROM
  "$LD" whisper fetch --from "$2" --drop nulls "$1" 2>/dev/null | awk '{ s += $2 } END { printf "%.0f\n", s }'
}

# Sends the load through the reader (carbon_readback.py), which times the window. loadgen
# stamps its last pass with its clock's second at start (NEWEST); start it only where
# NEWEST and NEWEST + 2 fall in the same archive-0 slot, so the reader knows the stored
# timestamps exactly.
send_and_read() { # PORT WHISPER_DIR
  while (( ($(date +%s) + 2) / RES != $(date +%s) / RES )); do sleep 0.2; done
  NEWEST=$(date +%s)
  /usr/bin/python3 "$HERE/carbon_readback.py" run "$2" "$NAMES" "$HISTORY" "$STEP" "$NEWEST" \
    "$POLL" "$TIMEOUT" "$RUN/readback.json" -- \
    "$LG" --protocol carbon-tcp --target "127.0.0.1:$1" --names "$NAMES" --history "$HISTORY" \
    --step "$STEP" --count "$TOTAL" --prefix bench --per-packet 100 --threads "$CONNECTIONS" -q --json
}

# Window seconds from readback.json and loadgen.json: start = sender start + pool build.
window_s() {
  /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1])); g = json.load(open(sys.argv[2]))
print("%.6f %.6f %d" % (r["t_end"] - (r["t_start"] + g["pool_build_s"]), r["end_uncertainty_s"], r["passes"]))' \
    "$RUN/readback.json" "$RUN/loadgen.json"
}

read_back() { # WHISPER_DIR -> COMPLETE/NAMES (untimed, every series, every point)
  /usr/bin/python3 "$HERE/carbon_readback.py" check "$1" "$NAMES" "$HISTORY" "$STEP" "$NEWEST"
}

keep_raw() { # NAME
  mkdir -p "$RUN_DIR/$1-$r"
  cp "$RUN/readback.json" "$RUN/loadgen.json" "$RUN_DIR/$1-$r/" 2>/dev/null || true
  [[ -f $RUN/carbon.conf ]] && cp "$RUN/carbon.conf" "$RUN_DIR/$1-$r/"
  [[ -f $RUN/stderr ]] && cp "$RUN/stderr" "$RUN_DIR/$1-$r/server.stderr"
  return 0
}

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
  local cpu0 user0 cpu1 user1 s updates secs unc passes
  cpu0=$(cpu_s "$SERVER")
  user0=$(user_s "$SERVER")
  send_and_read "${carbon##*:}" "$RUN/data/whisper"
  cpu1=$(cpu_s "$SERVER")
  user1=$(user_s "$SERVER")
  read -r secs unc passes < <(window_s)
  s=$(stat)
  updates=$(val storage.update_operations "$s")
  report lonsdaleite "$TOTAL" "$updates" "$secs" "$(echo "$cpu1 - $cpu0" | bc -l)" \
    "$(read_back "$RUN/data/whisper")" "$unc" "$passes"
  printf '  of which user %.2f s, system %.2f s\n' "$(echo "$user1 - $user0" | bc -l)" \
    "$(echo "$cpu1 - $cpu0 - ($user1 - $user0)" | bc -l)"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  keep_raw lonsdaleite
}

# carbon.conf: Debian's packaged [cache] section with this run's paths and ports, and the
# overrides named in the header.
carbon_conf() { # STRATEGY PORT PICKLE_PORT QUERY_PORT
  /usr/bin/python3 - "$@" "$RUN" "$CONF" >"$RUN/carbon.conf" <<'EOF'
import sys
strategy, port, pport, qport, run, conf = sys.argv[1:7]
over = {
    "STORAGE_DIR": run + "/storage/", "LOCAL_DATA_DIR": run + "/storage/whisper/",
    "WHITELISTS_DIR": run + "/storage/lists/", "CONF_DIR": conf + "/", "LOG_DIR": run + "/log/",
    "PID_DIR": run + "/", "USER": "",
    "LINE_RECEIVER_INTERFACE": "127.0.0.1", "LINE_RECEIVER_PORT": port,
    "PICKLE_RECEIVER_INTERFACE": "127.0.0.1", "PICKLE_RECEIVER_PORT": pport,
    "UDP_RECEIVER_INTERFACE": "127.0.0.1",
    "CACHE_QUERY_INTERFACE": "127.0.0.1", "CACHE_QUERY_PORT": qport,
    "MAX_CACHE_SIZE": "inf", "MAX_UPDATES_PER_SECOND": "inf", "MAX_CREATES_PER_MINUTE": "inf",
    "CACHE_WRITE_STRATEGY": strategy, "CARBON_METRIC_INTERVAL": "1",
}
section, seen = None, set()
print("# Debian's /etc/carbon/carbon.conf [cache] with the overrides of carbon-vs-carbon-cache.sh")
print("[cache]")
for line in open("/etc/carbon/carbon.conf"):
    t = line.strip()
    if t.startswith("["):
        section = t
        continue
    if section != "[cache]" or not t or t.startswith("#") or "=" not in t:
        continue
    key = t.split("=", 1)[0].strip()
    if key in over:
        seen.add(key)
        print("%s = %s" % (key, over[key]))
    else:
        print(t)
for key in over:
    if key not in seen:
        print("%s = %s" % (key, over[key]))
EOF
}

run_carbon_cache() { # STRATEGY
  local strategy=$1 port pport qport
  port=$(free_port); pport=$(free_port); qport=$(free_port)
  mkdir -p "$RUN/storage/whisper" "$RUN/log"
  carbon_conf "$strategy" "$port" "$pport" "$qport"
  carbon-cache --config="$RUN/carbon.conf" --nodaemon --pidfile="$RUN/carbon.pid" \
    --logdir="$RUN/log" start >"$RUN/stdout" 2>"$RUN/stderr" &
  SERVER=$!
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
  local pid cpu0 cpu1 t0s updates agent secs unc passes
  pid=$(cat "$RUN/carbon.pid" 2>/dev/null || echo "$SERVER")
  cpu0=$(cpu_s "$pid")
  t0s=$(date +%s)
  send_and_read "$port" "$RUN/storage/whisper"
  cpu1=$(cpu_s "$pid")
  read -r secs unc passes < <(window_s)
  # its self-metrics of the window's last second are written within the next seconds
  sleep 3
  agent=$(ls -d "$RUN"/storage/whisper/carbon/agents/* 2>/dev/null | head -1 || true)
  updates=$(series_sum "$agent/updateOperations.wsp" "$t0s")
  report "carbon-cache-$strategy" "$TOTAL" "$updates" "$secs" "$(echo "$cpu1 - $cpu0" | bc -l)" \
    "$(read_back "$RUN/storage/whisper")" "$unc" "$passes"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  keep_raw "carbon-cache-$strategy"
}

report() { # SERVER POINTS UPDATES SECONDS CPU_S READ_BACK UNCERTAINTY PASSES
  local rate
  rate=$(echo "$2 / $4" | bc -l)
  printf '%s run %d: %s points in %.3f s (end known to %.3f s, %d reader passes) = %.0f points/s; %s updates (%.1f points/update); server CPU %.2f s (%.0f points per CPU second); read back %s series; load average %s\n' \
    "$1" "$r" "$2" "$4" "$7" "$8" "$rate" "$3" "$(echo "$2 / ${3:-0}" | bc -l 2>/dev/null || echo 0)" "$5" \
    "$(echo "$2 / $5" | bc -l)" "$6" "$(cut -d' ' -f1 /proc/loadavg)"
  echo "$1 $rate $(echo "$2 / $5" | bc -l) $(echo "$2 / ${3:-1}" | bc -l)" >>"$WORK/results"
}

[[ -n ${KEEP:-} ]] && echo "data kept in $WORK"
LIST=()
for server in $SERVERS; do
  case $server in
    lonsdaleite) LIST+=(lonsdaleite) ;;
    carbon-cache) for st in $STRATEGIES; do LIST+=("carbon-cache-$st"); done ;;
    *) echo "unknown server $server (lonsdaleite, carbon-cache)" >&2; exit 2 ;;
  esac
done
run_record_note "load: $NAMES series x $HISTORY points ($TOTAL points, step ${STEP}s), retentions $RETENTIONS, $RUNS run(s) each of: ${LIST[*]}; lonsdaleite with $SHARDS shard(s), storage.sync_creates ${SYNC_CREATES:-default (true)}, loadgen over $CONNECTIONS connection(s)"
run_record_note "window: loadgen's start + its pool build .. the first read at which all $NAMES series' files held all $HISTORY points (bench/e2e/carbon_readback.py, one pass over the incomplete series every ${POLL}s once loadgen exited; same reader for every server)"
run_record_note "files on: $([[ $FS == fresh ]] && echo "a new loop-mounted ext4 (mkfs.ext4 defaults${MOUNT_OPTIONS:+, mounted with $MOUNT_OPTIONS}) per round" || echo "$(findmnt -n -o FSTYPE --target "$WORK") under /tmp")"
run_record_note "peers: graphite-carbon $(dpkg-query -W -f '${Version}' graphite-carbon), python3-whisper $(dpkg-query -W -f '${Version}' python3-whisper); lonsdaleite $("$LD" --version)"
for r in $(seq 1 "$RUNS"); do
  for server in "${LIST[@]}"; do
    RUN=$WORK/$server-$r
    mkdir -p "$RUN"
    if [[ $FS == fresh ]]; then
      truncate -s 4G "$RUN.img"
      mkfs.ext4 -q -F "$RUN.img"
      mount -o "loop${MOUNT_OPTIONS:+,$MOUNT_OPTIONS}" "$RUN.img" "$RUN"
    fi
    case $server in
      lonsdaleite) run_lonsdaleite ;;
      carbon-cache-*) run_carbon_cache "${server#carbon-cache-}" ;;
    esac
    if [[ $FS == fresh ]]; then
      umount "$RUN"
      [[ -n ${KEEP:-} ]] || rm -f "$RUN.img"
    else
      [[ -n ${KEEP:-} || -n ${DELETE_AT_END:-} ]] || rm -rf "$RUN"
    fi
  done
done
echo "summary (median [min - max] over $RUNS run(s), each column on its own)${RUN_DIRTY:+ — DIRTY tree, not a result}${QUICK:+ — QUICK smoke test, not a result}:"
col() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$WORK/results" | sort -g |
  awk '{ v[NR] = $1 } END { printf "%.1f %.1f %.1f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
for server in "${LIST[@]}"; do
  read -r rm rl rh < <(col "$server" 2); read -r cm cl ch < <(col "$server" 3); read -r pm pl ph < <(col "$server" 4)
  printf '  %s: %.0f points/s [%.0f - %.0f], %.0f points per CPU second [%.0f - %.0f], %.1f points/update [%.1f - %.1f]\n' \
    "$server" "$rm" "$rl" "$rh" "$cm" "$cl" "$ch" "$pm" "$pl" "$ph"
done
# The ratio is taken against carbon-cache's better strategy (higher median points/s).
best= best_rate=0
for server in "${LIST[@]}"; do
  [[ $server == carbon-cache-* ]] || continue
  rate=$(col "$server" 2 | cut -d' ' -f1)
  if [[ -z $best ]] || (( $(echo "$rate > $best_rate" | bc -l) )); then best=$server best_rate=$rate; fi
done
if [[ " ${LIST[*]} " == *" lonsdaleite "* && -n $best ]]; then
  printf '  ratio of medians against %s (carbon-cache'"'"'s better strategy here): %.1fx in points/s, %.1fx in points per CPU second\n' \
    "$best" "$(echo "$(col lonsdaleite 2 | cut -d' ' -f1) / $best_rate" | bc -l)" \
    "$(echo "$(col lonsdaleite 3 | cut -d' ' -f1) / $(col "$best" 3 | cut -d' ' -f1)" | bc -l)"
fi
echo "raw output: $RUN_DIR"
