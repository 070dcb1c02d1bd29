#!/usr/bin/env bash
# tests/load/bench_booking.sh — the booking (reserve) benchmarks of docs/benchmarks.md, on
# 127.0.0.1 only.
#
#  1. builds the release souk and souk_loadgen (SKIP_BUILD=1 to skip);
#  2. starts nginx (tests/load/start_nginx.sh: 1 worker, fixed 60-byte JSON) and souk (test env,
#     fresh data_dir, rate limits raised) in a temporary directory; tests/load/reserve_setup.py
#     makes an organizer's published event (max_per_user 100000) with a 10,000,000-seat zone and
#     USERS members with tokens, and a second event with a RUSH_CAPACITY-seat zone;
#  3. closed loop, RUNS times for each of CONNS: wrk -t1 -cC against nginx /health, then wrk
#     -t1 -cC with tests/load/reserve.lua (POST /api/v1/bookings/reserve, tokens rotating,
#     unique Idempotency-Keys); reserve req/s, p50/p99, the ratio souk / nginx of that run, and
#     from GET /metrics the group-commit batch size and commit time of that run; medians;
#  4. open loop: souk_loadgen at OPEN_RATE req/s for OPEN_DURATION s (latency from the intended
#     send time; tokens rotating from a header file, Idempotency-Key unique per request);
#  5. sold-out rush: souk_loadgen at RUSH_RATE for RUSH_DURATION s on the small zone — exactly
#     RUSH_CAPACITY 201s expected, the rest 409;
#  6. 429 spike: souk restarted on the same data_dir with rate_limits.reserve at SPIKE_PER_SECOND
#     / SPIKE_BURST per user, then souk_loadgen at SPIKE_RATE for SPIKE_DURATION s;
#  7. stops souk, runs `souk check` (must print "check: ok") and checks in SQLite that no zone
#     has held + confirmed > capacity and that every zone's counters equal its live bookings;
#  8. prints a markdown summary. Everything it started is stopped on exit.
#
# Knobs (environment): RUNS=3 WRK_DURATION=10s CONNS="64 256" USERS=200 OPEN_RATE=10000
#   OPEN_DURATION=30 OPEN_CONNS=128 RUSH_RATE=20000 RUSH_DURATION=10 RUSH_CAPACITY=1000
#   SPIKE_RATE=20000 SPIKE_DURATION=10 SPIKE_PER_SECOND=5 SPIKE_BURST=20 LG_CONNS=256
#   SOUK_THREADS= (server.threads) OUT_DIR= (keep raw outputs and souk's logs there) SKIP_BUILD=0
#   BENCH_SOUK_ARGS= (more souk arguments, e.g. "--set database.wal_sync=in_commit")
#   BENCH_SOUK_PRELOAD= (LD_PRELOAD for souk only, e.g. another malloc)
#   CLOSED=1 OPEN=1 RUSH=1 SPIKE=1 (0 skips a part).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

RUNS=${RUNS:-3}
WRK_DURATION=${WRK_DURATION:-10s}
CONNS=${CONNS:-64 256}
USERS=${USERS:-200}
OPEN_RATE=${OPEN_RATE:-10000}
OPEN_DURATION=${OPEN_DURATION:-30}
OPEN_CONNS=${OPEN_CONNS:-128}
RUSH_RATE=${RUSH_RATE:-20000}
RUSH_DURATION=${RUSH_DURATION:-10}
RUSH_CAPACITY=${RUSH_CAPACITY:-1000}
SPIKE_RATE=${SPIKE_RATE:-20000}
SPIKE_DURATION=${SPIKE_DURATION:-10}
SPIKE_PER_SECOND=${SPIKE_PER_SECOND:-5}
SPIKE_BURST=${SPIKE_BURST:-20}
LG_CONNS=${LG_CONNS:-256}
# souk and its CLI read SOUK_* variables as settings: SOUK_THREADS is this script's knob.
threads_knob=${SOUK_THREADS:-}
unset SOUK_THREADS
SKIP_BUILD=${SKIP_BUILD:-0}
CLOSED=${CLOSED:-1}
OPEN=${OPEN:-1}
RUSH=${RUSH:-1}
SPIKE=${SPIKE:-1}

for tool in wrk curl python3 sqlite3 timeout; do
    command -v "$tool" >/dev/null || { echo "bench_booking.sh: $tool is missing" >&2; exit 1; }
done

