#!/usr/bin/env bash
# tests/load/instructions_per_reservation.sh [SOUK_BIN] [N] — instructions (user space) Souk
# spends per reservation, by thread, counted by Valgrind's callgrind. On two shared, noisy cores
# a CPU-time A/B needs many alternating runs to show a 5 % change; an instruction count does not
# move between runs of the same binary (the writer's share moves a little with how the batches
# form). It says nothing of cache misses or system time: confirm a change with wrk as well.
#
# Starts SOUK_BIN (default build/release/souk) under callgrind on a fresh data dir (test env, rate
# limits raised), makes 5 members with tests/load/reserve_setup.py, warms up with 200
# reservations, zeroes the counters, makes N (default 2000) reservations over CONNS (default 8)
# keep-alive connections (more make larger batches, as under wrk), dumps, and prints the instructions per reservation in all and per thread (the
# callgrind files stay in $OUT, default a temporary directory: callgrind_annotate FILE shows
# where). Needs valgrind (Debian: apt-get install valgrind; not installed by the project's
# scripts).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-build/release/souk}")
n=${2:-2000}
conns=${CONNS:-8}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[[ -x "$bin" ]] || { echo "no souk binary at $bin (scripts/build.sh release souk)" >&2; exit 1; }
out=${OUT:-$(mktemp -d /tmp/souk-callgrind.XXXXXX)}
mkdir -p "$out"
source tests/load/reserve_server.sh
server_prefix=(valgrind --tool=callgrind --separate-threads=yes
               "--callgrind-out-file=$out/callgrind.%p")
trap '[[ -n ${server_pid:-} ]] && kill -TERM $server_pid 2>/dev/null; true' EXIT
start_reserve_server "$bin" "$out" 5 180
vg_pid=$server_pid
port=$server_port

reserve() {
    python3 - "$port" "$1" "$out/setup.json" "$conns" <<'PY'
import http.client, json, sys, threading, uuid
port, n, setup = int(sys.argv[1]), int(sys.argv[2]), json.load(open(sys.argv[3]))
conns = int(sys.argv[4])
body = json.dumps({"show_id": setup["show_id"], "zone_id": setup["zone_id"], "quantity": 1})
tokens, created, lock = setup["tokens"], [0], threading.Lock()
def connection(k, count):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(count):
        c.request("POST", "/api/v1/bookings/reserve", body,
                  {"Authorization": "Bearer " + tokens[(k + i) % len(tokens)],
                   "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status == 201:
            with lock:
                created[0] += 1
threads = [threading.Thread(target=connection, args=(k, n // conns)) for k in range(conns)]
[t.start() for t in threads]
[t.join() for t in threads]
if created[0] != n // conns * conns:
    sys.exit("only %d of %d reservations were created" % (created[0], n // conns * conns))
PY
}
reserve 200
callgrind_control -z "$vg_pid" >/dev/null 2>&1
reserve "$n"
callgrind_control -d "$vg_pid" >/dev/null 2>&1
sleep 1
python3 - "$out" "$((n / conns * conns))" <<'PY'
import glob, re, sys
out, n = sys.argv[1], int(sys.argv[2])
threads = {}
for f in glob.glob(out + "/callgrind.*"):
    text = open(f).read()
    total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if not total or int(total.group(1)) == 0:
        continue
    # Which thread it was, from what it ran (callgrind names threads by number only).
    role = next((r for marker, r in (("writer::sync_loop", "WAL sync"),
                                     ("writer::run_batch", "writer"),
                                     ("checkpoint_loop", "checkpointer"),
                                     ("io_context::run", "io")) if marker in text), "other")
    threads[f.rsplit("/", 1)[-1] + " (" + role + ")"] = int(total.group(1))
print("instructions per reservation: %.0f (over %d reservations; files in %s)"
      % (sum(threads.values()) / n, n, out))
for f, ir in sorted(threads.items(), key=lambda kv: -kv[1])[:8]:
    print("  %-36s %8.0f" % (f, ir / n))
PY
