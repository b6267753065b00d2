#!/usr/bin/env bash
# Regenerates the ring vectors in tests/data/cluster/ from the real tools:
#   names.txt, relay.txt  carbon-c-relay's test mode (-t) placements (Debian's package)
#   carbon.txt            carbon 1.1.10's own ConsistentHashingRouter (from PyPI)
#   intake.txt            carbon-c-relay's daemon, fed over TCP, members on 127.0.0.1
# Needs root for the Debian package (or carbon-c-relay installed), python3 and pip.
# The relay's version is checked: the vectors are carbon-c-relay 3.7's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/need.sh
source "$here/../../lib/need.sh"
need_package carbon-c-relay
version=$(carbon-c-relay -v | head -1)
case $version in
  "carbon-c-relay v3.7."*) ;;
  *) echo "expected carbon-c-relay 3.7, found: $version" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$tmp/carbon" 'carbon==1.1.10'
python3 "$here/gen_vectors.py" "$tmp/carbon/opt/graphite/lib" "$here"
wc -l "$here"/names.txt "$here"/relay.txt "$here"/carbon.txt "$here"/intake.txt
