#!/usr/bin/env bash
# Regenerates tests/data/cluster/federation.json (see gen_federation.py): graphite-web
# 1.1.10's answers as a cluster member, and the check that a graphite-web 1.1.10 frontend
# in front of a lonsdaleite member answers as graphite-web reading the files itself.
#
# graphite-web 1.1.10 runs as reference/graphite.md §9 says: PyPI graphite-web==1.1.10 and
# whisper==1.1.10 in a venv over Debian's python3-django 3.2, gunicorn and python3-msgpack
# (GW_VENV, default ../venv-gwfed next to the repository; made when missing). Needs root
# for the Debian packages (or them installed). Builds lonsdaleite (debug) first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
GW_VENV=${GW_VENV:-$(dirname "$repo")/venv-gwfed}
if ! "$GW_VENV/bin/python" -c 'import graphite, whisper, gunicorn, django, msgpack' 2>/dev/null; then
  # shellcheck source=tests/lib/need.sh
  source "$repo/tests/lib/need.sh"
  need_package python3-django gunicorn python3-tz python3-six python3-urllib3 python3-pyparsing \
    python3-cairo python3-msgpack python3-venv
  /usr/bin/python3 -m venv --system-site-packages "$GW_VENV"
  "$GW_VENV/bin/pip" install -q --no-deps graphite-web==1.1.10 whisper==1.1.10 django-tagging==0.4.3
fi
(cd "$repo" && cargo build --quiet --bin lonsdaleite)
target=${CARGO_TARGET_DIR:-$repo/target}
"$GW_VENV/bin/python" "$here/gen_federation.py" "$target/debug/lonsdaleite" "$here/federation.json"
