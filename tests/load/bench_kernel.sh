#!/usr/bin/env bash
# tests/load/bench_kernel.sh — the kernel's benchmarks (docs/benchmarks.md), on 127.0.0.1 only.
#
#  1. builds the release souk, souk_loadgen and souk_bench_writer (SKIP_BUILD=1 to skip);
#  2. starts nginx (tests/load/start_nginx.sh: 1 worker, fixed 60-byte JSON) and souk (test env,
#     fresh data_dir) in a temporary directory;
#  3. RUNS times: wrk -t1 -c64 -d10s against nginx /health (the 60-byte body from memory), nginx
#     /health.json (the same body from a file) and souk GET /health, and the ratios souk / nginx
#     of that run; medians over the runs (the target is against nginx from memory);
#  4. the open-loop load generator against GET /health and POST /api/v1/_test/kv (one durable
#     write per request), at fixed rates;
#  5. souk_bench_writer --rounds RUNS (group commit vs one transaction per job, synchronous=FULL);
#  6. prints a markdown summary. Everything it started is stopped on exit.
#
# Knobs (environment): RUNS=3 WRK_DURATION=10s LG_DURATION=10 HEALTH_RATES="20000"
#   KV_RATES="5000 10000" CONNECTIONS=64 WRITER_DURATION=5 SOUK_THREADS= (server.threads;
#   empty = the configured default, one io thread per core) OUT_DIR= (keep raw outputs there)
#   SKIP_BUILD=0 WRITER=1 (0: skip the writer bench) BUILD_DIR=build/release (the release tree to
#   build and run, relative to the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

RUNS=${RUNS:-3}
WRK_DURATION=${WRK_DURATION:-10s}
LG_DURATION=${LG_DURATION:-10}
HEALTH_RATES=${HEALTH_RATES:-20000}
KV_RATES=${KV_RATES:-5000 10000}
CONNECTIONS=${CONNECTIONS:-64}
WRITER_DURATION=${WRITER_DURATION:-5}
SOUK_THREADS=${SOUK_THREADS:-}
SKIP_BUILD=${SKIP_BUILD:-0}
WRITER=${WRITER:-1}

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "bench_kernel.sh: $tool is missing" >&2; exit 1; }
done

bin="$root/${BUILD_DIR:-build/release}"  # BUILD_DIR: another release tree (as scripts/build.sh)
tools=(souk souk_loadgen)
[[ "$WRITER" == 1 ]] && tools+=(souk_bench_writer)
if [[ "$SKIP_BUILD" != 1 ]]; then
    scripts/build.sh release "${tools[@]}" >&2
fi
for b in "${tools[@]}"; do
    [[ -x "$bin/$b" ]] || { echo "bench_kernel.sh: $bin/$b not built" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/souk_bench.XXXXXX")
raw="${OUT_DIR:-$work/raw}"
mkdir -p "$raw"
nginx_pid=""
souk_pid=""

stop_pid() {  # stop_pid PID NAME: SIGTERM, then SIGKILL after 10 s
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "bench_kernel.sh: $2 ($pid) did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$souk_pid" souk
    stop_pid "$nginx_pid" nginx
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- servers -----------------------------------------------------------------------------------

read -r nginx_port nginx_pid < <(tests/load/start_nginx.sh "$work/nginx")
log "nginx on 127.0.0.1:$nginx_port (pid $nginx_pid)"

souk_args=(serve --env test --set "data_dir=$work/souk" --set server.http_port=0
           --set server.https_port=0 --set log.requests=false)
[[ -n "$SOUK_THREADS" ]] && souk_args+=(--set "server.threads=$SOUK_THREADS")
# souk reads SOUK_* variables as configuration: not this script's knob.
env -u SOUK_THREADS "$bin/souk" "${souk_args[@]}" >"$work/souk.log" 2>&1 </dev/null &
souk_pid=$!
souk_port=""
for _ in $(seq 1 100); do
    line=$(grep -m1 '"msg":"listening"' "$work/souk.log" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
        souk_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' <<<"$line")
        souk_threads=$(sed -n 's/.*"threads":\([0-9]*\).*/\1/p' <<<"$line")
        break
    fi
    kill -0 "$souk_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$souk_port" ]] || { echo "bench_kernel.sh: souk did not start:" >&2; cat "$work/souk.log" >&2; exit 1; }
log "souk on 127.0.0.1:$souk_port (pid $souk_pid, $souk_threads io threads)"

nginx_url="http://127.0.0.1:$nginx_port/health"
nginx_file_url="http://127.0.0.1:$nginx_port/health.json"
souk_url="http://127.0.0.1:$souk_port/health"
curl -sf -o /dev/null "$nginx_url"
curl -sf -o /dev/null "$nginx_file_url"
curl -sf -o /dev/null "$souk_url"

# ---- helpers -----------------------------------------------------------------------------------

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
# wrk's latency figures to milliseconds ("812.00us", "1.31ms", "2.05s").
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); printf "%.2f", v/1000 }
    else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.2f", v*1000 } else print v }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system, all threads
