# tests/load/reserve_server.sh — sourced by the reservation tools: a souk on a fresh data dir
# (test env, rate limits raised), with USERS members made by tests/load/reserve_setup.py.
#
# start_reserve_server BIN DIR USERS WAIT_S [SOUK_ARGS...]
#   Runs "${server_prefix[@]}" BIN serve ... SOUK_ARGS (server_prefix: e.g. valgrind and its
#   options; empty by default) with its log in DIR/souk.log, waits up to WAIT_S seconds for it to
#   listen, writes DIR/setup.json. Sets server_pid and server_port.
server_prefix=()
start_reserve_server() {
    local bin=$1 dir=$2 users=$3 wait_s=$4
    shift 4
    "${server_prefix[@]}" "$bin" serve --env test --set "data_dir=$dir/data" \
        --set server.http_port=0 --set server.https_port=0 --set log.requests=false \
        --set rate_limits.reserve.per_second=1000000 --set rate_limits.reserve.burst=1000000 \
        --set rate_limits.auth.per_second=1000 --set rate_limits.auth.burst=100000 "$@" \
        >"$dir/souk.log" 2>&1 </dev/null &
    server_pid=$!
    local line="" i
    for ((i = 0; i < wait_s * 10; i++)); do
        line=$(grep -m1 '"msg":"listening"' "$dir/souk.log" 2>/dev/null || true)
        [[ -n "$line" ]] && break
        sleep 0.1
    done
    [[ -n "$line" ]] || { echo "souk did not start; see $dir/souk.log" >&2; return 1; }
    server_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' <<<"$line")
    python3 tests/load/reserve_setup.py "http://127.0.0.1:$server_port" "$bin" "$dir/data" \
        "$users" "$dir/setup.json" >/dev/null
}
