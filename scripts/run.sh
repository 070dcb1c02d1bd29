#!/usr/bin/env bash
# The run command: installs what is missing, builds, and starts Souk with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release souk
echo
echo "Starting Souk (dev). Stop it with Ctrl-C."
exec build/release/souk serve --env "${SOUK_ENV:-dev}" --demo "$@"