bin="$root/build/release"
if [[ "$SKIP_BUILD" != 1 ]]; then
    scripts/build.sh release souk souk_loadgen >&2
fi
for b in souk souk_loadgen; do
    [[ -x "$bin/$b" ]] || { echo "bench_booking.sh: $bin/$b not built" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/souk_bench_booking.XXXXXX")
raw="${OUT_DIR:-$work/raw}"
mkdir -p "$raw"
data="$work/souk"
# Private copies of the binaries: a rebuild during the run must not pull them away.
mkdir -p "$work/bin" && cp "$bin/souk" "$bin/souk_loadgen" "$work/bin/" && bin="$work/bin"
nginx_pid=""
souk_pid=""

stop_pid() {  # stop_pid PID NAME: SIGTERM, then SIGKILL after 15 s
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    echo "bench_booking.sh: $2 ($pid) did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$souk_pid" souk
    stop_pid "$nginx_pid" nginx
    wait 2>/dev/null || true
    # With OUT_DIR the servers' logs are kept beside the raw outputs ("slow batch" lines...).
    if [[ -n "${OUT_DIR:-}" ]]; then cp "$work"/*.log "$raw"/ 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- servers -----------------------------------------------------------------------------------

read -r nginx_port nginx_pid < <(tests/load/start_nginx.sh "$work/nginx")
log "nginx on 127.0.0.1:$nginx_port (pid $nginx_pid)"
nginx_url="http://127.0.0.1:$nginx_port/health"

base_args=(--env test --set "data_dir=$data")
start_souk() {  # start_souk LOGNAME EXTRA_ARGS...: sets souk_pid, souk_port, souk_threads
    local name=$1
    shift
    local args=(serve "${base_args[@]}" --set server.http_port=0 --set server.https_port=0
                --set log.requests=false "$@")
    [[ -n "$threads_knob" ]] && args+=(--set "server.threads=$threads_knob")
    # shellcheck disable=SC2206  # word splitting wanted: "--set a=1 --set b=2"
    [[ -n "${BENCH_SOUK_ARGS:-}" ]] && args+=($BENCH_SOUK_ARGS)
    LD_PRELOAD="${BENCH_SOUK_PRELOAD:-}" "$bin/souk" "${args[@]}" >"$work/$name.log" 2>&1 </dev/null &
    souk_pid=$!
    souk_port=""
    for _ in $(seq 1 150); do
        local line
        line=$(grep -m1 '"msg":"listening"' "$work/$name.log" 2>/dev/null || true)
        if [[ -n "$line" ]]; then
            souk_port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' <<<"$line")
            souk_threads=$(sed -n 's/.*"threads":\([0-9]*\).*/\1/p' <<<"$line")
            break
        fi
        kill -0 "$souk_pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$souk_port" ]] || { echo "bench_booking.sh: souk did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
    log "souk on 127.0.0.1:$souk_port (pid $souk_pid, $souk_threads io threads) $*"
}
high_limits=(--set rate_limits.reserve.per_second=1000000 --set rate_limits.reserve.burst=1000000
             --set rate_limits.auth.per_second=1000 --set rate_limits.auth.burst=100000)
start_souk souk "${high_limits[@]}"
souk_base="http://127.0.0.1:$souk_port"

log "setup: $USERS members, a 10,000,000-seat zone and a $RUSH_CAPACITY-seat zone"
timeout 600 python3 tests/load/reserve_setup.py "$souk_base" "$bin/souk" "$data" "$USERS" "$work/setup.json"
timeout 120 python3 tests/load/reserve_setup.py "$souk_base" "$bin/souk" "$data" 0 "$work/rush.json" "$RUSH_CAPACITY"
# Loadgen inputs: the tokens as rotating Authorization headers, the bodies.
python3 - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
s = json.load(open(w + "/setup.json"))
r = json.load(open(w + "/rush.json"))
open(w + "/auth_headers.txt", "w").write("".join("Authorization: Bearer %s\n" % t for t in s["tokens"]))
body = lambda d: json.dumps({"show_id": d["show_id"], "zone_id": d["zone_id"], "quantity": 1}, separators=(",", ":"))
open(w + "/body.json", "w").write(body(s))
open(w + "/rush_body.json", "w").write(body(r))
EOF
reserve_url="$souk_base/api/v1/bookings/reserve"
curl -sf -o /dev/null "$nginx_url"

# ---- helpers -----------------------------------------------------------------------------------

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); printf "%.2f", v/1000 }
    else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.2f", v*1000 } else print v }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)
