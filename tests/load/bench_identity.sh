#!/usr/bin/env bash
# tests/load/bench_identity.sh — the identity benchmarks of docs/benchmarks.md, on 127.0.0.1 only.
#
#  1. builds the release souk (SKIP_BUILD=1 to skip);
#  2. starts souk (test env, fresh data_dir, auth rate limit raised) in a temporary directory and
#     registers USERS members (bench-id-<i>@souk.test) over HTTP; one access token is kept;
#  3. RUNS times: wrk -t1 -c64 -d10s against GET /health, then against GET /api/v1/auth/me with
#     the one bearer token; the ratio /auth/me over /health of that run; medians;
#  4. logins/s: RUNS times wrk -t1 -cLOGIN_CONNS -d10s with tests/load/login.lua (POST
#     /api/v1/auth/login rotating over the USERS members; argon2id as configured);
#  5. prints a markdown summary. Everything it started is stopped on exit.
#
# Knobs (environment): RUNS=3 WRK_DURATION=10s CONNECTIONS=64 USERS=8 LOGIN_CONNS=8
#   SOUK_THREADS= (server.threads) OUT_DIR= (keep raw outputs there) SKIP_BUILD=0
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

RUNS=${RUNS:-3}
WRK_DURATION=${WRK_DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
USERS=${USERS:-8}
LOGIN_CONNS=${LOGIN_CONNS:-8}
# souk and its CLI read SOUK_* variables as settings: SOUK_THREADS is this script's knob.
threads_knob=${SOUK_THREADS:-}
unset SOUK_THREADS
SKIP_BUILD=${SKIP_BUILD:-0}

for tool in wrk curl python3 timeout; do
    command -v "$tool" >/dev/null || { echo "bench_identity.sh: $tool is missing" >&2; exit 1; }
done

bin="$root/build/release"
[[ "$SKIP_BUILD" != 1 ]] && scripts/build.sh release souk >&2
[[ -x "$bin/souk" ]] || { echo "bench_identity.sh: $bin/souk not built" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/souk_bench_identity.XXXXXX")
raw="${OUT_DIR:-$work/raw}"
mkdir -p "$raw"
# A private copy of the binary: a rebuild during the run must not pull it away.
mkdir -p "$work/bin" && cp "$bin/souk" "$work/bin/" && bin="$work/bin"
souk_pid=""
cleanup() {
    if [[ -n "$souk_pid" ]] && kill -0 "$souk_pid" 2>/dev/null; then
        kill -TERM "$souk_pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$souk_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$souk_pid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[bench] $*" >&2; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

souk_args=(serve --env test --set "data_dir=$work/souk" --set server.http_port=0
           --set server.https_port=0 --set log.requests=false
           --set rate_limits.auth.per_second=1000 --set rate_limits.auth.burst=100000
           --set rate_limits.session.per_second=1000000 --set rate_limits.session.burst=1000000)
[[ -n "$threads_knob" ]] && souk_args+=(--set "server.threads=$threads_knob")
"$bin/souk" "${souk_args[@]}" >"$work/souk.log" 2>&1 </dev/null &
souk_pid=$!
souk_port=""
for _ in $(seq 1 150); do
    line=$(grep -m1 '"msg":"listening"' "$work/souk.log" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
        souk_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' <<<"$line")
        souk_threads=$(sed -n 's/.*"threads":\([0-9]*\).*/\1/p' <<<"$line")
        break
    fi
    kill -0 "$souk_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$souk_port" ]] || { echo "bench_identity.sh: souk did not start:" >&2; cat "$work/souk.log" >&2; exit 1; }
base="http://127.0.0.1:$souk_port"
log "souk on 127.0.0.1:$souk_port (pid $souk_pid, $souk_threads io threads)"

log "registering $USERS members"
token=$(timeout 300 python3 - "$base" "$USERS" <<'PY'
import concurrent.futures, json, sys, urllib.request, urllib.error
base, users = sys.argv[1], int(sys.argv[2])
def call(path, body):
    req = urllib.request.Request(base + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["data"]
def member(i):
    email = "bench-id-%d@souk.test" % i
    try:
        call("/api/v1/auth/register", {"email": email, "password": "bench member pass", "display_name": "B%d" % i})
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise
    return call("/api/v1/auth/login", {"email": email, "password": "bench member pass"})["access_token"]
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    tokens = list(pool.map(member, range(users)))
print(tokens[0])
PY
)
curl -sf -o /dev/null "$base/health"
curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/api/v1/auth/me" ||
    { echo "bench_identity.sh: GET /api/v1/auth/me with the token failed" >&2; exit 1; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); printf "%.2f", v/1000 }
    else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.2f", v*1000 } else print v }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)
# run_wrk NAME CONNS URL [wrk args...] -> "rps p50_ms p99_ms souk_cpu_us_per_req non2xx"
run_wrk() {
    local name=$1 c=$2 url=$3
    shift 3
    local t0 t1 f="$raw/$name.txt"
    t0=$(cpu_ticks "$souk_pid")
    timeout 120 wrk -t1 -c"$c" -d"$WRK_DURATION" --latency "$@" "$url" >"$f" 2>&1
    t1=$(cpu_ticks "$souk_pid")
    local rps n p50 p99 cpu bad
    rps=$(awk '/^Requests\/sec:/ {printf "%.1f", $2}' "$f")
    n=$(awk '/requests in/ {print $1}' "$f")
    p50=$(awk '$1 == "50%" {print $2}' "$f" | to_ms)
    p99=$(awk '$1 == "99%" {print $2}' "$f" | to_ms)
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v t="$clk_tck" 'BEGIN {printf "%.1f", (b - a) / t * 1e6 / (n > 0 ? n : 1)}')
    bad=$(awk '/Non-2xx/ {print $NF}' "$f")
    echo "$rps $p50 $p99 $cpu ${bad:-0}"
}

summary=()
say() { summary+=("$*"); }
say "load average at start: $load_start; souk io threads: $souk_threads; $(nproc) cores"

log "warm-up"
timeout 30 wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $token" "$base/api/v1/auth/me" >/dev/null 2>&1 || true
say ""
say "### GET /api/v1/auth/me (one bearer token) vs GET /health: wrk -t1 -c$CONNECTIONS -d$WRK_DURATION, same run"
say ""
say "| run | /health req/s | /auth/me req/s | ratio | /health p50 / p99 ms | /auth/me p50 / p99 ms | souk CPU µs/req health / me | non-2xx |"
say "|---:|---:|---:|---:|---|---|---|---:|"
h_all=""; m_all=""; r_all=""
for run in $(seq 1 "$RUNS"); do
    log "/health vs /auth/me run $run/$RUNS"
    read -r h_rps h_p50 h_p99 h_cpu h_bad < <(run_wrk "health_$run" "$CONNECTIONS" "$base/health")
    read -r m_rps m_p50 m_p99 m_cpu m_bad < <(run_wrk "me_$run" "$CONNECTIONS" "$base/api/v1/auth/me" -H "Authorization: Bearer $token")
    ratio=$(awk -v a="$m_rps" -v b="$h_rps" 'BEGIN {printf "%.3f", a / b}')
    say "| $run | $h_rps | $m_rps | $ratio | $h_p50 / $h_p99 | $m_p50 / $m_p99 | $h_cpu / $m_cpu | $((h_bad + m_bad)) |"
    h_all+=" $h_rps"; m_all+=" $m_rps"; r_all+=" $ratio"
done
say "| **median** | $(median <<<"$h_all") | $(median <<<"$m_all") | **$(median <<<"$r_all")** | | | | |"

say ""
say "### POST /api/v1/auth/login: wrk -t1 -c$LOGIN_CONNS -d$WRK_DURATION -s tests/load/login.lua ($USERS users)"
say ""
say "| run | logins/s | p50 / p99 ms | souk CPU ms/login | non-2xx |"
say "|---:|---:|---|---:|---:|"
l_all=""
for run in $(seq 1 "$RUNS"); do
    log "logins run $run/$RUNS"
    read -r l_rps l_p50 l_p99 l_cpu l_bad < <(USERS="$USERS" run_wrk "login_$run" "$LOGIN_CONNS" "$base" -s tests/load/login.lua)
    say "| $run | $l_rps | $l_p50 / $l_p99 | $(awk -v c="$l_cpu" 'BEGIN {printf "%.1f", c / 1000}') | $l_bad |"
    l_all+=" $l_rps"
done
say "| **median** | **$(median <<<"$l_all")** | | | |"
say ""
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${summary[@]}"
