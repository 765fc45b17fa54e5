#!/bin/sh
# Builds the admin console into console/dist (run by `npm ci` through postinstall, and by
# `npm run build:console`). A production install without devDependencies has no Vite: the
# build is skipped there and /admin/ answers 503 until the console is built.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
vite="$root/node_modules/.bin/vite"
if [ ! -x "$vite" ]; then
  if [ "$1" = "--if-possible" ]; then
    echo "tessera: Vite is not installed (production install?); skipping the console build. Run npm run build:console to build it." >&2
    exit 0
  fi
  echo "tessera: Vite is not installed; run npm install first." >&2
  exit 1
fi
exec "$vite" build --config "$root/console/vite.config.ts"