clk_tck=$(getconf CLK_TCK)
# run_wrk PID URL FILE -> "rps p50_ms p99_ms cpu_us_per_request errors"; PID is the server
# process whose CPU time is charged to the requests (throughput depends on what else runs on a
# shared machine; CPU time per request much less).
run_wrk() {
    local t0 t1
    t0=$(cpu_ticks "$1")
    wrk -t1 -c64 -d"$WRK_DURATION" --latency "$2" >"$3" 2>&1
    t1=$(cpu_ticks "$1")
    local rps n p50 p99 errs cpu
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$3")
    n=$(awk '/requests in/ {print $1}' "$3")
    p50=$(awk '$1 == "50%" {print $2}' "$3" | to_ms)
    p99=$(awk '$1 == "99%" {print $2}' "$3" | to_ms)
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v t="$clk_tck" 'BEGIN {printf "%.1f", (b - a) / t * 1e6 / n}')
    errs=$(awk '/Non-2xx|Socket errors/ {print}' "$3" | tr '\n' ' ')
    echo "$rps $p50 $p99 $cpu ${errs:-none}"
}
json_field() {  # json_field FILE EXPR (python expression on the object d)
    python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).readline()); print($2)" "$1"
}

# ---- 1. closed loop: wrk, nginx vs souk GET /health -------------------------------------------

log "warm-up"
wrk -t1 -c64 -d2s "$nginx_url" >/dev/null 2>&1
wrk -t1 -c64 -d2s "$souk_url" >/dev/null 2>&1

nginx_worker=$(pgrep -P "$nginx_pid" | head -1)
declare -a n_rps f_rps s_rps ratios f_ratios n_cpu f_cpu s_cpu cpu_ratios rows
for run in $(seq 1 "$RUNS"); do
    log "run $run/$RUNS: wrk nginx (memory)"
    read -r nr np50 np99 ncpu nerr < <(run_wrk "$nginx_worker" "$nginx_url" "$raw/wrk_nginx_$run.txt")
    log "run $run/$RUNS: wrk nginx (file)"
    read -r fr fp50 fp99 fcpu ferr < <(run_wrk "$nginx_worker" "$nginx_file_url" "$raw/wrk_nginx_file_$run.txt")
    log "run $run/$RUNS: wrk souk"
    read -r sr sp50 sp99 scpu serr < <(run_wrk "$souk_pid" "$souk_url" "$raw/wrk_souk_$run.txt")
    ratio=$(awk -v s="$sr" -v n="$nr" 'BEGIN {printf "%.3f", s/n}')
    f_ratio=$(awk -v s="$sr" -v n="$fr" 'BEGIN {printf "%.3f", s/n}')
    cpu_ratio=$(awk -v s="$scpu" -v n="$ncpu" 'BEGIN {printf "%.3f", n/s}')
    n_rps+=("$nr"); f_rps+=("$fr"); s_rps+=("$sr"); ratios+=("$ratio"); f_ratios+=("$f_ratio")
    n_cpu+=("$ncpu"); f_cpu+=("$fcpu"); s_cpu+=("$scpu"); cpu_ratios+=("$cpu_ratio")
    errs="nginx: $nerr; nginx file: $ferr; souk: $serr"
    rows+=("| $run | $nr ($np50 / $np99) | $fr ($fp50 / $fp99) | $sr ($sp50 / $sp99) | $ratio | $f_ratio | $ncpu / $fcpu / $scpu | $cpu_ratio | ${errs} |")
    log "run $run: nginx $nr/s, nginx file $fr/s, souk $sr/s, ratio $ratio (file: $f_ratio); CPU us/req $ncpu / $fcpu / $scpu"
done
med_n=$(echo "${n_rps[*]}" | median)
med_f=$(echo "${f_rps[*]}" | median)
med_s=$(echo "${s_rps[*]}" | median)
med_ratio=$(echo "${ratios[*]}" | median)
med_f_ratio=$(echo "${f_ratios[*]}" | median)
med_cpu="$(echo "${n_cpu[*]}" | median) / $(echo "${f_cpu[*]}" | median) / $(echo "${s_cpu[*]}" | median)"
med_cpu_ratio=$(echo "${cpu_ratios[*]}" | median)

# ---- 2. open loop: souk_loadgen -----------------------------------------------------------------

