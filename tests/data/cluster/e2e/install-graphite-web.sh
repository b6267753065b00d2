#!/usr/bin/env bash
# Makes the graphite-web 1.1.10 venv tests/cluster_e2e.rs runs as its reference frontend,
# as reference/graphite.md §9 says: PyPI graphite-web==1.1.10, whisper==1.1.10 and
# django-tagging==0.4.3 (no dependencies pulled) over Debian's python3-django 3.2,
# gunicorn, python3-msgpack and the rest, each Debian package installed only when missing.
#
#   install-graphite-web.sh VENV_DIR
#
# Does nothing when VENV_DIR already holds a working install. Prints VENV_DIR/bin/python.
set -euo pipefail
venv=${1:?usage: install-graphite-web.sh VENV_DIR}
here=$(cd "$(dirname "$0")" && pwd)
check() {
  [[ -x $venv/bin/python ]] &&
    "$venv/bin/python" -c 'import graphite, whisper, tagging, gunicorn, django, msgpack' 2>/dev/null &&
    "$venv/bin/pip" show graphite-web 2>/dev/null | grep -x 'Version: 1.1.10' >/dev/null
}
if ! check; then
  # shellcheck source=tests/lib/need.sh
  source "$here/../../../lib/need.sh"
  need_package python3-django gunicorn python3-tz python3-six python3-urllib3 \
    python3-pyparsing python3-cairo python3-msgpack python3-venv
  rm -rf "$venv"
  # Debian's own Python (not whichever python3 is first on PATH), so that the venv sees
  # Debian's packages.
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    graphite-web==1.1.10 whisper==1.1.10 django-tagging==0.4.3
  check || { echo "graphite-web 1.1.10 did not install into $venv" >&2; exit 1; }
fi
echo "$venv/bin/python"
