#!/usr/bin/env bash
# Every tracked C++ file is clang-formatted (.clang-format at the root). Lists the ones that are
# not and exits 1. Usage: scripts/check-format.sh [root]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
bad=0
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done < <(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null || find . -name '*.cpp' -o -name '*.hpp')
if ((bad)); then
  echo "$bad file(s) not clang-formatted"
  exit 1
fi
echo "formatting: ok"
