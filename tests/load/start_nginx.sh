#!/usr/bin/env bash
# tests/load/start_nginx.sh PREFIX — starts Debian's nginx (1 worker, access_log off) serving
# tests/load/health.json (60 bytes) as http://127.0.0.1:PORT/health (from memory) and
# http://127.0.0.1:PORT/health.json (from the file), from PREFIX (a
# directory of its own; created if missing). Prints "PORT PID" once nginx answers; nginx stays in
# the background: stop it with `kill PID`. Nothing outside PREFIX is written.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:?usage: start_nginx.sh PREFIX}
nginx_bin=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x "$nginx_bin" ]] || { echo "start_nginx.sh: nginx not found (apt-get install nginx-light)" >&2; exit 1; }
mkdir -p "$prefix"/{html,logs,tmp}
prefix=$(cd "$prefix" && pwd)
cp "$here/health.json" "$prefix/html/health.json"
body=$(cat "$here/health.json")
[[ "$body" != *"'"* && "$body" != *"|"* ]] || { echo "start_nginx.sh: health.json must not contain ' or |" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# As root the workers would switch to "nobody", who cannot read a private temporary directory.
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user $(id -un) $(id -gn);"

for attempt in 1 2 3 4 5; do
    port=$(free_port)
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" -e "s|@USER_LINE@|$user_line|" -e "s|@BODY@|$body|" \
        "$here/nginx.conf" >"$prefix/nginx.conf"
    "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        >"$prefix/logs/stdout.log" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 50); do
        if curl -sf -o /dev/null "http://127.0.0.1:$port/health"; then
            echo "$port $pid"
            exit 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "start_nginx.sh: attempt $attempt on port $port failed:" >&2
    tail -3 "$prefix/logs/error.log" >&2 2>/dev/null || true
done
exit 1
