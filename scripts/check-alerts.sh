#!/usr/bin/env bash
# The Prometheus alert rules in config/alerts/ are valid (promtool check rules) and fire when
# they should (promtool test rules). promtool comes from Debian's prometheus package, unpacked
# into .tools/ by scripts/install-deps.sh (no service installed).
# Usage: scripts/check-alerts.sh [root]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
promtool=$(command -v promtool || true)
[[ -n "$promtool" ]] || promtool="$root/.tools/bin/promtool"
if [[ ! -x "$promtool" ]]; then
  echo "check-alerts: promtool not found (scripts/install-deps.sh unpacks it into .tools/bin)" >&2
  exit 1
fi
cd "$root/config/alerts"
"$promtool" check rules souk.rules.yml
"$promtool" test rules souk.rules.test.yml
