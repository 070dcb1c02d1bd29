#!/usr/bin/env bash
# scripts/build-web.sh — builds the SPA in web/ into web/dist (embedded into souk at configure
# time). Does nothing when web/'s sources and lock file are unchanged since the last build, so
# re-running is fast. `npm ci` runs only when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/../web"

if [[ ! -f package.json ]]; then exit 0; fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "build-web: node and npm are needed to build web/ (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
# Vite 8 needs Node.js 20.19 or newer.
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "build-web: Node.js $(node --version) is too old for the web build; 20.19 or newer is needed" >&2
  exit 1
fi

hash_of() { sha256sum "$@" | sha256sum | cut -c1-64; }

lock_hash=$(hash_of package.json package-lock.json)
if [[ ! -d node_modules || "$(cat node_modules/.souk-lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
  echo "build-web: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.souk-lock-hash
fi

# Everything the bundle is made from (tests excluded: they do not change dist/).
mapfile -d '' sources < <(find src public index.html vite.config.ts tsconfig.json package.json package-lock.json \
  -type f ! -name '*.test.ts' -print0 2>/dev/null | sort -z)
src_hash=$(hash_of "${sources[@]}")
if [[ -f dist/index.html && "$(cat .build-stamp 2>/dev/null)" == "$src_hash" ]]; then
  exit 0
fi
echo "build-web: building web/dist"
npm run --silent build
echo "$src_hash" > .build-stamp
