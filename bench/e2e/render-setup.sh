# Sourced by render-vs-graphite-web.sh and render-concurrent.sh: graphite-web 1.1.10 and
# lonsdaleite serving the same whisper tree, set up the same way for both scripts.
#
# The caller sets REPO, HERE (bench/e2e), TARGET, OUT (a scratch directory), PIDS=() and a
# cleanup trap that kills PIDS.
#
#   render_gw_venv              makes GW_VENV (default ../venv-gwbench) when it lacks
#                               graphite-web: PyPI graphite-web==1.1.10, whisper==1.1.10,
#                               django-tagging 0.4.3 on Debian's python3-django 3.2 and gunicorn,
#                               a venv with --system-site-packages (reference/graphite.md §9)
#   render_data SERVERS METRICS [RETENTIONS]
#                               the tree OUT/data/whisper made by render_data.py (whisper 1.1.10)
#                               and OUT/conf/storage-schemas.conf with the same retentions
#   render_start_lonsdaleite    `lonsdaleite serve --shards 1` on OUT/data: sets HTTP, CARBON, ADMIN
#   render_start_ingest RATE NAMES
#                               loadgen into lonsdaleite's carbon port (other series) for the run
#   render_start_graphite_web WORKERS
#                               graphite-web under gunicorn (sync workers) on OUT/data/whisper,
#                               no carbonlink (CARBONLINK_HOSTS empty, REPLICATION_FACTOR 0, its
#                               fastest configuration), Django's dummy cache (graphite's default):
#                               sets GW
#   render_versions             one line: graphite-web, whisper, django, gunicorn, python versions

GW_VENV=${GW_VENV:-$(dirname "$REPO")/venv-gwbench}

render_gw_venv() {
  if ! "$GW_VENV/bin/python" -c 'import graphite, whisper, gunicorn, django' 2>/dev/null; then
    # shellcheck source=tests/lib/need.sh
    source "$REPO/tests/lib/need.sh"
    need_package python3-django gunicorn python3-tz python3-six python3-urllib3 python3-pyparsing \
      python3-cairo python3-venv
    /usr/bin/python3 -m venv --system-site-packages "$GW_VENV"
    "$GW_VENV/bin/pip" install -q --no-deps graphite-web==1.1.10 whisper==1.1.10 django-tagging==0.4.3
  fi
}

render_data() { # SERVERS METRICS [RETENTIONS]
  local py=/usr/bin/python3 ret=${3:-10s:1d}
  [[ -x $GW_VENV/bin/python ]] && py=$GW_VENV/bin/python
  "$py" -c 'import whisper' 2>/dev/null || { echo "python whisper missing (GW_VENV=$GW_VENV)" >&2; exit 1; }
  mkdir -p "$OUT/data/whisper" "$OUT/conf"
  "$py" "$HERE/render_data.py" "$OUT/data/whisper" "$1" "$2" "$ret"
  printf '[all]\npattern = .*\nretentions = %s\n' "$ret" >"$OUT/conf/storage-schemas.conf"
  : >"$OUT/conf/lonsdaleite.toml"
}

render_start_lonsdaleite() {
  "$TARGET/release/lonsdaleite" serve --config "$OUT/conf/lonsdaleite.toml" --shards 1 \
    --data-dir "$OUT/data" --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
    --carbon-addr 127.0.0.1:0 --pickle-addr off --http-addr 127.0.0.1:0 \
    >"$OUT/ls.stdout" 2>"$OUT/ls.stderr" &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs '^listening http tcp ' "$OUT/ls.stdout" && break; sleep 0.1; done
  HTTP=$(sed -n 's/^listening http tcp //p' "$OUT/ls.stdout")
  [[ -n $HTTP ]] || { echo "lonsdaleite did not start:" >&2; cat "$OUT/ls.stderr" >&2; exit 1; }
  CARBON=$(sed -n 's/^listening carbon tcp //p' "$OUT/ls.stdout")
  ADMIN=$(sed -n 's/^listening admin tcp //p' "$OUT/ls.stdout")
}

render_start_ingest() { # RATE NAMES
  "$TARGET/release/loadgen" --target "$CARBON" --protocol carbon-tcp --names "$2" \
    --prefix ingest. --rate "$1" --duration 3600s -q >"$OUT/loadgen.txt" 2>&1 &
  PIDS+=($!)
}

render_start_graphite_web() { # WORKERS
  mkdir -p "$OUT/gw/storage/log"
  cat >"$OUT/gw/gwbench_settings.py" <<EOF
SECRET_KEY = "render-bench"
STORAGE_DIR = "$OUT/gw/storage"
LOG_DIR = "$OUT/gw/storage/log"
WHISPER_DIR = "$OUT/data/whisper"
CARBONLINK_HOSTS = []
REPLICATION_FACTOR = 0
EOF
  export PYTHONPATH="$OUT/gw" GRAPHITE_SETTINGS_MODULE=gwbench_settings DJANGO_SETTINGS_MODULE=graphite.settings
  (cd "$OUT/gw" && "$GW_VENV/bin/python" -m django migrate --noinput >"$OUT/gw/migrate.out" 2>&1)
  (cd "$OUT/gw" && exec "$GW_VENV/bin/python" -m gunicorn -w "$1" -b 127.0.0.1:0 \
    graphite.wsgi:application >"$OUT/gw/gunicorn.out" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 300); do grep -qs 'Listening at' "$OUT/gw/gunicorn.out" && break; sleep 0.1; done
  GW=$(sed -n 's/.*Listening at: http:\/\/\([^ ]*\) .*/\1/p' "$OUT/gw/gunicorn.out")
  [[ -n $GW ]] || { echo "graphite-web did not start:" >&2; cat "$OUT/gw/gunicorn.out" >&2; exit 1; }
  # gunicorn prints "Listening" before its workers have imported Django: wait for one answer
  for _ in $(seq 300); do curl -sf -o /dev/null "http://$GW/metrics/find?query=*" && break; sleep 0.2; done
}

render_versions() {
  "$GW_VENV/bin/python" - <<'EOF'
import sys, django, gunicorn, whisper
from importlib.metadata import version
print("graphite-web %s, whisper %s, django %s, gunicorn %s, python %s" % (
    version("graphite-web"), version("whisper"), django.get_version(), gunicorn.__version__,
    sys.version.split()[0]))
EOF
}