# metrics_snap -> "batch_jobs_sum batch_jobs_count commit_seconds_sum" from souk's GET /metrics
metrics_snap() {
    curl -sf "$souk_base/metrics" | awk '
        $1 == "souk_db_commit_batch_jobs_sum" {a=$2} $1 == "souk_db_commit_batch_jobs_count" {b=$2}
        $1 == "souk_db_commit_duration_seconds_sum" {c=$2} END {print a+0, b+0, c+0}'
}
# metrics_delta "BEFORE" "AFTER" SECONDS -> "commits_per_s mean_batch mean_commit_ms"
metrics_delta() {
    awk -v b="$1" -v a="$2" -v t="$3" 'BEGIN { split(b, x, " "); split(a, y, " ");
        n = y[2] - x[2]; j = y[1] - x[1]; s = y[3] - x[3];
        if (n <= 0) { print "0 0 0"; exit }
        printf "%.0f %.1f %.2f\n", n / t, j / n, s / n * 1000 }'
}
# run_wrk NAME PID CONNS URL [wrk args...] -> "rps p50_ms p99_ms cpu_us_per_req non2xx"
run_wrk() {
    local name=$1 pid=$2 c=$3 url=$4
    shift 4
    local t0 t1 f="$raw/$name.txt"
    t0=$(cpu_ticks "$pid")
    timeout 120 wrk -t1 -c"$c" -d"$WRK_DURATION" --latency "$@" "$url" >"$f" 2>&1
    t1=$(cpu_ticks "$pid")
    local rps n p50 p99 cpu non2xx
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$f")
    n=$(awk '/requests in/ {print $1}' "$f")
    p50=$(awk '$1 == "50%" {print $2}' "$f" | to_ms)
    p99=$(awk '$1 == "99%" {print $2}' "$f" | to_ms)
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v t="$clk_tck" 'BEGIN {printf "%.1f", (b - a) / t * 1e6 / n}')
    non2xx=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {e=1} END {}' "$f")
    echo "$rps $p50 $p99 $cpu ${non2xx:-0}"
}
json_field() {  # json_field FILE EXPR (python expression on the object d)
    python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).readline()); print($2)" "$1"
}
# loadgen NAME RATE DURATION CONNS BODY_FILE: open loop against reserve, JSON in $raw/NAME.json
loadgen() {
    local name=$1 rate=$2 dur=$3 conns=$4 body=$5
    local limit
    limit=$(awk -v d="$dur" 'BEGIN {printf "%d", d + 60}')
    timeout "$limit" "$bin/souk_loadgen" --url "$reserve_url" --method POST --body "$(cat "$body")" \
        -H 'Idempotency-Key: {run}-{n}' --header-file "$work/auth_headers.txt" \
        --rate "$rate" --duration "$dur" --connections "$conns" --drain 20 --timeout 10 \
        >"$raw/$name.json" 2>"$raw/$name.err"
}

summary=()
say() { summary+=("$*"); }
say "load average at start: $load_start; souk io threads: $souk_threads; $(nproc) cores; $USERS users"

# ---- 1. closed loop ----------------------------------------------------------------------------

if [[ "$CLOSED" == 1 ]]; then
    log "warm-up"
    SETUP="$work/setup.json" timeout 30 wrk -t1 -c64 -d3s -s tests/load/reserve.lua "$souk_base" >/dev/null 2>&1 || true
    timeout 30 wrk -t1 -c64 -d2s "$nginx_url" >/dev/null 2>&1 || true
    say ""
    say "### closed loop: wrk -t1 -cC -d$WRK_DURATION, reserve.lua vs nginx /health (same run)"
    say ""
    say "| conns | run | nginx req/s | reserve req/s | ratio | reserve p50 / p99 ms | souk CPU µs/req | non-2xx | commits/s | mean batch | mean commit ms |"
    say "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
    for c in $CONNS; do
        ngx_all=""; rsv_all=""; ratio_all=""; p99_all=""; batch_all=""
        for run in $(seq 1 "$RUNS"); do
            log "closed loop c=$c run $run/$RUNS"
            read -r n_rps n_p50 n_p99 n_cpu n_bad < <(run_wrk "nginx_c${c}_$run" "$nginx_pid" "$c" "$nginx_url")
            m0=$(metrics_snap)
            read -r r_rps r_p50 r_p99 r_cpu r_bad < <(SETUP="$work/setup.json" run_wrk "reserve_c${c}_$run" "$souk_pid" "$c" "$souk_base" -s tests/load/reserve.lua)
            m1=$(metrics_snap)
            secs=$(awk '/requests in/ {v=$4; sub(/s,?$/,"",v); print v}' "$raw/reserve_c${c}_$run.txt")
            read -r cps mbatch mcommit < <(metrics_delta "$m0" "$m1" "${secs:-10}")
            ratio=$(awk -v a="$r_rps" -v b="$n_rps" 'BEGIN {printf "%.3f", a / b}')
            say "| $c | $run | $n_rps | $r_rps | $ratio | $r_p50 / $r_p99 | $r_cpu | $r_bad | $cps | $mbatch | $mcommit |"
            ngx_all+=" $n_rps"; rsv_all+=" $r_rps"; ratio_all+=" $ratio"; p99_all+=" $r_p99"; batch_all+=" $mbatch"
        done
        say "| $c | **median** | $(median <<<"$ngx_all") | **$(median <<<"$rsv_all")** | **$(median <<<"$ratio_all")** | p99 $(median <<<"$p99_all") | | | | $(median <<<"$batch_all") | |"
    done
