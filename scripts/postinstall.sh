#!/bin/sh
# Runs after `npm ci` / `npm install`: a local Node 24 when the system one is too old, then
# the admin console's build.
#
# `npx tessera` in this repository "installs" the project itself into npm's npx cache (that
# is how npm exec runs a package's own bin), which runs this script again. Setup was already
# done by `npm ci`, so there is nothing to do then; doing it would only slow every npx call.
set -e
if [ "${npm_command:-}" = "exec" ]; then exit 0; fi
cd "$(dirname "$0")/.."
sh scripts/ensure-node.sh
sh scripts/with-node.sh sh console/build.sh --if-possible
