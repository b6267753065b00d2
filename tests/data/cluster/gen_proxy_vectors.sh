#!/usr/bin/env bash
# Regenerates tests/data/cluster/proxy.txt: where etsy statsd 0.9.0's proxy.js (npm
# hashring 3.2.0, pinned by tests/cluster_proxy/package-lock.json) sends every name of
# names.txt, for a few node sets. Needs node and npm (tests/run-all installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [[ ! -d $repo/tests/cluster_proxy/node_modules/hashring ]]; then
  (cd "$repo/tests/cluster_proxy" && npm ci --no-audit --no-fund --silent --omit=optional)
fi
NODE_PATH=$repo/tests/cluster_proxy/node_modules node "$here/gen_proxy_vectors.js"
