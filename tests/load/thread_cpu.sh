#!/usr/bin/env bash
# tests/load/thread_cpu.sh [SOUK_BIN] [-- SOUK_ARGS...] — CPU time Souk spends per reservation,
# by thread (user and system, µs), under the closed loop: what the ninth session's A/B
# comparisons of two binaries or two settings used, run alternately on fresh servers because
# these two cores drift by ±10 % from one minute to the next.
#
# Starts SOUK_BIN (default build/release/souk) on a fresh data dir (test env, rate limits
# raised, any SOUK_ARGS added; PREFIX: a command to start it under, e.g. "chrt -b 0"), makes
# USERS (default 200) members with tests/load/reserve_setup.py, runs `wrk -t1 -cCONNS` (default
# 64) with tests/load/reserve.lua for 9 s and samples /proc/<pid>/task/*/stat from its 2nd to its
# 7th second against the writer's job count (souk_db_commit_batch_jobs_sum in /metrics). Prints
# one line:
#   rps <wrk's req/s> jobs/s <write jobs/s> batch <jobs per commit>
#   idle <% of all cores idle or waiting for I/O>
#   <thread> u<µs> s<µs> w<voluntary switches> ... wrk u<µs> s<µs>
# per reservation (threads of one name summed: "souk" is io thread 0 plus the process's idle
# helpers; w counts the times a thread went to sleep, i.e. waited for work or I/O).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-build/release/souk}")
shift || true
[[ "${1:-}" == "--" ]] && shift
conns=${CONNS:-64}
users=${USERS:-200}
command -v wrk >/dev/null || { echo "needs wrk" >&2; exit 1; }
work=$(mktemp -d /tmp/souk-thread-cpu.XXXXXX)
source tests/load/reserve_server.sh
read -ra server_prefix <<<"${PREFIX:-}"  # e.g. PREFIX="chrt -b 0": how souk is started
trap '[[ -n ${server_pid:-} ]] && kill -TERM $server_pid 2>/dev/null && wait $server_pid 2>/dev/null; rm -rf "$work"' EXIT
start_reserve_server "$bin" "$work" "$users" 10 "$@"
pid=$server_pid
port=$server_port

ticks() {  # "<thread name> <utime> <stime> <voluntary switches>" summed by name (ticks)
    for t in /proc/"$pid"/task/*; do
        # comm may hold spaces: the fields after ") " are counted from there.
        local stat comm rest vol
        stat=$(cat "$t/stat" 2>/dev/null) || continue
        vol=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null) || continue
        comm=${stat#*(}; comm=${comm%)*}
        rest=${stat##*) }
        echo "${comm// /_} $(awk '{print $12, $13}' <<<"$rest") $vol"
    done | awk '{u[$1] += $2; s[$1] += $3; v[$1] += $4} END {for (k in u) print k, u[k], s[k], v[k]}' | sort
    # the load generator, and the machine's idle time (the cpu line of /proc/stat)
    awk '{print "wrk", $14, $15, 0}' /proc/"$wrk_pid"/stat
    awk '/^cpu / {print "idle", $5 + $6, 0, 0}' /proc/stat
}
jobs() {  # "<jobs written> <commits>" so far
    curl -s "http://127.0.0.1:$port/metrics" |
        awk '/^souk_db_commit_batch_jobs_sum/ {s = $2} /^souk_db_commit_batch_jobs_count/ {c = $2}
             END {print s, c}'
}

SETUP="$work/setup.json" wrk -t1 -c"$conns" -d9s -s tests/load/reserve.lua \
    "http://127.0.0.1:$port" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 2
ticks >"$work/t0"; j0=$(jobs)
sleep 5
ticks >"$work/t1"; j1=$(jobs)
wait "$wrk_pid"
python3 - "$work" "$(getconf CLK_TCK)" "$j0" "$j1" "$(nproc)" <<'PY'
import re, sys
work, hz, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[5])
(s0, c0), (s1, c1) = (map(float, a.split()) for a in sys.argv[3:5])
jobs = s1 - s0
def load(name):
    return {l.split()[0]: tuple(map(int, l.split()[1:])) for l in open(f"{work}/{name}")}
t0, t1 = load("t0"), load("t1")
rps = re.search(r"Requests/sec:\s+([\d.]+)", open(f"{work}/wrk.txt").read())
parts = [f"rps {float(rps.group(1)):.0f}" if rps else "rps ?",
         f"jobs/s {jobs / 5:.0f}", f"batch {jobs / max(1.0, c1 - c0):.1f}"]
us = 1e6 / hz / max(1.0, jobs)
idle = t1.pop("idle")[0] - t0.pop("idle")[0]
parts.append(f"idle {idle / hz / 5 * 100 / cores:.0f}%")  # over the 5 s
for name in sorted(t1):
    u0, k0, v0 = t0.get(name, (0, 0, 0))
    u1, k1, v1 = t1[name]
    parts.append(f"{name} u{(u1 - u0) * us:.1f} s{(k1 - k0) * us:.1f}"
                 + (f" w{(v1 - v0) / max(1.0, jobs):.2f}" if name != "wrk" else ""))
print(" ".join(parts))
PY
