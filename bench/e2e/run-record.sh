# Sourced by the bench scripts: where a run keeps its raw output and what it records about
# the code and the machine, the same way for every script (issue 15 item 5).
#
#   run_record_init NAME   makes RUN_DIR = $RUNS_ROOT/<UTC stamp>-NAME (RUNS_ROOT defaults to
#                          bench/e2e/runs of the repository the script runs from) and writes
#                          RUN_DIR/machine.txt: commit, whether the tree is clean, machine
#                          facts, the command line. A tree with changes to tracked files or
#                          with untracked files outside bench/e2e/runs/ is refused: run the
#                          script from a clean worktree instead
#                            git worktree add --detach /tmp/bench-wt HEAD
#                            RUNS_ROOT=$PWD/bench/e2e/runs /tmp/bench-wt/bench/<script>
#                          ALLOW_DIRTY=1 runs anyway and labels machine.txt, the summary and
#                          the directory name (…-DIRTY) so the figures cannot pass for a result.
#   run_record_note TEXT   appends a line to machine.txt (and prints it).
#
# The caller sets REPO (the repository root) and may set RUN_COMMAND (the command line as
# typed, with the settings that matter) before calling run_record_init.

run_record_init() {
  local name=$1 stamp dirty
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  dirty=$(git -C "$REPO" status --porcelain -- . ':!bench/e2e/runs' 2>/dev/null || echo "not a git tree")
  RUN_DIRTY=
  if [[ -n $dirty ]]; then
    if [[ -z ${ALLOW_DIRTY:-} ]]; then
      {
        echo "refusing to run: $REPO has changes that are not committed (figures must come from a clean commit):"
        head -20 <<<"$dirty" | sed 's/^/  /'
        echo "run it from a clean worktree instead:"
        echo "  git -C $REPO worktree add --detach /tmp/bench-wt HEAD"
        echo "  RUNS_ROOT=$REPO/bench/e2e/runs /tmp/bench-wt/$(realpath --relative-to="$REPO" "$0") …"
        echo "or set ALLOW_DIRTY=1 for a smoke run (labelled DIRTY, not a result)"
      } >&2
      exit 2
    fi
    RUN_DIRTY=1
  fi
  RUNS_ROOT=${RUNS_ROOT:-$REPO/bench/e2e/runs}
  RUN_DIR="$RUNS_ROOT/$stamp-$name${RUN_DIRTY:+-DIRTY}"
  mkdir -p "$RUN_DIR"
  {
    echo "run: $name, $(date -u '+%F %T') UTC"
    echo "command: ${RUN_COMMAND:-$0 $*}"
    echo "commit: $(git -C "$REPO" rev-parse HEAD) ($(git -C "$REPO" log -1 --format=%s))"
    if [[ -n $RUN_DIRTY ]]; then
      echo "tree: DIRTY — uncommitted changes below; these figures are not a result"
      sed 's/^/  /' <<<"$dirty"
    else
      echo "tree: clean (no changes to tracked files, no untracked files outside bench/e2e/runs/)"
    fi
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)$(lscpu | sed -n 's/^Hypervisor vendor: */, hypervisor /p')"
    echo "memory: $(free -m | awk '/^Mem:/ { print $2 " MiB" }')"
    echo "kernel: $(uname -sr)"
    echo "os: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "rustc: $(rustc --version 2>/dev/null || echo none)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "sysctl: net.core.rmem_default=$(cat /proc/sys/net/core/rmem_default) net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max) net.core.netdev_max_backlog=$(cat /proc/sys/net/core/netdev_max_backlog)"
    echo "limits: nofile $(ulimit -n), memlock $(ulimit -l)"
  } >"$RUN_DIR/machine.txt"
  if [[ -n $RUN_DIRTY ]]; then
    echo "WARNING: DIRTY tree — raw output in $RUN_DIR is labelled and is not a result" >&2
  fi
}

run_record_note() {
  echo "$*" | tee -a "$RUN_DIR/machine.txt"
}
