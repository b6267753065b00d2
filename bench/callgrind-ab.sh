#!/usr/bin/env bash
# Instructions per line on the StatsD and carbon receive paths, two commits side by side,
# counted by callgrind: a count does not move with the load of a shared machine, so a
# change of a few percent shows where wall-clock runs cannot tell it from noise.
#
#   bench/callgrind-ab.sh COMMIT_A COMMIT_B        (e.g. 7ce3ac1 HEAD)
#
# Each commit is checked out in a worktree under $WORK (default /tmp/callgrind-ab) and its
# benches built in release (the bench profile). Both run the same drivers: this checkout's
# bench/statsd.rs and bench/carbon.rs are copied over the worktree's when the library's API
# lets them build, so what differs is the library alone. Cases:
#   statsd/<mix>: STATSD_BENCH_ONCE=$STATSD_PASSES (2) passes over 200 000 lines of the mix,
#                 then one flush; counted inclusive of once_ingest (parse + aggregate) and
#                 once_flush (the partials merged, then Aggregator::flush);
#   carbon/plain, carbon/tagged2: CARBON_BENCH_ONCE=$CARBON_PASSES (20) over 5000 names, counted
#                 inclusive of the driver's run() (framing, parsing, routing, caching; at
#                 7ce3ac1 its own bench/carbon.rs, whose run() is out of line too).
# Raw output: bench/e2e/runs/<UTC time>-callgrind-ab/ (machine.txt, table.md, each run's
# stdout and gzipped callgrind profile and inclusive annotation).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A=${1:?usage: bench/callgrind-ab.sh COMMIT_A COMMIT_B}
B=${2:?usage: bench/callgrind-ab.sh COMMIT_A COMMIT_B}
WORK=${WORK:-/tmp/callgrind-ab}
STATSD_PASSES=${STATSD_PASSES:-2}
CARBON_PASSES=${CARBON_PASSES:-20}
OUT="$REPO/bench/e2e/runs/$(date -u +%Y%m%dT%H%MZ)-callgrind-ab"
mkdir -p "$OUT" "$WORK"
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }

{
  echo "A: $(git -C "$REPO" rev-parse --short "$A") ($A)"
  echo "B: $(git -C "$REPO" rev-parse --short "$B") ($B)"
  echo "drivers: bench/statsd.rs, bench/carbon.rs from $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet -- bench || echo ' (uncommitted changes)')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r)"
  echo "date: $(date -u +%FT%TZ)"
  echo "command: STATSD_PASSES=$STATSD_PASSES CARBON_PASSES=$CARBON_PASSES bench/callgrind-ab.sh $A $B"
  echo "$(valgrind --version), $(rustc --version)"
} | tee "$OUT/machine.txt"

# build SIDE COMMIT: prints the paths of the statsd and carbon bench binaries.
build() {
  local side=$1 commit=$2 tree="$WORK/$1"
  if [[ ! -d $tree ]]; then
    git -C "$REPO" worktree add --detach -f "$tree" "$commit" >&2
  else
    git -C "$tree" checkout -q --detach -f "$commit"
  fi
  for b in statsd carbon; do
    cp "$REPO/bench/$b.rs" "$tree/bench/$b.rs.new"
    if ! cmp -s "$tree/bench/$b.rs" "$tree/bench/$b.rs.new"; then
      cp "$tree/bench/$b.rs" "$tree/bench/$b.rs.own"
      cp "$tree/bench/$b.rs.new" "$tree/bench/$b.rs"
    fi
  done
  echo "==> building $side ($commit)" >&2
  for b in statsd carbon; do
    if ! (cd "$tree" && CARGO_TARGET_DIR="$WORK/target-$side" cargo bench --bench "$b" --no-run --quiet >&2 2>"$OUT/build-$side-$b.log"); then
      # The driver does not build against this commit's API: use the commit's own.
      [[ -f $tree/bench/$b.rs.own ]] || { cat "$OUT/build-$side-$b.log" >&2; exit 1; }
      cp "$tree/bench/$b.rs.own" "$tree/bench/$b.rs"
      echo "$side: bench/$b.rs of $commit itself (this checkout's does not build there)" | tee -a "$OUT/machine.txt" >&2
      (cd "$tree" && CARGO_TARGET_DIR="$WORK/target-$side" cargo bench --bench "$b" --no-run --quiet >&2)
    fi
  done
  (cd "$tree" && CARGO_TARGET_DIR="$WORK/target-$side" cargo bench --bench statsd --bench carbon --no-run --message-format=json 2>/dev/null) |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["kind"] == ["bench"] and m.get("executable"):
        print(m["target"]["name"], m["executable"])'
}