fi

# ---- 2-3. open loop and sold-out rush ----------------------------------------------------------

lg_row() {  # lg_row NAME LABEL SECONDS metrics-before metrics-after
    local f="$raw/$1.json"
    read -r cps mbatch mcommit < <(metrics_delta "$4" "$5" "$3")
    python3 - "$f" "$2" "$cps" "$mbatch" "$mcommit" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).readline())
st = d["status"]
ok = sum(n for s, n in st.items() if s in ("201", "200", "409", "429"))
bad = d["errors"] + sum(n for s, n in st.items() if s not in ("201", "200", "409", "429"))
total = d["scheduled"]
l = d["latency_ms"]
print("| %s | %.0f | %.0f | %s | %.3f / %.3f / %.3f / %.3f | %.4f%% | %.3f / %.3f | %s / %s / %s |" % (
    sys.argv[2], d["offered_rps"], d["achieved_rps"], " ".join("%s:%d" % kv for kv in sorted(st.items())),
    l["p50"], l["p99"], l["p99.9"], l["max"], 100.0 * bad / max(total, 1),
    d["send_lag_ms"]["p50"], d["send_lag_ms"]["p99"], sys.argv[3], sys.argv[4], sys.argv[5]))
EOF
}
by_status_line() {  # by_status_line NAME: per-status p50/p99/p99.9
    python3 - "$raw/$1.json" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).readline())
print("; ".join("%s: p50 %.3f, p99 %.3f, p99.9 %.3f ms" % (s, v["p50"], v["p99"], v["p99.9"])
                for s, v in sorted(d["latency_ms_by_status"].items())))
EOF
}

if [[ "$OPEN" == 1 || "$RUSH" == 1 || "$SPIKE" == 1 ]]; then
    say ""
    say "### open loop (souk_loadgen, latency from the intended send time)"
    say ""
    say "| scenario | offered/s | answers/s | statuses | p50 / p99 / p99.9 / max ms | error rate | send lag p50 / p99 ms | commits/s / mean batch / mean commit ms |"
    say "|---|---:|---:|---|---|---:|---|---|"
fi
if [[ "$OPEN" == 1 ]]; then
    log "open loop $OPEN_RATE/s for $OPEN_DURATION s ($OPEN_CONNS connections)"
    m0=$(metrics_snap)
    loadgen open "$OPEN_RATE" "$OPEN_DURATION" "$OPEN_CONNS" "$work/body.json"
    m1=$(metrics_snap)
    say "$(lg_row open "reserve, open loop, $OPEN_CONNS conns" "$OPEN_DURATION" "$m0" "$m1")"
    open_by_status=$(by_status_line open)
fi
if [[ "$RUSH" == 1 ]]; then
    log "sold-out rush: $RUSH_CAPACITY seats, $RUSH_RATE/s for $RUSH_DURATION s ($LG_CONNS connections)"
    m0=$(metrics_snap)
    loadgen rush "$RUSH_RATE" "$RUSH_DURATION" "$LG_CONNS" "$work/rush_body.json"
    m1=$(metrics_snap)
    say "$(lg_row rush "sold-out rush, $RUSH_CAPACITY seats, $LG_CONNS conns" "$RUSH_DURATION" "$m0" "$m1")"
    rush_by_status=$(by_status_line rush)
    rush_201=$(json_field "$raw/rush.json" 'd["status"].get("201", 0)')
