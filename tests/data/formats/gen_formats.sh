#!/usr/bin/env bash
# Regenerates tests/data/formats/formats.jsonl (see gen_formats.py) from graphite-web
# 1.1.10's own render views.
#
# graphite-web 1.1.10 runs as reference/graphite.md §9 says: PyPI graphite-web==1.1.10 and
# whisper==1.1.10 in a venv over Debian's python3-django 3.2 and python3-msgpack (GW_VENV,
# default ../venv-gw-formats next to the repository; made when missing). Needs root for the
# Debian packages (or them installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
GW_VENV=${GW_VENV:-$(dirname "$repo")/venv-gw-formats}
if ! "$GW_VENV/bin/python" -c 'import graphite, whisper, django, msgpack, cairo' 2>/dev/null; then
  # shellcheck source=tests/lib/need.sh
  source "$repo/tests/lib/need.sh"
  need_package python3-django gunicorn python3-tz python3-six python3-urllib3 python3-pyparsing \
    python3-cairo python3-msgpack python3-venv
  /usr/bin/python3 -m venv --system-site-packages "$GW_VENV"
  "$GW_VENV/bin/pip" install -q --no-deps graphite-web==1.1.10 whisper==1.1.10 django-tagging==0.4.3
fi
gw=$("$GW_VENV/bin/python" -c 'import graphite, os; print(os.path.dirname(graphite.__file__))')
"$GW_VENV/bin/python" "$here/gen_formats.py" "$gw/render/views.py" "$gw/render/datalib.py" \
  > "$here/formats.jsonl"