declare -a lg_rows
run_lg() {  # run_lg LABEL FILE ARGS...
    local label=$1 file=$2
    shift 2
    log "loadgen: $label"
    "$bin/souk_loadgen" --connections "$CONNECTIONS" --duration "$LG_DURATION" "$@" >"$file"
    lg_rows+=("$(json_field "$file" "'| $label | %s | %.0f | %s | %d | %.2f / %.2f / %.2f / %.2f / %.2f | %.2f |' % (
        d['offered_rps'] if d['offered_rps'] is not None else 'max', d['achieved_rps'],
        ', '.join('%s: %d' % kv for kv in d['status'].items()), d['errors'],
        d['latency_ms']['p50'], d['latency_ms']['p90'], d['latency_ms']['p99'],
        d['latency_ms']['p99.9'], d['latency_ms']['max'], d['send_lag_ms']['p99'])")")
}
for rate in $HEALTH_RATES; do
    run_lg "GET /health" "$raw/lg_health_$rate.json" --url "$souk_url" --rate "$rate"
done
run_lg "GET /health (nginx)" "$raw/lg_nginx_${HEALTH_RATES%% *}.json" --url "$nginx_url" \
    --rate "${HEALTH_RATES%% *}"
kv_url="http://127.0.0.1:$souk_port/api/v1/_test/kv"
kv_body='{"key":"{run}-{n}","value":"x"}'
for rate in $KV_RATES; do
    run_lg "POST /api/v1/_test/kv" "$raw/lg_kv_$rate.json" --url "$kv_url" --method POST \
        --body "$kv_body" --rate "$rate"
done
run_lg "POST /api/v1/_test/kv (closed loop)" "$raw/lg_kv_closed.json" --url "$kv_url" \
    --method POST --body "$kv_body" --rate 0
commits=$(curl -s "http://127.0.0.1:$souk_port/metrics" |
    awk '/^souk_db_commit_batch_jobs_(sum|count)/ {v[$1]=$2} END {
        for (k in v) { if (k ~ /_sum/) s=v[k]; else c=v[k] }
        if (c > 0) printf "%d jobs in %d commits (%.1f per commit)", s, c, s/c }')

stop_pid "$souk_pid" souk; souk_pid=""
stop_pid "$nginx_pid" nginx; nginx_pid=""

# ---- 3. writer ---------------------------------------------------------------------------------

if [[ "$WRITER" == 1 ]]; then
    log "bench_writer ($RUNS rounds, ${WRITER_DURATION}s per mode)"
    load_before_writer=$(cut -d' ' -f1-3 /proc/loadavg)
    "$bin/souk_bench_writer" --duration "$WRITER_DURATION" --rounds "$RUNS" --dir "$work/writer" \
        >"$raw/writer.txt"
fi

# ---- summary -----------------------------------------------------------------------------------

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
cat <<EOF
## Kernel benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) cores (${cpu:-unknown CPU}), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo),
$(uname -sr); load average at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg).
souk: $souk_threads io threads (\`server.threads\`), test env, log.requests=false. nginx 1 worker.
Load generators on the same machine, 127.0.0.1.

### Closed loop: \`wrk -t1 -c64 -d$WRK_DURATION --latency\`, nginx 60-byte JSON vs souk GET /health

req/s (p50 / p99 ms). "nginx" answers from memory (\`return 200\`), "nginx file" serves the same
body from a file. "CPU µs/req": CPU time (user + system) of the nginx worker / the nginx worker
for the file / all souk threads, divided by the requests of the run; "CPU ratio" is nginx's over
souk's, the throughput ratio the server would reach if each had a core to itself.

| run | nginx | nginx file | souk | souk / nginx | souk / nginx file | CPU µs/req | CPU ratio | errors |
|---:|---:|---:|---:|---:|---:|---|---:|---|
$(printf '%s\n' "${rows[@]}")
| **median** | **$med_n** | **$med_f** | **$med_s** | **$med_ratio** | **$med_f_ratio** | $med_cpu | **$med_cpu_ratio** | |

Target souk / nginx >= 0.8: $(awk -v r="$med_ratio" 'BEGIN {print (r >= 0.8) ? "met" : "MISSED"}') (median ratio $med_ratio).

### Open loop: \`souk_loadgen --connections $CONNECTIONS --duration $LG_DURATION\` (latency from the intended send time)

"send lag": how late the generator itself wrote requests (it shares the 2 cores); a large p99
there means part of the latency is the generator's own stall, not the server's.

| target | offered req/s | achieved req/s | status | errors | p50 / p90 / p99 / p99.9 / max ms | send lag p99 ms |
|---|---:|---:|---|---:|---|---:|
$(printf '%s\n' "${lg_rows[@]}")

Group commit seen by the server during the runs: ${commits:-n/a}.

EOF
if [[ "$WRITER" == 1 ]]; then
    cat <<EOF

### Writer: \`souk_bench_writer --duration $WRITER_DURATION --rounds $RUNS\` (synchronous=FULL, WAL, fresh file per mode)

Load average before: $load_before_writer.

$(sed -n '/^| mode/,$p' "$raw/writer.txt")
EOF
fi
if [[ -n "${OUT_DIR:-}" ]]; then log "raw outputs kept in $OUT_DIR"; fi