fi
# The WAL fsyncs of everything above (warm-up, closed and open loops, rush), by the thread that
# made them: the writer while they are quick, the sync thread after a slow one (ADR 0020).
fsyncs=$(curl -sf "$souk_base/metrics" | awk '
    match($1, /^souk_db_wal_fsync_duration_seconds_(count|sum)\{thread="[a-z]+"\}$/) {
        split($1, p, "\""); kind = ($1 ~ /_count/) ? "n" : "s"; v[p[2] kind] = $2 }
    END { printf "%d on the writer (mean %.2f ms), %d on the sync thread (mean %.2f ms)",
          v["writern"], v["writern"] ? 1000 * v["writers"] / v["writern"] : 0,
          v["syncn"], v["syncn"] ? 1000 * v["syncs"] / v["syncn"] : 0 }')
stop_pid "$souk_pid" souk
souk_pid=""

if [[ "$SPIKE" == 1 ]]; then
    start_souk souk_spike --set "rate_limits.reserve.per_second=$SPIKE_PER_SECOND" \
        --set "rate_limits.reserve.burst=$SPIKE_BURST"
    souk_base="http://127.0.0.1:$souk_port"
    reserve_url="$souk_base/api/v1/bookings/reserve"
    log "429 spike: $SPIKE_RATE/s for $SPIKE_DURATION s, reserve limit $SPIKE_PER_SECOND/s burst $SPIKE_BURST per user"
    m0=$(metrics_snap)
    loadgen spike "$SPIKE_RATE" "$SPIKE_DURATION" "$LG_CONNS" "$work/body.json"
    m1=$(metrics_snap)
    say "$(lg_row spike "429 spike, limit $SPIKE_PER_SECOND/s burst $SPIKE_BURST, $LG_CONNS conns" "$SPIKE_DURATION" "$m0" "$m1")"
    spike_by_status=$(by_status_line spike)
    stop_pid "$souk_pid" souk
    souk_pid=""
fi
[[ -n "${open_by_status:-}" ]] && { say ""; say "open loop by status: $open_by_status"; }
[[ -n "${rush_by_status:-}" ]] && { say ""; say "sold-out rush by status: $rush_by_status"; }
[[ -n "${spike_by_status:-}" ]] && { say ""; say "429 spike by status: $spike_by_status"; }

# ---- 4. afterwards: souk check and the counters ------------------------------------------------

log "souk check"
check_out=$("$bin/souk" check "${base_args[@]}" 2>&1 || true)
echo "$check_out" >"$raw/check.txt"
db="$data/souk.db"
oversold=$(sqlite3 "$db" "SELECT count(*) FROM zones WHERE held + confirmed > capacity;")
mismatch=$(sqlite3 "$db" "SELECT count(*) FROM zones z WHERE z.held != (SELECT coalesce(sum(quantity), 0) FROM bookings b WHERE b.zone_id = z.id AND b.status = 'reserved') OR z.confirmed != (SELECT coalesce(sum(quantity), 0) FROM bookings b WHERE b.zone_id = z.id AND b.status = 'confirmed');")
bookings=$(sqlite3 "$db" "SELECT count(*) FROM bookings;")
rush_zone=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["zone_id"])' "$work/rush.json")
rush_held=$(sqlite3 "$db" "SELECT held + confirmed FROM zones WHERE id = '$rush_zone';")
say ""
say "### afterwards"
say ""
say "- \`souk check\`: $(tail -1 <<<"$check_out")"
say "- zones with held + confirmed > capacity: $oversold; zones whose counters differ from their live bookings: $mismatch; bookings rows: $bookings"
[[ "$RUSH" == 1 ]] && say "- sold-out rush: $rush_201 answers 201 for $RUSH_CAPACITY seats; the zone holds $rush_held"
say "- WAL fsyncs before the spike: ${fsyncs:-?}"
say "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '%s\n' "${summary[@]}"
if [[ "$check_out" != *"check: ok"* || "$oversold" != 0 || "$mismatch" != 0 ]]; then
    echo "bench_booking.sh: consistency check FAILED" >&2
    exit 1
fi
if [[ "$RUSH" == 1 && ( "$rush_201" != "$RUSH_CAPACITY" || "$rush_held" != "$RUSH_CAPACITY" ) ]]; then
    echo "bench_booking.sh: sold-out rush did not sell exactly $RUSH_CAPACITY seats" >&2
    exit 1
fi
