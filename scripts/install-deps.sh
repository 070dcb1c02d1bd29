#!/usr/bin/env bash
# Installs what Souk needs on Debian 12, only what is missing (fast when nothing is).
set -euo pipefail

packages=(
  build-essential clang libclang-rt-14-dev cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev sqlite3 libfmt-dev catch2 prometheus-cpp-dev libssl-dev openssl
  libargon2-dev libqrencode-dev libjemalloc-dev
  python3 curl wrk nginx-light clang-format
)
# The web app (web/): Node.js and npm build it (this machine kind ships Node.js 20; Debian's own
# nodejs only when there is none), Debian's Chromium runs its end-to-end tests (never a
# browser downloaded by a test tool).
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$root/web/package.json" ]]; then
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# promtool checks the alert rules (config/alerts/). It ships in Debian's prometheus package, which
# would also install a server; only the tool is unpacked, into .tools/bin.
if ! command -v promtool >/dev/null && [[ ! -x "$root/.tools/bin/promtool" ]]; then
  echo "unpacking promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null); then
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null)
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/unpacked"
  mkdir -p "$root/.tools/bin"
  cp "$tmp/unpacked/usr/bin/promtool" "$root/.tools/bin/promtool"
  rm -rf "$tmp"
fi
