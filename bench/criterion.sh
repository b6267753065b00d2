#!/usr/bin/env bash
# Runs the criterion micro-benchmarks (`cargo bench`) and keeps their summary with the raw
# output of every other benchmark (issue 15 item 5):
#
#   bench/criterion.sh [--help] [BENCH...] [-- CRITERION ARGS...]
#     BENCH: statsd, carbon, whisper (default: all three); criterion args go to each, e.g.
#     `-- parse` to run only benchmarks whose name contains "parse".
#     QUICK=1: a smoke test of the script (criterion's --quick, 1 s warm-up), not a result.
#     CARGO_TARGET_DIR as usual; RUNS_ROOT, ALLOW_DIRTY: see bench/e2e/run-record.sh (a tree
#     with uncommitted changes is refused; run from a clean worktree).
#
# Raw output: bench/e2e/runs/<UTC stamp>-criterion/
#   machine.txt          commit, clean tree, machine, command (bench/e2e/run-record.sh)
#   <bench>.txt          criterion's console output for that bench binary (time: [low est high]
#                        per benchmark, throughput, change against the previous run here)
#   estimates/<bench id>.json
#                        criterion's new/estimates.json of every benchmark this run measured
#                        (mean, median, slope, std dev with confidence intervals, in ns)
#   summary.txt          one line per benchmark: median and mean point estimates
# Criterion compares each run with the previous one in the same CARGO_TARGET_DIR; the
# "change" lines therefore depend on what ran there before and are not a result.
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BENCHES=()
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    statsd | carbon | whisper) BENCHES+=("$1") ;;
    *) echo "unknown bench '$1' (statsd, carbon, whisper); see --help" >&2; exit 2 ;;
  esac
  shift
done
[[ ${1:-} == -- ]] && shift
EXTRA=("$@")
[[ ${#BENCHES[@]} -gt 0 ]] || BENCHES=(statsd carbon whisper)
if [[ -n ${QUICK:-} ]]; then EXTRA=(--quick --warm-up-time 1 "${EXTRA[@]}"); fi
RUN_COMMAND="${QUICK:+QUICK=1 }bench/criterion.sh ${BENCHES[*]}${EXTRA[*]:+ -- ${EXTRA[*]}}"
# shellcheck source=bench/e2e/run-record.sh
source "$REPO/bench/e2e/run-record.sh"
run_record_init "criterion${QUICK:+-smoke}"
[[ -n ${QUICK:-} ]] && run_record_note "QUICK=1: a smoke test of the script, not a result"
run_record_note "load average before building: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo bench --no-run --quiet "${BENCHES[@]/#/--bench=}")
MARK=$(mktemp)
trap 'rm -f "$MARK"' EXIT
for b in "${BENCHES[@]}"; do
  run_record_note "bench $b: start $(date -u +%T) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo bench --quiet --bench "$b" -- "${EXTRA[@]}") 2>&1 |
    tee "$RUN_DIR/$b.txt"
done
run_record_note "end $(date -u +%T) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# criterion's estimates of the benchmarks measured in this run (newer than MARK's creation)
mkdir -p "$RUN_DIR/estimates"
: >"$RUN_DIR/summary.txt"
if [[ -d $TARGET/criterion ]]; then
  while IFS= read -r f; do
    id=${f#"$TARGET/criterion/"}
    id=${id%/new/estimates.json}
    cp "$f" "$RUN_DIR/estimates/${id//\//__}.json"
    jq -r --arg id "$id" '"\($id): median \(.median.point_estimate | floor) ns, mean \(.mean.point_estimate | floor) ns"' \
      "$f" >>"$RUN_DIR/summary.txt"
  done < <(find "$TARGET/criterion" -path '*/new/estimates.json' -newer "$MARK" | sort)
fi
cat "$RUN_DIR/summary.txt"
echo "raw output: $RUN_DIR"
