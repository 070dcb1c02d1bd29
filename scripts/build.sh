#!/usr/bin/env bash
# scripts/build.sh <release|asan> [targets...] — configures once, then builds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}; shift || true
case "$kind" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release -DSOUK_SANITIZE=OFF) ;;
  asan)    flags=(-DCMAKE_BUILD_TYPE=Debug -DSOUK_SANITIZE=ON) ;;
  *) echo "usage: scripts/build.sh release|asan [targets...]" >&2; exit 2 ;;
esac
dir="${BUILD_DIR:-build/$kind}"  # BUILD_DIR: another build tree of the same kind
# The web app first: its files are embedded into the binary, and the list of them is read when
# CMake configures (docs/decisions/0008).
scripts/build-web.sh
web_files=""
[[ -f web/dist/index.html ]] && web_files=$(cd web/dist && find . -type f | LC_ALL=C sort)
if [[ ! -f "$dir/build.ninja" || "$(cat "$dir/.souk-web-files" 2>/dev/null)" != "$web_files" ]]; then
  # clang: GCC 12 miscompiles lambda temporaries inside co_await (docs/decisions/0002).
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="${CXX:-clang++}" "${flags[@]}" >/dev/null
  printf '%s' "$web_files" > "$dir/.souk-web-files"
fi
jobs=$(nproc)
cmake --build "$dir" --parallel "$jobs" ${1:+--target "$@"}
