#!/usr/bin/env bash
# Regenerates tests/data/graph/pie.json (see gen_pie.py): graphite-web 1.1.10's PieGraph
# layouts, drawn by its glyph.py with pycairo. The venv is made as
# tests/data/formats/gen_formats.sh makes it (GW_VENV, default ../venv-gw-formats).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
GW_VENV=${GW_VENV:-$(dirname "$repo")/venv-gw-formats}
if ! "$GW_VENV/bin/python" -c 'import graphite, cairo' 2>/dev/null; then
  GW_VENV=$GW_VENV "$repo/tests/data/formats/gen_formats.sh"
fi
gw=$("$GW_VENV/bin/python" -c 'import graphite, os; print(os.path.dirname(graphite.__file__))')
"$GW_VENV/bin/python" "$here/gen_pie.py" "$gw/render/glyph.py" "$gw/render/datalib.py" > "$here/pie.json"