# run SIDE CASE ENV BIN: one callgrind run; its inclusive annotation is $OUT/SIDE-CASE.annotate.
run() {
  local file="$OUT/$1-${2//\//-}"
  env $3 valgrind --tool=callgrind --callgrind-out-file="$file.callgrind" "$4" >"$file.stdout" 2>"$file.stderr"
  callgrind_annotate --inclusive=yes --threshold=100 "$file.callgrind" >"$file.annotate" 2>/dev/null
}
# pick SIDE CASE FUNCTION: FUNCTION's inclusive instructions: the line callgrind_annotate
# ends with the binary's name. (The function's other lines, one per source file its
# inlined code came from, are parts of that total, not additions to it.)
pick() {
  python3 - "$OUT/$1-${2//\//-}.annotate" "$3" <<'PY'
import re, sys
path, function = sys.argv[1], sys.argv[2]
line = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(?:.*?):(\S+) \[.*\]$")
totals = [int(m.group(1).replace(",", "")) for m in map(line.match, open(path))
          if m and m.group(2) == function]
if not totals:
    sys.exit(f"no function {function} in {path}")
print(max(totals))
PY
}

declare -A BIN
for side in A B; do
  commit=$A
  [[ $side == B ]] && commit=$B
  while read -r name path; do BIN[$side-$name]=$path; done < <(build "$side" "$commit")
done

printf '| case | what is counted | A instructions per line (flush: per value) | B | B/A |\n| --- | --- | --- | --- | --- |\n' >"$OUT/table.md"
row() { # CASE WHAT LINES A B
  python3 -c 'import sys
case, what, lines, a, b = sys.argv[1:]
lines, a, b = int(lines), int(a), int(b)
print(f"| {case} | {what} | {a/lines:.1f} | {b/lines:.1f} | {b/a:.4f} |")' "$@" >>"$OUT/table.md"
}
for mix in mixed counters timers tagged; do
  for side in A B; do
    run "$side" "statsd/$mix" "STATSD_BENCH_ONCE=$STATSD_PASSES STATSD_BENCH_MIX=$mix" "${BIN[$side-statsd]}"
  done
  lines=$(sed -n 's/^[a-z]*: \([0-9]*\) lines.*/\1/p' "$OUT/B-statsd-$mix.stdout")
  row "statsd/$mix" "parse + aggregate" "$lines" \
    "$(pick A "statsd/$mix" statsd::once_ingest)" "$(pick B "statsd/$mix" statsd::once_ingest)"
  values=$(sed -n 's/.* lines, \([0-9]*\) values flushed.*/\1/p' "$OUT/B-statsd-$mix.stdout")
  row "statsd/$mix" "one flush (per value written)" "$values" \
    "$(pick A "statsd/$mix" statsd::once_flush)" "$(pick B "statsd/$mix" statsd::once_flush)"
done
for tags in 0 2; do
  case=carbon/plain
  [[ $tags == 2 ]] && case=carbon/tagged2
  for side in A B; do
    run "$side" "$case" "CARBON_BENCH_ONCE=$CARBON_PASSES CARBON_BENCH_TAGS=$tags" "${BIN[$side-carbon]}"
  done
  row "$case" "frame + parse + route + cache" "$((CARBON_PASSES * 5000))" \
    "$(pick A "$case" carbon::run)" "$(pick B "$case" carbon::run)"
done
gzip -9 "$OUT"/*.callgrind "$OUT"/*.annotate
cat "$OUT/table.md"
echo "raw output in $OUT (profiles and annotations gzipped)"
